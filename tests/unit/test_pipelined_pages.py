"""Pipelined pages (issue 26): the next page is requested while this one is consumed.

Through MockTransport: a handler that answers page ``k`` of a paged query and records,
when each request starts, how many items the caller had consumed by then.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import MockTransport, Model, PartitionKey, SortKey
from dynorm.exceptions import RequestRejected


class Row(Model, table="pp_rows"):
    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    v: int = 0


PAGE = 3
PAGES = 5


def _item(n: int) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "n": {"N": str(n)}}


class Server:
    """Answers PAGES pages of PAGE items; ``fail_on`` makes that page (1-based) fail."""

    def __init__(self, fail_on: int | None = None, slow: bool = False,
                 empty: frozenset[int] | set[int] = frozenset()) -> None:
        self.empty = empty
        self.consumed: list[int] = []
        self.starts: list[tuple[int, int]] = []  # (page, items consumed when it was sent)
        self.finished: list[int] = []
        self.cancelled: list[int] = []
        self.fail_on = fail_on
        self.slow = slow
        self.transport = MockTransport(self.handle)

    async def handle(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        start = req.get("ExclusiveStartKey")
        page = 1 if start is None else int(start["n"]["N"]) // PAGE + 2
        self.starts.append((page, len(self.consumed)))
        try:
            for _ in range(50 if self.slow else 1):
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.append(page)
            raise
        self.finished.append(page)
        if page == self.fail_on:
            raise RequestRejected("page failed", code="ValidationException", operation=op)
        first = (page - 1) * PAGE
        items = [] if page in self.empty else [_item(i) for i in range(first, first + PAGE)]
        out: dict[str, Any] = {"Items": items}
        if page < PAGES:
            out["LastEvaluatedKey"] = _item(first + PAGE - 1)
        return out


def _query() -> Any:
    return Row.query(Row.pk == "p").page_size(PAGE)


async def test_next_page_is_in_flight_while_this_one_is_consumed() -> None:
    server = Server()
    async with dynorm.connect(transport=server.transport):
        async for row in _query():
            server.consumed.append(row.n)
    assert server.consumed == list(range(PAGE * PAGES))
    # page k+1 was sent before the caller had consumed any item of page k
    assert server.starts == [(1, 0)] + [(k + 1, (k - 1) * PAGE) for k in range(1, PAGES)]
    starts = [req.get("ExclusiveStartKey") for _, req in server.transport.requests]
    assert starts == [None] + [_item(k * PAGE - 1) for k in range(1, PAGES)]
    assert all(req["Limit"] == PAGE for _, req in server.transport.requests)


async def test_to_list_and_pages_are_pipelined_and_unchanged() -> None:
    server = Server()
    async with dynorm.connect(transport=server.transport):
        rows = await _query().to_list()
        assert [r.n for r in rows] == list(range(PAGE * PAGES))
        assert len(server.transport.requests) == PAGES
        # to_list does not yield while decoding: page 2 was sent before page 1 was decoded
        server.transport.requests.clear()
        pages = []
        async for page in _query().pages():
            pages.append([r.n for r in page.items])
            server.consumed.extend(pages[-1])
            assert len(server.transport.requests) == min(len(pages) + 1, PAGES)
    assert pages == [list(range(k * PAGE, k * PAGE + PAGE)) for k in range(PAGES)]


async def test_single_page_call_sends_one_request() -> None:
    server = Server()
    async with dynorm.connect(transport=server.transport):
        page = await _query().page(size=PAGE)
        await asyncio.sleep(0.01)
    assert [r.n for r in page.items] == [0, 1, 2]
    assert page.cursor is not None
    assert len(server.transport.requests) == 1


async def test_error_of_a_prefetched_page_surfaces_at_its_boundary() -> None:
    server = Server(fail_on=3)
    seen: list[int] = []
    async with dynorm.connect(transport=server.transport):
        with pytest.raises(RequestRejected, match="page failed"):
            async for row in _query():
                seen.append(row.n)
    assert seen == list(range(2 * PAGE))  # pages 1 and 2 were handed over first
    assert server.finished == [1, 2, 3]


async def test_first_sends_no_request_beyond_its_item() -> None:
    plain = Server(slow=True)
    async with dynorm.connect(transport=plain.transport):
        assert (await _query().first()) is not None
        await asyncio.sleep(0.01)
    assert len(plain.transport.requests) == 1  # Limit 1 without a filter: nothing ahead
    server = Server(slow=True, empty={1})
    async with dynorm.connect(transport=server.transport):
        # with a filter, page 1 may match nothing: page 2 is asked for, and no page 3
        found = await _query().filter(Row.v >= 0).first()
        assert found is not None and found.n == PAGE
        await asyncio.sleep(0.01)
    assert [p for p, _ in server.starts] == [1, 2]
    assert server.finished == [1, 2]
    assert server.cancelled == []


@pytest.mark.parametrize("how", ["break", "raise", "limit"])
async def test_early_exit_cancels_the_request_in_flight(how: str) -> None:
    server = Server(slow=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with dynorm.connect(transport=server.transport):
            query = _query().limit(PAGE + 1) if how == "limit" else _query()
            seen = []
            with pytest.raises(KeyError) if how == "raise" else _nothing():
                async for row in query:
                    seen.append(row.n)
                    if how != "limit" and len(seen) == PAGE + 1:  # inside page 2
                        if how == "raise":
                            raise KeyError("consumer failed")
                        break
            for _ in range(5):  # `break` closes the generator on the loop's next turns
                await asyncio.sleep(0)
            gc.collect()
            await asyncio.sleep(0.01)
    assert seen == list(range(PAGE + 1))
    if how == "limit":  # the limit is reached with page 2: no page 3 is ever asked for
        assert [p for p, _ in server.starts] == [1, 2]
        assert server.cancelled == []
    else:
        assert [p for p, _ in server.starts] == [1, 2, 3]
        assert server.cancelled == [3]
        assert server.finished == [1, 2]


async def test_a_failed_prefetch_nobody_reads_is_retrieved_quietly() -> None:
    server = Server(fail_on=2)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with dynorm.connect(transport=server.transport):
            async for row in _query():
                await asyncio.sleep(0.005)  # page 2 fails meanwhile
                assert row.n == 0
                break
            await asyncio.sleep(0.01)
            gc.collect()
            await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert server.finished == [1, 2]
    assert reported == []


async def test_parallel_scan_segments_close_their_prefetch() -> None:
    server = Server(slow=True)
    async with dynorm.connect(transport=server.transport):
        rows = []
        async for row in Row.scan().segments(2).page_size(PAGE):
            rows.append(row)
            break
        for _ in range(5):
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
    assert len(rows) == 1
    assert len(server.finished) + len(server.cancelled) == len(server.starts)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
