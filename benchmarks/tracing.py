"""Tracing cost: client CPU per get with observation off, hooks, capacity and OpenTelemetry.

    python -m benchmarks --only tracing [--server moto|dynalite|dynamodb-local]

One process, one server, the same item read by every variant, variants alternated (A B C
..., reversed every other round), the median client CPU (``time.process_time()``) per
get. The variants:

- ``bare``: a connection whose ``call`` goes straight to the retry loop (what dynorm did
  before issue 24: no check for observers at all);
- ``off``: a default connection (nothing watches: the check, then the same loop);
- ``hook``: a no-op ``on_response`` hook;
- ``capacity``: ``capacity=True`` (ReturnConsumedCapacity and the totals);
- ``api``: ``telemetry=OpenTelemetry(...)`` on OpenTelemetry's no-op providers (the API
  alone, no SDK): dynorm's own share of the instrumentation;
- ``tracing``: ``telemetry=OpenTelemetry(..., metrics=False)`` with the SDK's
  TracerProvider and what production uses, a BatchSpanProcessor (its default settings),
  into an exporter that drops every span: one span per call; the processor's worker
  thread exports batches of 512 during the timed gets, and its CPU counts
  (``process_time`` is the whole process's);
- ``simple``: the same with a SimpleSpanProcessor (each span exported as it ends, in
  the caller's thread: cheaper with an exporter that does nothing, blocking with a real
  one), for comparison;
- ``sdk``: no dynorm instrumentation at all, the bare connection with the least any
  instrumentation could do around each call: one SDK span (same processor, name,
  kind and attributes as ``tracing``'s) started before the retry loop and ended after
  it. Its cost is the OpenTelemetry SDK's alone, the floor of ``tracing``;
- ``otel``: the spans of ``tracing`` plus metrics (the SDK's MeterProvider with an
  in-memory reader never collected): a duration histogram record per call besides.

Every variant's providers are shut down after its gets (no worker thread outlives its
variant). Goals (issue 24): ``off`` <= 1.02x ``bare``; ``tracing`` <= 1.15x ``bare``.
Most of what ``tracing`` and ``otel`` add is the OpenTelemetry SDK's own work (a span
with attributes is ~13-22 us, a histogram record ~7 us, on a loaded 2-core machine).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import dynorm
from benchmarks.data import CREDS, REGION, TABLE, Bench, make, wire
from dynorm._types import Request, Response

PK = "tracing"
VARIANTS = ["bare", "off", "hook", "capacity", "api", "tracing", "simple", "sdk", "otel"]
GOALS = {"off": 1.02, "tracing": 1.15}

Result = dict[str, list[float]]


class BareConnection(dynorm.Connection):
    """``call`` without the observer check: the retry loop alone."""

    async def call(self, operation: str, payload: Request, *,
                   model: type | None = None) -> Response:
        return await self._attempts(operation, payload, None)


class SdkSpanConnection(BareConnection):
    """The bare connection inside one SDK span per call: OpenTelemetry's share alone."""

    tracer: Any = None
    kind: Any = None  # SpanKind.CLIENT (set with the tracer: no import per call)
    attributes = {"db.system.name": "aws.dynamodb", "db.operation.name": "GetItem",
                  "aws.dynamodb.table_names": (TABLE,), "dynorm.model": "Bench"}

    async def call(self, operation: str, payload: Request, *,
                   model: type | None = None) -> Response:
        span = self.tracer.start_span("DynamoDB.GetItem", kind=self.kind,
                                      attributes=self.attributes)
        try:
            return await self._attempts(operation, payload, None)
        finally:
            span.end()


#: The SDK providers of the variant being measured (shut down after it).
_providers: list[Any] = []


def _otel(metrics: bool = True, simple: bool = False) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from dynorm.observe.otel import OpenTelemetry

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(Drop()) if simple else BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    _providers.extend((tracer_provider, meter_provider))
    return OpenTelemetry(tracer_provider, meter_provider, metrics=metrics)


class Instant:
    """A transport that answers every GetItem at once with the item: the client's own
    work per call, without the network and the server's noise."""

    accepts_json_fragments = False

    def __init__(self) -> None:
        self.answer = {"Item": wire(make(PK, 0))}
        self.with_capacity = {**self.answer, "ConsumedCapacity": {
            "TableName": TABLE, "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.5}}}

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def call(self, operation: str, payload: Request) -> Response:
        return self.with_capacity if "ReturnConsumedCapacity" in payload else self.answer


def connection(variant: str, url: str | None) -> dynorm.Connection:
    settings: dict[str, Any] = {"endpoint_url": url, "region": REGION, **CREDS,
                                "transport": "fast" if url else Instant()}
    if variant == "bare":
        return BareConnection(**settings)
    if variant == "sdk":
        conn = SdkSpanConnection(**settings)
        from opentelemetry.trace import SpanKind

        conn.tracer, conn.kind = _otel(metrics=False).tracer, SpanKind.CLIENT
        return conn
    if variant == "capacity":
        settings["capacity"] = True
    if variant == "api":
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        from dynorm.observe.otel import OpenTelemetry

        settings["telemetry"] = OpenTelemetry(NoOpTracerProvider(), NoOpMeterProvider())
    if variant in ("tracing", "simple", "otel"):
        settings["telemetry"] = _otel(metrics=variant == "otel", simple=variant == "simple")
    conn = dynorm.Connection(**settings)
    if variant == "hook":
        conn.on_response(lambda event: None)
    return conn


async def _measure(url: str | None, ops: int, rounds: int,
                   log: Callable[..., None]) -> Result:
    if url is not None:
        async with connection("bare", url):
            await Bench.create_table()  # idempotent when it exists
            await make(PK, 0).save()
    results: Result = {v: [] for v in VARIANTS}
    warm = max(ops // 10, 20)
    for r in range(rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            async with connection(variant, url):
                for _ in range(warm):  # the connection, caches
                    await Bench.get(PK, 0)
                gc.collect()
                c0 = time.process_time()
                for _ in range(ops):
                    await Bench.get(PK, 0)
                results[variant].append((time.process_time() - c0) / ops)
            while _providers:
                _providers.pop().shutdown()
        log(f"tracing round {r + 1}/{rounds}{'' if url else ' (no network)'}: " + ", ".join(
            f"{v} {results[v][-1] * 1e6:.1f} us" for v in VARIANTS))
    return results


def ops(single_item_ops: int) -> int:
    """Gets per variant per round: at least 300 (many short rounds, alternated, even out a
    busy machine better than a few long ones)."""
    return max(single_item_ops, 300)


def measure(url: str, ops: int, rounds: int, log: Callable[..., None]
            ) -> tuple[Result, Result]:
    """Client CPU per get of each variant, one entry per round (seconds): against the
    server, and on a transport that answers at once (`Instant`: what each variant adds
    without the network's noise)."""
    return (asyncio.run(_measure(url, ops, rounds, log)),
            asyncio.run(_measure(None, ops * 10, rounds, log)))


def table(results: tuple[Result, Result], ops: int) -> list[str]:
    """The medians, and two steadier views of each variant's ratio: the median of its
    per-round ratios to ``bare`` (the two measured next to each other), and bare's CPU
    against the server plus what the variant adds without the network."""
    served, instant = results
    base = statistics.median(served["bare"])
    instant_base = statistics.median(instant["bare"])
    lines = [f"tracing: client CPU per get ({ops} gets per variant per round against the "
             f"server, {ops * 10} on a transport answering at once; variants alternated, "
             "medians)", "",
             "| variant | CPU per get | vs bare | goal | per-round ratio | "
             "added per call, no network | bare + added, vs bare |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for variant in VARIANTS:
        cpu = statistics.median(served[variant])
        goal = GOALS.get(variant)
        ratio = cpu / base
        verdict = "" if goal is None else f"<= {goal:.2f}x " + (
            "ok" if ratio <= goal else "MISSED")
        paired = statistics.median(
            v / b for v, b in zip(served[variant], served["bare"], strict=True))
        added = (statistics.median(instant[variant]) - instant_base) * 1e6
        lines.append(f"| {variant} | {cpu * 1e6:.1f} us | {ratio:.3f}x | {verdict} | "
                     f"{paired:.3f}x | {added:+.1f} us | {1 + added / 1e6 / base:.3f}x |")
    return lines
