"""Exact request dicts of transactions and batches, through MockTransport (no server)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    MockTransport,
    Model,
    PartitionKey,
    RetryPolicy,
    ServiceError,
    SortKey,
    Version,
)
from dynorm.read.batch_get import batch_get, get_many
from dynorm.schema.keys import key_id
from dynorm.write.batch import MAX_BATCH_WRITE, batch
from dynorm.write.transaction import InvalidTransaction, TransactionCanceled, transaction


class Acct(Model, table="accts"):
    id: Annotated[str, PartitionKey]
    n: int = 0
    version: Annotated[int, Version] = 0


class Line(Model, table="lines"):
    doc: Annotated[str, PartitionKey]
    no: Annotated[int, SortKey]
    text: str = ""


def canceled(*codes: str) -> ServiceError:
    error = ServiceError("canceled", code="TransactionCanceledException",
                         operation="TransactWriteItems")
    error.response = {"CancellationReasons": [{"Code": c} for c in codes]}
    return error


async def test_transact_write_request_shapes() -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport, table_prefix="t-"):
        acct = Acct(id="a", n=1, version=4)
        async with transaction(token="tok") as tx:
            tx.save(Line(doc="d", no=1, text="x"), condition=Line.text.not_exists())
            tx.update(acct, Acct.n.add(2))
            tx.delete(Line(doc="d", no=2))
            tx.check(Line, ("d", 3), Line.text == "y")
    ((op, req),) = transport.requests
    assert op == "TransactWriteItems"
    assert req["ClientRequestToken"] == "tok"
    put, update, delete, check = req["TransactItems"]
    assert put == {"Put": {
        "TableName": "t-lines",
        "Item": {"doc": {"S": "d"}, "no": {"N": "1"}, "text": {"S": "x"}},
        "ConditionExpression": "attribute_not_exists(#n0)",
        "ExpressionAttributeNames": {"#n0": "text"},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
    body = update["Update"]
    assert "ReturnValues" not in body
    assert body["TableName"] == "t-accts" and body["Key"] == {"id": {"S": "a"}}
    assert body["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert body["ConditionExpression"] == "attribute_exists(#n2) AND #n0 = :v3"
    assert body["ExpressionAttributeNames"] == {"#n0": "version", "#n1": "n", "#n2": "id"}
    assert body["ExpressionAttributeValues"][":v3"] == {"N": "4"}
    assert delete == {"Delete": {"TableName": "t-lines",
                                 "Key": {"doc": {"S": "d"}, "no": {"N": "2"}}}}
    assert check == {"ConditionCheck": {
        "TableName": "t-lines", "Key": {"doc": {"S": "d"}, "no": {"N": "3"}},
        "ConditionExpression": "#n0 = :v0", "ExpressionAttributeNames": {"#n0": "text"},
        "ExpressionAttributeValues": {":v0": {"S": "y"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
    assert acct.version == 5 and acct.n == 1


async def test_nothing_sent_for_an_empty_or_raising_block() -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport):
        async with transaction():
            pass
        with pytest.raises(KeyError):
            async with transaction() as tx:
                tx.save(Acct(id="a"))
                raise KeyError("x")
    assert transport.requests == []


async def test_limits_and_duplicates_fail_at_the_call() -> None:
    tx = transaction()
    for i in range(100):
        tx.check(Line, ("d", i), Line.text.exists())
    with pytest.raises(InvalidTransaction, match="at most 100 actions"):
        tx.save(Acct(id="a"))
    tx2 = transaction()
    tx2.save(Line(doc="d", no=1))
    with pytest.raises(InvalidTransaction, match=r"Line \(doc='d', no='1'\)"):
        tx2.check(Line, ("d", 1), Line.text.exists())
    assert key_id("t", {"n": {"N": "1"}}) == key_id("t", {"n": {"N": "1.00"}})
    with pytest.raises(InvalidTransaction, match="needs a condition"):
        tx2.check(Acct(id="new"))
    with pytest.raises(dynorm.ExpressionError):
        tx2.update(Acct(id="a"), Acct.version.add(1))


async def test_conflicts_retry_with_one_token_then_give_up() -> None:
    calls: list[str] = []

    def handler(op: str, req: dict[str, Any]) -> dict[str, Any]:
        calls.append(req["ClientRequestToken"])
        raise canceled("None", "TransactionConflict")

    transport = MockTransport(handler)
    async with dynorm.connect(transport=transport):
        with pytest.raises(TransactionCanceled) as info:
            async with transaction(retry=RetryPolicy(max_attempts=3, base_delay=0)) as tx:
                tx.save(Acct(id="a"))
                tx.delete(Line(doc="d", no=1))
    assert len(calls) == 3 and len(set(calls)) == 1
    assert info.value.conflict
    assert "delete Line (doc='d', no='1'): TransactionConflict" in str(info.value)


async def test_condition_failures_are_not_retried() -> None:
    def handler(op: str, req: dict[str, Any]) -> dict[str, Any]:
        error = canceled("ConditionalCheckFailed", "TransactionConflict")
        stored = {"id": {"S": "a"}, "n": {"N": "0"}, "version": {"N": "3"}}
        error.response["CancellationReasons"][0]["Item"] = stored
        raise error

    transport = MockTransport(handler)
    async with dynorm.connect(transport=transport):
        with pytest.raises(TransactionCanceled) as info:
            async with transaction(retry=RetryPolicy(max_attempts=6, base_delay=0)) as tx:
                tx.save(Acct(id="a"))
                tx.save(Acct(id="b"))
    assert len(transport.requests) == 1
    assert not info.value.conflict
    reason = info.value.reasons[0]
    assert reason.version_conflict  # version 0: the item must not exist, but it does
    assert isinstance(reason.error, dynorm.VersionConflict)
    assert (reason.error.expected, reason.error.actual) == (0, 3)
    assert isinstance(reason.item, Acct) and reason.item.version == 3


async def test_hooks_order() -> None:
    seen: list[str] = []

    class Hooked(Model, table="hooked"):
        id: Annotated[str, PartitionKey]

        async def before_save(self) -> None:
            seen.append(f"before {self.id} sent={len(transport.requests)}")

        async def after_save(self) -> None:
            seen.append(f"after {self.id} sent={len(transport.requests)}")

    transport = MockTransport()
    async with dynorm.connect(transport=transport), transaction() as tx:
        tx.save(Hooked(id="a"))
        tx.save(Hooked(id="b"))
        assert seen == []
    assert seen == ["before a sent=0", "before b sent=0", "after a sent=1", "after b sent=1"]


async def test_batch_write_chunks_and_dedupes() -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport), batch(concurrency=1) as b:
        for i in range(60):
            b.save(Line(doc="d", no=i % 55, text=str(i)))
        b.delete(Line, ("d", 0))
    sizes = [sum(len(v) for v in req["RequestItems"].values()) for _, req in transport.requests]
    assert sizes == [MAX_BATCH_WRITE, MAX_BATCH_WRITE, 5]
    writes = [w for _, req in transport.requests for w in req["RequestItems"]["lines"]]
    texts = {int(w["PutRequest"]["Item"]["no"]["N"]): w["PutRequest"]["Item"]["text"]["S"]
             for w in writes if "PutRequest" in w}
    assert texts[1] == "56" and texts[54] == "54" and 0 not in texts
    assert {"DeleteRequest": {"Key": {"doc": {"S": "d"}, "no": {"N": "0"}}}} in writes


async def test_batch_get_dedupes_and_retries_unprocessed_keys() -> None:
    rounds: list[list[str]] = []

    def handler(op: str, req: dict[str, Any]) -> dict[str, Any]:
        keys = req["RequestItems"]["accts"]["Keys"]
        rounds.append([k["id"]["S"] for k in keys])
        first, rest = keys[0], keys[1:]
        item = {**first, "n": {"N": "1"}, "version": {"N": "1"}}
        unprocessed = {"accts": {"Keys": rest, "ConsistentRead": True}} if rest else {}
        return {"Responses": {"accts": [item]}, "UnprocessedKeys": unprocessed}

    transport = MockTransport(handler)
    async with dynorm.connect(transport=transport):
        found = await get_many(Acct, ["a", "b", "a", "c"], consistent=True,
                               retry=RetryPolicy(base_delay=0))
        (only,) = await batch_get((Acct, "b"))
    assert rounds == [["a", "b", "c"], ["b", "c"], ["c"], ["b"]]
    assert [a.id if a else None for a in found] == ["a", "b", "a", "c"]
    assert found[0] is found[2]
    assert only is not None and only.id == "b"
    assert transport.requests[0][1]["RequestItems"]["accts"]["ConsistentRead"] is True
