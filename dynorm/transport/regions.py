"""Several Regions behind one connection: route each call to the first healthy Region,
fail over on Region-level failures, probe the failed Region and fail back.

```python
async with dynorm.connect(regions=["us-east-1", "us-west-2"]):
    await Order.get("o1")        # us-east-1 while it answers, else us-west-2
```

`RegionRouter` holds one transport per Region and a circuit breaker per Region:

* **closed** (healthy): calls go to the first healthy Region in the given order (reads
  to ``FailoverPolicy.read_region`` first when it is healthy).
* **open** (failed): a connection that could not be made (the endpoint is gone) opens
  it at once; ``FailoverPolicy.failures`` answers of 5xx (``ServiceUnavailable``,
  ``InternalServerError``...) or connections cut after sending within ``window``
  seconds open it too. A background probe (``ListTables`` with ``Limit=1``) tries the
  Region every ``probe_interval`` seconds; ``probe_successes`` answers in a row close
  the breaker again, and calls go back to it (fail-back).

The router makes one attempt per call, like every transport; the connection's one retry
loop (`dynorm.connection.Connection.call`) asks it where each attempt goes. A write whose
attempt may have been applied (the answer was lost, or a 5xx) stays in its Region:
retrying it in another Region could apply it twice, or overwrite newer data there under
last-writer-wins, before replication has carried the first attempt over. If its Region
fails meanwhile, the write is raised as ambiguous (``TransportError.sent``,
``ServiceError.ambiguous``) and never sent to another Region. Reads, and writes that
certainly were not applied (the connection could not be made, throttling), go to the
next healthy Region.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dynorm._types import Request, Response
from dynorm.exceptions import ServiceError, TransportError
from dynorm.transport.base import STREAM_OPERATIONS, Transport

__all__ = [
    "READ_OPERATIONS",
    "STRANDED",
    "FailoverPolicy",
    "RegionEvent",
    "RegionRouter",
    "check_regions",
    "stranded",
]

log = logging.getLogger(__name__)

#: Operations that change nothing: safe to send to another Region after any failure.
READ_OPERATIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
    "DescribeTimeToLive", "DescribeContinuousBackups", "ListTables", "ListTagsOfResource",
    "DescribeLimits", "DescribeEndpoints", *STREAM_OPERATIONS,
})


@dataclass(frozen=True)
class RegionEvent:
    """A Region failed, or came back (``RegionRouter.events``, ``FailoverPolicy.on_event``).

    Attributes:
        kind: ``"failover"`` (``region`` failed; calls now go to ``to``) or
            ``"failback"`` (``region`` answers again and takes its place back).
        region: the Region that failed or came back.
        to: where calls go now.
        reason: what opened the breaker, or ``"probe answered"``.
        at: ``time.time()`` of the event.
    """

    kind: Literal["failover", "failback"]
    region: str
    to: str
    reason: str
    at: float


@dataclass(frozen=True)
class FailoverPolicy:
    """When a Region counts as failed, and how it is probed back.

    Args:
        failures: 5xx answers or connections cut after sending, within ``window``
            seconds, that fail a Region over (a connection that cannot be made fails it
            over at once).
        window: seconds over which ``failures`` are counted.
        probe_interval: seconds between two probes of a failed Region.
        probe_successes: answered probes in a row that bring a Region back.
        read_region: the Region reads go to first while it is healthy (the nearest
            one); default: the first healthy Region, as writes.
        on_event: called with each `RegionEvent` (from the event loop: keep it short).
    """

    failures: int = 3
    window: float = 10.0
    probe_interval: float = 5.0
    probe_successes: int = 1
    read_region: str | None = None
    on_event: Callable[[RegionEvent], object] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.failures < 1 or self.probe_successes < 1:
            raise ValueError("FailoverPolicy: failures and probe_successes must be >= 1")
        if self.window <= 0 or self.probe_interval <= 0:
            raise ValueError("FailoverPolicy: window and probe_interval must be > 0")


class _Breaker:
    def __init__(self) -> None:
        self.open = False
        self.failures: list[float] = []
        self.probe: asyncio.Task[None] | None = None


class RegionRouter:
    """A `Transport` over one transport per Region, with a circuit breaker per Region.

    Args:
        transports: Region -> its transport, in the order of preference.
        policy: when to fail over and back (default `FailoverPolicy()`).

    Attributes:
        events: every `RegionEvent` so far, oldest first.
    """

    def __init__(self, transports: Mapping[str, Transport],
                 policy: FailoverPolicy | None = None) -> None:
        if not transports:
            raise ValueError("RegionRouter needs at least one Region")
        self.transports = dict(transports)
        self.regions = tuple(self.transports)
        self.policy = policy or FailoverPolicy()
        if self.policy.read_region is not None and (
                self.policy.read_region not in self.transports):
            raise ValueError(
                f"FailoverPolicy.read_region {self.policy.read_region!r} is not one of the "
                f"connection's Regions ({', '.join(self.regions)})")
        self.accepts_json_fragments = all(
            t.accepts_json_fragments for t in self.transports.values())
        self.events: list[RegionEvent] = []
        self._breakers = {region: _Breaker() for region in self.regions}
        self._closed = False

    # ------------------------------------------------------------------ Transport

    async def open(self) -> None:
        self._closed = False
        for transport in self.transports.values():
            await transport.open()

    async def close(self) -> None:
        self._closed = True
        for breaker in self._breakers.values():
            if breaker.probe is not None:
                breaker.probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await breaker.probe
                breaker.probe = None
        for transport in self.transports.values():
            await transport.close()

    async def call(self, operation: str, payload: Request) -> Response:
        """One attempt, in the Region `choose` picks."""
        return await self.call_in(self.choose(operation, payload), operation, payload)

    # ------------------------------------------------------------------ routing

    def healthy(self, region: str) -> bool:
        """Whether ``region``'s breaker is closed."""
        return not self._breakers[region].open

    @property
    def current(self) -> str:
        """Where writes go now: the first healthy Region (the first of all when every
        Region has failed: it is tried all the same)."""
        return next((r for r in self.regions if self.healthy(r)), self.regions[0])

    def choose(self, operation: str, payload: Request) -> str:
        """The Region for one attempt of ``operation``."""
        if operation in STREAM_OPERATIONS:
            region = _arn_region(payload.get("StreamArn") or payload.get("TableName"))
            if region in self.transports:
                return region  # a stream belongs to its Region's replica
        read = self.policy.read_region
        if read is not None and operation in READ_OPERATIONS and self.healthy(read):
            return read
        return self.current

    async def call_in(self, region: str, operation: str, payload: Request) -> Response:
        """One attempt in ``region``; the outcome feeds its breaker."""
        try:
            answer = await self.transports[region].call(operation, payload)
        except TransportError as error:
            if error.retryable:
                self._failed(region, f"{operation}: {error}", at_once=not error.sent)
            raise
        except ServiceError as error:
            if error.status >= 500:
                self._failed(region, f"{operation}: {error.code} (HTTP {error.status})",
                             at_once=False)
            raise
        return answer

    # ------------------------------------------------------------------ breakers

    def _failed(self, region: str, reason: str, *, at_once: bool) -> None:
        breaker = self._breakers[region]
        if breaker.open:
            return
        now = time.monotonic()
        breaker.failures = [t for t in breaker.failures if now - t < self.policy.window]
        breaker.failures.append(now)
        if not at_once and len(breaker.failures) < self.policy.failures:
            return
        breaker.open = True
        breaker.failures = []
        self._event("failover", region, reason)
        if not self._closed:
            breaker.probe = asyncio.get_running_loop().create_task(
                self._probe(region), name=f"dynorm-probe-{region}")

    def _event(self, kind: Literal["failover", "failback"], region: str, reason: str
               ) -> None:
        event = RegionEvent(kind, region, self.current, reason, time.time())
        self.events.append(event)
        log.warning("dynorm: %s %s -> %s (%s)", kind, region, event.to, reason)
        if self.policy.on_event is not None:
            self.policy.on_event(event)

    async def _probe(self, region: str) -> None:
        breaker = self._breakers[region]
        answered = 0
        while True:
            await asyncio.sleep(self.policy.probe_interval)
            try:
                await self.transports[region].call("ListTables", {"Limit": 1})
            except Exception as error:  # a probe never dies of one answer
                answered = 0
                log.debug("dynorm: probe of %s: %s", region, error)
                continue
            answered += 1
            if answered >= self.policy.probe_successes:
                breaker.open = False
                breaker.probe = None
                self._event("failback", region, "probe answered")
                return


def _arn_region(value: object) -> str | None:
    """``us-east-1`` of ``arn:aws:dynamodb:us-east-1:123:table/t/stream/...``."""
    if isinstance(value, str) and value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) > 3:
            return parts[3]
    return None


#: What an ambiguous write stranded in a failed Region says.
STRANDED = ("ambiguous: it may have been applied in {region}, which has failed over; "
             "not retried in another Region, where it could be applied twice or overwrite "
             "newer data: read the item back once {region} answers, or write it again with "
             "a condition")


def stranded(router: RegionRouter, operation: str, region: str, uncertain: bool) -> bool:
    """A write that may have been applied in ``region``, which has just failed over."""
    return uncertain and operation not in READ_OPERATIONS and not router.healthy(region)


def check_regions(regions: Sequence[str] | None, region: str | None,
                   endpoints: Mapping[str, str] | None, transport: object
                   ) -> tuple[str, ...]:
    """The ``regions=`` of a connection, checked against its other settings."""
    if regions is None:
        if endpoints:
            raise ValueError("Connection: endpoints= goes with regions=[...]")
        return ()
    if isinstance(regions, str):
        raise ValueError(f"Connection: regions is a list of Regions, not {regions!r}: "
                         f"write regions=[{regions!r}, ...]")
    found = tuple(regions)
    if not found or len(set(found)) != len(found):
        raise ValueError(f"Connection: regions needs distinct Region names, not {found!r}")
    if region is not None and region != found[0]:
        raise ValueError(f"Connection: region={region!r} and regions={list(found)!r}: the "
                         "first of regions is the Region; give one or the other")
    unknown = sorted(set(endpoints or ()) - set(found))
    if unknown:
        raise ValueError(f"Connection: endpoints names {', '.join(unknown)}, not in regions")
    if transport is not None and not isinstance(transport, str):
        raise ValueError("Connection: regions= builds one transport per Region: give "
                         "transport='fast' or 'aioboto3', not a Transport")
    return found
