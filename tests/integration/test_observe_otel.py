"""OpenTelemetry over a mixed workload on the real servers (issue 24): CRUD, query pages,
a batch, a transaction and a stream batch give spans with the documented names,
attributes and parent/child structure, and metrics by operation; no item value appears
in any attribute."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the dev extras (opentelemetry-sdk)")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import dynorm
from dynorm import LocalServer, Model, PartitionKey, SortKey
from dynorm.observe.otel import METRICS, OpenTelemetry
from dynorm.streams import ChangeEvent, StreamListener
from tests.support.passthrough import Recorder

SECRET = "very-private-text"


class Entry(Model, table="otel_entries"):
    log: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    text: str = ""


async def test_mixed_workload_spans_and_metrics(dynorm_server: LocalServer,
                                                dynorm_connection: dynorm.Connection) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry = OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    seen: list[int] = []
    async with dynorm.connect(transport=Recorder(dynorm_connection.transport),
                              telemetry=telemetry, capacity=True):
        await Entry.create_table(stream="NEW_AND_OLD_IMAGES")
        listener = StreamListener(Entry, poll_interval=0.05, describe_interval=0.2)

        @listener.on(Entry, "insert")
        async def copied(event: ChangeEvent[Entry]) -> None:
            assert event.new is not None
            await Entry.find_one((event.new.log, event.new.seq))  # a call in the batch
            seen.append(event.new.seq)

        task = asyncio.create_task(listener.run())
        try:
            await Entry(log="a", seq=1, text=SECRET).save()
            got = await Entry.get("a", 1)
            await got.update(Entry.text.set(SECRET + "!"))
            async with dynorm.batch() as batch:
                for n in range(2, 5):
                    batch.save(Entry(log="a", seq=n, text=SECRET))
            async with dynorm.transaction() as tx:
                tx.save(Entry(log="b", seq=1, text=SECRET))
            assert len(await Entry.query(Entry.log == "a").page_size(2).to_list()) == 4
            await Entry(log="a", seq=4).delete()
            deadline = time.monotonic() + 15
            while len(seen) < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            listener.stop()
            await task
    assert sorted(seen) == [1, 1, 2, 3, 4]

    spans = list(exporter.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans}

    def parent(span: Any) -> str | None:
        return by_id[span.parent.span_id].name if span.parent else None

    names = {s.name for s in spans}
    assert {"DynamoDB.CreateTable", "DynamoDB.PutItem", "DynamoDB.GetItem",
            "DynamoDB.UpdateItem", "DynamoDB.BatchWriteItem",
            "DynamoDB.TransactWriteItems", "DynamoDB.Query", "DynamoDB.DeleteItem",
            "DynamoDB.GetRecords", "dynorm.Query", "dynorm.batch_write.chunk",
            "dynorm.transaction", "dynorm.stream.batch"} <= names
    client = [s for s in spans if s.name.startswith("DynamoDB.")]
    assert all(s.kind == SpanKind.CLIENT for s in client)
    assert all(s.attributes["db.system.name"] == "aws.dynamodb" for s in client)
    assert all(s.attributes["db.operation.name"] == s.name.split(".")[1] for s in client)
    pages = [s for s in client if s.name == "DynamoDB.Query"]
    assert len(pages) >= 2 and {parent(s) for s in pages} == {"dynorm.Query"}
    assert {parent(s) for s in client if s.name == "DynamoDB.BatchWriteItem"} == {
        "dynorm.batch_write.chunk"}
    assert {parent(s) for s in client if s.name == "DynamoDB.TransactWriteItems"} == {
        "dynorm.transaction"}
    in_stream = [s for s in client if parent(s) == "dynorm.stream.batch"]
    assert len(in_stream) >= 5 and {s.name for s in in_stream} == {"DynamoDB.GetItem"}
    stream_batches = [s for s in spans if s.name == "dynorm.stream.batch"]
    assert sum(s.attributes["dynorm.records"] for s in stream_batches) >= 6
    puts = [s for s in client if s.name == "DynamoDB.PutItem"]
    assert all(s.attributes["aws.dynamodb.table_names"] == ("otel_entries",) and
               s.attributes["dynorm.model"] == "Entry" for s in puts)
    everything = repr([dict(s.attributes) for s in spans])
    assert SECRET not in everything

    data = reader.get_metrics_data()
    assert data is not None
    points = {metric.name: list(metric.data.data_points)
              for r in data.resource_metrics for sm in r.scope_metrics
              for metric in sm.metrics}
    calls = {p.attributes["db.operation.name"]: p.count for p in points[METRICS["duration"]]
             if "error.type" not in p.attributes}
    assert calls["PutItem"] == 1 and calls["UpdateItem"] == 1 and calls["Query"] >= 2
    assert sum(p.value for p in points[METRICS["capacity"]]) > 0
    (lag,) = points[METRICS["stream_lag"]]
    assert lag.count >= 1 and lag.attributes["db.collection.name"] == "otel_entries"
