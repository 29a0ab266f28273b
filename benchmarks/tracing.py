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
  TracerProvider (a SimpleSpanProcessor into an exporter that drops every span): one
  span per call;
- ``otel``: the same spans plus metrics (the SDK's MeterProvider with an in-memory
  reader never collected): a duration histogram record per call besides.

Goals (issue 24): ``off`` <= 1.02x ``bare``; ``tracing`` <= 1.15x ``bare``. Most of what
``tracing`` and ``otel`` add is the OpenTelemetry SDK's own work (a span with
attributes is ~15 us, a histogram record ~7 us, on a loaded 2-core machine).
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
VARIANTS = ["bare", "off", "hook", "capacity", "api", "tracing", "otel"]
GOALS = {"off": 1.02, "tracing": 1.15}

Result = dict[str, list[float]]


class BareConnection(dynorm.Connection):
    """``call`` without the observer check: the retry loop alone."""

    async def call(self, operation: str, payload: Request, *,
                   model: type | None = None) -> Response:
        return await self._attempts(operation, payload, None)


def _otel(metrics: bool = True) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from dynorm.observe.otel import OpenTelemetry

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
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
    if variant == "capacity":
        settings["capacity"] = True
    if variant == "api":
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        from dynorm.observe.otel import OpenTelemetry

        settings["telemetry"] = OpenTelemetry(NoOpTracerProvider(), NoOpMeterProvider())
    if variant in ("tracing", "otel"):
        settings["telemetry"] = _otel(metrics=variant == "otel")
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
    served, instant = results
    base = statistics.median(served["bare"])
    instant_base = statistics.median(instant["bare"])
    lines = [f"tracing: client CPU per get ({ops} gets per variant per round against the "
             f"server, {ops * 10} on a transport answering at once; variants alternated, "
             "medians)", "",
             "| variant | CPU per get | vs bare | goal | added per call, no network |",
             "|---|---:|---:|---:|---:|"]
    for variant in VARIANTS:
        cpu = statistics.median(served[variant])
        goal = GOALS.get(variant)
        ratio = cpu / base
        verdict = "" if goal is None else f"<= {goal:.2f}x " + (
            "ok" if ratio <= goal else "MISSED")
        added = (statistics.median(instant[variant]) - instant_base) * 1e6
        lines.append(f"| {variant} | {cpu * 1e6:.1f} us | {ratio:.3f}x | {verdict} | "
                     f"{added:+.1f} us |")
    return lines
