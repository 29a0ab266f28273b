"""Collections: one query over a shared partition returning several entity types, typed.

```python
query = Collection(User, Order, Address).query(user_id="u1")   # a builder: nothing sent
result = await query.fetch()         # every item of the partition (all pages)
user = result.one(User)              # User (ItemNotFound if none)
orders = result.of(Order)            # list[Order]
for item in result.items: ...        # every item, each decoded as its own model
async for item in query.consistent(): ...   # or stream them, a response at a time
```

All models must live in the same table, declare an ``entity`` and compute the same
partition key from the given fields. As with [`Query`][dynorm.read.query.Query], the
builder methods are sync and return a new builder; the readers are async.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, TypeVar

from typing_extensions import Self

from dynorm._sync import CollectionSync
from dynorm.codec.core import compile_codec
from dynorm.connection import get_connection
from dynorm.exceptions import ExpressionError, ItemNotFound, SchemaError
from dynorm.expressions import Path, to_key_condition
from dynorm.expressions.operations import Query as QueryOp
from dynorm.model import Model
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import from_item
from dynorm.schema.shards import ShardedTemplate
from dynorm.security import ready_to_read

__all__ = ["Collection", "CollectionQuery", "CollectionResult"]

M = TypeVar("M", bound=Model)

_STR = compile_codec(str)


class CollectionResult:
    """The items of one partition, decoded by entity. Items of unknown entities are skipped
    and counted in ``skipped``."""

    def __init__(self, items: list[Model], skipped: int) -> None:
        self.items = items
        self.skipped = skipped

    def of(self, model: type[M]) -> list[M]:
        """The items of one model, in sort-key order."""
        return [item for item in self.items if type(item) is model]

    def one(self, model: type[M]) -> M:
        """The single item of ``model`` (e.g. the profile of a user), as SQLAlchemy's
        ``one()``: ItemNotFound when there is none, ExpressionError when several."""
        found = self.one_or_none(model)
        if found is None:
            raise ItemNotFound(f"no {model.__name__} item in this collection",
                               model=model.__name__, key={})
        return found

    def one_or_none(self, model: type[M]) -> M | None:
        """The single item of ``model``, or None; ExpressionError when several."""
        found = self.of(model)
        if len(found) > 1:
            raise ExpressionError(f"{len(found)} {model.__name__} items in this collection")
        return found[0] if found else None

    def __iter__(self) -> Iterator[Model]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Collection:
    """Several entity models of one table queried together by their shared partition key.

    Raises:
        SchemaError: the models do not share a table, a partition key attribute, or
            each declare a distinct ``entity``.
    """

    def __init__(self, *models: type[Model]) -> None:
        if not models:
            raise SchemaError("a Collection needs at least one model")
        metas = [meta_of(m) for m in models]
        first = metas[0]
        for model, meta in zip(models, metas, strict=True):
            if meta.table_name != first.table_name:
                raise SchemaError(
                    f"Collection: {model.__name__} is in table {meta.table_name!r}, "
                    f"{models[0].__name__} in {first.table_name!r}"
                )
            if meta.partition.attr != first.partition.attr:
                raise SchemaError(
                    f"Collection: {model.__name__} partitions on {meta.partition.attr!r}, "
                    f"{models[0].__name__} on {first.partition.attr!r}"
                )
            if isinstance(meta.partition.template, ShardedTemplate):
                raise SchemaError(
                    f"Collection: {model.__name__}'s partition key is sharded, and a "
                    "collection reads one partition; query each model instead"
                )
            if meta.entity is None or meta.entity_attr != first.entity_attr:
                raise SchemaError(
                    f"Collection: {model.__name__} must declare an entity (class ...(Model, "
                    f"table=..., entity=...)) with entity attribute {first.entity_attr!r}"
                )
        by_entity = {meta_of(m).entity: m for m in models}
        if len(by_entity) != len(models):
            raise SchemaError("Collection: two models declare the same entity")
        self.models = models
        self._by_entity = by_entity

    def _partition_value(self, fields: dict[str, Any]) -> Any:
        values = set()
        for model in self.models:
            av = meta_of(model).partition.from_fields(fields, model.__name__)
            values.add(next(iter(av.values())))
        if len(values) != 1:
            raise ExpressionError(
                f"Collection: the models compute different partition keys from {fields}: "
                f"{sorted(map(str, values))}"
            )
        return values.pop()

    def query(self, **fields: Any) -> CollectionQuery:
        """A query of the partition computed from ``fields`` (checked now, sent when read).

        ``Collection(User, Order).query(user_id="u1")``: ``fields`` are those of the
        shared partition key (template); every model must compute the same key from them.

        Raises:
            InvalidKey: a field the partition key needs is missing.
            ExpressionError: the models compute different partition keys.
        """
        return CollectionQuery(self, self._partition_value(fields))

    def __repr__(self) -> str:
        return f"Collection({', '.join(m.__name__ for m in self.models)})"


class CollectionQuery:
    """One partition of a [`Collection`][dynorm.Collection], as a query: build it with
    ``Collection(...).query(**fields)``, refine it (sync, each returns a new query), then
    read it (async).

    Readers: [`fetch()`][dynorm.collection.CollectionQuery.fetch] (a
    [`CollectionResult`][dynorm.collection.CollectionResult] of every item), ``to_list()``,
    ``first()``, ``pages()`` and ``async for``. Each item is decoded as its own model;
    the query sends ``_type IN (...)`` as a filter for the collection's entities.
    """

    #: blocking readers: ``query.sync.fetch()``, ``for x in query.sync:`` (dynorm.blocking)
    sync: ClassVar[CollectionSync] = CollectionSync()

    def __init__(self, collection: Collection, partition: Any) -> None:
        self.collection = collection
        self._partition = partition
        self._consistent = False
        self._forward = True
        self._limit: int | None = None

    def __repr__(self) -> str:
        return f"{self.collection!r}.query(<partition {self._partition!r}>)"

    # ------------------------------------------------------------------ builders

    def consistent(self, value: bool = True) -> Self:
        """Strongly consistent reads."""
        new = copy.copy(self)
        new._consistent = value
        return new

    def reverse(self) -> Self:
        """Descending sort-key order."""
        new = copy.copy(self)
        new._forward = not self._forward
        return new

    def limit(self, n: int) -> Self:
        """Return at most ``n`` items of the collection's models in total."""
        if n < 1:
            raise ExpressionError(f"limit must be at least 1, got {n}")
        new = copy.copy(self)
        new._limit = n
        return new

    # ------------------------------------------------------------------ readers

    async def pages(self) -> AsyncIterator[CollectionResult]:
        """Each DynamoDB response as a [`CollectionResult`][dynorm.collection.CollectionResult]
        (its items, and the items of unknown entities it skipped), up to ``limit``."""
        meta = meta_of(self.collection.models[0])
        pk = Path((meta.partition.attr,), meta.partition.codec)
        key = to_key_condition(pk == self._partition, partition_attr=meta.partition.attr,
                               sort_attr=None, index_name=None)
        by_entity = self.collection._by_entity
        entity = Path((meta.entity_attr,), _STR).is_in(*by_entity)
        conn = get_connection()
        left = self._limit
        start = None
        while True:
            op = QueryOp(table=conn.table_name(meta.table_name), key_condition=key,
                         filter=entity, forward=self._forward, consistent=self._consistent,
                         start_key=start)
            response = await conn.call("Query", op.to_request())
            items: list[Model] = []
            skipped = 0
            for entity_model in by_entity.values():
                sealed = meta_of(entity_model)
                if sealed.loading:  # data keys of encrypted values (KMS)
                    await ready_to_read(sealed.loading, response.get("Items", ()))
            for raw in response.get("Items", ()):
                model = by_entity.get(raw.get(meta.entity_attr, {}).get("S"))
                if model is None:
                    skipped += 1
                elif left is None or len(items) < left:
                    items.append(from_item(model, raw))
            if left is not None:
                left -= len(items)
            yield CollectionResult(items, skipped)
            start = response.get("LastEvaluatedKey")
            if not start or left == 0:
                return

    async def fetch(self) -> CollectionResult:
        """Every item of the partition (all pages, up to ``limit``), by entity."""
        items: list[Model] = []
        skipped = 0
        async for page in self.pages():
            items.extend(page.items)
            skipped += page.skipped
        return CollectionResult(items, skipped)

    async def to_list(self) -> list[Model]:
        """Every item (up to ``limit``) as a list, each decoded as its own model."""
        return (await self.fetch()).items

    async def first(self) -> Model | None:
        """The first item in sort-key order (the last with ``reverse()``), or None."""
        async for item in self.limit(1):
            return item
        return None

    async def _iterate(self) -> AsyncIterator[Model]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def __aiter__(self) -> AsyncIterator[Model]:
        return self._iterate()
