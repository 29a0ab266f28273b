"""Lazy upgrades against real servers: items written by an older model are read as the
current one on every read path, updates never mix versions, save() and a backfill
migration store the upgraded items; a newer item is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    ConditionFailed,
    Connection,
    GlobalIndex,
    Model,
    PartitionKey,
    UpgradeFailed,
    upgrade,
)
from dynorm.migrate import Migration
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE


class Member(Model, table="members", schema_version=3):
    member_id: Annotated[str, PartitionKey]
    first: str
    last: str = ""
    score: Decimal = Decimal(0)

    by_last = GlobalIndex("last", projection="KEYS_ONLY")


@upgrade(Member, from_version=1)
def split_name(item: dict[str, Any]) -> dict[str, Any]:
    first, _, last = item.pop("name").partition(" ")
    return {**item, "first": first, "last": last}


@upgrade(Member, from_version=2)
def rename_points(item: dict[str, Any]) -> None:
    item["score"] = item.pop("points", 0)


def version1(member_id: str, name: str, points: int) -> dict[str, Any]:
    """An item as the first release of the model wrote it (no version attribute)."""
    return {"member_id": {"S": member_id}, "name": {"S": name}, "points": {"N": str(points)}}


async def raw(conn: Connection, member_id: str) -> dict[str, Any]:
    answer = await conn.call("GetItem", {"TableName": "members",
                                         "Key": {"member_id": {"S": member_id}},
                                         "ConsistentRead": True})
    item: dict[str, Any] = answer["Item"]
    return item


@pytest.mark.dynorm_tables([Member])
async def test_old_items_read_upgraded_and_are_stored_upgraded_only_when_written(
        dynorm_connection: Connection) -> None:
    conn = dynorm_connection
    for i, name in enumerate(["Ada Lovelace", "Alan Turing", "Grace Hopper"]):
        await conn.call("PutItem", {"TableName": "members", "Item": version1(f"m{i}", name, i)})
    ada = Member(member_id="m0", first="Ada", last="Lovelace", score=Decimal(0))

    assert await Member.get("m0", consistent=True) == ada
    assert sorted((m.first, m.score) for m in await Member.scan().to_list()) == [
        ("Ada", 0), ("Alan", 1), ("Grace", 2)]
    assert await Member.query(Member.member_id == "m0").to_list() == [ada]
    assert await dynorm.get_many(Member, ["m0"]) == [ada]
    assert list(await dynorm.transact_get((Member, "m0"))) == [ada]
    assert await raw(conn, "m0") == version1("m0", "Ada Lovelace", 0)  # reads write nothing

    # An update never writes new-shape attributes into an old item.
    with pytest.raises(ConditionFailed, match="stored item is at schema version 1, Member at "
                                              "3: an update never mixes"):
        await Member.update_item("m0", Member.last.set("Byron"))
    assert await raw(conn, "m0") == version1("m0", "Ada Lovelace", 0)

    # save() writes the upgraded item; updates work from then on.
    await ada.save()
    await ada.update(Member.score.add(5))
    assert await raw(conn, "m0") == {"member_id": {"S": "m0"}, "first": {"S": "Ada"},
                                     "last": {"S": "Lovelace"}, "score": {"N": "5"},
                                     SCHEMA_ATTRIBUTE: {"N": "3"}}

    # An item written by a newer release is refused, not read as this one.
    await conn.call("PutItem", {"TableName": "members", "Item": {
        "member_id": {"S": "m9"}, "first": {"S": "Zed"}, SCHEMA_ATTRIBUTE: {"N": "4"}}})
    with pytest.raises(UpgradeFailed, match="at schema version 4, newer than Member's"):
        await Member.get("m9")

    # A backfill: a migration whose change is the identity stores every item upgraded
    # (the read upgrades it; the write stamps the version); the newer item fails.
    result = await Migration("members-v3", Member, lambda member: member).run(segments=2)
    assert (result.changed, result.skipped, result.failed) == (2, 1, 1), str(result)
    assert result.reasons == {"cannot be upgraded": 1, "no change": 1}
    alan = await raw(conn, "m1")
    assert {k: alan[k] for k in ("first", "last", "score", SCHEMA_ATTRIBUTE)} == {
        "first": {"S": "Alan"}, "last": {"S": "Turing"}, "score": {"N": "1"},
        SCHEMA_ATTRIBUTE: {"N": "3"}}
    # Attributes the model no longer declares stay (a migration never removes data).
    assert alan["name"] == {"S": "Alan Turing"}
    # Every item is current now: the index reads them (it projects the version).
    found = await Member.by_last.query(Member.last == "Hopper").to_list()
    assert [(m.member_id, m.last) for m in found] == [("m2", "Hopper")]
