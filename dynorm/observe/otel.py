"""OpenTelemetry spans and metrics for every DynamoDB call (the ``dynorm[otel]`` extra).

Loaded only by ``connect(telemetry=...)``: without it nothing imports
``opentelemetry``. One span of kind CLIENT per call (all its attempts), named
``DynamoDB.<Operation>``, with the attributes of OpenTelemetry's semantic conventions for
DynamoDB (``db.system.name="aws.dynamodb"``, ``db.operation.name``,
``aws.dynamodb.table_names``, ``aws.dynamodb.index_name``, ``aws.dynamodb.limit``,
``aws.dynamodb.consumed_capacity``...) and dynorm's own (``dynorm.model``,
``dynorm.entity``, ``dynorm.retries``, ``dynorm.ambiguous``). Never item values: keys,
conditions and expression values stay out of every attribute.

Metrics (instrument names in `METRICS`): the call duration histogram (its count is the
number of calls), retries, throttles, errors by code and consumed capacity units, by
table, index, model and operation; a stream listener's lag after each batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as _context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from dynorm.exceptions import DynormError, ServiceError, Throttled
from dynorm.observe.calls import CallRecord, error_code

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["METRICS", "OpenTelemetry"]

#: The metric instruments dynorm records.
METRICS = {
    "duration": "db.client.operation.duration",
    "retries": "dynorm.client.retries",
    "throttles": "dynorm.client.throttles",
    "errors": "dynorm.client.errors",
    "capacity": "dynorm.client.consumed_capacity",
    "stream_lag": "dynorm.stream.lag",
}

#: Request parameters copied to span attributes (never values: no keys, no expressions
#: with values in them).
_REQUEST_ATTRIBUTES = {
    "ConsistentRead": "aws.dynamodb.consistent_read",
    "ProjectionExpression": "aws.dynamodb.projection",
    "ScanIndexForward": "aws.dynamodb.scan_forward",
    "Select": "aws.dynamodb.select",
    "Segment": "aws.dynamodb.segment",
    "TotalSegments": "aws.dynamodb.total_segments",
}


class OpenTelemetry:
    """Spans and metrics through OpenTelemetry's API.

    Args:
        tracer_provider: where spans go; default the global one
            (``opentelemetry.trace.set_tracer_provider``).
        meter_provider: where metrics go; default the global one.
        spans: False to record metrics only.
        metrics: False to record spans only.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None,
                 meter_provider: MeterProvider | None = None, *, spans: bool = True,
                 metrics: bool = True) -> None:
        self.tracer = trace.get_tracer("dynorm", tracer_provider=tracer_provider)
        self.spans = spans
        self.metrics = metrics
        self._labels: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._spans: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        meter = _metrics.get_meter("dynorm", meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            METRICS["duration"], unit="s", description="Duration of DynamoDB calls, "
            "all attempts included")
        self.retries = meter.create_counter(METRICS["retries"], unit="{attempt}",
                                            description="Attempts after the first")
        self.throttles = meter.create_counter(METRICS["throttles"], unit="{attempt}",
                                              description="Attempts DynamoDB throttled")
        self.errors = meter.create_counter(METRICS["errors"], unit="{attempt}",
                                           description="Failed attempts, by error.type")
        self.capacity = meter.create_counter(
            METRICS["capacity"], unit="{capacity_unit}",
            description="Consumed capacity units (dynorm.capacity.kind: read or write)")
        self.lag = meter.create_histogram(
            METRICS["stream_lag"], unit="s",
            description="Stream listener lag after each batch: now minus the last "
            "record's approximate creation time")

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
        """A parent span for several calls (a query's pages, a batch's chunks...)."""
        if not self.spans:
            yield None
            return
        with self.tracer.start_as_current_span(name, kind=SpanKind.INTERNAL,
                                               attributes=_clean(attributes)) as span:
            yield span

    def start(self, record: CallRecord) -> Any:
        if not self.spans:
            return None
        # The attributes every call of this kind shares, built once (the SDK copies
        # them into the span: the cached dict is never changed, only copied).
        key = (record.operation, record.tables, record.index, record.model, record.entity)
        shared = self._spans.get(key)
        if shared is None:
            shared = self._spans[key] = _span_attributes(record)
        name, attributes = shared
        payload = record.payload
        asked = payload.keys() & _REQUEST_ATTRIBUTES  # one set operation, usually empty
        if asked or record.limit is not None:
            attributes = dict(attributes)
            if record.limit is not None:
                attributes["aws.dynamodb.limit"] = record.limit
            for parameter in asked:
                value = payload[parameter]
                if isinstance(value, (bool, int, str)):
                    attributes[_REQUEST_ATTRIBUTES[parameter]] = value
        # The current context looked up once, not by each of the SDK's steps.
        span = self.tracer.start_span(name, _context.get_current(), SpanKind.CLIENT,
                                      attributes)
        return span if span.is_recording() else None  # not sampled: nothing more to add

    def stream_lag(self, table: str, seconds: float) -> None:
        if self.metrics:
            self.lag.record(seconds, {"db.system.name": "aws.dynamodb",
                                      "db.collection.name": table})

    def labels(self, record: CallRecord) -> dict[str, Any]:
        """The metric attributes of ``record``'s calls (one dict per kind of call, made
        once: do not change it)."""
        key = (record.operation, record.tables, record.index, record.model)
        labels = self._labels.get(key)
        if labels is None:
            labels = self._labels[key] = _labels(record)
        return labels

    def attempt_failed(self, record: CallRecord, error: BaseException) -> None:
        if not self.metrics:
            return
        self.errors.add(1, {**self.labels(record), "error.type": error_code(error)})
        if isinstance(error, Throttled):
            self.throttles.add(1, self.labels(record))
        span = record.span
        if span is not None:
            span.add_event("attempt failed", {"dynorm.attempt": record.attempt,
                                              "error.type": error_code(error)})

    def finish(self, record: CallRecord, duration: float, error: BaseException | None) -> None:
        if self.metrics:
            labels = self.labels(record)
            if error is not None:
                labels = {**labels, "error.type": error_code(error)}
            self.duration.record(duration, labels)  # its count is the number of calls
            if record.retries:
                self.retries.add(record.retries, self.labels(record))
            for capacity in record.capacity:
                where = {**self.labels(record), "db.collection.name": capacity.table}
                if capacity.read:
                    self.capacity.add(capacity.read, {**where, "dynorm.capacity.kind": "read"})
                if capacity.write:
                    self.capacity.add(capacity.write,
                                      {**where, "dynorm.capacity.kind": "write"})
        span = record.span
        if span is None:
            return
        if record.retries:
            span.set_attribute("dynorm.retries", record.retries)
        raw = record.raw_capacity
        if raw:
            entries = [raw] if isinstance(raw, Mapping) else list(raw)
            span.set_attribute("aws.dynamodb.consumed_capacity", [
                json.dumps(entry, separators=(",", ":"), sort_keys=True) for entry in entries])
        if error is not None:
            span.set_attribute("error.type", error_code(error))
            if isinstance(error, DynormError):
                span.set_attribute("dynorm.ambiguous", bool(getattr(error, "ambiguous", False)))
            if isinstance(error, ServiceError):
                span.set_status(Status(StatusCode.ERROR, error.code))
            else:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


_metrics = metrics  # the module; the constructor's ``metrics`` flag shadows the name


def _span_attributes(record: CallRecord) -> tuple[str, dict[str, Any]]:
    """The span name and the attributes shared by every call like ``record``."""
    attributes: dict[str, Any] = {"db.system.name": "aws.dynamodb",
                                  "db.operation.name": record.operation}
    if record.tables:
        attributes["aws.dynamodb.table_names"] = record.tables
    if record.index is not None:
        attributes["aws.dynamodb.index_name"] = record.index
    if record.model is not None:
        attributes["dynorm.model"] = record.model
    if record.entity is not None:
        attributes["dynorm.entity"] = record.entity
    return f"DynamoDB.{record.operation}", attributes


def _labels(record: CallRecord) -> dict[str, Any]:
    """Low-cardinality metric attributes of a call."""
    labels: dict[str, Any] = {"db.system.name": "aws.dynamodb",
                              "db.operation.name": record.operation}
    if len(record.tables) == 1:
        labels["db.collection.name"] = record.tables[0]
    if record.index is not None:
        labels["aws.dynamodb.index_name"] = record.index
    if record.model is not None:
        labels["dynorm.model"] = record.model
    return labels


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
