"""Consumed capacity: what DynamoDB says a call cost, and running totals.

With ``capacity=True`` on the connection, every call that can return it is sent with
``ReturnConsumedCapacity="INDEXES"``; the answer's ``ConsumedCapacity`` (one entry, or
one per table for batches and transactions) is read into frozen `Capacity` values and
added to the connection's `CapacityTotals` under its table, each index, the model, the
entity and the operation.

```python
async with dynorm.connect(capacity=True) as conn:
    page = await User.query(...).page(50)
    page.capacity                       # Capacity(table='users', read=0.5, write=0.0)
    conn.capacity.snapshot()["models"]  # {'User': {'read': 0.5, 'write': 0.0}}
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAPACITY_OPERATIONS",
    "WRITE_OPERATIONS",
    "Capacity",
    "CapacityTotals",
    "CapacityUnits",
    "merge_capacity",
    "parse_capacity",
]

#: The operations that take ``ReturnConsumedCapacity`` (and answer with
#: ``ConsumedCapacity``).
CAPACITY_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement",
    "BatchExecuteStatement", "ExecuteTransaction",
})
#: The operations whose units are write units when DynamoDB gives only ``CapacityUnits``.
WRITE_OPERATIONS = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
})


@dataclass(frozen=True, slots=True)
class CapacityUnits:
    """Read and write capacity units."""

    read: float = 0.0
    write: float = 0.0

    @property
    def total(self) -> float:
        """Read plus write units."""
        return self.read + self.write

    def __add__(self, other: CapacityUnits) -> CapacityUnits:
        return CapacityUnits(self.read + other.read, self.write + other.write)

    def as_dict(self) -> dict[str, float]:
        """``{"read": ..., "write": ...}``."""
        return {"read": self.read, "write": self.write}


@dataclass(frozen=True, slots=True)
class Capacity:
    """The capacity one call consumed on one table, as DynamoDB reported it.

    Attributes:
        table: the physical table name (with the connection's prefix).
        read: read units in all (the table and its indexes).
        write: write units in all.
        table_units: the base table's share (`CapacityUnits`), when DynamoDB reports it.
        indexes: ``(index name, CapacityUnits)`` pairs, global and local indexes alike.
    """

    table: str
    read: float = 0.0
    write: float = 0.0
    table_units: CapacityUnits | None = None
    indexes: tuple[tuple[str, CapacityUnits], ...] = ()

    @property
    def units(self) -> CapacityUnits:
        """`read` and `write` as `CapacityUnits`."""
        return CapacityUnits(self.read, self.write)

    @property
    def total(self) -> float:
        """Read plus write units."""
        return self.read + self.write

    def __add__(self, other: Capacity) -> Capacity:
        """Two calls' capacity on one table (the pages of one read), added up."""
        if other.table != self.table:
            raise ValueError(f"cannot add capacity of {other.table!r} to {self.table!r}")
        indexes = dict(self.indexes)
        for name, units in other.indexes:
            indexes[name] = indexes[name] + units if name in indexes else units
        mine, theirs = self.table_units, other.table_units
        return Capacity(self.table, self.read + other.read, self.write + other.write,
                        theirs if mine is None else mine if theirs is None else mine + theirs,
                        tuple(indexes.items()))

    def index(self, name: str) -> CapacityUnits | None:
        """The units the index ``name`` consumed, or None when it consumed none."""
        for index, units in self.indexes:
            if index == name:
                return units
        return None


def _units(entry: dict[str, Any], write: bool) -> CapacityUnits:
    """The units of a ConsumedCapacity entry (or its Table / index part). DynamoDB gives
    ``ReadCapacityUnits``/``WriteCapacityUnits`` for some calls and only ``CapacityUnits``
    for others: those are the operation's kind."""
    read_units = entry.get("ReadCapacityUnits")
    write_units = entry.get("WriteCapacityUnits")
    if read_units is None and write_units is None:
        total = float(entry.get("CapacityUnits") or 0.0)
        return CapacityUnits(0.0, total) if write else CapacityUnits(total, 0.0)
    return CapacityUnits(float(read_units or 0.0), float(write_units or 0.0))


def _one(entry: dict[str, Any], write: bool) -> Capacity:
    units = _units(entry, write)
    table = entry.get("Table")
    indexes: list[tuple[str, CapacityUnits]] = []
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for name, part in (entry.get(kind) or {}).items():
            indexes.append((name, _units(part, write)))
    return Capacity(
        table=str(entry.get("TableName") or ""),
        read=units.read,
        write=units.write,
        table_units=_units(table, write) if isinstance(table, dict) else None,
        indexes=tuple(indexes),
    )


def parse_capacity(operation: str, raw: Any) -> tuple[Capacity, ...]:
    """The `Capacity` values of an answer's ``ConsumedCapacity`` (one entry or a list of
    them); ``()`` when there is none."""
    if not raw:
        return ()
    write = operation in WRITE_OPERATIONS
    if isinstance(raw, dict):  # (dict, not Mapping: an ABC check costs a microsecond)
        return (_one(raw, write),)
    return tuple(_one(entry, write) for entry in raw if isinstance(entry, dict))


def merge_capacity(per_table: dict[str, Capacity], operation: str, raw: Any) -> None:
    """Add the ``ConsumedCapacity`` of one answer to ``per_table`` (table -> Capacity): a
    batch's or transaction's calls, added up."""
    for capacity in parse_capacity(operation, raw):
        before = per_table.get(capacity.table)
        per_table[capacity.table] = capacity if before is None else before + capacity


def _add(totals: dict[str, list[float]], key: str, read: float, write: float) -> None:
    units = totals.get(key)
    if units is None:
        totals[key] = [read, write]
    else:
        units[0] += read
        units[1] += write


def _plain(totals: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {k: {"read": v[0], "write": v[1]} for k, v in totals.items()}


class CapacityTotals:
    """Consumed capacity added up since the connection opened (or the last `reset`):
    in all, and per table, index (``"table/index"``), model, entity and operation.

    Empty unless the connection was opened with ``capacity=True``.
    """

    __slots__ = ("_entities", "_indexes", "_models", "_operations", "_tables", "_total")

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        # [read, write] lists added to in place: a call costs no new objects but the keys
        self._total = [0.0, 0.0]
        self._tables: dict[str, list[float]] = {}
        self._indexes: dict[str, list[float]] = {}
        self._models: dict[str, list[float]] = {}
        self._entities: dict[str, list[float]] = {}
        self._operations: dict[str, list[float]] = {}

    def add(self, capacities: Iterable[Capacity], operation: str, model: str | None = None,
            entity: str | None = None) -> None:
        """Count what one call consumed."""
        read = write = 0.0
        for capacity in capacities:
            read += capacity.read
            write += capacity.write
            _add(self._tables, capacity.table, capacity.read, capacity.write)
            for name, units in capacity.indexes:
                _add(self._indexes, f"{capacity.table}/{name}", units.read, units.write)
        self._total[0] += read
        self._total[1] += write
        _add(self._operations, operation, read, write)
        if model is not None:
            _add(self._models, model, read, write)
        if entity is not None:
            _add(self._entities, entity, read, write)

    @property
    def total(self) -> CapacityUnits:
        """Everything counted so far."""
        return CapacityUnits(*self._total)

    def snapshot(self) -> dict[str, Any]:
        """A plain dict of the totals, for exporters and logs::

            {"total": {"read": 3.5, "write": 2.0},
             "tables": {"users": {...}}, "indexes": {"users/by_email": {...}},
             "models": {"User": {...}}, "entities": {...}, "operations": {"Query": {...}}}
        """
        return {
            "total": {"read": self._total[0], "write": self._total[1]},
            "tables": _plain(self._tables),
            "indexes": _plain(self._indexes),
            "models": _plain(self._models),
            "entities": _plain(self._entities),
            "operations": _plain(self._operations),
        }

    def reset(self) -> dict[str, Any]:
        """Start again from zero; answers the `snapshot` taken just before."""
        snapshot = self.snapshot()
        self._clear()
        return snapshot

    def __repr__(self) -> str:
        return f"CapacityTotals(read={self._total[0]}, write={self._total[1]})"
