"""Peak memory (tracemalloc) while iterating a query with ``async for``: must not grow
with the number of items (streaming page by page, nothing accumulated)."""

from __future__ import annotations

import gc
import tracemalloc

from benchmarks.data import Bench
from dynorm import attr

PARTITION = "mem"
#: Items per request. DynamoDB caps a page at 1 MB (about 1,400 of these items); moto does
#: not cap it at all, so the page size is set explicitly to measure the same on both.
PAGE = 1000


async def peak(n: int, page: int = PAGE) -> tuple[int, int]:
    """(items seen, peak bytes above the starting point) for the first ``n`` items."""
    query = Bench.query(attr(Bench.pk) == PARTITION).page_size(page).limit(n)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        count = 0
        async for _ in query:
            count += 1
        return count, tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
