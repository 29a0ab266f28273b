"""Query and scan builders: immutable and sync; reading them is async.

```python
top = await (Score.by_game.query(Score.game == "tetris")
             .filter(Score.tags.contains("pro")).reverse().limit(10).to_list())
async for s in Score.query(Score.user_id == "u1", Score.game.begins_with("t")):
    ...
page = await Score.query(Score.user_id == "u1").page(size=50, cursor=token)
```

Every builder method returns a new builder; nothing is sent until you iterate,
``await .to_list()``, ``.first()``, ``.count()``, ``.page()`` or ``.pages()``.
Results stream page by page: iterating a million items holds one page in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any, Generic

from typing_extensions import Self

from dynorm._types import Item, Response
from dynorm.exceptions import ExpressionError
from dynorm.expressions import Condition, KeyCondition
from dynorm.expressions.operations import Query as QueryOp
from dynorm.expressions.operations import Scan as ScanOp
from dynorm.read.builder import M, _Read
from dynorm.read.pagination import Page, check_position
from dynorm.schema.classes import meta_of
from dynorm.schema.indexes import _Index
from dynorm.schema.key_conditions import key_query
from dynorm.schema.meta import IndexMeta
from dynorm.schema.shards import ShardedTemplate

__all__ = ["BoundIndex", "Query", "Scan", "build_query"]


class Query(_Read[M]):
    """A Query on a model's table or one of its indexes. Build with ``Model.query(...)``."""

    _operation_name = "Query"

    def __init__(self, model: type[M], key: KeyCondition, index: IndexMeta | None = None
                 ) -> None:
        super().__init__(model, index)
        self._key = key
        self._forward = True

    def _check_filter(self, cond: Condition) -> None:
        super()._check_filter(cond)
        keys = {k.attr for k in self._query_keys()}
        for path in cond.paths():
            if path.name in keys:
                raise ExpressionError(
                    f"filter on key attribute {path.name!r}: DynamoDB does not allow key "
                    "attributes in a query's filter; put it in the key condition"
                )

    def _query_keys(self) -> list[Any]:
        if self._index is not None:
            return [k for k in (self._index.partition, self._index.sort) if k is not None]
        return list(self._meta.key_attrs)

    def _check_start(self, start: Item) -> None:
        check_position(start, self._key, self._model.__name__)

    def reverse(self) -> Self:
        """Descending sort-key order."""
        new = self._copy()
        new._forward = not self._forward
        return new

    def _op(self, table: str, limit: int | None, start: Item | None, count: bool) -> QueryOp:
        return QueryOp(
            table=table,
            key_condition=self._key,
            index=self._index.name if self._index else None,
            filter=self._filter,
            projection=self._projection,
            limit=limit,
            forward=self._forward,
            consistent=self._consistent,
            count_only=count,
            start_key=start,
        )


class Scan(_Read[M]):
    """A Scan of a model's table or index. Build with ``Model.scan()``."""

    _operation_name = "Scan"

    def __init__(self, model: type[M], index: IndexMeta | None = None) -> None:
        super().__init__(model, index)
        self._segments: int | None = None
        self._segment: int | None = None

    def segments(self, n: int) -> Self:
        """Parallel scan in ``n`` segments read concurrently; items arrive as they come."""
        if not 1 <= n <= 1_000_000:
            raise ExpressionError(f"segments must be between 1 and 1000000, got {n}")
        new = self._copy()
        new._segments = n
        return new

    def _op(self, table: str, limit: int | None, start: Item | None, count: bool) -> ScanOp:
        return ScanOp(
            table=table,
            index=self._index.name if self._index else None,
            filter=self._filter,
            projection=self._projection,
            limit=limit,
            consistent=self._consistent,
            count_only=count,
            start_key=start,
            segment=self._segment,
            total_segments=self._segments if self._segment is not None else None,
        )

    def _one_segment(self, segment: int) -> Scan[M]:
        new = self._copy()
        new._segment = segment
        new._limit = None  # the total limit is applied where segments merge
        return new

    def _responses(self) -> AsyncGenerator[Response, None]:
        if not self._segments or self._segment is not None:
            return self._raw_pages()
        return self._merged_segments(self._segments)

    async def _merged_segments(self, segments: int) -> AsyncGenerator[Response, None]:
        """The segments' responses as they come, each segment pipelined on its own (a
        task per segment, one page in flight while its last one waits in the queue)."""
        queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=segments * 2)

        async def run(part: Scan[M]) -> None:
            # A cancelled segment (the consumer stopped) must not wait on a full queue.
            try:
                async with aclosing(part._raw_pages()) as responses:  # closes its prefetch
                    async for response in responses:
                        await queue.put((True, response))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await queue.put((False, exc))
                return
            await queue.put((False, None))

        tasks = [asyncio.ensure_future(run(self._one_segment(i))) for i in range(segments)]
        running = len(tasks)
        try:
            while running:
                ok, value = await queue.get()
                if not ok:
                    if value is not None:
                        raise value
                    running -= 1
                    continue
                yield value
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def count(self) -> int:
        """How many items match (``Select=COUNT``, summed across pages; capped by limit);
        with ``segments(n)`` the segments are counted concurrently."""
        if self._segments:
            counts = await asyncio.gather(
                *(Scan._count_one(self._one_segment(i)) for i in range(self._segments))
            )
            total = sum(counts)
            return min(total, self._limit) if self._limit is not None else total
        return await super().count()

    async def _count_one(self) -> int:
        return await _Read.count(self)

    async def page(self, size: int = 50, cursor: str | None = None) -> Page[M]:
        """Exactly ``size`` items (fewer only on the last page) and the cursor after them, as
        for a query; refused (``ExpressionError``) after ``segments()``: iterate instead."""
        if self._segments:
            raise ExpressionError("page() cannot be combined with segments(): iterate instead")
        return await super().page(size, cursor)


def build_query(model: type[M], index: IndexMeta | None,
                key_conditions: Sequence[Condition]) -> Query[M]:
    """The Query of a table (``index`` None) or index: a `ShardedQuery` (scatter-gather,
    dynorm/read/scatter.py) where the partition key is sharded."""
    meta = meta_of(model)
    key, exact = key_query(meta, index, key_conditions)
    template = (index or meta).partition.template
    if isinstance(template, ShardedTemplate):
        from dynorm.read.scatter import ShardedQuery  # it builds on Query

        keys = [key] + [key_query(meta, index, key_conditions, shard)[0]
                        for shard in range(1, template.read_shards)]
        return ShardedQuery(model, keys, index)._refine(exact)
    return Query(model, key, index)._refine(exact)


class BoundIndex(Generic[M]):
    """A secondary index seen from its model: ``User.by_email``."""

    __slots__ = ("index", "meta", "model")

    def __init__(self, model: type[M], index: _Index, meta: IndexMeta) -> None:
        self.model = model
        self.index = index
        self.meta = meta

    @property
    def name(self) -> str:
        return self.meta.name

    def __repr__(self) -> str:
        return f"<{self.model.__name__}.{self.index.attribute}: {self.index!r}>"

    def query(self, *key_conditions: Condition) -> Query[M]:
        """A Query on this index: ``Score.by_game.query(Score.game == "tetris")``.

        On an index declared with ``shards=N``, a scatter-gather read of every shard
        ([`ShardedQuery`][dynorm.types.ShardedQuery], docs/hot-keys.md)."""
        return build_query(self.model, self.meta, key_conditions)

    def scan(self) -> Scan[M]:
        """A Scan of this index."""
        return Scan(self.model, self.meta)
