"""What Query and Scan share: the builders (filter, projection, limits), iteration and
pages, over one model's table or index.

Every builder method returns a new builder; nothing is sent until a reader runs
(``async for``, ``to_list()``, ``first()``, ``count()``, ``page()``, ``pages()``).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractContextManager, aclosing
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from typing_extensions import Self

from dynorm._gc import paused
from dynorm._sync import ReadSync
from dynorm._types import Item, Response
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import ExpressionError
from dynorm.expressions import Condition, Path
from dynorm.read.answers import cut_items, decode_all, each_model, page_reader
from dynorm.read.pagination import Page, decode_cursor, encode_cursor, read_capacity
from dynorm.schema.classes import key_path, meta_of
from dynorm.schema.decode import from_item, from_projection
from dynorm.schema.meta import INT_CODEC, STR_CODEC, IndexMeta, TableMeta
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE
from dynorm.security import ready_to_read
from dynorm.transport.base import answers_read_by

if TYPE_CHECKING:
    from dynorm.model import Model

__all__: list[str] = []  # Query and Scan (dynorm.read.query) are the public face

M = TypeVar("M", bound="Model")


async def _cancel(task: asyncio.Task[Response]) -> None:
    """Cancel a prefetch nobody will read and wait for it; its outcome (a page, an error,
    the cancellation) is dropped, so asyncio never warns of an unretrieved exception."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class _Read(Generic[M]):
    """What Query and Scan share: filter, projection, limits, iteration, pages."""

    _operation_name = ""
    #: the caller keeps whole pages: the transport may read them into models (_send)
    _eager = False
    #: blocking readers: ``query.sync.to_list()``, ``for x in query.sync:`` (dynorm.blocking)
    sync: ClassVar[ReadSync] = ReadSync()

    def __init__(self, model: type[M], index: IndexMeta | None) -> None:
        self._model = model
        self._meta: TableMeta = meta_of(model)
        self._index = index
        self._filter: Condition | None = None
        self._projection: tuple[Path, ...] = ()
        self._limit: int | None = None
        self._page_size: int | None = None
        self._consistent = False
        self._full = False
        if self._meta.entity is not None:  # single-table design: only this model's items
            self._filter = Path((self._meta.entity_attr,), STR_CODEC) == self._meta.entity
        #: (covered top-level attributes, fields read in part) when results are partial
        #: copies; None when every item is read whole.
        self._partial: tuple[frozenset[str], frozenset[str]] | None = None
        if index is not None and index.projection_type != "ALL":
            self._partial = (frozenset(self._index_attrs()), frozenset())

    def _copy(self) -> Self:
        return copy.copy(self)

    # ------------------------------------------------------------------ builders

    def filter(self, *conditions: Condition) -> Self:
        """Keep only items matching all ``conditions`` (a FilterExpression, applied after
        the read: filtered-out items still cost read capacity)."""
        new = self._copy()
        for cond in conditions:
            if not isinstance(cond, Condition):
                raise ExpressionError(f"filter() takes conditions, got {cond!r}")
            self._check_filter(cond)
            new._filter = cond if new._filter is None else new._filter & cond
        return new

    def _check_filter(self, cond: Condition) -> None:
        held = self._index_attrs() if self._partial_index() else None
        for path in cond.paths():
            self._check_owner(path)
            self._check_stored(path)
            if held is not None and path.name not in held:
                assert self._index is not None
                raise ExpressionError(
                    f"{self._model.__name__}.{self._index.name} projects "
                    f"{self._index.projection_type} and does not hold {path.label}: DynamoDB "
                    "refuses a filter on it; filter in Python, query the table, or project "
                    "the attribute into the index"
                )

    def _partial_index(self) -> bool:
        return self._index is not None and self._index.projection_type != "ALL"

    def _refine(self, conditions: list[Condition]) -> Self:
        """Add filters dynorm derived itself (exactness for lossy key templates)."""
        new = self._copy()
        for cond in conditions:
            new._filter = cond if new._filter is None else new._filter & cond
        return new

    def _check_stored(self, path: Path) -> None:
        if path.field is not None and path.field in self._meta.recovered:
            raise ExpressionError(
                f"{self._model.__name__}.{path.field} is stored only inside the table key: "
                "use it in the key condition, or declare the model with store_key_fields=True"
            )

    def _check_owner(self, path: Path) -> None:
        if path.owner is not None and not issubclass(self._model, path.owner):
            raise ExpressionError(
                f"{path!r} belongs to {path.owner.__name__}, not to {self._model.__name__}"
            )

    def limit(self, n: int) -> Self:
        """Return at most ``n`` items in total (across DynamoDB pages)."""
        if n < 1:
            raise ExpressionError(f"limit must be at least 1, got {n}")
        new = self._copy()
        new._limit = n
        return new

    def page_size(self, n: int) -> Self:
        """Read at most ``n`` items per request (DynamoDB's ``Limit``, applied before filters)."""
        if n < 1:
            raise ExpressionError(f"page_size must be at least 1, got {n}")
        new = self._copy()
        new._page_size = n
        return new

    def consistent(self, value: bool = True) -> Self:
        """Strongly consistent reads (not available on global secondary indexes)."""
        if value and self._index is not None and self._index.kind == "global":
            raise ExpressionError(
                f"{self._model.__name__}.{self._index.name}: global secondary indexes do not "
                "support consistent reads; query the table or a local index instead"
            )
        new = self._copy()
        new._consistent = value
        return new

    def project(self, *paths: Path) -> Self:
        """Fetch only these attributes; results are partial models (see docs/queries.md).

        The key attributes, and the version of a versioned model, are always fetched too
        (so every write through a partial copy keeps its version check). Fields that were
        not fetched are absent: reading one raises AttributeError. A field fetched only in
        part (``Doc.prefs["a"]``, ``Doc.address.city``) holds what was fetched. A partial
        model cannot be saved or moved (``PartialCopy``); ``update()`` and ``delete()``
        work.
        """
        for path in paths:
            if not isinstance(path, Path):
                raise ExpressionError(f"project() takes attribute paths, got {path!r}")
            self._check_owner(path)
        if self._index is not None and self._index.projection_type != "ALL":
            allowed = {k.attr for k in self._key_attrs()} | set(self._index.projection_attrs)
            missing = [str(p) for p in paths if p.name not in allowed]
            if missing:
                raise ExpressionError(
                    f"{self._model.__name__}.{self._index.name} projects "
                    f"{self._index.projection_type}; it does not hold {', '.join(missing)}"
                )
        new = self._copy()
        always = self._key_attrs()
        version = self._meta.version
        if version is not None and (self._index is None or version.attr in self._index_attrs()):
            always.append(version)
        extra = [
            key_path(self._model, k)
            for k in always
            if not any(p.elements == (k.attr,) for p in paths)
        ]
        if self._meta.schema_version is not None and not any(
                p.elements == (SCHEMA_ATTRIBUTE,) for p in paths):
            extra.append(Path((SCHEMA_ATTRIBUTE,), INT_CODEC))  # which version was read
        new._projection = (*paths, *extra)
        whole = frozenset(p.name for p in new._projection if len(p.elements) == 1)
        by_attr = self._meta.codec.by_attr
        part = frozenset(by_attr[p.name].name for p in paths
                         if len(p.elements) > 1 and p.name not in whole and p.name in by_attr)
        new._partial = (whole, part)
        return new

    def full(self) -> Self:
        """Complete models from an index that does not project every attribute: each page
        of the index is followed by one BatchGetItem of the items behind it (in the same
        order; an item deleted in between is left out). Costs the extra reads."""
        if self._index is None or self._index.projection_type == "ALL":
            raise ExpressionError(
                f"{self._model.__name__}: full() reads the items behind a KEYS_ONLY or "
                "INCLUDE index; this read returns whole items already"
            )
        if self._projection:
            raise ExpressionError("full() and project() contradict each other: pick one")
        new = self._copy()
        new._full = True
        new._partial = None
        return new

    def _index_attrs(self) -> set[str]:
        """The attributes the index holds (keys of the table and index, projected ones)."""
        assert self._index is not None
        return {k.attr for k in self._key_attrs()} | set(self._index.projection_attrs)

    def _key_attrs(self) -> list[Any]:
        keys = list(self._meta.key_attrs)
        if self._index is not None:
            keys += [k for k in (self._index.partition, self._index.sort) if k is not None]
        return list({k.attr: k for k in keys}.values())

    # ------------------------------------------------------------------ sending

    def _op(self, table: str, limit: int | None, start: Item | None, count: bool) -> Any:
        raise NotImplementedError

    def _request_limit(self, remaining: int | None) -> int | None:
        if remaining is None:
            return self._page_size
        if self._filter is None:
            return min(self._page_size or remaining, remaining)
        return self._page_size

    async def _send(self, conn: Connection, limit: int | None, start: Item | None,
                    count: bool = False, whole: bool = False) -> Response:
        """One request; ``whole``: the caller takes the page's items as they come (no raw
        keys needed), so the transport may hand the answer to `page_reader`: ``Items`` is
        then a `DecodedItems` list of models or `ItemSlices` parsed as they are iterated
        (`_reads_answers`)."""
        table = conn.table_name(self._meta.table_name)
        request = self._op(table, limit, start, count).to_request()
        reads = self._reads_answers() if whole and not count else None
        if reads is None:
            response = await conn.call(self._operation_name, request, model=self._model)
        else:
            read = page_reader(self._decode if reads else None, table)
            with answers_read_by(self._operation_name, read):
                response = await conn.call(self._operation_name, request, model=self._model)
        if self._meta.loading:  # data keys of the page's encrypted values (KMS)
            await ready_to_read(self._meta.loading, response.get("Items", ()))
        return response

    def _reads_answers(self) -> bool | None:
        """How the transport may read this read's answers (`page_reader`), for whole items
        of a model without values to load first (KMS keys, S3): True, into models, for a
        caller that keeps every item of a page, uncut (``to_list()``, ``pages()``:
        ``_eager``); False, into `ItemSlices` parsed as they are iterated (each model is
        dropped by the caller before the next is made, cheaper than holding a page of
        them, measured); None: parsed whole."""
        if self._partial is not None or self._full or self._meta.loading:
            return None
        if self._eager:
            return True if self._limit is None else None
        return False

    def _decode(self, raw: Item) -> M:
        decoded: M = (from_item(self._model, raw) if self._partial is None
                      else from_projection(self._model, raw, *self._partial))
        return decoded

    async def _raw_pages(self, start: Item | None = None) -> AsyncGenerator[Response, None]:
        """Every response, the next one requested before this one is handed over.

        One page ahead (pipelined): while the caller decodes and consumes a page, the
        next page's request is in flight, so the wait for the server overlaps the work.
        Only one prefetched page at a time (bounded memory). Its error is raised at the
        next page boundary, where the caller would have met it unpipelined; when the
        caller stops early (``first()``, ``limit()``, ``break``, an exception) the
        request in flight is cancelled and awaited, and no further one is sent.
        """
        conn = get_connection()
        remaining = self._limit
        ahead: asyncio.Task[Response] | None = None
        try:
            response = await self._send(conn, self._request_limit(remaining), start,
                                        whole=True)
            while True:
                if remaining is not None:
                    remaining -= len(response.get("Items", ()))
                start = response.get("LastEvaluatedKey")
                more = bool(start) and (remaining is None or remaining > 0)
                if more:
                    ahead = asyncio.ensure_future(
                        self._send(conn, self._request_limit(remaining), start, whole=True))
                    # Let it run up to its first wait, so the request is on the wire
                    # before the caller's decoding (which does not yield) begins.
                    await asyncio.sleep(0)
                yield response
                if ahead is None:
                    return
                del response
                response = await ahead  # a failed prefetch raises here, at the boundary
                ahead = None
        finally:
            if ahead is not None:
                await _cancel(ahead)

    def _responses(self) -> AsyncGenerator[Response, None]:
        """The responses to decode (a parallel scan merges its segments here)."""
        return self._raw_pages()

    async def _whole_items(self, raws: list[Item]) -> list[Item]:
        """The stored items behind index items (``full()``), in order; deleted ones left out."""
        if not raws:
            return raws
        attrs = [k.attr for k in self._meta.key_attrs]
        from dynorm.read.batch_get import read_items  # loaded on first use (issue 18)

        found = await read_items(self._model, [{a: raw[a] for a in attrs} for raw in raws])
        return [item for item in found if item is not None]

    async def _raw_item_pages(self) -> AsyncGenerator[list[Any], None]:
        """Each response's raw items, cut at ``limit``."""
        left = self._limit
        responses = self._responses()
        try:
            async for response in responses:
                raws = response.get("Items", [])
                if left is not None:  # (a parallel scan's segments read without limit)
                    raws = cut_items(raws, left)
                    left -= len(raws)
                del response
                if self._full:
                    raws = await self._whole_items(raws)
                yield raws
                if left == 0:
                    return
        finally:
            await responses.aclose()  # stops a parallel scan's segments at once

    async def _decoded_pages(self) -> AsyncGenerator[list[M], None]:
        """Each response's items, decoded, cut at ``limit``."""
        decode = self._decode
        async with aclosing(self._raw_item_pages()) as pages:  # closes the prefetch at once
            async for raws in pages:
                yield paused(decode_all, decode, raws)

    async def _iterate(self) -> AsyncGenerator[M, None]:
        decode = self._decode
        async with aclosing(self._raw_item_pages()) as pages:  # closes the prefetch at once
            async for raws in pages:
                # One at a time: a page's raw items and models are never all alive at once
                # for the garbage collector to walk (13% less client CPU per item than
                # decoding the page first, measured).
                for item in each_model(decode, raws):
                    yield item

    def __aiter__(self) -> AsyncIterator[M]:
        return self._iterate()

    async def to_list(self) -> list[M]:
        """All matching items (up to ``limit``) as a list."""
        out: list[M] = []
        eager = self._copy()
        eager._eager = True
        with self._span(get_connection()):  # the parent of its pages' calls (telemetry)
            async for page in eager._decoded_pages():
                out.extend(page)
        return out

    def _span(self, conn: Connection) -> AbstractContextManager[Any]:
        return conn.span(f"dynorm.{self._operation_name}", {
            "db.operation.name": self._operation_name, "dynorm.model": self._model.__name__,
            "aws.dynamodb.table_names": (conn.table_name(self._meta.table_name),),
            "aws.dynamodb.index_name": self._index.name if self._index is not None else None,
        })

    async def first(self) -> M | None:
        """The first matching item, or None."""
        async with aclosing(self.limit(1)._iterate()) as items:  # nothing left in flight
            async for item in items:
                return item
        return None

    async def count(self) -> int:
        """How many items match (``Select=COUNT``, summed across pages; capped by limit)."""
        conn = get_connection()
        total, start = 0, None
        with self._span(conn):
            while True:
                response = await self._send(conn, self._page_size, start, count=True)
                total += int(response.get("Count", 0))
                start = response.get("LastEvaluatedKey")
                if not start or (self._limit is not None and total >= self._limit):
                    break
        return min(total, self._limit) if self._limit is not None else total

    # ------------------------------------------------------------------ pages

    def _scope(self) -> str:
        """What a cursor is bound to: the model, the physical table (prefix included: a
        cursor of ``staging-`` tables is refused on ``prod-`` ones) and the index."""
        index = self._index.name if self._index else ""
        table = get_connection().table_name(self._meta.table_name)
        return f"{self._model.__name__}/{table}/{index}"

    def _cursor(self, key: Item | None) -> str | None:
        if not key:
            return None
        return encode_cursor(key, self._scope(), get_connection().cursor_secret)

    def _check_start(self, start: Item) -> None:
        """Refuse a cursor's position this read cannot continue from (a query's: outside
        its key range, `dynorm.read.pagination.check_position`)."""

    def _key_of(self, raw: Item) -> Item:
        return {k.attr: raw[k.attr] for k in self._key_attrs() if k.attr in raw}

    async def pages(self) -> AsyncIterator[Page[M]]:
        """Each DynamoDB response as a [`Page`][dynorm.types.Page] (its cursor resumes
        after it), up to ``limit`` items in all: the page that reaches it is cut there and
        is the last."""
        left = self._limit
        eager = self._copy()
        eager._eager = True
        async with aclosing(eager._raw_pages()) as responses:  # closes the prefetch at once
            async for response in responses:
                raws = response.get("Items", [])
                after = response.get("LastEvaluatedKey")
                last = left is not None and len(raws) >= left
                if left is not None:
                    if len(raws) > left:
                        raws = raws[:left]
                        after = self._key_of(raws[-1])  # resume right after the cut
                    left -= len(raws)
                if self._full:
                    raws = await self._whole_items(raws)
                items = paused(decode_all, self._decode, raws)
                yield Page(items, self._cursor(after),
                           read_capacity(self._operation_name, response))
                if last:
                    return

    async def page(self, size: int = 50, cursor: str | None = None) -> Page[M]:
        """Exactly ``size`` items (fewer only on the last page) and the cursor after them.

        Args:
            size: items per page.
            cursor: the ``cursor`` of the previous page, or None for the first page.

        Raises:
            InvalidCursor: the cursor was altered, forged or made by another query (of
                another model, table, index or, for a query, key value: its position must
                lie in this query's key range).
        """
        if size < 1:
            raise ExpressionError(f"page size must be at least 1, got {size}")
        conn = get_connection()
        start = None
        if cursor:
            start = decode_cursor(cursor, self._scope(), conn.cursor_secret)
            self._check_start(start)
        with self._span(conn):  # the parent of its requests' calls (telemetry)
            return await self._page(conn, size, start)

    async def _page(self, conn: Connection, size: int, start: Item | None) -> Page[M]:
        items: list[M] = []
        capacity = None
        while True:
            want = size - len(items)
            limit = want if self._filter is None else max(want, self._page_size or want)
            response = await self._send(conn, limit, start)
            capacity = read_capacity(self._operation_name, response, capacity)
            raws = response.get("Items", [])
            start = response.get("LastEvaluatedKey")
            if self._full:
                raws = await self._whole_items(raws)
            for i, raw in enumerate(raws):
                items.append(self._decode(raw))
                if len(items) == size:
                    if i + 1 < len(raws):  # cut inside this response: resume after raw
                        return Page(items, self._cursor(self._key_of(raw)), capacity)
                    return Page(items, self._cursor(start), capacity)
            if not start:
                return Page(items, None, capacity)
