"""What CPython's garbage-collector thresholds cost dynorm's bulk operations.

    python -m benchmarks.gc_tuning                  # dynalite (moto where npm is absent)
    python -m benchmarks.gc_tuning --quick --server moto

The process first holds ``--heap`` validated models (an application's caches and
in-flight data: what makes full collections expensive), then runs a batch write, a
``get_many`` and a query iterated with ``async for``, alternating CPython's default
thresholds ``(700, 10, 10)`` with raised ones ``(50_000, 20, 100)`` round by round, and
prints the median client CPU per item of each. dynorm never changes the thresholds
itself: that is the application's choice (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

import dynorm
from benchmarks.data import CREDS, REGION, Bench, make_many
from benchmarks.server import Server, dynalite_path

DEFAULT = (700, 10, 10)
RAISED = (50_000, 20, 100)


async def _round(items: list[Bench], keys: list[tuple[str, int]], query_items: int
                 ) -> tuple[float, float, float]:
    start = time.process_time()
    async with dynorm.batch() as b:
        for item in items:
            b.save(item)
    write = (time.process_time() - start) / len(items) * 1e6
    start = time.process_time()
    found = await Bench.get_many(keys)
    read = (time.process_time() - start) / len(keys) * 1e6
    assert all(m is not None for m in found)
    start = time.process_time()
    count = 0
    async for _ in Bench.query(dynorm.attr(Bench.pk) == "gc").page_size(100).limit(query_items):
        count += 1
    query = (time.process_time() - start) / count * 1e6
    return write, read, query


async def measure(url: str, *, heap: int, items: int, rounds: int
                  ) -> dict[tuple[int, int, int], list[tuple[float, float, float]]]:
    held = make_many("held", heap)  # noqa: F841 - alive on purpose: the application's heap
    batch_items = make_many("gc", items)
    keys = [(m.pk, m.sk) for m in batch_items[: max(items // 10, 1)]]
    results: dict[tuple[int, int, int], list[tuple[float, float, float]]] = {
        DEFAULT: [], RAISED: []}
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS):
        await Bench.create_table()
        try:
            for r in range(rounds * 2):
                thresholds = DEFAULT if r % 2 == 0 else RAISED
                gc.set_threshold(*thresholds)
                gc.collect()
                results[thresholds].append(await _round(batch_items, keys, items // 5))
        finally:
            gc.set_threshold(*DEFAULT)
            await Bench.delete_table()
    return results


def table(results: dict[tuple[int, int, int], list[tuple[float, float, float]]]) -> str:
    medians = {t: [statistics.median(r[i] for r in rows) for i in range(3)]
               for t, rows in results.items()}
    lines = ["| operation (client CPU per item) | thresholds (700, 10, 10) | "
             "thresholds (50000, 20, 100) | raised / default |", "|---|---:|---:|---:|"]
    for i, name in enumerate(["batch write", "get_many", "query (async for)"]):
        default, raised = medians[DEFAULT][i], medians[RAISED][i]
        lines.append(f"| {name} | {default:.1f} µs | {raised:.1f} µs | {raised / default:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["dynalite", "moto", "dynamodb-local"],
                        default=None)
    parser.add_argument("--quick", action="store_true", help="a smoke-test size")
    parser.add_argument("--heap", type=int, default=20_000, help="models held meanwhile")
    parser.add_argument("--items", type=int, default=5_000, help="items batch-written")
    args = parser.parse_args()
    kind = args.server or ("dynalite" if dynalite_path() else "moto")
    heap, items, rounds = (500, 200, 1) if args.quick else (args.heap, args.items, 5)
    server = Server(kind)
    try:
        results = asyncio.run(measure(server.url, heap=heap, items=items, rounds=rounds))
    finally:
        server.stop()
    print(f"server: {server.name}; {heap:,} models held; batch write of {items:,}, "
          f"get_many of {max(items // 10, 1):,}, query of {items // 5:,}; "
          f"{rounds} round(s) each, alternated, medians")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
