"""Secondary index declarations: class attributes of a model.

```python
class Score(Model, table="scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int
    by_game = GlobalIndex(partition_key="game", sort_key="score")
    by_score = LocalIndex(sort_key="score", projection=Projection.keys_only())
```

Keys name *fields* (Python names); dynorm maps them to attribute names. With pydantic's
mypy plugin, which wants every class attribute annotated, write
``by_game: ClassVar[GlobalIndex] = GlobalIndex(...)``; both forms work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dynorm.schema.templates import KeyTemplate

if TYPE_CHECKING:  # typing only: indexes sit below the model layer
    from dynorm.model import Model
    from dynorm.read.query import BoundIndex

    M = TypeVar("M", bound=Model)

__all__ = ["GlobalIndex", "LocalIndex", "Projection"]

ProjectionType = Literal["ALL", "KEYS_ONLY", "INCLUDE"]


class Projection:
    """Which attributes an index copies: ``all()``, ``keys_only()`` or ``include(*fields)``."""

    __slots__ = ("fields", "type")

    def __init__(self, type: ProjectionType, fields: Sequence[str] = ()) -> None:
        self.type = type
        self.fields = tuple(fields)

    @classmethod
    def all(cls) -> Projection:
        return cls("ALL")

    @classmethod
    def keys_only(cls) -> Projection:
        return cls("KEYS_ONLY")

    @classmethod
    def include(cls, *fields: str) -> Projection:
        return cls("INCLUDE", fields)

    def __repr__(self) -> str:
        return f"Projection.{self.type.lower()}({', '.join(map(repr, self.fields))})"


def _projection(value: Projection | ProjectionType | Sequence[str]) -> Projection:
    if isinstance(value, Projection):
        return value
    if isinstance(value, str):
        if value not in ("ALL", "KEYS_ONLY", "INCLUDE"):
            raise ValueError(f"projection must be ALL, KEYS_ONLY or INCLUDE, not {value!r}")
        return Projection(value)  # type: ignore[arg-type]  # checked just above
    return Projection.include(*value)


class _Index:
    """Shared by both index kinds; bound to its model through the descriptor protocol."""

    kind: Literal["global", "local"]

    def __init__(
        self,
        *,
        partition_key: str | KeyTemplate | None,
        sort_key: str | KeyTemplate | None,
        name: str | None,
        projection: Projection | ProjectionType | Sequence[str],
    ) -> None:
        self.partition_key = partition_key
        self.sort_key = sort_key
        self.name = name
        self.projection = _projection(projection)
        self.attribute: str | None = None

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute
        if self.name is None:
            self.name = attribute

    def __get__(self, instance: Any, owner: type[M]) -> BoundIndex[M]:
        # Model.by_game -> a bound index that can build queries (see dynorm.model).
        binder = getattr(owner, "_bind_index", None)
        if binder is None:
            return self  # type: ignore[return-value]  # not on a Model: the declaration
        return binder(self)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, partition_key={self.partition_key!r}, "
            f"sort_key={self.sort_key!r}, projection={self.projection!r})"
        )


class GlobalIndex(_Index):
    """A global secondary index: its own partition key (and optional sort key).

    Args:
        partition_key: the field used as the index partition key, or a
            [`KeyTemplate`][dynorm.KeyTemplate] with ``attribute=`` (single-table design).
        sort_key: the field (or template) used as the index sort key, if any.
        name: the index name in DynamoDB (default: the class attribute's name).
        projection: ``"ALL"`` (default), ``"KEYS_ONLY"``, a list of fields to include,
            or a [`Projection`][dynorm.Projection].
        read_capacity: read capacity units, for provisioned tables only.
        write_capacity: write capacity units, for provisioned tables only.
        shards: spread each partition key value over this many physical keys
            (``tetris#0`` .. ``tetris#7``) so a hot key is served by several partitions;
            a query of the key then reads every shard and merges them in sort-key order
            (docs/hot-keys.md). None (default): not sharded.
        shard_by: the field the shard is hashed from (default: the item's primary key).
        shard_attribute: the wire attribute of the sharded key (default
            ``<field>_shard``; a [`KeyTemplate`][dynorm.KeyTemplate] key keeps its own).
        read_shards: shards a query reads, while shrinking ``shards`` until a backfill
            has moved every item (docs/hot-keys.md#re-sharding).
    """

    kind: Literal["global", "local"] = "global"

    def __init__(
        self,
        partition_key: str | KeyTemplate,
        sort_key: str | KeyTemplate | None = None,
        *,
        name: str | None = None,
        projection: Projection | ProjectionType | Sequence[str] = "ALL",
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        shards: int | None = None,
        shard_by: str | None = None,
        shard_attribute: str | None = None,
        read_shards: int | None = None,
    ) -> None:
        super().__init__(
            partition_key=partition_key, sort_key=sort_key, name=name, projection=projection
        )
        self.read_capacity = read_capacity
        self.write_capacity = write_capacity
        self.shards = shards
        self.shard_by = shard_by
        self.shard_attribute = shard_attribute
        self.read_shards = read_shards


class LocalIndex(_Index):
    """A local secondary index: the table's partition key with another sort key.

    Args:
        sort_key: the field used as the index sort key.
        name: the index name in DynamoDB (default: the class attribute's name).
        projection: as for [`GlobalIndex`][dynorm.GlobalIndex].
    """

    kind: Literal["global", "local"] = "local"

    def __init__(
        self,
        sort_key: str | KeyTemplate,
        *,
        name: str | None = None,
        projection: Projection | ProjectionType | Sequence[str] = "ALL",
    ) -> None:
        super().__init__(partition_key=None, sort_key=sort_key, name=name, projection=projection)
