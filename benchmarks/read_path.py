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
import time
from collections.abc import Awaitable, Callable
from typing import Any

import dynorm
from benchmarks.contenders import Contender
from benchmarks.data import CREDS, REGION, TABLE, Bench, make, wire
from benchmarks.report import fmt_us
from dynorm._gc import paused
from dynorm.codec.json import dumps, loads

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


def _paired(runs: list[tuple[float, float]], base: list[tuple[float, float]]
            ) -> tuple[float | None, float | None]:
    """The median over rounds of a contender's CPU and wall time over dynorm's in the
    same round: the contenders of a round run back to back, so a machine that is slower
    for a while (2 shared cores: 20-40% from minute to minute) slows both sides of each
    ratio, where the ratio of the medians mixes rounds run at different speeds."""
    if not base or len(runs) != len(base):
        return None, None
    return (statistics.median(r[0] / b[0] for r, b in zip(runs, base, strict=True)),
            statistics.median(r[1] / b[1] for r, b in zip(runs, base, strict=True)))


def table(names: list[str], what: dict[str, str],
          results: dict[tuple[str, str], list[tuple[float, float]]],
          errors: dict[tuple[str, str], str], returns: dict[str, str]) -> list[str]:
    """One row per (unit, contender); ``what`` labels each unit (``labels()``)."""
    lines = [f"info: read path: {name} returns {returns[name]}" for name in names
             if returns.get(name)]
    lines += ["", "| scenario | contender | client CPU µs per item | wall µs per item "
              "| CPU vs dynorm-fast | wall vs dynorm-fast | paired CPU | paired wall |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    summary = []
    for key, label in what.items():
        med = {name: (statistics.median(x[0] for x in runs),
                      statistics.median(x[1] for x in runs))
               for name in names if (runs := results.get((key, name)))}
        base = med.get(BASE)
        base_runs = results.get((key, BASE), [])
        paired = {name: _paired(results[(key, name)], base_runs) for name in med}
        for name in names:
            if (key, name) in errors:
                lines.append(f"| read path: {label} | {name} | error "
                             f"| {errors[(key, name)]} | | | | |")
                continue
            if name not in med:
                continue
            cpu, wall = med[name]
            rc = f"{cpu / base[0]:.2f}x" if base else ""
            rw = f"{wall / base[1]:.2f}x" if base else ""
            pc, pw = (f"{x:.2f}x" if x else "" for x in paired[name])
            lines.append(f"| read path: {label} | {name} | {fmt_us(cpu)} | {fmt_us(wall)} "
                         f"| {rc} | {rw} | {pc} | {pw} |")
        peers = [name for name in med if name != BASE and not name.startswith("dynorm")]
        if base and peers:
            best_cpu = min(med[p][0] for p in peers)
            best_wall = min(med[p][1] for p in peers)
            pcpu = [x for p in peers if (x := paired[p][0])]
            pwall = [x for p in peers if (x := paired[p][1])]
            summary.append(
                f"info: read path: {label}: {BASE} vs the best peer, CPU "
                f"{base[0] / best_cpu:.2f}x, wall {base[1] / best_wall:.2f}x (medians); "
                + (f"paired by round {1 / min(pcpu):.2f}x, {1 / min(pwall):.2f}x"
                   if pcpu and pwall else "no paired rounds"))
    lines += ["", *summary]
    return lines


#: The idle wait before each parse of `idle_penalty()`: about one answer's wait for the
#: server in the batch get.
IDLE = 0.008


def idle_penalty(repeats: int = 100) -> str:
    """An info line: the client CPU of one fixed piece of work -- parsing a BatchGetItem
    answer of 100 items (the JSON only) -- done back to back, and done right after an
    idle wait. On this workplace's machines (2 virtual cores) work that follows an idle
    wait runs slower for a while (1.4-3.7x the CPU for this parse in session 9's runs,
    the most while the other core is busy, as with the server's process): every answer a
    client waits for pays it, whichever library reads it, and it weighs the most on the
    client whose own work per answer is the smallest. Client CPU as everywhere in the
    suite (``time.process_time``), best of three runs, the collector off (as while the
    fast transport parses)."""
    body = dumps({"Responses": {TABLE: [wire(make(LARGE_PK, i)) for i in range(100)]},
                  "UnprocessedKeys": {}})

    def per_parse(idle: float) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(repeats):
                if idle:
                    time.sleep(idle)
                loads(body)
            used = time.process_time() - start
            best = min(best, used / repeats)
        return best

    # the parse alone, as the fast transport makes it: the collector paused
    hot, after = paused(per_parse, 0.0), paused(per_parse, IDLE)
    return (f"info: machine: parsing one 100-item batch get answer ({len(body) // 1024} KB) "
            f"costs {fmt_us(hot)} µs of client CPU back to back and {fmt_us(after)} µs right "
            f"after an idle wait of {IDLE * 1e3:.0f} ms ({after / hot:.2f}x): the price of "
            "each wait for an answer on this machine, paid by every client")
