"""``Migration``: a function applied to every item of a model's table, once, resumably.

```python
def add_region(order: Order) -> Order | None:
    if order.region:
        return None                  # nothing to do for this item
    order.region = "eu"
    return order

migration = Migration("2026-12-order-region", Order, add_region)
result = await migration.run(segments=8)           # again with resume=True after a crash
print(result)                                      # seen 20000, changed 19870, skipped 130...
```
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from dynorm.exceptions import DynormError

if TYPE_CHECKING:
    from dynorm.migrate.checkpoints import MigrationCheckpoints
    from dynorm.model import Model

__all__ = [
    "FailedItem",
    "Migration",
    "MigrationError",
    "MigrationProgress",
    "MigrationResult",
]

M = TypeVar("M", bound="Model")

_ID = re.compile(r"[A-Za-z0-9_.:@/+=-]{1,200}")


class MigrationError(DynormError, ValueError):
    """A migration cannot run as asked: a bad id, or progress saved by an earlier run that
    ``resume=True`` would continue."""


@dataclass(frozen=True)
class FailedItem:
    """An item a migration could not change.

    Attributes:
        key: the item's key (wire form).
        reason: why (the exception's type and message, or what was found).
    """

    key: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class MigrationProgress:
    """What ``Migration.run()`` reports to its ``progress`` callback after each page.

    Attributes:
        migration: the migration's id.
        seen: items read (this model's), earlier runs included.
        changed: items changed (or, in a dry run, that would be).
        skipped: items left as they were (nothing to change, already migrated).
        failed: items that could not be changed.
        segments_done: scan segments finished.
        segments: scan segments in all.
        estimated_items: the table's item count as DynamoDB last reported it (AWS updates
            it every few hours), for a progress bar.
        elapsed: seconds since this run started.
        units_per_second: capacity units consumed per second by this run so far.
    """

    migration: str
    seen: int
    changed: int
    skipped: int
    failed: int
    segments_done: int
    segments: int
    estimated_items: int | None
    elapsed: float
    units_per_second: float


@dataclass(frozen=True)
class MigrationResult:
    """What a migration did, earlier interrupted runs included.

    Attributes:
        migration: the migration's id.
        seen, changed, skipped, failed: item counts (``changed`` counts what a dry run
            would change).
        reasons: how many items were skipped or failed, by reason (``"no change"``,
            ``"already migrated"``: changed by an interrupted earlier run...).
        failures: the first failed items of this run, with their reasons (at most 100).
        complete: every segment was scanned to its end.
        dry_run: nothing was written.
        elapsed: seconds this run took.
        items_per_second: items read per second by this run.
    """

    migration: str
    seen: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    failures: tuple[FailedItem, ...] = ()
    complete: bool = False
    dry_run: bool = False
    elapsed: float = 0.0
    items_per_second: float = 0.0

    def __str__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        head = (f"migration {self.migration} ({'dry run, ' if self.dry_run else ''}{state}): "
                f"seen {self.seen}, {'would change' if self.dry_run else 'changed'} "
                f"{self.changed}, skipped {self.skipped}, failed {self.failed}")
        lines = [head] + [f"  {n} {reason}" for reason, n in sorted(self.reasons.items())]
        return "\n".join(lines)


ChangeFunction = Callable[[M], "M | Awaitable[M | None] | None"]


@dataclass(frozen=True)
class Migration(Generic[M]):
    """A change applied to every item of a model's table, at most once per item.

    Args:
        id: a stable, unique name (``"2026-12-order-region"``): it names the saved
            progress and the marker each changed item carries. Letters, digits and
            ``_ . : @ / + = -``, at most 200 characters.
        model: the model whose items to change (a model with ``entity=`` only sees its
            own items of a shared table).
        change: called with each item as a model instance; returns the changed instance
            (the same object, changed, or a new one), or ``None`` to leave the item as it
            is. May be async. It must not change the key.
        description: what the migration does, for people.
    """

    id: str
    model: type[M]
    change: ChangeFunction[M]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise MigrationError(
                f"migration id {self.id!r}: use 1-200 letters, digits or _ . : @ / + = -")
        if not callable(self.change):
            raise MigrationError(f"migration {self.id}: change must be callable")

    async def apply_to(self, instance: M) -> M | None:
        """The change function's result for one instance (awaited if it is async)."""
        result = self.change(instance)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def run(
        self,
        *,
        segments: int = 4,
        concurrency: int = 32,
        page_size: int | None = None,
        rate: float | None = None,
        dry_run: bool = False,
        resume: bool = False,
        checkpoints: MigrationCheckpoints | None = None,
        progress: Callable[[MigrationProgress], object] | None = None,
    ) -> MigrationResult:
        """Scan the table in parallel and change each item, saving progress per segment.

        Args:
            segments: parallel scan segments (a resumed run keeps the saved number).
            concurrency: items being written at once, over all segments.
            page_size: items per Scan page (default: DynamoDB's 1 MB pages); progress is
                saved after each page.
            rate: the most capacity units (read and write) to consume per second, as
                DynamoDB reports them; default: no limit.
            dry_run: run the change function and count, write nothing (no progress is
                saved either).
            resume: continue from the progress an earlier run saved; without it, saved
                progress is a `MigrationError` (a finished migration returns its
                result).
            checkpoints: where progress is kept (default: table ``dynorm-migrations``,
                created on first use).
            progress: called with a `MigrationProgress` after each page.

        Returns:
            The counts, earlier runs included.

        Raises:
            MigrationError: saved progress without ``resume=True``, or bad arguments.
        """
        from dynorm.migrate.runner import Runner

        if segments < 1 or concurrency < 1 or (page_size is not None and page_size < 1):
            raise MigrationError("segments, concurrency and page_size must be 1 or more")
        if rate is not None and rate <= 0:
            raise MigrationError("rate must be a positive number of capacity units/second")
        runner = Runner(self, segments=segments, concurrency=concurrency,
                        page_size=page_size, rate=rate, dry_run=dry_run, resume=resume,
                        checkpoints=checkpoints, progress=progress)
        return await runner.run()


Outcome = Literal["changed", "skipped", "failed"]
