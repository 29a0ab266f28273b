"""A bounded soak: 200 concurrent tasks of mixed get/put/update/query, zero errors, and a
final state that adds up (counters equal the increments made)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Annotated

from dynorm import LocalServer, Model, PartitionKey, SortKey
from tests.support.figures import record

TASKS = 200
OPS_PER_TASK = 10
COUNTERS = 20


class Tally(Model, table="soak_tallies"):
    name: Annotated[str, PartitionKey]
    hits: int = 0


class Entry(Model, table="soak_entries"):
    owner: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    text: str = ""


async def test_soak_200_tasks(dynorm_server: LocalServer) -> None:
    dynorm_server.reset()
    increments = dict.fromkeys(range(COUNTERS), 0)
    errors: list[BaseException] = []
    ops = 0
    started = time.monotonic()
    async with dynorm_server.connect(transport="fast", max_attempts=8):
        await Tally.create_table()
        await Entry.create_table()
        for c in range(COUNTERS):
            await Tally(name=f"c{c}").save()

        async def worker(t: int) -> None:
            nonlocal ops
            rng = random.Random(t)
            for i in range(OPS_PER_TASK):
                kind = rng.choice("pugq")
                try:
                    if kind == "p":
                        await Entry(owner=f"o{t % 25}", n=t * 100 + i, text=f"{t}:{i}").save()
                    elif kind == "u":
                        c = rng.randrange(COUNTERS)
                        await Tally.update_item(f"c{c}", Tally.hits.add(1))
                        increments[c] += 1
                    elif kind == "g":
                        await Tally.get(f"c{rng.randrange(COUNTERS)}")
                    else:
                        await Entry.query(Entry.owner == f"o{t % 25}").limit(20).to_list()
                    ops += 1
                except Exception as exc:
                    errors.append(exc)

        await asyncio.gather(*(worker(t) for t in range(TASKS)))
        tallies = {t.name: t.hits async for t in Tally.scan()}
        entries = await Entry.scan().count()
    assert errors == []
    assert tallies == {f"c{c}": n for c, n in increments.items()}
    assert entries == sum(
        1 for t in range(TASKS) for kind in _kinds(t) if kind == "p")
    record("soak", tasks=TASKS, operations=ops, errors=0, increments=sum(increments.values()),
           seconds=round(time.monotonic() - started, 2))


def _kinds(t: int) -> list[str]:
    rng = random.Random(t)
    out = []
    for _ in range(OPS_PER_TASK):
        kind = rng.choice("pugq")
        out.append(kind)
        if kind in "ug":
            rng.randrange(COUNTERS)
    return out
