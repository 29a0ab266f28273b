"""Collections: one query over a shared partition returning several entity types, typed.

```python
result = await Collection(User, Order, Address).query(user_id="u1")
user = result.one(User)              # User | None
orders = result.of(Order)            # list[Order]
for item in result.items: ...        # every item, each decoded as its own model
```

All models must live in the same table, declare an ``entity`` and compute the same
partition key from the given fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

from dynorm._sync import CollectionSync
from dynorm.codec.core import compile_codec
from dynorm.connection import get_connection
from dynorm.exceptions import ExpressionError, ItemNotFound, SchemaError
from dynorm.expressions import Path, to_key_condition
from dynorm.expressions.operations import Query as QueryOp
from dynorm.model import Model
from dynorm.schema.classes import meta_of

__all__ = ["Collection", "CollectionResult"]

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

    #: blocking twins: ``Collection(User, Order).sync.query(user_id="u1")`` (dynorm.blocking)
    sync: ClassVar[CollectionSync] = CollectionSync()

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

    async def query(self, *, consistent: bool = False, **fields: Any) -> CollectionResult:
        """Every item of the partition computed from ``fields`` (all pages)."""
        meta = meta_of(self.models[0])
        value = self._partition_value(fields)
        pk = Path((meta.partition.attr,), meta.partition.codec)
        key = to_key_condition(pk == value, partition_attr=meta.partition.attr,
                               sort_attr=None, index_name=None)
        entity = Path((meta.entity_attr,), _STR)
        flt = entity.is_in(*self._by_entity)
        conn = get_connection()
        items: list[Model] = []
        skipped = 0
        start = None
        while True:
            op = QueryOp(table=conn.table_name(meta.table_name), key_condition=key, filter=flt,
                         consistent=consistent, start_key=start)
            response = await conn.call("Query", op.to_request())
            for raw in response.get("Items", ()):
                model = self._by_entity.get(raw.get(meta.entity_attr, {}).get("S"))
                if model is None:
                    skipped += 1
                    continue
                items.append(model.from_item(raw))
            start = response.get("LastEvaluatedKey")
            if not start:
                return CollectionResult(items, skipped)

    def __repr__(self) -> str:
        return f"Collection({', '.join(m.__name__ for m in self.models)})"

