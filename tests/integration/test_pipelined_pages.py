"""Pipelined pages (issue 26) against the server: reading with the next page in flight
gives exactly what page-by-page reading (``page()``, never pipelined) gives, over many
small pages, on both transports (and on DynamoDB Local with ``DYNORM_TEST_BACKEND``)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from dynorm import Connection, Model, PartitionKey, SortKey
from dynorm.write.batch import batch


class Tick(Model, table="pipelined_ticks"):
    stream: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    odd: bool = False
    body: str = ""


N = 230
TABLES = pytest.mark.dynorm_tables([Tick])


async def _seed() -> list[Tick]:
    items = [Tick(stream="s", seq=i, odd=bool(i % 2), body=f"b{i}") for i in range(N)]
    async with batch() as b:
        for t in items:
            b.save(t)
        b.save(Tick(stream="other", seq=0))
    return items


async def _page_by_page(query: Any, size: int) -> list[Tick]:
    out: list[Tick] = []
    cursor = None
    while True:
        page = await query.page(size=size, cursor=cursor)
        out.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return out


@TABLES
async def test_pipelined_reads_equal_page_by_page_reads(dynorm_connection: Connection) -> None:
    items = await _seed()
    query = Tick.query(Tick.stream == "s").page_size(7)
    reference = await _page_by_page(query, 7)
    assert reference == items
    assert await query.to_list() == items
    assert [t async for t in query] == items
    assert [t for page in [p async for p in query.pages()] for t in page.items] == items
    assert await query.reverse().to_list() == items[::-1]
    assert await query.limit(50).to_list() == items[:50]
    odd = query.filter(Tick.odd == True)  # noqa: E712
    assert await odd.to_list() == [t for t in items if t.odd]
    assert await odd.limit(31).to_list() == [t for t in items if t.odd][:31]
    assert await query.first() == items[0]


@TABLES
async def test_early_exit_leaves_the_connection_usable(dynorm_connection: Connection) -> None:
    items = await _seed()
    query = Tick.query(Tick.stream == "s").page_size(5)
    seen = []
    async for t in query:
        seen.append(t)
        if len(seen) == 12:  # inside page 3, page 4 in flight
            break
    assert seen == items[:12]
    with pytest.raises(LookupError):
        async for t in query:
            if t.seq == 7:
                raise LookupError("consumer failed")
    assert await query.to_list() == items  # nothing left over from the abandoned reads


@TABLES
async def test_pipelined_scan_equals_page_by_page(dynorm_connection: Connection) -> None:
    items = await _seed()
    reference = await _page_by_page(Tick.scan().page_size(9), 9)
    key = lambda t: (t.stream, t.seq)  # noqa: E731
    assert sorted(reference, key=key) == sorted([*items, Tick(stream="other", seq=0)], key=key)
    assert sorted(await Tick.scan().page_size(9).to_list(), key=key) == sorted(reference, key=key)
    parallel = await Tick.scan().segments(3).page_size(9).to_list()
    assert sorted(parallel, key=key) == sorted(reference, key=key)
