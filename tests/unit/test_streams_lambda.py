"""The Lambda adapter on recorded DynamoDB Streams event payloads (no server)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

from dynorm import Model, PartitionKey, ValidationFailed
from dynorm.streams import ChangeEvent, FailedRecord, StreamListener, sync_lambda_handler
from dynorm.streams.events import StreamError
from dynorm.streams.lambda_ import table_from_arn

DATA = Path(__file__).resolve().parents[1] / "data"


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


class Message(Model, table="ExampleTableWithStream"):
    id: Annotated[int, PartitionKey] = Field(alias="Id")
    message: str = Field("", alias="Message")
    payload: bytes = Field(b"", alias="Payload")


def make(retries: int = 0) -> tuple[StreamListener, list[ChangeEvent[Message]],
                                    list[FailedRecord]]:
    listener = StreamListener(Message)
    events: list[ChangeEvent[Message]] = []
    errors: list[FailedRecord] = []

    @listener.on(Message, retries=retries, backoff=0.001)
    async def handle(event: ChangeEvent[Message]) -> None:
        if event.new is not None and event.new.message == "fails downstream":
            raise RuntimeError("downstream is down")
        events.append(event)

    listener.on_error(errors.append)
    return listener, events, errors


def test_table_name_from_stream_arn() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/My-Table.v2/stream/2015-06-27T00:48:05.899"
    assert table_from_arn(arn) == "My-Table.v2"
    with pytest.raises(StreamError):
        table_from_arn("arn:aws:sqs:us-east-1:1:queue")


async def test_insert_modify_remove_become_typed_events() -> None:
    listener, events, errors = make()
    result = await listener.lambda_handler(table_prefix="")(payload("lambda_basic.json"), None)
    assert result == {"batchItemFailures": []}
    assert [e.kind for e in events] == ["insert", "modify", "remove"]
    insert, modify, remove = events
    assert insert.new == Message(id=101, message="New item!") and insert.old is None
    assert modify.old is not None and modify.old.message == "New item!"
    assert modify.new is not None and modify.new.message == "This item has changed"
    assert remove.new is None and remove.old is not None
    assert all(e.keys == {"id": 101} for e in events)
    assert insert.sequence_number == "4421584500000000017450439091"
    assert insert.approximate_creation_time == datetime(2016, 11, 18, 20, 9, tzinfo=timezone.utc)
    assert insert.table == "ExampleTableWithStream" and insert.shard_id is None
    assert errors == []


async def test_failure_reported_from_the_first_failed_record_on() -> None:
    listener, events, errors = make(retries=1)
    handler = listener.lambda_handler(table_prefix="")
    result = await handler(payload("lambda_poison_and_binary.json"), None)
    # Record 1 does not fit (reported, counts as done); record 2 is fine (bytes decoded
    # from base64); record 3 fails its handler twice: it and record 4 go back to Lambda.
    assert result == {"batchItemFailures": [
        {"itemIdentifier": "4421584500000000017450439096"},
        {"itemIdentifier": "4421584500000000017450439097"},
    ]}
    assert [e.keys for e in events] == [{"id": 103}]
    assert events[0].new is not None and events[0].new.payload == b"hello"
    invalid, failed = errors
    assert invalid.reason == "invalid" and isinstance(invalid.error, ValidationFailed)
    assert invalid.keys == {"Id": {"N": "102"}}
    assert invalid.table == "ExampleTableWithStream"
    assert failed.reason == "handler" and failed.stopped and failed.attempts == 2
    assert listener.metrics.handler_errors == 2


async def test_dead_letter_policy_counts_as_done_in_lambda() -> None:
    listener = StreamListener(Message)
    seen: list[str] = []
    dead: list[FailedRecord] = []

    @listener.on(Message, "modify", retries=0, on_failure="dead_letter")
    async def modified(event: ChangeEvent[Message]) -> None:
        raise RuntimeError("always")

    @listener.on(Message, "remove")
    async def removed(event: ChangeEvent[Message]) -> None:
        seen.append(event.sequence_number)

    listener.on_error(dead.append)
    result = await listener.lambda_handler(table_prefix="")(
        payload("lambda_poison_and_binary.json"), None)
    assert result == {"batchItemFailures": []}
    assert seen == ["4421584500000000017450439097"]
    assert [f.reason for f in dead] == ["invalid", "handler"]


def test_sync_handler_with_table_prefix_and_keys_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNORM_TABLE_PREFIX", "staging-")
    listener, events, _errors = make()
    handler = sync_lambda_handler(listener)
    assert handler(payload("lambda_prefixed_keys_only.json"), None) == {"batchItemFailures": []}
    (event,) = events
    assert event.kind == "insert" and event.old is None and event.new is None
    assert event.keys == {"id": 7} and event.table == "staging-ExampleTableWithStream"
    assert event.approximate_creation_time.year == 2023


async def test_unknown_table_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    listener, events, _ = make()
    result = await listener.lambda_handler(table_prefix="other-")(
        payload("lambda_basic.json"), None)
    assert result == {"batchItemFailures": []} and events == []
    assert "no model of this listener uses table 'ExampleTableWithStream'" in caplog.text
