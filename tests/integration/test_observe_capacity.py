"""Consumed capacity on the real servers (issue 24): the connection's totals are exactly
the sum of what the server returned, per table, index, model and operation, over a mixed
workload; pages, transactions and batches carry their share.

The server's answers are recorded by a pass-through around the connection's real
transport (nothing is faked) and summed here independently of dynorm's parser.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import GlobalIndex, LocalServer, Model, PartitionKey, SortKey
from dynorm._types import Response
from tests.support.backend import BACKEND, on_backend
from tests.support.passthrough import Recorder

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Ticket(Model, table="obs_tickets"):
    board: Annotated[str, PartitionKey]
    num: Annotated[int, SortKey]
    state: str = "open"
    body: str = ""

    by_state = GlobalIndex("state", "num")


def expected(answers: list[tuple[str, Response]]) -> dict[str, Any]:
    """The totals, summed straight from the raw answers."""
    def units(op: str, part: dict[str, Any]) -> tuple[float, float]:
        if "ReadCapacityUnits" in part or "WriteCapacityUnits" in part:
            return part.get("ReadCapacityUnits", 0.0), part.get("WriteCapacityUnits", 0.0)
        n = part.get("CapacityUnits", 0.0)
        return (0.0, n) if op in WRITES else (n, 0.0)

    tables: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    indexes: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    operations: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for op, answer in answers:
        raw = answer.get("ConsumedCapacity")
        for entry in [raw] if isinstance(raw, dict) else raw or []:
            r, w = units(op, entry)
            for where in (tables[entry["TableName"]], operations[op]):
                where[0] += r
                where[1] += w
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                for name, part in (entry.get(kind) or {}).items():
                    ir, iw = units(op, part)
                    indexes[f"{entry['TableName']}/{name}"][0] += ir
                    indexes[f"{entry['TableName']}/{name}"][1] += iw

    def plain(d: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        return {k: {"read": v[0], "write": v[1]} for k, v in d.items()}

    return {"tables": plain(tables), "indexes": plain(indexes),
            "operations": plain(operations)}


@pytest.mark.dynorm_tables([Ticket])
async def test_totals_are_the_sum_of_what_the_server_returned(
        dynorm_server: LocalServer, dynorm_connection: dynorm.Connection) -> None:
    recorder = Recorder(dynorm_connection.transport)
    async with dynorm.connect(transport=recorder, capacity=True) as conn:
        for n in range(6):
            await Ticket(board="b1", num=n, body="x" * 1500 * n).save()
        await Ticket.get("b1", 1, consistent=True)
        await Ticket.update_item(("b1", 2), Ticket.state.set("done"))
        pages = [p async for p in Ticket.query(Ticket.board == "b1").page_size(2).pages()]
        index_page = await Ticket.by_state.query(Ticket.state == "open").page(10)
        await Ticket.scan().to_list()
        async with dynorm.batch() as batch:
            for n in range(10, 14):
                batch.save(Ticket(board="b2", num=n))
        await dynorm.get_many(Ticket, [("b2", n) for n in range(10, 14)])
        async with dynorm.transaction() as tx:
            tx.save(Ticket(board="b3", num=1))
            tx.delete(Ticket(board="b1", num=0))
        await Ticket(board="b1", num=5).delete()

        snapshot = conn.capacity.snapshot()
        want = expected(recorder.answers)
        assert {k: snapshot[k] for k in want} == want
        total = sum(v["read"] + v["write"] for v in want["tables"].values())
        assert conn.capacity.total.total == total > 0
        assert snapshot["models"]["Ticket"]["write"] > 0  # single-model calls, by model
        # every page carries its request's capacity (an empty last page may cost 0)
        assert all(p.capacity is not None for p in pages) and pages[0].capacity.read > 0
        assert sum(p.capacity.read for p in pages if p.capacity) == want["operations"][
            "Query"]["read"] - (index_page.capacity.read if index_page.capacity else 0)
        assert index_page.capacity is not None and index_page.capacity.index("by_state")
        assert [c.table for c in batch.capacity] == ["obs_tickets"]
        # moto answers a TransactWriteItems without ConsumedCapacity
        assert bool(tx.capacity) is on_backend(moto=False, aws=True)


@pytest.mark.only_on("dynamodb-local", reason="moto reports no index units for writes")
@pytest.mark.dynorm_tables([Ticket])
async def test_writes_count_index_units(dynorm_server: LocalServer,
                                        dynorm_connection: dynorm.Connection) -> None:
    async with dynorm.connect(transport=Recorder(dynorm_connection.transport),
                              capacity=True) as conn:
        await Ticket(board="b1", num=1).save()
    assert conn.capacity.snapshot()["indexes"]["obs_tickets/by_state"]["write"] > 0
    assert BACKEND == "dynamodb-local"
