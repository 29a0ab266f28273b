"""The origin stamp (``connect(origin=True)``): the exact requests of every write path,
and reading it back from items, stream records and change events."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import MockTransport, Model, Origin, PartitionKey, Version, attr, is_echo, origin_of
from dynorm._types import Request, Response

NOW = 1767225600.123   # 2026-01-01T00:00:00.123Z
STAMP = {"M": {"region": {"S": "eu-west-1"}, "at": {"N": "1767225600123"}}}


class Seat(Model, table="seats"):
    seat_id: Annotated[str, PartitionKey]
    holder: str = ""
    version: Annotated[int, Version] = 0


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dynorm.connection.attempts.time.time", lambda: NOW)


def stored(op: str, req: Request) -> Response:
    if op == "UpdateItem":
        return {"Attributes": {"seat_id": {"S": "s1"}, "holder": {"S": "bo"},
                               "version": {"N": "2"}, "_origin": STAMP}}
    if op == "GetItem":
        return {"Item": {"seat_id": {"S": "s1"}, "holder": {"S": "al"},
                         "version": {"N": "1"}, "_origin": STAMP}}
    return {}


async def test_every_write_path_stamps_the_item_the_same_way() -> None:
    transport = MockTransport(stored)
    async with dynorm.connect(transport=transport, region="eu-west-1", origin=True) as conn:
        assert conn.origin == "_origin" and not conn.accepts_json_fragments
        seat = Seat(seat_id="s1", holder="al")
        await seat.save()
        await seat.update(attr(Seat.holder).set("bo"))
        async with dynorm.batch() as b:
            b.save(Seat(seat_id="s2"), unversioned=True)
            b.delete(Seat(seat_id="s3"), unversioned=True)
        async with dynorm.transaction() as tx:
            tx.save(Seat(seat_id="s4"))
            tx.update(seat, attr(Seat.holder).set("cy"))
        await seat.delete()
        read = await Seat.get("s1")      # the stamp is not a field: it reads as usual
    assert read.holder == "al"
    assert [op for op, _ in transport.requests] == [
        "PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem",
        "GetItem"]
    put_req, update_req, batch_req, tx_req, delete_req = (
        req for _, req in transport.requests[:5])
    assert put_req["Item"]["_origin"] == STAMP
    assert update_req["UpdateExpression"].startswith("SET #dynorm_origin = :dynorm_origin, ")
    assert update_req["ExpressionAttributeNames"]["#dynorm_origin"] == "_origin"
    assert update_req["ExpressionAttributeValues"][":dynorm_origin"] == STAMP
    put_request, delete_request = batch_req["RequestItems"]["seats"]
    assert put_request["PutRequest"]["Item"]["_origin"] == STAMP
    assert delete_request == {"DeleteRequest": {"Key": {"seat_id": {"S": "s3"}}}}
    tx_put, tx_update = tx_req["TransactItems"]
    assert tx_put["Put"]["Item"]["_origin"] == STAMP
    assert "#dynorm_origin = :dynorm_origin" in tx_update["Update"]["UpdateExpression"]
    assert tx_update["Update"]["ExpressionAttributeValues"][":dynorm_origin"] == STAMP
    assert "_origin" not in str(delete_req)


async def test_without_origin_nothing_is_added() -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport, region="eu-west-1"):
        await Seat(seat_id="s1").save()
    assert "_origin" not in transport.requests[0][1]["Item"]


async def test_an_update_without_set_gets_a_set_clause_and_a_custom_attribute() -> None:
    transport = MockTransport(stored)
    async with dynorm.connect(transport=transport, region="eu-west-1", origin="written"):
        await Seat.update_item("s1", attr(Seat.holder).remove())
    request = transport.requests[0][1]
    assert request["UpdateExpression"].startswith("SET #dynorm_origin = :dynorm_origin")
    assert "REMOVE" in request["UpdateExpression"]
    assert request["ExpressionAttributeNames"]["#dynorm_origin"] == "written"


def record(kind: str, image: dict[str, Any] | None) -> dict[str, Any]:
    images = {"Keys": {"seat_id": {"S": "s1"}}}
    if image is not None:
        images["NewImage" if kind != "REMOVE" else "OldImage"] = image
    return {"eventName": kind, "dynamodb": images}


def test_origin_of_items_records_and_echoes() -> None:
    item = {"seat_id": {"S": "s1"}, "_origin": STAMP}
    expected = Origin("eu-west-1", datetime(2026, 1, 1, 0, 0, 0, 123000, timezone.utc))
    assert origin_of(item) == expected and expected.millis == 1767225600123
    assert origin_of(record("MODIFY", item)) == expected
    assert origin_of({"seat_id": {"S": "s1"}}) is None
    assert origin_of({"_origin": {"M": {"region": {"S": "x"}}}}) is None   # no time
    assert is_echo(record("INSERT", item), "us-east-1")
    assert not is_echo(record("INSERT", item), "eu-west-1")
    assert not is_echo(record("INSERT", {"seat_id": {"S": "s1"}}), "us-east-1")
    assert not is_echo(record("REMOVE", item), "us-east-1")   # a delete carries no stamp


class Bag(Model, table="bags"):
    bag_id: Annotated[str, PartitionKey]
    a: int = 0
    b: str = ""
    c: set[str] = set()
    d: list[int] = []
    version: Annotated[int, Version] = 0


def _value() -> dict[str, Any]:
    return {"M": {"region": {"S": "eu-west-1"}, "at": {"N": "1"}}}


_ACTIONS = {
    "set a": lambda: attr(Bag.a).set(1), "add a": lambda: attr(Bag.a).add(2),
    "remove b": lambda: attr(Bag.b).remove(), "set b": lambda: attr(Bag.b).set("x"),
    "add c": lambda: attr(Bag.c).add({"x"}), "delete c": lambda: attr(Bag.c).delete({"y"}),
    "append d": lambda: attr(Bag.d).append([1]), "remove d": lambda: attr(Bag.d).remove(),
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(_ACTIONS)), min_size=1, max_size=4,
                unique_by=lambda name: name.split()[1]), st.booleans())
def test_stamping_any_update_keeps_one_set_clause_and_every_action(names: list[str],
                                                                    bump: bool) -> None:
    from dynorm.schema.prepare import update_operation
    from dynorm.transport.origin import stamp

    actions = tuple(_ACTIONS[name]() for name in names)
    request = update_operation(Bag, "bags", {"bag_id": {"S": "b1"}}, actions, None,
                               "ALL_NEW", bump=bump).to_request()
    stamped = stamp("UpdateItem", request, "_origin", "eu-west-1", 1)
    before, after = request["UpdateExpression"], stamped["UpdateExpression"]
    words = after.split()
    assert [w for w in words if w in ("SET", "REMOVE", "ADD", "DELETE")] == sorted(
        {w for w in before.split() if w in ("SET", "REMOVE", "ADD", "DELETE")} | {"SET"},
        key=words.index)
    assert words.count("SET") == 1
    assert after.replace("#dynorm_origin = :dynorm_origin, ", "").replace(
        "SET #dynorm_origin = :dynorm_origin ", "") == before
    assert stamped["ExpressionAttributeNames"] == {
        **request.get("ExpressionAttributeNames", {}), "#dynorm_origin": "_origin"}
    assert stamped["ExpressionAttributeValues"] == {
        **request.get("ExpressionAttributeValues", {}), ":dynorm_origin": _value()}


@pytest.mark.parametrize("attribute", ["_type", "_schema", "_migrations", "score"])
def test_an_update_writing_the_stamps_attribute_is_refused(attribute: str) -> None:
    """The stamp would replace what the update writes there (an entity marker, a schema
    version, a migration marker, a field): refused before anything is sent."""
    from dynorm.exceptions import EncodingError
    from dynorm.transport.origin import stamp

    update = {"TableName": "t", "Key": {"k": {"S": "a"}},
              "UpdateExpression": "SET #a = :a, #b = :b",
              "ExpressionAttributeNames": {"#a": "other", "#b": attribute},
              "ExpressionAttributeValues": {":a": {"S": "x"}, ":b": {"S": "y"}}}
    with pytest.raises(EncodingError, match=repr(attribute)):
        stamp("UpdateItem", update, attribute, "us-east-1", 1)
    raw = {**update, "UpdateExpression": f"SET #a = :a REMOVE {attribute}"}
    with pytest.raises(EncodingError):
        stamp("UpdateItem", raw, attribute, "us-east-1", 1)
    # a condition reading the stamp (last-writer-wins) is not a write of it
    guarded = {**update, "UpdateExpression": "SET #a = :a",
               "ConditionExpression": "#b.#at < :b"}
    guarded["ExpressionAttributeNames"] = {**update["ExpressionAttributeNames"],
                                           "#at": "at"}
    stamped = stamp("UpdateItem", guarded, attribute, "us-east-1", 1)
    assert stamped["ExpressionAttributeNames"]["#dynorm_origin"] == attribute
