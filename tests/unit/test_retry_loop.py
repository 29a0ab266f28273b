"""The one retry loop (Connection.call): what is retried, what is uncertain, and how a
lost answer is settled -- testable with MockTransport, since transports make one attempt."""

from __future__ import annotations

from typing import Any

import pytest

import dynorm
from dynorm import (
    ConditionFailed,
    MockTransport,
    RetryPolicy,
    ServerError,
    ServiceError,
    Throttled,
    TransportError,
)
from dynorm.exceptions import (
    NOT_APPLIED_CODES,
    RETRYABLE_CODES,
    error_for_code,
    is_retryable,
    may_have_applied,
)
from dynorm.transport.base import adds_up_when_repeated

FAST = RetryPolicy(max_attempts=4, base_delay=0)


def scripted(*steps: Any) -> MockTransport:
    script = list(steps)

    def answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return dict(step)

    return MockTransport(answer)


def test_every_retryable_code_is_classified_once() -> None:
    """The one table both transports now share: throttling says "not applied", every
    other retried failure may hide an applied write."""
    for code in sorted(RETRYABLE_CODES):
        error = error_for_code(code)(code, code=code, operation="PutItem")
        assert is_retryable(error), code
        assert may_have_applied(error) is (code not in NOT_APPLIED_CODES), code
    assert is_retryable(ServiceError("boom", code="Weird", status=503))
    assert not is_retryable(ServiceError("no", code="ValidationException", status=400))
    assert may_have_applied(TransportError("reset")) and not may_have_applied(
        TransportError("refused", sent=False))
    assert not is_retryable(TransportError("no credentials", retryable=False))


async def test_throttling_is_retried_and_not_uncertain() -> None:
    transport = scripted(Throttled("slow down", code="ThrottlingException"),
                         Throttled("slow down", code="ThrottlingException"), {"Item": {}})
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        assert await conn.call("GetItem", {"TableName": "t"}) == {"Item": {}}
    assert len(transport.requests) == 3


async def test_attempts_run_out_with_the_last_error_marked_uncertain_after_a_5xx() -> None:
    transport = scripted(*[ServerError("down", code="InternalServerError", status=500)] * 4)
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        with pytest.raises(ServerError) as info:
            await conn.call("PutItem", {"TableName": "t", "Item": {}})
    assert len(transport.requests) == 4 and info.value.ambiguous


async def test_a_put_that_meets_its_own_lost_attempt_is_settled() -> None:
    item = {"k": {"S": "a"}}
    put = {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(k)",
           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    transport = scripted(TransportError("reset after sending"),
                         ConditionFailed("failed", code="ConditionalCheckFailedException",
                                         response={"Item": item}))
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        assert await conn.call("PutItem", put) == {}  # the first attempt had applied it


async def test_no_answer_after_the_last_attempt_names_them() -> None:
    transport = scripted(*[TransportError("ConnectionResetError", sent=False)] * 4)
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        with pytest.raises(TransportError, match=r"GetItem: no answer .* after 4 attempt") as info:
            await conn.call("GetItem", {"TableName": "t"})
    assert info.value.sent is False  # never reached the server: certainly not applied


async def test_errors_that_are_not_retryable_go_out_at_once() -> None:
    transport = scripted(TransportError("NoCredentialsError", sent=False, retryable=False))
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        with pytest.raises(TransportError, match="NoCredentialsError"):
            await conn.call("GetItem", {"TableName": "t"})
    assert len(transport.requests) == 1


COUNT = {"TableName": "t", "Key": {"k": {"S": "a"}}, "UpdateExpression": "ADD #n0 :v0",
         "ExpressionAttributeNames": {"#n0": "n"}, "ExpressionAttributeValues": {
             ":v0": {"N": "1"}}}


UPSERT = {**COUNT, "UpdateExpression": "SET #e = :e ADD #n0 :v0",
          "ExpressionAttributeNames": {"#n0": "n", "#e": "_type", "#k": "k"},
          "ExpressionAttributeValues": {":v0": {"N": "1"}, ":e": {"S": "order"},
                                        ":e2": {"S": "order"}, ":other": {"S": "bill"}}}


@pytest.mark.parametrize(("payload", "adds_up"), [
    (COUNT, True),
    ({**COUNT, "UpdateExpression": "SET #n0 = #n0 + :v0"}, True),
    ({**COUNT, "UpdateExpression": "SET #a = :a, #n0 = #n0 - :v0 REMOVE #b"}, True),
    ({**COUNT, "UpdateExpression": "set #l = list_append(#l, :v0)"}, True),
    ({**COUNT, "UpdateExpression": "SET #a = :a ADD #n0 :v0, #s :s"}, True),
    # idempotent: plain values, REMOVE, set ADD/DELETE, if_not_exists
    ({**COUNT, "UpdateExpression": "SET #n0 = :v0 REMOVE #b"}, False),
    ({**COUNT, "ExpressionAttributeValues": {":v0": {"SS": ["x"]}}}, False),
    ({**COUNT, "UpdateExpression": "DELETE #n0 :v0",
      "ExpressionAttributeValues": {":v0": {"NS": ["1"]}}}, False),
    ({**COUNT, "UpdateExpression": "SET #n0 = if_not_exists(#n0, :v0)"}, False),
    # guarded: a repeat is expected to fail its condition (dynorm's version guard)
    ({**COUNT, "ConditionExpression": "attribute_exists(#k) AND #v = :v",
      "UpdateExpression": "SET #v = if_not_exists(#v, :z) + :one ADD #n0 :v0",
      "ExpressionAttributeNames": {"#n0": "n", "#v": "version", "#k": "k"}}, False),
    ({**COUNT, "ConditionExpression": "#n0 < :max"}, False),  # the caller's guard
    ({**COUNT, "ConditionExpression": "n < :max"}, False),  # bare names too
    # a condition on attributes the update leaves alone passes again: not a guard
    ({**COUNT, "ConditionExpression": "attribute_exists(#k)",
      "ExpressionAttributeNames": {"#n0": "n", "#k": "k"}}, True),
    ({**COUNT, "ConditionExpression": "attribute_exists(k) AND size(#t) > :z",
      "ExpressionAttributeNames": {"#n0": "n", "#t": "tags"}}, True),
    # ... nor does an equality with the value the update sets (an entity's upsert)
    ({**UPSERT, "ConditionExpression": "attribute_not_exists(#k) OR #e = :e2"}, True),
    ({**UPSERT, "ConditionExpression": "attribute_not_exists(#k) OR (#e = :e)"}, True),
    # a condition the set value makes fail is a guard
    ({**UPSERT, "ConditionExpression": "attribute_not_exists(#e)"}, False),
    ({**UPSERT, "ConditionExpression": "#e = :other"}, False),
    ({**UPSERT, "ConditionExpression": "#e = :e OR #e < :e"}, False),
    ({"TableName": "t", "Item": {}}, False),
])
def test_what_adds_up_when_repeated(payload: dict[str, Any], adds_up: bool) -> None:
    operation = "UpdateItem" if "UpdateExpression" in payload else "PutItem"
    assert adds_up_when_repeated(operation, payload) is adds_up


@pytest.mark.parametrize("failure", [
    TransportError("reset after sending"),
    ServerError("down", code="InternalServerError", status=500),
])
async def test_an_unconditional_count_is_not_sent_again_after_a_lost_answer(
        failure: Exception) -> None:
    """The first ADD may have been applied: a second would count twice, silently. It is
    raised, marked ambiguous, after one attempt."""
    transport = scripted(failure, {})
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        with pytest.raises((TransportError, ServerError)) as info:
            await conn.call("UpdateItem", COUNT)
    assert len(transport.requests) == 1
    assert "not retried" in str(info.value)
    error = info.value
    if isinstance(error, TransportError):
        assert error.sent and not error.retryable
    else:
        assert isinstance(error, ServerError) and error.ambiguous


async def test_an_unconditional_count_is_retried_after_throttling() -> None:
    """Throttling says the attempt was not applied: retrying counts once."""
    transport = scripted(Throttled("slow down", code="ThrottlingException"), {})
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        assert await conn.call("UpdateItem", COUNT) == {}
    assert len(transport.requests) == 2


async def test_an_idempotent_update_is_retried_after_a_lost_answer() -> None:
    transport = scripted(TransportError("reset after sending"), {})
    update = {**COUNT, "UpdateExpression": "SET #n0 = :v0"}
    async with dynorm.connect(transport=transport, retry=FAST) as conn:
        assert await conn.call("UpdateItem", update) == {}
    assert len(transport.requests) == 2
