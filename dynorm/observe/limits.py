"""Rate limits on consumed capacity: token buckets, per table, adaptive to throttling.

``connection.rate_limit(Model, read=100, write=50)`` limits every call on the model's
table made through that connection (scans, queries, gets, batch writers, transactions,
migrations, exports: they all pass through `Connection.call`) to about that many capacity
units per second. Limited calls ask DynamoDB for their consumed capacity. Each call waits
its turn until its table's bucket holds no debt and reserves what calls cost lately;
when the answer says what it really cost, the difference is settled. A call may thus
overdraw the bucket (DynamoDB tells the cost afterwards); the next one waits until the
debt is paid back, so the average holds, however many calls run concurrently.

Throttling (``ProvisionedThroughputExceeded``, ``ThrottlingException``, and a batch
answered with unprocessed items or keys) halves the bucket's current rate (down to a
tenth of the limit); it recovers by a twentieth of the limit per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["CapacityLimit", "TokenBucket"]

#: The lowest rate throttling brings a bucket down to, as a fraction of its limit.
FLOOR = 0.1
#: What a throttled bucket regains per second, as a fraction of its limit.
RECOVERY = 0.05


class TokenBucket:
    """A token bucket of capacity units refilled at ``rate`` per second.

    ``await acquire()`` waits until the bucket holds no debt; ``spend(units)`` takes units
    out (possibly into debt). The bucket holds at most ``burst`` units (default: one
    second's worth) and starts empty, so a run starts at the rate, not with a burst.

    Args:
        rate: the limit, units per second (> 0).
        burst: the most units saved up while idle; default ``rate``.
        full: start with ``burst`` units saved (a burst at the start) instead of none.
        clock: seconds, monotonic (tests pass their own).
        sleep: how to wait (tests pass their own).
    """

    def __init__(self, rate: float, burst: float | None = None, *, full: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if not rate > 0:
            raise ValueError(f"a rate limit must be a positive number, not {rate!r}")
        self.rate = float(rate)
        self.current = self.rate
        """The rate now: ``rate``, or less after throttling."""
        self.burst = float(burst) if burst is not None else self.rate
        self.tokens = self.burst if full else 0.0
        self.spent = 0.0
        """Units spent in all."""
        self.typical = 1.0
        """What a call costs lately (a moving average): what `reserve` sets aside."""
        self._clock = clock
        self._sleep = sleep
        self._at = clock()
        self._turn = asyncio.Lock()  # waiters pass one at a time, in order

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._at
        self._at = now
        if elapsed <= 0:
            return
        if self.current < self.rate:
            self.current = min(self.rate, self.current + self.rate * RECOVERY * elapsed)
        self.tokens = min(self.burst, self.tokens + elapsed * self.current)

    async def acquire(self) -> None:
        """Wait until the bucket holds no debt."""
        while True:
            self._refill()
            if self.tokens >= -1e-9:  # (not 0: a float a hair short of it would spin)
                return
            await self._sleep(-self.tokens / self.current)

    def spend(self, units: float) -> None:
        """Take ``units`` out of the bucket (into debt if it holds fewer)."""
        self._refill()
        self.tokens -= units
        self.spent += units

    async def take(self, units: float) -> None:
        """Wait until ``units`` (at most a burst's worth) are saved up, then take them:
        paid before, for work whose cost is known in advance (items to write)."""
        async with self._turn:
            need = min(units, self.burst)
            while True:
                self._refill()
                if self.tokens >= need - 1e-9:
                    self.tokens -= units
                    self.spent += units
                    return
                await self._sleep((need - self.tokens) / self.current)

    async def reserve(self) -> float:
        """Wait for this call's turn and set aside what calls cost lately (`typical`);
        answers the amount, to `settle` when the real cost is known."""
        async with self._turn:
            await self.acquire()
            reserved = self.typical
            self.tokens -= reserved
            return reserved

    def settle(self, reserved: float, units: float) -> None:
        """A call that reserved ``reserved`` cost ``units``: the difference is taken out
        (or given back)."""
        self._refill()
        self.tokens += reserved - units
        self.spent += units
        if units:
            self.typical = 0.8 * self.typical + 0.2 * units

    def throttled(self) -> None:
        """DynamoDB throttled a call: halve the current rate (not below a tenth)."""
        self._refill()
        self.current = max(self.rate * FLOOR, self.current / 2)

    def __repr__(self) -> str:
        return (f"TokenBucket(rate={self.rate:g}, current={self.current:g}, "
                f"tokens={self.tokens:.2f})")


class CapacityLimit:
    """The read and write buckets of one table (None: that side is not limited)."""

    __slots__ = ("read", "table", "write")

    def __init__(self, table: str, read: float | None = None,
                 write: float | None = None) -> None:
        self.table = table
        self.read = TokenBucket(read) if read is not None else None
        self.write = TokenBucket(write) if write is not None else None

    async def reserve(self, write: bool) -> float:
        """Wait on the bucket of a call of that kind; what it set aside."""
        bucket = self.write if write else self.read
        return 0.0 if bucket is None else await bucket.reserve()

    def settle(self, write: bool, reserved: float, read_units: float,
               write_units: float) -> None:
        """A call of that kind that reserved ``reserved`` consumed these units."""
        for bucket, kind, units in ((self.read, False, read_units),
                                    (self.write, True, write_units)):
            if bucket is None:
                continue
            if kind == write:
                bucket.settle(reserved, units)
            elif units:
                bucket.spend(units)

    def throttled(self, write: bool) -> None:
        bucket = self.write if write else self.read
        if bucket is not None:
            bucket.throttled()

    def __repr__(self) -> str:
        return f"CapacityLimit({self.table!r}, read={self.read!r}, write={self.write!r})"
