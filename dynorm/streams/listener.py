"""``StreamListener``: subscribe handlers to model changes and run them from the streams.

```python
listener = StreamListener(User, checkpoints=TableCheckpoints("app-checkpoints"))

@listener.on(User, "insert", "modify", retries=3, on_failure="dead_letter")
async def changed(event: ChangeEvent[User]) -> None: ...

@listener.on_error
async def dead_letter(failure: FailedRecord) -> None: ...

await listener.run()          # until listener.stop() (or SIGTERM/SIGINT with handle_signals)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from dynorm._aio import wait_event
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import DynormError, ServiceError, TransportError
from dynorm.schema.classes import meta_of
from dynorm.streams.checkpoints import CheckpointStore, InMemoryCheckpoints
from dynorm.streams.dispatch import (
    Dispatcher,
    ErrorCallback,
    FailurePolicy,
    Handler,
    StreamMetrics,
    Subscription,
)
from dynorm.streams.events import EventKind
from dynorm.streams.leases import LeaseStore, plan
from dynorm.streams.reader import ReadResult, ShardReader, StartPosition
from dynorm.streams.shards import Shard, describe_shards, ready_shards, stream_arn

if TYPE_CHECKING:
    from dynorm.model import Model
    from dynorm.streams.lambda_ import AsyncLambdaHandler

__all__ = ["StreamListener"]

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Handler)
C = TypeVar("C", bound=ErrorCallback)

_ALL_KINDS: frozenset[EventKind] = frozenset({"insert", "modify", "remove"})


@dataclass
class _Stream:
    arn: str
    models: list[type[Model]]
    table: str
    shards: list[Shard] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)
    seen_first: set[str] = field(default_factory=set)


class StreamListener:
    """Reads the streams of some models' tables and calls the subscribed handlers.

    Args:
        models: the models whose tables to follow (``on()`` adds more).
        checkpoints: where progress is kept; default
            [`InMemoryCheckpoints`][dynorm.streams.InMemoryCheckpoints]. A store that also
            implements ``LeaseStore`` (``TableCheckpoints``) makes workers with the same store
            share the shards.
        start: where to begin a shard that has no checkpoint: ``"TRIM_HORIZON"`` (the
            oldest record kept, 24 h) or ``"LATEST"`` (only new changes; applies to the
            shards open when the listener starts, shards appearing later are read whole).
        poll_interval: seconds between GetRecords calls on a shard with nothing new.
        batch_size: records per GetRecords call (at most 1000); checkpointed per batch.
        owner: this worker's id for leases (default ``host:pid:random``).
        lease_duration: seconds a lease lasts without renewal (renewed every third).
        describe_interval: seconds between looks for new shards.
    """

    def __init__(
        self,
        *models: type[Model],
        checkpoints: CheckpointStore | None = None,
        start: StartPosition = "TRIM_HORIZON",
        poll_interval: float = 1.0,
        batch_size: int = 100,
        owner: str | None = None,
        lease_duration: float = 30.0,
        describe_interval: float = 30.0,
    ) -> None:
        if start not in ("TRIM_HORIZON", "LATEST"):
            raise ValueError(f"start must be 'TRIM_HORIZON' or 'LATEST', not {start!r}")
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000")
        self.models: list[type[Model]] = []
        for model in models:
            self._add_model(model)
        self.checkpoints: CheckpointStore = checkpoints or InMemoryCheckpoints()
        self.start: StartPosition = start
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_duration = lease_duration
        self.describe_interval = describe_interval
        self._dispatcher = Dispatcher()
        self._stop_requested = False
        self._wake: asyncio.Event | None = None
        self._readers: dict[tuple[str, str], tuple[ShardReader, asyncio.Task[ReadResult]]] = {}
        self._stopped_shards: set[tuple[str, str]] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self._changed = False

    def __repr__(self) -> str:
        names = ", ".join(m.__name__ for m in self.models)
        return f"StreamListener({names}, owner={self.owner!r})"

    @property
    def metrics(self) -> StreamMetrics:
        """Counters: events handled, errors, lag (see
        [`StreamMetrics`][dynorm.streams.StreamMetrics])."""
        return self._dispatcher.metrics

    @property
    def leasing(self) -> bool:
        """True when the checkpoint store also holds leases (several workers)."""
        return isinstance(self.checkpoints, LeaseStore)

    def _add_model(self, model: type[Model]) -> None:
        if model in self.models:
            return
        table = meta_of(model).table_name
        for other in self.models:
            if meta_of(other).table_name == table and (
                meta_of(model).entity is None or meta_of(other).entity is None
            ):
                raise DynormError(
                    f"{model.__name__} and {other.__name__} share table {table!r}: a listener "
                    "can follow several models of one table only when each declares its "
                    "entity (single-table design), so records can be told apart"
                )
        self.models.append(model)

    # ------------------------------------------------------------------ subscriptions

    def on(
        self,
        model: type[Model],
        *kinds: EventKind,
        retries: int = 3,
        on_failure: FailurePolicy = "stop",
        backoff: float = 0.1,
    ) -> Callable[[H], H]:
        """Subscribe an async handler to changes of ``model`` (all kinds when none given).

        Args:
            model: the model (its table is followed).
            kinds: ``"insert"``, ``"modify"``, ``"remove"``.
            retries: extra attempts after a failure, with exponential backoff.
            on_failure: after the last attempt, ``"stop"`` the shard (default: nothing is
                skipped; the record is delivered again after a restart) or
                ``"dead_letter"`` (report to ``on_error`` callbacks and go on).
            backoff: seconds before the first retry (doubling, capped at 30 s).
        """
        for kind in kinds:
            if kind not in _ALL_KINDS:
                raise ValueError(f"unknown event kind {kind!r}: use insert, modify, remove")
        if on_failure not in ("stop", "dead_letter"):
            raise ValueError(f"on_failure must be 'stop' or 'dead_letter', not {on_failure!r}")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self._add_model(model)

        def register(handler: H) -> H:
            self._dispatcher.subscriptions.append(Subscription(
                model, frozenset(kinds) or _ALL_KINDS, handler, retries, on_failure, backoff))
            return handler

        return register

    def on_error(self, callback: C) -> C:
        """Register a callback for records that could not be delivered (usable as a
        decorator); it receives a [`FailedRecord`][dynorm.streams.FailedRecord]. Without one,
        failures are logged.
        """
        self._dispatcher.error_callbacks.append(callback)
        return callback

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask ``run()`` to return: in-flight batches finish and are checkpointed."""
        self._stop_requested = True
        for reader, _ in self._readers.values():
            reader.stop()
        if self._wake is not None:
            self._wake.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Follow the streams until `stop()` (or SIGTERM/SIGINT with ``handle_signals``).

        Raises:
            StreamNotEnabled: a model's table has no stream.
            TableNotFound: a model's table does not exist.
        """
        if not self.models:
            raise DynormError("StreamListener has no models to follow")
        conn = get_connection()
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stop)
                    installed.append(sig)
        by_table: dict[str, list[type[Model]]] = {}
        for model in self.models:
            by_table.setdefault(conn.table_name(meta_of(model).table_name), []).append(model)
        streams: list[_Stream] = []
        for table, models in by_table.items():
            arn = await stream_arn(conn, table, model=models[0].__name__)
            streams.append(_Stream(arn, models, table))
        log.info("listening to %s as %s", ", ".join(s.table for s in streams), self.owner)
        graceful = False
        try:
            await self._loop(conn, streams)
            graceful = True
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._shutdown(graceful)
            self._wake = None
            self._stop_requested = False

    async def _loop(self, conn: Connection, streams: list[_Stream]) -> None:
        assert self._wake is not None
        tick = min(self.describe_interval, self.lease_duration / 3 if self.leasing else 1e9)
        described = float("-inf")
        first = True
        while not self._stop_requested:
            self._wake.clear()
            self._reap(streams)
            try:
                if time.monotonic() - described >= self.describe_interval or self._changed:
                    self._changed = False
                    for stream in streams:
                        stream.shards = await describe_shards(conn, stream.arn)
                        if first:
                            stream.seen_first = {s.shard_id for s in stream.shards}
                    first = False
                    described = time.monotonic()
                if self.leasing:
                    await self._balance(conn, streams)
                else:
                    for stream in streams:
                        for shard in ready_shards(stream.shards, stream.finished):
                            self._start_reader(conn, stream, shard)
            except (ServiceError, TransportError) as exc:
                log.warning("stream listener: %r; trying again in %.1fs", exc, tick)
            if self._stop_requested:
                break
            await wait_event(self._wake, tick)

    def _start_reader(self, conn: Connection, stream: _Stream, shard: Shard) -> ShardReader | None:
        key = (stream.arn, shard.shard_id)
        if key in self._readers or key in self._stopped_shards:
            return None
        start: StartPosition = (self.start if shard.shard_id in stream.seen_first
                                else "TRIM_HORIZON")
        reader = ShardReader(
            conn, shard, stream.models, stream.table, self._dispatcher, self.checkpoints,
            start=start, poll_interval=self.poll_interval, batch_size=self.batch_size,
        )
        task = asyncio.create_task(reader.run(), name=f"dynorm-shard-{shard.shard_id}")
        task.add_done_callback(lambda _t: self._wake.set() if self._wake else None)
        self._readers[key] = (reader, task)
        log.debug("reading shard %s of %s from %s", shard.shard_id, stream.table, start)
        return reader

    def _reap(self, streams: Iterable[_Stream]) -> None:
        by_arn = {s.arn: s for s in streams}
        for key, (reader, task) in list(self._readers.items()):
            if not task.done():
                continue
            del self._readers[key]
            try:
                result: ReadResult = task.result()
            except asyncio.CancelledError:
                continue
            except Exception:
                log.exception("reading shard %s of %s failed; it will be retried",
                              key[1], reader.table)
                self._release_later(key)
                continue
            if result in ("finished", "gone"):
                by_arn[key[0]].finished.add(key[1])
                self._changed = True  # look for the children now
            elif result == "failed":
                self._stopped_shards.add(key)
                log.error("shard %s of %s stopped by a handler failure; restart the "
                          "listener to retry it", key[1], reader.table)
            if result != "lost" and result != "failed":
                self._release_later(key)

    def _release_later(self, key: tuple[str, str]) -> None:
        store = self.checkpoints
        if isinstance(store, LeaseStore):
            task = asyncio.create_task(store.release(key[0], key[1], self.owner))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _balance(self, conn: Connection, streams: list[_Stream]) -> None:
        """Renew our leases, then take free/expired ones or ask for a handoff."""
        store = self.checkpoints
        assert isinstance(store, LeaseStore)
        held = [*self._readers.items(), *((k, None) for k in self._stopped_shards)]
        for key, entry in held:
            renewed_at = time.monotonic()
            lease = await store.renew(key[0], key[1], self.owner, self.lease_duration)
            reader = entry[0] if entry is not None else None
            if lease is None:
                log.warning("lease on shard %s was taken over; stopping it", key[1])
                if reader is not None:
                    reader.valid_until = 0.0
                    reader.stop()
                self._stopped_shards.discard(key)
            elif lease.handoff_to and lease.handoff_to != self.owner and reader is not None:
                log.info("handing shard %s over to %s", key[1], lease.handoff_to)
                reader.stop()
            elif reader is not None:
                reader.valid_until = renewed_at + self.lease_duration * 0.8
        leases = await store.leases([s.arn for s in streams])
        now = time.time()
        for lease in leases:
            if lease.finished:
                for stream in streams:
                    if stream.arn == lease.stream_arn:
                        stream.finished.add(lease.shard_id)
        ready = [shard for stream in streams for shard in
                 ready_shards(stream.shards, stream.finished)]
        mine = set(self._readers) | self._stopped_shards
        decision = plan(self.owner, ready, leases, now, mine=mine)
        by_arn = {s.arn: s for s in streams}
        for shard in decision.acquire:
            acquired_at = time.monotonic()
            if await store.acquire(shard.stream_arn, shard.shard_id, self.owner,
                                   self.lease_duration):
                log.info("%s took the lease on shard %s", self.owner, shard.shard_id)
                reader = self._start_reader(conn, by_arn[shard.stream_arn], shard)
                if reader is not None:
                    reader.valid_until = acquired_at + self.lease_duration * 0.8
        if decision.handoff is not None:
            shard, holder = decision.handoff
            if await store.request_handoff(shard.stream_arn, shard.shard_id, holder,
                                           self.owner, self.lease_duration):
                log.info("%s asked %s to hand over shard %s", self.owner, holder,
                         shard.shard_id)

    async def _shutdown(self, graceful: bool) -> None:
        readers = list(self._readers.items())
        for _, (reader, task) in readers:
            if graceful:
                reader.stop()
            else:
                task.cancel()
        results = await asyncio.gather(*(t for _, (_, t) in readers), return_exceptions=True)
        self._readers.clear()
        if graceful and isinstance(self.checkpoints, LeaseStore):
            outcome = {key: result for (key, _), result in zip(readers, results, strict=True)}
            for key in [*outcome, *self._stopped_shards]:
                if outcome.get(key) != "lost":
                    with contextlib.suppress(DynormError):
                        await self.checkpoints.release(key[0], key[1], self.owner)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self._stopped_shards.clear()

    def lambda_handler(self, *, table_prefix: str | None = None) -> AsyncLambdaHandler:
        """An ``async (event, context) -> dict`` Lambda handler; see
        [`dynorm.streams.lambda_handler()`][dynorm.streams.lambda_handler]."""
        from dynorm.streams.lambda_ import lambda_handler

        return lambda_handler(self, table_prefix=table_prefix)
