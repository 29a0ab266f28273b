"""OpenTelemetry spans and metrics (issue 24) with the SDK's in-memory exporters, on
MockTransport: span names, kinds, the semantic-convention attributes, parents, errors and
retries, metric instruments and their attributes; never an item value in an attribute.
And without ``telemetry=``, nothing imports ``opentelemetry``."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the dev extras (opentelemetry-sdk)")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import dynorm
from dynorm import GlobalIndex, MockTransport, Model, PartitionKey, RetryPolicy, SortKey
from dynorm.exceptions import ConditionFailed, Throttled
from dynorm.observe.otel import METRICS, OpenTelemetry

SECRET = "s3cr3t-value"


class Note(Model, table="notes"):
    owner: Annotated[str, PartitionKey]
    note_id: Annotated[str, SortKey]
    text: str = ""
    tag: str = "t"

    by_tag = GlobalIndex("tag", "note_id")


ITEM = {"owner": {"S": SECRET}, "note_id": {"S": "n1"}, "text": {"S": SECRET},
        "tag": {"S": "t"}}


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.otel = OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[self.reader]))

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out


def answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    capacity = {"TableName": "notes", "CapacityUnits": 1.0}
    if operation == "GetItem":
        return {"Item": ITEM, "ConsumedCapacity": capacity}
    if operation == "Query":
        page = {"Items": [ITEM], "Count": 1, "ScannedCount": 1, "ConsumedCapacity": capacity}
        if "ExclusiveStartKey" not in payload:
            page["LastEvaluatedKey"] = {"owner": ITEM["owner"], "note_id": ITEM["note_id"],
                                        "tag": ITEM["tag"]}
        return page
    return {"ConsumedCapacity": capacity}


def all_attribute_values(spans: list[Any]) -> str:
    return repr([dict(s.attributes) for s in spans] + [
        dict(e.attributes) for s in spans for e in s.events])


async def test_one_client_span_per_call_with_semantic_convention_attributes() -> None:
    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(answer), telemetry=t.otel,
                              capacity=True):
        await Note.get(SECRET, "n1", consistent=True)
        await Note(owner=SECRET, note_id="n2", text=SECRET).save()
    get, put = t.finished()
    assert (get.name, get.kind, put.name) == ("DynamoDB.GetItem", SpanKind.CLIENT,
                                              "DynamoDB.PutItem")
    assert dict(get.attributes) == {
        "db.system.name": "aws.dynamodb", "db.operation.name": "GetItem",
        "aws.dynamodb.table_names": ("notes",), "aws.dynamodb.consistent_read": True,
        "dynorm.model": "Note",
        "aws.dynamodb.consumed_capacity": ('{"CapacityUnits":1.0,"TableName":"notes"}',),
    }
    assert get.status.status_code == StatusCode.UNSET and get.parent is None
    assert SECRET not in all_attribute_values([get, put])  # keys and values never


async def test_query_pages_are_children_of_one_query_span() -> None:
    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(answer), telemetry=t.otel):
        notes = await Note.by_tag.query(Note.tag == "t").limit(5).to_list()
    assert len(notes) == 2
    *pages, parent = t.finished()
    assert parent.name == "dynorm.Query" and parent.kind == SpanKind.INTERNAL
    assert dict(parent.attributes) == {
        "db.operation.name": "Query", "dynorm.model": "Note",
        "aws.dynamodb.table_names": ("notes",), "aws.dynamodb.index_name": "by_tag"}
    assert [p.name for p in pages] == ["DynamoDB.Query"] * 2
    assert all(p.parent.span_id == parent.context.span_id for p in pages)
    assert pages[0].attributes["aws.dynamodb.index_name"] == "by_tag"
    assert pages[0].attributes["aws.dynamodb.limit"] == 5


async def test_per_call_attributes_never_leak_into_the_next_call_of_its_kind() -> None:
    # the attributes shared by calls of one kind are built once; a call's own parameters
    # (ConsistentRead, Limit, Segment...) go on its span alone
    def plain(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"Item": ITEM} if operation == "GetItem" else {"Items": [], "Count": 0}

    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(plain), telemetry=t.otel) as conn:
        await Note.get("o", "n1", consistent=True)
        await Note.get("o", "n1")
        await Note.by_tag.query(Note.tag == "t").limit(5).to_list()
        await Note.by_tag.query(Note.tag == "t").to_list()
        await conn.call("Scan", {"TableName": "notes", "Segment": 1, "TotalSegments": 4,
                                 "Select": "COUNT", "ExclusiveStartKey": {"x": {"S": "y"}}})
        await conn.call("Scan", {"TableName": "notes"})
    spans = [s for s in t.finished() if s.name.startswith("DynamoDB.")]
    attributes = [dict(s.attributes) for s in spans]
    base = {"db.system.name": "aws.dynamodb", "aws.dynamodb.table_names": ("notes",)}
    get = {**base, "db.operation.name": "GetItem", "dynorm.model": "Note"}
    query = {**base, "db.operation.name": "Query", "dynorm.model": "Note",
             "aws.dynamodb.index_name": "by_tag"}
    scan = {**base, "db.operation.name": "Scan"}
    assert attributes == [
        {**get, "aws.dynamodb.consistent_read": True}, get,
        {**query, "aws.dynamodb.limit": 5}, query,
        {**scan, "aws.dynamodb.segment": 1, "aws.dynamodb.total_segments": 4,
         "aws.dynamodb.select": "COUNT"}, scan,
    ]


async def test_a_page_of_several_requests_has_one_parent() -> None:
    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(answer), telemetry=t.otel):
        page = await Note.query(Note.owner == "o").filter(Note.tag == "t").page(2)
    assert len(page) == 2
    *requests, parent = t.finished()
    assert parent.name == "dynorm.Query" and len(requests) == 2
    assert all(r.parent.span_id == parent.context.span_id for r in requests)


async def test_retries_errors_and_metrics() -> None:
    steps: list[Any] = [Throttled("slow", code="ThrottlingException"), {"Item": ITEM},
                        ConditionFailed("no", code="ConditionalCheckFailedException")]

    def scripted(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(scripted), telemetry=t.otel,
                              retry=RetryPolicy(max_attempts=3, base_delay=0)):
        await Note.get(SECRET, "n1")
        with pytest.raises(ConditionFailed):
            await Note(owner="o", note_id="n").save(condition=Note.text == SECRET)
    get, put = t.finished()
    assert get.attributes["dynorm.retries"] == 1
    assert [(e.name, dict(e.attributes)) for e in get.events] == [
        ("attempt failed", {"dynorm.attempt": 1, "error.type": "ThrottlingException"})]
    assert put.status.status_code == StatusCode.ERROR
    assert put.attributes["error.type"] == "ConditionalCheckFailedException"
    assert put.attributes["dynorm.ambiguous"] is False
    assert SECRET not in all_attribute_values([get, put])

    metrics = t.metrics()
    assert set(metrics) == {METRICS[k] for k in ("duration", "retries", "throttles",
                                                 "errors")}
    durations = {p.attributes["db.operation.name"]: p for p in metrics[METRICS["duration"]]}
    assert durations["GetItem"].count == 1 and durations["GetItem"].attributes == {
        "db.system.name": "aws.dynamodb", "db.operation.name": "GetItem",
        "db.collection.name": "notes", "dynorm.model": "Note"}
    assert durations["PutItem"].count == 1
    errors = {p.attributes["error.type"]: p.value for p in metrics[METRICS["errors"]]}
    assert errors == {"ThrottlingException": 1, "ConditionalCheckFailedException": 1}
    assert [p.value for p in metrics[METRICS["throttles"]]] == [1]
    assert [p.value for p in metrics[METRICS["retries"]]] == [1]


async def test_capacity_metric_by_kind() -> None:
    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(answer), telemetry=t.otel,
                              capacity=True):
        await Note.get("o", "n1")
        await Note.get("o", "n1")
        await Note(owner="o", note_id="n2").save()
    points = {p.attributes["dynorm.capacity.kind"]: p.value
              for p in t.metrics()[METRICS["capacity"]]}
    assert points == {"read": 2.0, "write": 1.0}


async def test_transaction_and_batch_parent_spans() -> None:
    t = Telemetry()
    async with dynorm.connect(transport=MockTransport(answer), telemetry=t.otel):
        async with dynorm.transaction() as tx:
            tx.save(Note(owner="o", note_id="a"))
            tx.save(Note(owner="o", note_id="b"))
        async with dynorm.batch() as batch:
            for n in range(30):
                batch.save(Note(owner="o", note_id=str(n)))
        await dynorm.get_many(Note, [("o", str(n)) for n in range(120)])
    spans = t.finished()
    by_id = {s.context.span_id: s for s in spans}
    parents = {s.name: by_id[s.parent.span_id].name for s in spans if s.parent}
    assert parents == {"DynamoDB.TransactWriteItems": "dynorm.transaction",
                       "DynamoDB.BatchWriteItem": "dynorm.batch_write.chunk",
                       "DynamoDB.BatchGetItem": "dynorm.batch_get.chunk"}
    assert sorted(s.attributes["dynorm.keys"] for s in spans
                  if s.name == "dynorm.batch_get.chunk") == [20, 100]
    chunks = [s for s in spans if s.name == "dynorm.batch_write.chunk"]
    assert sorted(s.attributes["dynorm.writes"] for s in chunks) == [5, 25]
    (tx_span,) = [s for s in spans if s.name == "dynorm.transaction"]
    assert tx_span.attributes["dynorm.actions"] == 2


def test_no_opentelemetry_import_without_telemetry() -> None:
    code = """
import asyncio, sys
from typing import Annotated
import dynorm
from dynorm import MockTransport, Model, PartitionKey

class Thing(Model, table="things"):
    key: Annotated[str, PartitionKey]

async def main():
    item = {"Item": {"key": {"S": "k"}}}
    async with dynorm.connect(transport=MockTransport(lambda op, p: item), capacity=True):
        await Thing.get("k")
        await Thing.query(Thing.key == "k").to_list()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_telemetry_without_opentelemetry_names_the_extra() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
import dynorm
try:
    dynorm.connect(telemetry=True)
except dynorm.ConnectionNotConfigured as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "pip install 'dynorm[otel]'" in out.stdout
