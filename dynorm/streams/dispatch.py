"""Subscriptions, handler failure policies, error callbacks and metrics.

Shared by the polling listener and the Lambda adapter: both decode records into
[`ChangeEvent`][dynorm.streams.ChangeEvent] values and hand them to `Dispatcher.deliver()`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from dynorm.streams.events import ChangeEvent, EventKind, FailedRecord

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "Dispatcher",
    "ErrorCallback",
    "FailurePolicy",
    "Handler",
    "StreamMetrics",
    "Subscription",
]

log = logging.getLogger(__name__)

Handler = Callable[[ChangeEvent[Any]], Awaitable[None]]
"""An async function taking one event."""

ErrorCallback = Callable[[FailedRecord], "Awaitable[None] | None"]
"""Called with every record that could not be delivered (sync or async)."""

FailurePolicy = Literal["dead_letter", "stop"]
"""After the last retry: ``"dead_letter"`` reports the record to the ``on_error``
callbacks and goes on; ``"stop"`` reports it and stops reading the shard (the record
is not checkpointed, so it is delivered again after a restart)."""


@dataclass(frozen=True)
class Subscription:
    """One handler for some kinds of change of one model."""

    model: type[Model]
    kinds: frozenset[EventKind]
    handler: Handler
    retries: int = 3
    on_failure: FailurePolicy = "stop"
    backoff: float = 0.1

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))


@dataclass
class StreamMetrics:
    """Counters a listener keeps (read them any time; ``snapshot()`` for a dict).

    Attributes:
        records: records read (including invalid ones).
        events_handled: events whose handlers all succeeded.
        handler_errors: failed handler attempts (each retry counts).
        dead_lettered: records given up on by a ``"dead_letter"`` policy.
        invalid_records: records whose images do not fit the model.
        shards_stopped: shards stopped by a ``"stop"`` policy.
        lag_seconds: now minus the approximate creation time of the last event.
        max_lag_seconds: the largest lag seen.
        lag_by_shard: the last lag per shard id.
    """

    records: int = 0
    events_handled: int = 0
    handler_errors: int = 0
    dead_lettered: int = 0
    invalid_records: int = 0
    shards_stopped: int = 0
    lag_seconds: float = 0.0
    max_lag_seconds: float = 0.0
    lag_by_shard: dict[str, float] = field(default_factory=dict)

    def observe_lag(self, event: ChangeEvent[Any]) -> None:
        lag = max(0.0, (datetime.now(timezone.utc)
                        - event.approximate_creation_time).total_seconds())
        self.lag_seconds = lag
        self.max_lag_seconds = max(self.max_lag_seconds, lag)
        if event.shard_id is not None:
            self.lag_by_shard[event.shard_id] = lag

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict (for logging or a metrics exporter)."""
        return {
            "records": self.records,
            "events_handled": self.events_handled,
            "handler_errors": self.handler_errors,
            "dead_lettered": self.dead_lettered,
            "invalid_records": self.invalid_records,
            "shards_stopped": self.shards_stopped,
            "lag_seconds": self.lag_seconds,
            "max_lag_seconds": self.max_lag_seconds,
            "lag_by_shard": dict(self.lag_by_shard),
        }


class Dispatcher:
    """Runs the subscribed handlers of an event, in registration order, with retries."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.error_callbacks: list[ErrorCallback] = []
        self.metrics = StreamMetrics()
        self.max_backoff = 30.0

    def handlers_for(self, model: type[Model], kind: EventKind) -> list[Subscription]:
        return [s for s in self.subscriptions if s.model is model and kind in s.kinds]

    async def deliver(self, event: ChangeEvent[Any]) -> FailedRecord | None:
        """Run every matching handler. Returns the failure that stops the shard, if any.

        A handler that raises is retried ``retries`` times with exponential backoff;
        then the record is reported to the error callbacks and either skipped for that
        handler (``"dead_letter"``, the next handlers still run) or the shard stops
        (``"stop"``: the remaining handlers do not run).
        """
        self.metrics.observe_lag(event)
        for sub in self.handlers_for(event.model, event.kind):
            attempts = 0
            while True:
                attempts += 1
                try:
                    await sub.handler(event)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.metrics.handler_errors += 1
                    if attempts <= sub.retries:
                        delay = min(self.max_backoff, sub.backoff * 2 ** (attempts - 1))
                        log.warning(
                            "handler %s failed on %s %s (%s) attempt %d/%d: %r; retrying in "
                            "%.2fs", sub.name, event.kind, event.model.__name__,
                            _describe(event.keys), attempts, sub.retries + 1, exc, delay,
                        )
                        await asyncio.sleep(delay)
                        continue
                    stop = sub.on_failure == "stop"
                    failure = FailedRecord(
                        reason="handler", error=exc, model=event.model, table=event.table,
                        keys=dict(event.record.get("dynamodb", {}).get("Keys", {})),
                        sequence_number=event.sequence_number, shard_id=event.shard_id,
                        event=event, handler=sub.name, attempts=attempts, stopped=stop,
                        record=event.record,
                    )
                    if stop:
                        self.metrics.shards_stopped += 1
                    else:
                        self.metrics.dead_lettered += 1
                    await self.report(failure)
                    if stop:
                        return failure
                    break
        self.metrics.events_handled += 1
        return None

    async def report(self, failure: FailedRecord) -> None:
        """Pass a failure to every error callback (or log it when there is none)."""
        if failure.reason == "invalid":
            self.metrics.invalid_records += 1
        where = (f"table {failure.table!r}, key ({_describe(failure.keys)}), sequence "
                 f"{failure.sequence_number}")
        if not self.error_callbacks:
            if failure.reason == "invalid":
                log.error("skipping a record that does not fit %s: %s: %s",
                          failure.model.__name__, where, failure.error)
            else:
                log.error("handler %s gave up on %s after %d attempt(s)%s: %r",
                          failure.handler, where, failure.attempts,
                          " (shard stopped)" if failure.stopped else "", failure.error)
            return
        for callback in self.error_callbacks:
            try:
                result = callback(failure)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("error callback %r failed on %s", callback, where)


def _describe(keys: Mapping[str, Any]) -> str:
    parts = []
    for name, value in keys.items():
        if isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        parts.append(f"{name}={value!r}")
    return ", ".join(parts)
