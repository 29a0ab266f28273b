"""Scatter-gather reads of a sharded index (``GlobalIndex(..., shards=N)``).

```python
top = await Score.by_game.query(Score.game == "tetris").reverse().limit(10).to_list()
```

A query of a sharded index's logical key (``game == "tetris"``) is N queries, one per
shard key (``tetris#0`` .. ``tetris#7``), sent concurrently (at most
``concurrency(n)`` at a time) and merged by sort key in the requested order, with a
k-way merge (``heapq``) that holds one page per shard. Each shard query carries the
filter, the projection and the sort-key condition; ``limit(k)`` asks each shard for at
most ``k`` items (no shard can hold more of the first ``k``), so a top-10 of 8 shards
reads 8 pages of at most 10. ``page()`` returns one signed cursor holding every shard's
position; ``count()`` sums the shards' counts.

Ties on the sort key come by shard number (ascending; descending after ``reverse()``),
then in the order DynamoDB returns them within the shard; an index without a sort key
gives shard 0's items, then shard 1's, and so on.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import Any

from typing_extensions import Self

from dynorm._gc import paused
from dynorm._types import AttributeValue, Item, Response
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import ExpressionError
from dynorm.expressions import KeyCondition
from dynorm.read.answers import decode_all
from dynorm.read.builder import M
from dynorm.read.pagination import (
    DONE,
    Page,
    check_position,
    decode_positions,
    encode_positions,
    read_capacity,
)
from dynorm.read.query import Query
from dynorm.schema.meta import IndexMeta

__all__ = ["ShardedQuery"]

#: shard queries in flight at once, unless ``concurrency(n)`` says otherwise
DEFAULT_CONCURRENCY = 8
#: items per page of ``pages()`` (and per decoded chunk) without ``page_size(n)``
_CHUNK = 100

Position = Item | str | None


class _Rev:
    """Reverses the order of what it wraps (a max-heap from ``heapq``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Rev) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]


def _sortable(av: AttributeValue | None) -> Any:
    """A sort-key value as Python orders it like DynamoDB: text by code point (which is
    UTF-8 byte order), numbers as Decimals, binaries as bytes."""
    if av is None:
        return 0
    ((tag, raw),) = av.items()
    if tag == "N":
        return Decimal(raw)
    if tag == "B":
        return bytes(raw)
    return raw


class _ShardQuery(Query[M]):
    """One shard's query: a plain Query whose requests wait for the shared gate."""

    _gate: asyncio.Semaphore

    async def _send(self, conn: Connection, limit: int | None, start: Item | None,
                    count: bool = False, whole: bool = False) -> Response:
        async with self._gate:  # raw items, always: the merge orders them by their keys
            return await super()._send(conn, limit, start, count)


class _Stream:
    """One shard's items in order, and where it stands (for cursors)."""

    __slots__ = ("after", "at", "capacity", "key_of", "pages", "raws", "start", "started")

    def __init__(self, query: _ShardQuery[Any], start: Position) -> None:
        self.start: Position = start  # the start key of the response in raws
        self.after: Item | None = None  # that response's LastEvaluatedKey
        self.raws: list[Item] = []
        self.at = 0
        self.started = False
        #: the capacity its responses reported since `_Merge.harvest()` last took it
        self.capacity: Any = None
        self.key_of = query._key_of
        self.pages: AsyncGenerator[Response, None] | None = None
        if start != DONE:
            self.pages = query._raw_pages(start if isinstance(start, dict) else None)

    async def advance(self) -> None:
        """Load the next response with items (or find the shard's end)."""
        while self.pages is not None:
            if self.started:
                if not self.after:
                    break  # read to its end
                self.start = self.after
            try:
                response = await self.pages.__anext__()
            except StopAsyncIteration:  # stopped at its limit: resumes at ``after``
                self.pages = None
                break
            self.started = True
            self.capacity = read_capacity("Query", response, self.capacity)
            self.raws = response.get("Items", [])
            self.after = response.get("LastEvaluatedKey") or None
            self.at = 0
            if self.raws:
                return
        self.raws, self.at = [], 0
        await self.close()

    @property
    def head(self) -> Item | None:
        return self.raws[self.at] if self.at < len(self.raws) else None

    def position(self) -> Position:
        """Where a later read of this shard resumes."""
        if not self.started:
            return self.start
        if self.at == 0 and self.raws:
            return self.start
        if self.at < len(self.raws):
            return self.key_of(self.raws[self.at - 1])
        return self.after or DONE

    async def close(self) -> None:
        pages, self.pages = self.pages, None
        if pages is not None:
            await pages.aclose()


class _Merge:
    """The k-way merge of the shards' streams in sort-key order.

    The heap holds one entry per shard with items loaded: ``(key, tie, shard)``, ``key``
    the sort key value of its next item (wrapped in `_Rev` after ``reverse()``), ``tie``
    the shard number (negated after ``reverse()``). Taking items is synchronous; a shard
    read to the end of its page is refilled (awaited) before the next item is taken.
    """

    def __init__(self, streams: list[_Stream], sort_attr: str | None, forward: bool) -> None:
        self.streams = streams
        self.sort_attr = sort_attr
        self.forward = forward
        self.heap: list[tuple[Any, int, int]] = []
        #: per shard: the heap entries of its loaded page's items, in order
        self.entries: list[list[tuple[Any, int, int]]] = [[] for _ in streams]
        self.pending: int | None = None  # read to the end of its page: refill first

    def _load(self, shard: int) -> None:
        """Make the heap entries of a shard's new page and push its first."""
        stream = self.streams[shard]
        if stream.head is None:
            return
        attr = self.sort_attr
        values = [_sortable(raw.get(attr) if attr else None) for raw in stream.raws]
        if self.forward:
            entries = [(v, shard, shard) for v in values]
        else:
            entries = [(_Rev(v), -shard, shard) for v in values]
        self.entries[shard] = entries
        heapq.heappush(self.heap, entries[stream.at])

    async def open(self) -> None:
        await asyncio.gather(*(s.advance() for s in self.streams))
        for shard in range(len(self.streams)):
            self._load(shard)

    async def refill(self) -> None:
        """Load the next page of the shard whose page was used up (if any)."""
        if self.pending is not None:
            shard, self.pending = self.pending, None
            await self.streams[shard].advance()
            self._load(shard)

    def take(self, want: int, out: list[Item]) -> None:
        """Append up to ``want`` items in merged order to ``out``, stopping early where a
        shard must be refilled or every shard is used up."""
        heap, streams, entries = self.heap, self.streams, self.entries
        while want > 0 and heap and self.pending is None:
            shard = heap[0][2]
            stream = streams[shard]
            out.append(stream.raws[stream.at])
            want -= 1
            stream.at += 1
            if stream.at < len(stream.raws):
                heapq.heapreplace(heap, entries[shard][stream.at])
            else:
                heapq.heappop(heap)
                entries[shard] = []
                self.pending = shard

    @property
    def finished(self) -> bool:
        """Nothing is left in any shard (as far as can be known without reading)."""
        return not self.heap and all(s.position() == DONE for s in self.streams)

    def positions(self) -> list[Position]:
        return [s.position() for s in self.streams]

    def harvest(self) -> Any:
        """The capacity the shards' responses reported since the last harvest (None
        without ``connect(capacity=True)``)."""
        total = None
        for stream in self.streams:
            if stream.capacity is not None:
                total = stream.capacity if total is None else total + stream.capacity
                stream.capacity = None
        return total

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.streams), return_exceptions=True)


class ShardedQuery(Query[M]):
    """A Query of a sharded index's logical key: a scatter-gather read of its shards.

    Built by ``Model.index.query(...)`` on an index declared with ``shards=N`` (and by
    ``Model.query(...)`` on a table whose partition key is sharded); every builder and
    reader of [`Query`][dynorm.types.Query] works on it, in merged order.
    """

    def __init__(self, model: type[M], keys: list[KeyCondition], index: IndexMeta | None
                 ) -> None:
        super().__init__(model, keys[0], index)
        self._keys = keys
        self._concurrency = DEFAULT_CONCURRENCY

    def concurrency(self, n: int) -> Self:
        """Send at most ``n`` shard queries at once (default 8)."""
        if n < 1:
            raise ExpressionError(f"concurrency must be at least 1, got {n}")
        new = self._copy()
        new._concurrency = n
        return new

    @property
    def shards(self) -> int:
        """How many shard queries this read sends (the index's ``read_shards``)."""
        return len(self._keys)

    def _scope(self) -> str:
        return f"{super()._scope()}#{len(self._keys)}"

    def _merge(self, starts: list[Position], per_shard: int | None) -> _Merge:
        gate = asyncio.Semaphore(self._concurrency)
        streams = []
        for key, start in zip(self._keys, starts, strict=True):
            shard: _ShardQuery[M] = _ShardQuery.__new__(_ShardQuery)
            shard.__dict__.update(self.__dict__)
            shard._key = key
            shard._limit = per_shard
            shard._gate = gate
            streams.append(_Stream(shard, start))
        declared = self._index.sort if self._index is not None else self._meta.sort
        sort = declared.attr if declared is not None else None
        return _Merge(streams, sort, self._forward)

    async def _chunks(self, merge: _Merge, size: int, left: int | None
                      ) -> AsyncGenerator[list[Item], None]:
        """Merged raw items in lists of ``size``, ``left`` in all (None: every one)."""
        await merge.open()
        while left is None or left > 0:
            want = size if left is None else min(size, left)
            raws: list[Item] = []
            while len(raws) < want:
                await merge.refill()
                if not merge.heap:
                    break
                merge.take(want - len(raws), raws)
            if left is not None:
                left -= len(raws)
            short = len(raws) < want  # the shards are read to their ends
            if raws:
                yield raws  # the consumer may empty the list (decoding pops it)
            if short:
                return

    async def _raw_item_pages(self) -> AsyncGenerator[list[Item], None]:
        merge = self._merge([None] * len(self._keys), self._limit)
        try:
            async for raws in self._chunks(merge, self._page_size or _CHUNK, self._limit):
                if self._full:
                    raws = await self._whole_items(raws)
                yield raws
        finally:
            await merge.close()

    async def pages(self) -> AsyncIterator[Page[M]]:
        """Pages of ``page_size(n)`` items (100 without it) in merged order, each with
        the cursor after it, up to ``limit`` items in all."""
        merge = self._merge([None] * len(self._keys), self._limit)
        try:
            async for raws in self._chunks(merge, self._page_size or _CHUNK, self._limit):
                cursor = None if merge.finished else self._positions_cursor(merge)
                capacity = merge.harvest()
                if self._full:
                    raws = await self._whole_items(raws)
                yield Page(paused(decode_all, self._decode, raws), cursor, capacity)
        finally:
            await merge.close()

    def _positions_cursor(self, merge: _Merge) -> str:
        return encode_positions(merge.positions(), self._scope(),
                                get_connection().cursor_secret)

    async def page(self, size: int = 50, cursor: str | None = None) -> Page[M]:
        """Exactly ``size`` items in merged order (fewer only on the last page) and one
        cursor holding every shard's position after them.

        Raises:
            InvalidCursor: the cursor was altered, forged, or made by another query
                (another index, table, model, number of shards or key value: each
                shard's position must lie in its key range).
        """
        if size < 1:
            raise ExpressionError(f"page size must be at least 1, got {size}")
        starts: list[Position] = [None] * len(self._keys)
        if cursor:
            starts = decode_positions(cursor, self._scope(), get_connection().cursor_secret,
                                      len(self._keys))
            for key, start in zip(self._keys, starts, strict=True):
                if isinstance(start, dict):  # each shard's position in its own key range
                    check_position(start, key, self._model.__name__)
        merge = self._merge(starts, size)
        try:
            raws: list[Item] = []
            async for chunk in self._chunks(merge, size, size):
                raws = chunk
            after = None if merge.finished else self._positions_cursor(merge)
            capacity = merge.harvest()
        finally:
            await merge.close()
        if self._full:
            raws = await self._whole_items(raws)
        return Page(paused(decode_all, self._decode, raws), after, capacity)

    async def count(self) -> int:
        """How many items match in all shards (their counts summed; capped by limit)."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(key: KeyCondition) -> int:
            shard: _ShardQuery[M] = _ShardQuery.__new__(_ShardQuery)
            shard.__dict__.update(self.__dict__)
            shard._key = key
            shard._gate = gate
            return await Query.count(shard)

        total = sum(await asyncio.gather(*(one(k) for k in self._keys)))
        return min(total, self._limit) if self._limit is not None else total
