"""Field markers used inside ``Annotated``: keys, TTL and the version attribute.

```python
class Session(Model, table="sessions"):
    user_id: Annotated[str, PartitionKey]
    started: Annotated[datetime, SortKey]
    expires: Annotated[datetime, TTL]
    version: Annotated[int, Version] = 0
```
"""

from __future__ import annotations

from typing import Final

from dynorm.schema.shards import ShardedTemplate
from dynorm.schema.templates import KeyTemplate

__all__ = ["TTL", "FieldMarker", "PartitionKey", "SortKey", "Version"]


class FieldMarker:
    """A marker placed in ``Annotated[...]`` metadata; compared by identity."""

    __slots__ = ("role",)

    def __init__(self, role: str) -> None:
        self.role = role

    def __repr__(self) -> str:
        return self.role


class _KeyMarker(FieldMarker):
    """``PartitionKey``/``SortKey``: a marker, and callable to derive the key from a template."""

    __slots__ = ()

    def __call__(self, template: str, *, shards: int | None = None,
                 shard_by: str | None = None, read_shards: int | None = None
                 ) -> KeyTemplate:
        """A table key computed from fields: ``pk = PartitionKey("USER#{user_id}")``.

        The class attribute's name is the key's attribute name on the wire.

        A partition key may be sharded (docs/hot-keys.md):
        ``pk = PartitionKey("DEVICE#{device_id}", shards=4, shard_by="at")`` writes
        ``DEVICE#d1#3``, the shard hashed from ``shard_by``, a field of the sort key
        (so that a key given by its fields names its shard); a query of ``device_id``
        reads the 4 partitions and merges them by sort key.
        """
        role = "partition" if self is PartitionKey else "sort"
        if shards is None and shard_by is None and read_shards is None:
            return KeyTemplate(template, role=role)
        return ShardedTemplate(template, shards=shards or 0, shard_by=shard_by,
                               read_shards=read_shards, role=role)


PartitionKey: Final = _KeyMarker("PartitionKey")
"""Marks the table's partition (hash) key: ``Annotated[str, PartitionKey]``."""

SortKey: Final = _KeyMarker("SortKey")
"""Marks the table's sort (range) key: ``Annotated[datetime, SortKey]``."""

TTL: Final = FieldMarker("TTL")
"""Marks the time-to-live attribute (datetime or int epoch seconds; stored as N)."""

Version: Final = FieldMarker("Version")
"""Marks the optimistic-locking version (int): incremented and checked on every write."""
