"""Progress reports of exports, imports and waits, and the rate limit they share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dynorm.observe.limits import TokenBucket

__all__ = ["Progress", "ProgressCallback", "RateLimit"]


@dataclass(frozen=True)
class Progress:
    """Where an export, import or wait stands; given to ``on_progress`` callbacks.

    Attributes:
        operation: ``"export"``, ``"import"``, or the wait (``"restore"``,
            ``"server-export"``, ``"server-import"``).
        items: items read (export) or written (import) so far, earlier runs of a
            resumed one included.
        bytes: bytes of DynamoDB JSON read or written so far (uncompressed).
        elapsed: seconds since this run started.
        total: the items expected (the table's ``ItemCount`` for an export, which AWS
            updates about every six hours; the manifest's count for an import), if known.
        rejected: items an import wrote to the rejects file instead of the table.
        done: True in the last report.
        status: the server's status for a wait (``"CREATING"``, ``"IN_PROGRESS"``...).
        resumed_items: how many of ``items`` an earlier run had done.
    """

    operation: str
    items: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    total: int | None = None
    rejected: int = 0
    done: bool = False
    status: str = ""
    resumed_items: int = 0

    @property
    def items_per_second(self) -> float:
        """Items of this run per second."""
        done_here = self.items + self.rejected - self.resumed_items
        return done_here / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        """Share done, 0 to 1 (None when the total is unknown)."""
        if not self.total:
            return 1.0 if self.done else None
        return min(1.0, (self.items + self.rejected) / self.total)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None when unknown)."""
        if self.done:
            return 0.0
        rate = self.items_per_second
        if not self.total or rate <= 0:
            return None
        return max(0.0, (self.total - self.items - self.rejected) / rate)


ProgressCallback = Callable[[Progress], None]
"""What ``on_progress=`` takes: a function of one `Progress` (called from the event loop;
keep it quick)."""


class Reporter:
    """Counts and calls the callback at most every ``interval`` seconds."""

    def __init__(self, operation: str, callback: ProgressCallback | None, *,
                 total: int | None = None, interval: float = 0.5) -> None:
        self.operation = operation
        self.callback = callback
        self.total = total
        self.interval = interval
        self.items = 0
        self.bytes = 0
        self.rejected = 0
        self.resumed_items = 0
        self.started = time.monotonic()
        self._last = 0.0

    def snapshot(self, *, done: bool = False, status: str = "") -> Progress:
        return Progress(self.operation, self.items, self.bytes,
                        time.monotonic() - self.started, self.total, self.rejected, done,
                        status, self.resumed_items)

    def add(self, items: int, size: int = 0, rejected: int = 0) -> None:
        self.items += items
        self.bytes += size
        self.rejected += rejected
        self.maybe_report()

    def maybe_report(self, status: str = "") -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.callback(self.snapshot(status=status))

    def finish(self, status: str = "") -> Progress:
        final = self.snapshot(done=True, status=status)
        if self.callback is not None:
            self.callback(final)
        return final


class RateLimit:
    """At most ``per_second`` units (items) per second on average, bursts of one
    second's worth: ``await limit.take(n)`` waits until ``n`` more are allowed. The token
    bucket of connection-level rate limits (`dynorm.observe.limits.TokenBucket`), full at
    the start.

    Args:
        per_second: the sustained rate; must be positive.
    """

    def __init__(self, per_second: float) -> None:
        self.bucket = TokenBucket(per_second, full=True)
        self.per_second = self.bucket.rate

    async def take(self, n: int) -> None:
        await self.bucket.take(n)
