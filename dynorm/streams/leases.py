"""Shard leases: one worker reads a shard at a time.

A lease names the worker (``owner``) that reads a shard and when that claim expires.
The owner renews it every third of the lease duration; a worker that stops renewing
(it died) loses its shards when the lease expires, and another worker takes them with a
conditional write (only if the lease is still expired, so two workers cannot both win).

Balancing: each worker aims at ``ceil(shards / live workers)`` shards. A worker below
its share first takes free or expired leases; if there are none it asks the busiest
worker to *hand one over*. The holder sees the request when it next renews, finishes
its in-flight batch, checkpoints and releases the lease; only the requester may take it
then (until the request expires). A shard is therefore never read by two workers at
once as long as clocks agree to within the lease duration; a holder also stops reading
a shard on its own when it could not renew in time.

`plan()` is pure; [`LeaseStore`][dynorm.streams.LeaseStore] is implemented by
[`TableCheckpoints`][dynorm.streams.TableCheckpoints].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dynorm.streams.shards import Shard

__all__ = ["Lease", "LeasePlan", "LeaseStore", "plan"]


@dataclass(frozen=True)
class Lease:
    """A shard's lease as stored.

    Attributes:
        stream_arn: the shard.
        shard_id: the shard within that stream.
        owner: the worker holding it (None: free).
        expires: epoch seconds when the claim lapses.
        handoff_to: a worker that asked for the shard (None: nobody).
        handoff_expires: epoch seconds when that request lapses.
        finished: the shard was read to its end.
    """

    stream_arn: str
    shard_id: str
    owner: str | None = None
    expires: float = 0.0
    handoff_to: str | None = None
    handoff_expires: float = 0.0
    finished: bool = False

    def held(self, now: float) -> bool:
        """Somebody holds it (an unexpired claim)."""
        return self.owner is not None and self.expires > now

    def reserved_for_other(self, me: str, now: float) -> bool:
        """Another worker asked for it and may take it first."""
        return (self.handoff_to is not None and self.handoff_to != me
                and self.handoff_expires > now)


@runtime_checkable
class LeaseStore(Protocol):
    """Stores shard leases with conditional writes. Times are epoch seconds."""

    async def leases(self, stream_arns: Collection[str]) -> list[Lease]:
        """Every stored lease of these streams."""
        ...

    async def acquire(self, stream_arn: str, shard_id: str, owner: str, duration: float
                      ) -> bool:
        """Take the lease if free, expired or ours, and not reserved for another worker."""
        ...

    async def renew(self, stream_arn: str, shard_id: str, owner: str, duration: float
                    ) -> Lease | None:
        """Extend our lease; None when it is no longer ours."""
        ...

    async def release(self, stream_arn: str, shard_id: str, owner: str) -> None:
        """Give the lease up if it is ours."""
        ...

    async def request_handoff(self, stream_arn: str, shard_id: str, holder: str,
                              requester: str, duration: float) -> bool:
        """Ask ``holder`` to hand the shard to ``requester`` (if ``holder`` still has it)."""
        ...


@dataclass(frozen=True)
class LeasePlan:
    """What a worker should do this round.

    Attributes:
        acquire: free or expired shards to take, parents first.
        handoff: a shard (and its holder) to ask for, or None.
    """

    acquire: tuple[Shard, ...] = ()
    handoff: tuple[Shard, str] | None = None


def plan(me: str, ready: Iterable[Shard], leases: Iterable[Lease], now: float,
         *, mine: Collection[tuple[str, str]] = ()) -> LeasePlan:
    """Decide which leases to take (pure).

    Args:
        me: this worker's owner id.
        ready: the shards that may be read now (see ``ready_shards``).
        leases: the stored leases.
        now: epoch seconds.
        mine: ``(stream ARN, shard id)`` of the shards this worker holds.

    Returns:
        The shards to acquire and at most one shard to request from a busier worker.
    """
    shards = list(ready)
    by_id = {(lease.stream_arn, lease.shard_id): lease for lease in leases}
    held: Counter[str] = Counter()
    holder: dict[tuple[str, str], str] = {}
    for shard in shards:
        key = (shard.stream_arn, shard.shard_id)
        lease = by_id.get(key)
        if key in mine:
            held[me] += 1
        elif lease is not None and lease.owner is not None and lease.held(now):
            held[lease.owner] += 1
            holder[key] = lease.owner
    workers = set(held) | {me}
    share = math.ceil(len(shards) / len(workers)) if shards else 0
    want = share - held[me]
    if want <= 0:
        return LeasePlan()
    free = [
        s for s in shards
        if (s.stream_arn, s.shard_id) not in mine and (s.stream_arn, s.shard_id) not in holder
        and not _reserved(by_id.get((s.stream_arn, s.shard_id)), me, now)
    ]
    if free:
        return LeasePlan(acquire=tuple(free[:want]))
    if any(lease.handoff_to == me and lease.handoff_expires > now and lease.held(now)
           for lease in by_id.values()):
        return LeasePlan()  # a handoff we asked for is still on its way
    busiest, count = max(((w, n) for w, n in held.items() if w != me),
                         key=lambda wn: wn[1], default=(None, 0))
    if busiest is None or count <= share:
        return LeasePlan()
    for shard in shards:
        key = (shard.stream_arn, shard.shard_id)
        if holder.get(key) == busiest and not _reserved(by_id.get(key), me, now):
            return LeasePlan(handoff=(shard, busiest))
    return LeasePlan()


def _reserved(lease: Lease | None, me: str, now: float) -> bool:
    return lease is not None and lease.reserved_for_other(me, now)
