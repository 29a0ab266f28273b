"""Records -> ChangeEvents: view types, times, invalid images; and the reader's recovery."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import MockTransport, Model, PartitionKey, SortKey, ValidationFailed
from dynorm.exceptions import ServiceError
from dynorm.streams import ChangeEvent, InMemoryCheckpoints, Shard, StreamListener
from dynorm.streams.events import StreamError, decode_record, parse_time
from dynorm.streams.reader import ShardReader

UTC = timezone.utc


class Visit(Model, table="visits"):
    site: Annotated[str, PartitionKey]
    at: Annotated[datetime, SortKey]
    pages: int = 1


KEYS = {"site": {"S": "a.com"}, "at": {"S": "2024-01-02T03:04:05+00:00"}}
OLD = {**KEYS, "pages": {"N": "1"}}
NEW = {**KEYS, "pages": {"N": "2"}}


def record(name: str, view: str, **images: Any) -> dict[str, Any]:
    return {"eventName": name, "dynamodb": {
        "Keys": KEYS, "SequenceNumber": "42", "StreamViewType": view,
        "ApproximateCreationDateTime": datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC), **images}}


@pytest.mark.parametrize(("name", "view", "images", "has_old", "has_new"), [
    ("INSERT", "NEW_AND_OLD_IMAGES", {"NewImage": NEW}, False, True),
    ("MODIFY", "NEW_AND_OLD_IMAGES", {"NewImage": NEW, "OldImage": OLD}, True, True),
    ("REMOVE", "NEW_AND_OLD_IMAGES", {"OldImage": OLD}, True, False),
    ("MODIFY", "NEW_IMAGE", {"NewImage": NEW}, False, True),
    ("REMOVE", "NEW_IMAGE", {}, False, False),
    ("INSERT", "OLD_IMAGE", {}, False, False),
    ("MODIFY", "OLD_IMAGE", {"OldImage": OLD}, True, False),
    ("MODIFY", "KEYS_ONLY", {}, False, False),
])
def test_view_types_give_what_they_carry(name: str, view: str, images: dict[str, Any],
                                         has_old: bool, has_new: bool) -> None:
    event = decode_record(Visit, record(name, view, **images), table="p-visits")
    assert event.kind == name.lower()
    assert event.keys == {"site": "a.com", "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}
    assert (event.old is not None) == has_old and (event.new is not None) == has_new
    if event.old is not None:
        assert event.old.pages == 1
    if event.new is not None:
        assert isinstance(event.new, Visit) and event.new.pages == 2
    assert event.sequence_number == "42" and event.table == "p-visits"


def test_an_image_that_does_not_fit_names_table_and_key() -> None:
    bad = {**KEYS, "pages": {"S": "many"}}
    with pytest.raises(ValidationFailed) as info:
        decode_record(Visit, record("INSERT", "NEW_IMAGE", NewImage=bad), table="p-visits")
    assert info.value.table == "p-visits" and info.value.key == KEYS


def test_not_a_record() -> None:
    with pytest.raises(StreamError, match="not a DynamoDB Streams record"):
        decode_record(Visit, {"eventName": "INSERT"}, table="visits")


def test_parse_time_accepts_every_form() -> None:
    expected = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert parse_time(1700000000) == expected
    assert parse_time("1700000000") == expected
    assert parse_time(expected.astimezone(timezone(timedelta(hours=2)))) == expected
    assert parse_time(expected.replace(tzinfo=None)) == expected
    with pytest.raises(StreamError):
        parse_time(object())


def test_change_event_is_frozen() -> None:
    event: ChangeEvent[Visit] = decode_record(Visit, record("MODIFY", "KEYS_ONLY"), table="v")
    with pytest.raises(AttributeError):
        event.kind = "insert"  # type: ignore[misc]


SHARD = Shard("arn:aws:dynamodb:us-east-1:1:table/visits/stream/x", "s1")


def visit_record(seq: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"Keys": KEYS, "NewImage": NEW,
                                                 "SequenceNumber": str(seq)}}


async def test_reader_recovers_from_expired_and_trimmed_iterators(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script: list[Any] = [
        {"Records": [visit_record(1)], "NextShardIterator": "it-2"},
        ServiceError("expired", code="ExpiredIteratorException", operation="GetRecords"),
        {"Records": [visit_record(2)], "NextShardIterator": "it-3"},
        ServiceError("trimmed", code="TrimmedDataAccessException", operation="GetRecords"),
        {"Records": [visit_record(3)]},  # no NextShardIterator: the shard is closed
    ]

    def answer(op: str, req: dict[str, Any]) -> dict[str, Any]:
        if op == "GetShardIterator":
            return {"ShardIterator": f"it-{req['ShardIteratorType']}"}
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return dict(step)

    transport = MockTransport(answer)
    listener = StreamListener(Visit)
    seen: list[str] = []

    @listener.on(Visit)
    async def handle(event: ChangeEvent[Visit]) -> None:
        seen.append(event.sequence_number)

    store = InMemoryCheckpoints()
    async with dynorm.connect(transport=transport) as conn:
        reader = ShardReader(conn, SHARD, Visit, "visits", listener.dispatcher, store,
                             start="TRIM_HORIZON", poll_interval=0.0, batch_size=100)
        assert await reader.run() == "finished"
    assert seen == ["1", "2", "3"]
    iterator_requests = [r for op, r in transport.requests if op == "GetShardIterator"]
    assert [r["ShardIteratorType"] for r in iterator_requests] == [
        "TRIM_HORIZON", "AFTER_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]
    assert [r.get("SequenceNumber") for r in iterator_requests] == [None, "1", "2"]
    assert "shard iterator expired" in caplog.text and "trimmed" in caplog.text
    checkpoint = await store.load(SHARD.stream_arn, "s1")
    assert checkpoint is not None and checkpoint.finished and checkpoint.sequence_number == "3"


async def test_reader_resumes_after_checkpoint() -> None:
    transport = MockTransport(lambda op, req: {"ShardIterator": "x"} if op == "GetShardIterator"
                              else {"Records": []})
    store = InMemoryCheckpoints()
    await store.save(SHARD.stream_arn, "s1", "77")
    async with dynorm.connect(transport=transport) as conn:
        reader = ShardReader(conn, SHARD, Visit, "visits", StreamListener(Visit).dispatcher,
                             store, start="LATEST", poll_interval=0.0, batch_size=10)
        assert await reader.run() == "finished"
    assert transport.requests[0] == ("GetShardIterator", {
        "StreamArn": SHARD.stream_arn, "ShardId": "s1",
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "77"})
