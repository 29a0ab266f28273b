"""Read path: big reads, per item, on a server of their own.

A query of ``small`` and one of ``large`` items (no ``Limit``: the server's own pages, 1 MB
on dynalite and DynamoDB Local, unbounded on moto), a scan of the whole table
(``small + large`` items) in 4 segments read in parallel, and a batch get of ``small``
keys spread over the large partition (100 per call). The table lives on a separate server
process holding nothing else, so the scan reads exactly these items. Every contender
counts what it gets; what it hands back differs (``Contender.returns``).
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import dynorm
from benchmarks.contenders import Contender
from benchmarks.data import CREDS, REGION, Bench, make
from benchmarks.report import fmt_us

SMALL_PK = "read-small"
LARGE_PK = "read-large"
SEGMENTS = 4
BASE = "dynorm-fast"

ReadUnit = tuple[str, Callable[[Contender, Any, int], Awaitable[int]]]


def units(small: int, large: int) -> dict[str, ReadUnit]:
    """scenario key -> ("item", the timed unit returning the items read)."""

    async def query_small(c: Contender, _: Any, r: int) -> int:
        n = await c.query(SMALL_PK, None)
        assert n == small, (c.name, n, small)
        return n

    async def query_large(c: Contender, _: Any, r: int) -> int:
        n = await c.query(LARGE_PK, None)
        assert n == large, (c.name, n, large)
        return n

    async def scan(c: Contender, _: Any, r: int) -> int:
        n = await c.scan(SEGMENTS)
        assert n == small + large, (c.name, n, small + large)
        return n

    step = max(large // small, 1)
    keys = [(LARGE_PK, (i * step) % large) for i in range(small)]

    async def batch_get(c: Contender, _: Any, r: int) -> int:
        found = await c.batch_get(keys)
        assert found == len(keys), (c.name, found, len(keys))
        return found

    return {"read-query-small": ("item", query_small), "read-query-large": ("item", query_large),
            "read-scan": ("item", scan), "read-batch-get": ("item", batch_get)}


def labels(small: int, large: int) -> dict[str, str]:
    return {"read-query-small": f"query of {small:,}", "read-query-large": f"query of {large:,}",
            "read-scan": f"scan of {small + large:,}, {SEGMENTS} segments",
            "read-batch-get": f"batch get of {small:,} keys"}


async def seed(url: str, small: int, large: int) -> None:
    async with dynorm.connect(endpoint_url=url, region=REGION, transport="fast",
                              **CREDS):
        await Bench.delete_table()
        await Bench.create_table()
        async with dynorm.batch(concurrency=8) as b:
            for pk, n in ((SMALL_PK, small), (LARGE_PK, large)):
                for i in range(n):
                    b.save(make(pk, i))


async def warm(c: Contender) -> None:
    """Connections, lazy imports and decoders ready before the first timed round."""
    await c.query(SMALL_PK, None)


def table(names: list[str], what: dict[str, str],
          results: dict[tuple[str, str], list[tuple[float, float]]],
          errors: dict[tuple[str, str], str], returns: dict[str, str]) -> list[str]:
    """One row per (unit, contender); ``what`` labels each unit (``labels()``)."""
    lines = [f"info: read path: {name} returns {returns[name]}" for name in names
             if returns.get(name)]
    lines += ["", "| scenario | contender | client CPU µs per item | wall µs per item "
              "| CPU vs dynorm-fast | wall vs dynorm-fast |", "|---|---|---:|---:|---:|---:|"]
    for key, label in what.items():
        med = {name: (statistics.median(x[0] for x in runs),
                      statistics.median(x[1] for x in runs))
               for name in names if (runs := results.get((key, name)))}
        base = med.get(BASE)
        for name in names:
            if (key, name) in errors:
                lines.append(f"| read path: {label} | {name} | error "
                             f"| {errors[(key, name)]} | | |")
                continue
            if name not in med:
                continue
            cpu, wall = med[name]
            rc = f"{cpu / base[0]:.2f}x" if base else ""
            rw = f"{wall / base[1]:.2f}x" if base else ""
            lines.append(f"| read path: {label} | {name} | {fmt_us(cpu)} | {fmt_us(wall)} "
                         f"| {rc} | {rw} |")
    return lines
