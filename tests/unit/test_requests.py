"""The exact request dicts dynorm sends, through MockTransport (no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import GlobalIndex, MockTransport, Model, PartitionKey, SortKey, Version
from dynorm._types import Request, Response
from dynorm.tables import create_table_request

T = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)


class Score(Model, table="scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    status: str = "new"
    version: Annotated[int, Version] = 0
    by_game = GlobalIndex("game", "score", projection=["status"])


class Note(Model, table="notes"):
    id: Annotated[str, PartitionKey]
    text: str = ""
    at: datetime | None = None


ITEM = {"user_id": {"S": "u1"}, "game": {"S": "go"}, "score": {"N": "3"},
        "status": {"S": "new"}, "version": {"N": "1"}}


def answer(operation: str, request: Request) -> Response:
    if operation == "GetItem":
        return {"Item": ITEM}
    if operation == "UpdateItem":
        return {"Attributes": {**ITEM, "version": {"N": "2"}}}
    if operation == "Query":
        return {"Items": [ITEM], "Count": 1}
    return {}


@pytest.fixture
async def sent() -> AsyncIterator[list[tuple[str, Request]]]:
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, table_prefix="dev-"):
        yield transport.requests


async def test_get(sent: list[tuple[str, Request]]) -> None:
    await Score.get("u1", "go", consistent=True)
    assert sent == [("GetItem", {
        "TableName": "dev-scores",
        "Key": {"user_id": {"S": "u1"}, "game": {"S": "go"}},
        "ConsistentRead": True,
    })]


async def test_save_new_versioned_item(sent: list[tuple[str, Request]]) -> None:
    await Score(user_id="u1", game="go", score=3).save()
    assert sent == [("PutItem", {
        "TableName": "dev-scores",
        "Item": ITEM,
        "ConditionExpression": "attribute_not_exists(#n0)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n0": "version"},
    })]


async def test_save_loaded_item_with_condition(sent: list[tuple[str, Request]]) -> None:
    s = await Score.get("u1", "go")
    await s.save(condition=Score.status == "new")
    assert sent[1] == ("PutItem", {
        "TableName": "dev-scores",
        "Item": {**ITEM, "version": {"N": "2"}},
        "ConditionExpression": "#n0 = :v0 AND #n1 = :v1",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n0": "version", "#n1": "status"},
        "ExpressionAttributeValues": {":v0": {"N": "1"}, ":v1": {"S": "new"}},
    })


async def test_save_unversioned_without_condition(sent: list[tuple[str, Request]]) -> None:
    await Note(id="n1", text="hi", at=T).save()
    assert sent == [("PutItem", {
        "TableName": "dev-notes",
        "Item": {"id": {"S": "n1"}, "text": {"S": "hi"},
                 "at": {"S": "2026-11-25T01:00:00.000000Z"}},
    })]


async def test_delete(sent: list[tuple[str, Request]]) -> None:
    await Note(id="n1").delete(condition=Note.text == "")
    assert sent == [("DeleteItem", {
        "TableName": "dev-notes",
        "Key": {"id": {"S": "n1"}},
        "ConditionExpression": "#n0 = :v0",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n0": "text"},
        "ExpressionAttributeValues": {":v0": {"S": ""}},
    })]


async def test_update_item(sent: list[tuple[str, Request]]) -> None:
    await Score.update_item(("u1", "go"), Score.score.add(5), Score.status.set("played"))
    assert sent == [("UpdateItem", {
        "TableName": "dev-scores",
        "Key": {"user_id": {"S": "u1"}, "game": {"S": "go"}},
        "UpdateExpression": "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) + :v2 ADD #n2 :v3",
        "ConditionExpression": "attribute_exists(#n3)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ReturnValues": "ALL_NEW",
        "ExpressionAttributeNames": {"#n0": "status", "#n1": "version", "#n2": "score",
                                     "#n3": "user_id"},
        "ExpressionAttributeValues": {":v0": {"S": "played"}, ":v1": {"N": "0"},
                                      ":v2": {"N": "1"}, ":v3": {"N": "5"}},
    })]


async def test_query_on_index_with_filter_projection(sent: list[tuple[str, Request]]) -> None:
    q = (Score.by_game.query(Score.game == "go", Score.score >= 10)
         .filter(Score.status == "new").project(Score.status).reverse().page_size(25))
    await q.to_list()
    assert sent == [("Query", {
        "TableName": "dev-scores",
        "IndexName": "by_game",
        "KeyConditionExpression": "#n0 = :v0 AND #n1 >= :v1",
        "FilterExpression": "#n2 = :v2",
        "ProjectionExpression": "#n2, #n3, #n0, #n1",
        "Limit": 25,
        "ScanIndexForward": False,
        "ExpressionAttributeNames": {"#n0": "game", "#n1": "score", "#n2": "status",
                                     "#n3": "user_id"},
        "ExpressionAttributeValues": {":v0": {"S": "go"}, ":v1": {"N": "10"},
                                      ":v2": {"S": "new"}},
    })]


async def test_count_and_limit(sent: list[tuple[str, Request]]) -> None:
    assert await Score.query(Score.user_id == "u1").count() == 1
    await Score.query(Score.user_id == "u1").limit(3).to_list()
    assert sent[0][1]["Select"] == "COUNT"
    assert sent[1][1]["Limit"] == 3  # no filter: never read more than needed


async def test_parallel_scan_requests(sent: list[tuple[str, Request]]) -> None:
    await Note.scan().segments(3).to_list()
    assert sorted((r["Segment"], r["TotalSegments"]) for _, r in sent) == [(0, 3), (1, 3), (2, 3)]


def test_create_table_request() -> None:
    req = create_table_request(Score._meta(), "dev-scores", stream="NEW_IMAGE")
    assert req == {
        "TableName": "dev-scores",
        "AttributeDefinitions": [
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "game", "AttributeType": "S"},
            {"AttributeName": "score", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                      {"AttributeName": "game", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_game",
            "KeySchema": [{"AttributeName": "game", "KeyType": "HASH"},
                          {"AttributeName": "score", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
        }],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


def test_provisioned_create_table_request() -> None:
    req = create_table_request(Note._meta(), "notes", billing_mode="PROVISIONED",
                               read_capacity=2, write_capacity=1)
    assert req["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}
    assert "GlobalSecondaryIndexes" not in req


async def test_identical_requests_compile_identically() -> None:
    def build() -> Any:
        return (Score.by_game.query(Score.game == "go").filter(
            (Score.status == "a") | ~(Score.status.begins_with("b")))._op("t", None, None, False)
        ).to_request()
    assert build() == build()


def test_stream_true_means_new_and_old_images_and_nonsense_is_refused() -> None:
    spec = create_table_request(Note._meta(), "notes", stream=True)["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    for off in (None, False):
        assert "StreamSpecification" not in create_table_request(Note._meta(), "n", stream=off)
    with pytest.raises(ValueError, match="stream must be True or one of NEW_IMAGE, OLD_IMAGE"):
        create_table_request(Note._meta(), "notes", stream="NEW")  # type: ignore[arg-type]


@pytest.mark.parametrize("table", [
    {},                                                            # never had a stream
    {"LatestStreamArn": "arn:old"},                                # re-created without one
    {"LatestStreamArn": "arn:old", "StreamSpecification": {"StreamEnabled": False}},
])
async def test_a_stream_is_on_only_when_stream_enabled_is_true(table: dict[str, Any]) -> None:
    from dynorm import StreamNotEnabled
    from dynorm.streams.shards import stream_arn

    transport = MockTransport(lambda op, req: {"Table": {"TableName": "notes", **table}})
    async with dynorm.connect(transport=transport) as conn:
        with pytest.raises(StreamNotEnabled, match="table 'notes' has no stream"):
            await stream_arn(conn, "notes")


async def test_an_enabled_stream_gives_its_arn() -> None:
    from dynorm.streams.shards import stream_arn

    table = {"TableName": "notes", "LatestStreamArn": "arn:s",
             "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}
    transport = MockTransport(lambda op, req: {"Table": table})
    async with dynorm.connect(transport=transport) as conn:
        assert await stream_arn(conn, "notes") == "arn:s"
