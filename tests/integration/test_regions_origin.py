"""Origin stamps through a real server, on both transports: every write path's stamped
request is accepted, and the stored item carries the stamp (the unit tests check the
exact requests; this checks that DynamoDB takes them: an update's SET clause shared with
REMOVE/ADD, batch puts on the fast transport that otherwise sends pre-encoded JSON).
Both transports on moto, the fast one elsewhere (CI time)."""

from __future__ import annotations

from typing import Annotated

import pytest

import dynorm
from dynorm import LocalServer, Model, PartitionKey, Version, attr, origin_of
from tests.support.backend import BACKEND


class Ledger(Model, table="origin_ledger"):
    entry_id: Annotated[str, PartitionKey]
    note: str = ""
    tags: set[str] = set()
    count: int = 0
    version: Annotated[int, Version] = 0


@pytest.mark.parametrize("transport", ["fast", "aioboto3"] if BACKEND == "moto" else ["fast"])
async def test_every_write_path_stores_the_stamp(dynorm_server: LocalServer,
                                                 transport: str) -> None:
    dynorm_server.reset()
    async with dynorm_server.connect(transport=transport, region="eu-west-1",
                                     origin=True) as conn:
        await Ledger.create_table()
        first = await Ledger(entry_id="save", note="x", tags={"a"}).save()
        await first.update(attr(Ledger.note).remove(), attr(Ledger.count).add(2),
                           attr(Ledger.tags).delete({"a"}))
        await Ledger.update_item("upsert", attr(Ledger.count).add(1), upsert=True)
        async with dynorm.batch() as b:
            for i in range(3):
                b.save(Ledger(entry_id=f"batch{i}"), unversioned=True)
        async with dynorm.transaction() as tx:
            tx.save(Ledger(entry_id="tx-put"))
            tx.update(first, attr(Ledger.note).set("y"))
        moved = await (await Ledger.get("upsert")).move(entry_id="moved")
        keys = ["save", "batch0", "batch1", "batch2", "tx-put", "moved"]
        stamps = {}
        for key in keys:
            answer = await conn.call("GetItem", {"TableName": Ledger.table_name(),
                                                 "Key": {"entry_id": {"S": key}},
                                                 "ConsistentRead": True})
            stamps[key] = origin_of(answer["Item"])
        final = await Ledger.get("save")
    assert all(o is not None and o.region == "eu-west-1" for o in stamps.values()), stamps
    assert (final.note, final.count, final.tags, final.version) == ("y", 2, set(), 3)
    assert moved.count == 1
