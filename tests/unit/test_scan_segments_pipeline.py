"""Parallel scans pipeline per segment (issue 26): each segment requests its next page
before its current one is consumed, as a query does; through MockTransport."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import dynorm
from dynorm import MockTransport, Model, PartitionKey, SortKey

PAGE = 3
PAGES = 3
SEGMENTS = 2


class Cell(Model, table="ssp_cells"):
    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]


class Server:
    def __init__(self) -> None:
        self.consumed: list[tuple[int, int]] = []
        #: (segment, page, items of that segment consumed when the request started)
        self.starts: list[tuple[int, int, int]] = []
        self.transport = MockTransport(self.handle)

    async def handle(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        assert op == "Scan" and req["TotalSegments"] == SEGMENTS and req["Limit"] == PAGE
        segment = req["Segment"]
        start = req.get("ExclusiveStartKey")
        page = 1 if start is None else int(start["n"]["N"]) % 100 // PAGE + 2
        self.starts.append((segment, page, sum(1 for s, _ in self.consumed if s == segment)))
        for _ in range(3):
            await asyncio.sleep(0)
        first = segment * 100 + (page - 1) * PAGE
        items = [{"pk": {"S": f"s{segment}"}, "n": {"N": str(i)}}
                 for i in range(first, first + PAGE)]
        out: dict[str, Any] = {"Items": items}
        if page < PAGES:
            out["LastEvaluatedKey"] = items[-1]
        return out


async def test_each_segment_requests_its_next_page_before_this_one_is_consumed() -> None:
    server = Server()
    async with dynorm.connect(transport=server.transport):
        async for cell in Cell.scan().segments(SEGMENTS).page_size(PAGE):
            server.consumed.append((cell.n // 100, cell.n))
            await asyncio.sleep(0)
    for segment in range(SEGMENTS):
        got = [n for s, n in server.consumed if s == segment]
        assert got == list(range(segment * 100, segment * 100 + PAGE * PAGES))
        mine = [(page, seen) for s, page, seen in server.starts if s == segment]
        assert [page for page, _ in mine] == list(range(1, PAGES + 1))
        # page k+1 went out before the consumer had all of page k's items
        for page, seen in mine[1:]:
            assert seen < (page - 1) * PAGE, (segment, page, seen)
