"""What happens around each DynamoDB call: hooks, capacity, log records and telemetry.

`Connection.call` hands every call to the connection's `Observer` when anything watches
(``capacity=True``, ``telemetry=``, an ``on_request``/``on_response`` hook, or the
``dynorm.observe`` logger enabled for DEBUG); otherwise nothing here runs and the request
is sent unchanged.

Hooks receive a `CallEvent` per attempt: ``on_request`` before it is sent,
``on_response`` when its answer (or error) is in, with the attempt's duration, the
consumed capacity and the error code. A hook that raises is logged and ignored: watching
never breaks a call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

from dynorm._types import Request, Response
from dynorm.exceptions import ServiceError, Throttled
from dynorm.observe.capacity import (
    CAPACITY_OPERATIONS,
    WRITE_OPERATIONS,
    Capacity,
    CapacityTotals,
    parse_capacity,
)
from dynorm.observe.limits import CapacityLimit
from dynorm.schema.classes import meta_of

__all__ = [
    "CallEvent", "CallRecord", "Hook", "Observer", "Telemetry", "error_code", "table_names",
]

log = logging.getLogger("dynorm.observe")

Hook = Callable[["CallEvent"], object]
"""A function called with each `CallEvent` (its answer is ignored)."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3x more
class CallEvent:
    """One attempt of one DynamoDB call, as the hooks see it. Never item values.

    Attributes:
        operation: ``"GetItem"``, ``"Query"``...
        tables: the physical tables the request names (several for batches and
            transactions).
        index: the index a query or scan reads, if any.
        model: the model class's name, when one model made the call.
        entity: that model's entity name in a single-table design, if it has one.
        attempt: 1 for the first attempt, 2 for the first retry...
        duration: seconds this attempt took (None in ``on_request``).
        capacity: what DynamoDB said the attempt consumed (with ``capacity=True``).
        error: the attempt's AWS error code (``"ThrottlingException"``) or, for a lost
            answer, the transport error's class name; None when it succeeded.
    """

    operation: str
    tables: tuple[str, ...]
    index: str | None
    model: str | None
    entity: str | None
    attempt: int
    duration: float | None = None
    capacity: tuple[Capacity, ...] = ()
    error: str | None = None

    @property
    def table(self) -> str | None:
        """The first (usually the only) table."""
        return self.tables[0] if self.tables else None


def table_names(payload: Request) -> list[str]:
    """The tables a request names: ``TableName``, a batch's ``RequestItems``, the actions
    of a transaction."""
    if isinstance(payload.get("TableName"), str):
        return [payload["TableName"]]
    names: list[str] = list(payload.get("RequestItems") or ())
    for action in payload.get("TransactItems") or ():
        for body in action.values():
            name = body.get("TableName") if isinstance(body, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def error_code(error: BaseException) -> str:
    """The AWS error code of a `ServiceError`, else the exception's class name."""
    if isinstance(error, ServiceError):
        return error.code
    return type(error).__name__


class Telemetry(Protocol):
    """What the observer asks of a telemetry backend (`dynorm.observe.otel.OpenTelemetry`)."""

    def start(self, record: CallRecord) -> Any:
        """Begin the call's span (answers it, kept in ``record.span``)."""

    def attempt_failed(self, record: CallRecord, error: BaseException) -> None:
        """An attempt failed (it may be retried)."""

    def finish(self, record: CallRecord, duration: float, error: BaseException | None) -> None:
        """The call is over: end its span, record its metrics."""

    def span(self, name: str, attributes: dict[str, Any]) -> AbstractContextManager[Any]:
        """A parent span, current inside the block, for the calls made there."""

    def stream_lag(self, table: str, seconds: float) -> None:
        """A stream listener's lag after a batch: now minus its last record's time."""


class Attempts(Protocol):
    """The connection's retry loop: ``_attempts(operation, payload, record)``."""

    def __call__(self, operation: str, payload: Request,
                 record: CallRecord | None) -> Awaitable[Response]: ...


class Observer:
    """Watches the calls of one connection (see the module docstring).

    Args:
        capacity: ask for ``ReturnConsumedCapacity="INDEXES"`` and count it in `totals`.
        totals: where consumed capacity is added up (the connection's ``capacity``).
        telemetry: OpenTelemetry spans and metrics, if enabled.
    """

    def __init__(self, *, capacity: bool, totals: CapacityTotals,
                 telemetry: Telemetry | None = None) -> None:
        self.capacity = capacity
        self.totals = totals
        self.telemetry = telemetry
        self.request_hooks: list[Hook] = []
        self.response_hooks: list[Hook] = []
        self.limits: dict[str, CapacityLimit] = {}
        self.active = False
        self._refresh()

    def _refresh(self) -> None:
        self.active = bool(self.capacity or self.telemetry is not None or self.request_hooks
                           or self.response_hooks or self.limits)

    def limit(self, table: str, read: float | None, write: float | None) -> CapacityLimit:
        """Limit the calls on the physical table ``table`` (see `dynorm.observe.limits`);
        both None: no limit any more."""
        limit = CapacityLimit(table, read, write)
        if read is None and write is None:
            self.limits.pop(table, None)
        else:
            self.limits[table] = limit
        self._refresh()
        return limit

    def add_hook(self, when: str, hook: Hook) -> None:
        """Call ``hook`` with each attempt's `CallEvent` (``when``: "request"/"response")."""
        (self.request_hooks if when == "request" else self.response_hooks).append(hook)
        self._refresh()

    def remove_hook(self, hook: Hook) -> None:
        """Stop calling ``hook`` (no error when it is not registered)."""
        for hooks in (self.request_hooks, self.response_hooks):
            while hook in hooks:
                hooks.remove(hook)
        self._refresh()

    async def call(self, attempts: Attempts, operation: str, payload: Request,
                   model: type | None) -> Response:
        """Run ``attempts`` (the retry loop) watched: capacity asked for, hooks, span."""
        want_capacity = self.capacity
        limits: list[CapacityLimit] = []
        if self.limits:
            limits = [self.limits[t] for t in table_names(payload) if t in self.limits]
            write = operation in WRITE_OPERATIONS
            reserved: list[float] = []
            try:
                for limit in limits:
                    reserved.append(await limit.reserve(write))
            except BaseException:  # cancelled while waiting: give back what was set aside
                for limit, units in zip(limits, reserved, strict=False):
                    limit.settle(write, units, 0.0, 0.0)
                raise
            want_capacity = want_capacity or bool(limits)
        if want_capacity and operation in CAPACITY_OPERATIONS and (
                "ReturnConsumedCapacity" not in payload):
            payload = {**payload, "ReturnConsumedCapacity": "INDEXES"}
        record = CallRecord(self, operation, payload, model)
        if limits:
            record.limits = limits
            record.reserved = reserved
        try:
            response = await attempts(operation, payload, record)
        except BaseException as exc:
            record.end(None, exc)
            raise
        record.end(response, None)
        return response

    def fire(self, hooks: list[Hook], event: CallEvent) -> None:
        for hook in hooks:
            try:
                hook(event)
            except Exception:  # a broken hook never breaks the call
                log.exception("dynorm hook %r failed on %s", hook, event.operation)


class CallRecord:
    """One call in flight: what the observer knows about it across its attempts."""

    __slots__ = ("attempt", "capacity", "entity", "index", "limit", "limits", "model",
                 "observer", "operation", "payload", "raw_capacity", "reserved", "retries",
                 "sent_at", "span", "started", "tables", "throttles")

    def __init__(self, observer: Observer, operation: str, payload: Request,
                 model: type | None) -> None:
        self.observer = observer
        self.operation = operation
        self.payload = payload
        self.tables = tuple(table_names(payload))
        index = payload.get("IndexName")
        self.index: str | None = index if isinstance(index, str) else None
        limit = payload.get("Limit")
        self.limit: int | None = limit if isinstance(limit, int) else None
        self.model: str | None = None
        self.entity: str | None = None
        if model is not None:
            self.model = model.__name__
            self.entity = getattr(meta_of(model), "entity", None)
        self.attempt = 0
        self.retries = 0
        self.throttles = 0
        self.capacity: tuple[Capacity, ...] = ()
        self.limits: list[CapacityLimit] = []
        self.reserved: list[float] = []
        self.raw_capacity: Any = None
        self.started = self.sent_at = perf_counter()
        telemetry = observer.telemetry
        self.span: Any = None if telemetry is None else telemetry.start(self)

    def event(self, duration: float | None = None, capacity: tuple[Capacity, ...] = (),
              error: str | None = None) -> CallEvent:
        return CallEvent(self.operation, self.tables, self.index, self.model, self.entity,
                         self.attempt, duration, capacity, error)

    def sending(self, attempt: int) -> None:
        """The connection is about to send attempt number ``attempt``."""
        self.attempt = attempt
        self.retries = attempt - 1
        self.sent_at = perf_counter()
        observer = self.observer
        if observer.request_hooks:
            observer.fire(observer.request_hooks, self.event())

    def answered(self, response: Response) -> None:
        """The attempt succeeded with ``response``."""
        duration = perf_counter() - self.sent_at
        observer = self.observer
        raw = response.get("ConsumedCapacity")
        if raw:
            self.raw_capacity = raw
            self.capacity = parse_capacity(self.operation, raw)
            if observer.capacity:
                observer.totals.add(self.capacity, self.operation, self.model, self.entity)
        if self.limits:
            if response.get("UnprocessedItems") or response.get("UnprocessedKeys"):
                for limit in self.limits:  # a batch's share refused: throttling too
                    limit.throttled(self.operation in WRITE_OPERATIONS)
            self._settle()
        if observer.response_hooks:
            observer.fire(observer.response_hooks, self.event(duration, self.capacity))

    def _settle(self) -> None:
        """Give the rate limits what the call really cost (nothing, when it failed)."""
        write = self.operation in WRITE_OPERATIONS
        for limit, reserved in zip(self.limits, self.reserved, strict=True):
            used = [c for c in self.capacity if c.table == limit.table]
            limit.settle(write, reserved, sum(c.read for c in used),
                         sum(c.write for c in used))
        self.limits = []

    def failed(self, error: BaseException) -> None:
        """The attempt failed with ``error`` (it may still be retried)."""
        duration = perf_counter() - self.sent_at
        if isinstance(error, Throttled):
            self.throttles += 1
            for limit in self.limits:
                limit.throttled(self.operation in WRITE_OPERATIONS)
        observer = self.observer
        if observer.telemetry is not None:
            observer.telemetry.attempt_failed(self, error)
        if observer.response_hooks:
            observer.fire(observer.response_hooks, self.event(duration, (), error_code(error)))

    def end(self, response: Response | None, error: BaseException | None) -> None:
        """The call is over: its answer, or the error raised to the caller."""
        duration = perf_counter() - self.started
        if self.limits:
            self._settle()
        telemetry = self.observer.telemetry
        if telemetry is not None:
            telemetry.finish(self, duration, error)
        if log.isEnabledFor(logging.DEBUG):
            self._log(duration, error)

    def _log(self, duration: float, error: BaseException | None) -> None:
        read = sum(c.read for c in self.capacity)
        write = sum(c.write for c in self.capacity)
        code = None if error is None else error_code(error)
        table = ",".join(self.tables) or "-"
        log.debug(
            "%s %s%s: %.1f ms, %d attempt(s)%s%s", self.operation, table,
            f" ({self.index})" if self.index else "", duration * 1000, self.attempt,
            f", {read:g} RCU {write:g} WCU" if self.capacity else "",
            f", {code}" if code else "",
            extra={
                "dynorm_operation": self.operation, "dynorm_tables": self.tables,
                "dynorm_index": self.index, "dynorm_model": self.model,
                "dynorm_entity": self.entity, "dynorm_duration_ms": duration * 1000,
                "dynorm_attempts": self.attempt, "dynorm_read_units": read,
                "dynorm_write_units": write, "dynorm_error": code,
            },
        )
