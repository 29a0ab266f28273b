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
