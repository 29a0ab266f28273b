"""What `dynorm.plan()` finds: a `Plan` of `Change` values, each with the requests that make it.

Pure values (frozen dataclasses): a plan can be printed, compared, tested with exact
request dicts, and handed to `dynorm.apply()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from dynorm._types import Request
from dynorm.exceptions import DynormError

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ApplyProgress", "Change", "ChangeKind", "Plan", "PlanError", "Step"]

ChangeKind = Literal[
    "create_table",
    "key_schema",
    "local_indexes",
    "remove_index",
    "billing",
    "throughput",
    "index_throughput",
    "add_index",
    "stream",
    "ttl",
    "point_in_time_recovery",
    "table_class",
    "encryption",
    "deletion_protection",
    "tags",
    "resource_policy",
    "replicas",
]
"""What a `Change` changes. The order here is the order `dynorm.apply()` makes them in:
indexes are removed before the billing mode changes (fewer indexes to provision) and
added after it (so each is created with the capacity of the table's new mode)."""

#: The symbol each change is printed with: + adds, - removes, ~ changes, ! blocks.
_SYMBOLS = {"add": "+", "remove": "-", "update": "~", "blocking": "!"}


class PlanError(DynormError, ValueError):
    """A plan cannot be applied: it has blocking changes, or the tables changed since it
    was made. Nothing was changed.

    Attributes:
        changes: the blocking changes, or the changes of the fresh plan.
    """

    def __init__(self, message: str, *, changes: tuple[Change, ...] = ()) -> None:
        super().__init__(message)
        self.changes = changes


@dataclass(frozen=True)
class Step:
    """One DynamoDB request of a change, in the API's own names.

    Attributes:
        operation: ``"UpdateTable"``, ``"UpdateTimeToLive"``, ``"TagResource"``...
        request: the request parameters (the physical table name included).
        index: a global index this step creates: `dynorm.apply()` waits for its backfill.
    """

    operation: str
    request: Request
    index: str | None = None

    @property
    def waits(self) -> bool:
        """Whether the table must be ACTIVE again before the next step (a table change)."""
        return self.operation in ("CreateTable", "UpdateTable")


@dataclass(frozen=True)
class Change:
    """One difference between the models' declarations and a live table.

    Attributes:
        kind: what it changes (see `ChangeKind`).
        table: the physical table name (connection prefix included).
        what: the change in words (``"add global index by_email (ALL)"``).
        current: the table's value, in words (``"off"``; ``""`` for an index to add).
        declared: the declared value, in words.
        in_place: whether DynamoDB can make the change on the live table. A change that
            is not in place (key schema, local indexes) blocks: `dynorm.apply()` refuses
            it, and ``way_out`` says what to do instead.
        way_out: for a blocking change, how to get there (a new table and a copy).
        steps: the requests `dynorm.apply()` sends, in order (none when blocking).
    """

    kind: ChangeKind
    table: str
    what: str
    current: str = ""
    declared: str = ""
    in_place: bool = True
    way_out: str | None = None
    steps: tuple[Step, ...] = ()

    @property
    def action(self) -> Literal["add", "remove", "update", "blocking"]:
        """``"add"``, ``"remove"``, ``"update"``, or ``"blocking"`` (not in place)."""
        if not self.in_place:
            return "blocking"
        if self.kind in ("create_table", "add_index"):
            return "add"
        if self.kind == "remove_index":
            return "remove"
        if self.kind == "replicas" and not (self.current and self.declared):
            return "add" if self.declared else "remove"
        return "update"

    @property
    def symbol(self) -> str:
        """``+``, ``-``, ``~`` or ``!``, as `Plan` prints it."""
        return _SYMBOLS[self.action]

    @property
    def summary(self) -> str:
        """The change on one line: what, and from what to what."""
        line = self.what
        action = self.action
        if action == "add" and self.declared:
            line += f": {self.declared}"
        elif action == "remove" and self.current:
            line += f": {self.current}"
        elif self.current or self.declared:
            line += f": {self.current or '(none)'} -> {self.declared or '(none)'}"
        return line

    def __str__(self) -> str:
        line = f"{self.symbol} {self.summary}"
        if self.way_out:
            line += f"\n    blocking: {self.way_out}"
        return line


@dataclass(frozen=True)
class Plan:
    """The changes that make live tables match their models, in the order they are made.

    Returned by `dynorm.plan()`; empty (``len(plan) == 0``, falsy) when every table is
    up to date. ``print(plan)`` shows it; `dynorm.apply()` makes it.

    Attributes:
        changes: the changes, in order.
        tables: the physical names of the tables compared.
        notes: what could not be compared, and why (e.g. a server without tagging).
        models: the models planned for (`dynorm.apply()` plans again to check the plan
            is still current).
    """

    changes: tuple[Change, ...] = ()
    tables: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    models: tuple[type[Model], ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    @property
    def blocking(self) -> tuple[Change, ...]:
        """The changes DynamoDB cannot make in place (they need a new table)."""
        return tuple(c for c in self.changes if not c.in_place)

    def for_table(self, table: str) -> tuple[Change, ...]:
        """The changes of one table (its physical name)."""
        return tuple(c for c in self.changes if c.table == table)

    def __str__(self) -> str:
        if not self.changes:
            lines = [f"No changes: {', '.join(self.tables) or 'no tables'} "
                     f"{'matches' if len(self.tables) == 1 else 'match'} the models."]
        else:
            count = len(self.changes)
            lines = [f"{count} change{'s' if count != 1 else ''} "
                     f"({len(self.blocking)} blocking):"]
            for table in self.tables:
                changes = self.for_table(table)
                if changes:
                    lines.append(f"table {table}:")
                    lines.extend("  " + str(c).replace("\n", "\n  ") for c in changes)
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(frozen=True)
class ApplyProgress:
    """What `dynorm.apply()` reports to its ``progress`` callback, as it goes.

    Attributes:
        change: the change being made.
        number: its position in the plan (1-based).
        total: how many changes the plan makes.
        status: ``"started"``, ``"waiting"`` (for the table or an index to be ACTIVE),
            ``"backfilling"`` (a new global index is being filled with the existing
            items) or ``"done"``.
        detail: the table's and indexes' states in words.
        elapsed: seconds since the change started.
        indexed: items in the new index so far, when the server reports it (AWS updates
            this count only every few hours: do not rely on it for progress).
        items: items in the table, when the server reports it.
    """

    change: Change
    number: int
    total: int
    status: Literal["started", "waiting", "backfilling", "done"]
    detail: str = ""
    elapsed: float = 0.0
    indexed: int | None = None
    items: int | None = None
