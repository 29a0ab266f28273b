"""A collection's query is a sync builder with async readers, like Query: exact requests
through MockTransport (against a server: tests/integration/test_single_table.py)."""

from __future__ import annotations

from typing import Any

import pytest

import dynorm
from dynorm import (
    Collection,
    ExpressionError,
    InvalidKey,
    MockTransport,
    Model,
    PartitionKey,
    SortKey,
)
from dynorm.collection import CollectionQuery, CollectionResult


class Member(Model, table="c_shop", entity="member"):
    pk = PartitionKey("SHOP#{shop}")
    sk = SortKey("MEMBER#{name}")
    shop: str
    name: str


class Item(Model, table="c_shop", entity="item"):
    pk = PartitionKey("SHOP#{shop}")
    sk = SortKey("ITEM#{sku}")
    shop: str
    sku: str


def stored(entity: str, sk: str, **fields: str) -> dict[str, Any]:
    item = {"pk": {"S": "SHOP#s1"}, "sk": {"S": sk}, "_type": {"S": entity}}
    return item | {k: {"S": v} for k, v in fields.items()}


#: two DynamoDB responses: a member and an unknown entity, then an item
PAGES = [
    {"Items": [stored("member", "MEMBER#ann", shop="s1", name="ann"),
               stored("ghost", "X#1")], "LastEvaluatedKey": {"pk": {"S": "SHOP#s1"}}},
    {"Items": [stored("item", "ITEM#tea", shop="s1", sku="tea")]},
]


def paged(op: str, req: dict[str, Any]) -> dict[str, Any]:
    return PAGES[1] if "ExclusiveStartKey" in req else PAGES[0]


async def test_building_sends_nothing_and_returns_new_queries() -> None:
    transport = MockTransport(paged)
    async with dynorm.connect(transport=transport):
        query = Collection(Member, Item).query(shop="s1")
        refined = query.consistent().reverse().limit(5)
        assert isinstance(query, CollectionQuery) and refined is not query
        with pytest.raises(ExpressionError, match="limit must be at least 1"):
            query.limit(0)
        with pytest.raises(InvalidKey, match="needs shop"):
            Collection(Member, Item).query(sku="x")
    assert transport.requests == []


async def test_the_request_and_the_readers() -> None:
    transport = MockTransport(paged)
    async with dynorm.connect(transport=transport, table_prefix="t-"):
        query = Collection(Member, Item).query(shop="s1")
        result = await query.consistent().reverse().fetch()
        assert isinstance(result, CollectionResult) and result.skipped == 1
        assert [type(x) for x in result] == [Member, Item]
        assert await query.to_list() == result.items
        assert [x async for x in query] == result.items
        assert await query.first() == result.items[0]
        pages = [page async for page in query.pages()]
        assert [len(p) for p in pages] == [1, 1] and [p.skipped for p in pages] == [1, 0]
    op, first = transport.requests[0]
    assert op == "Query"
    assert first == {
        "TableName": "t-c_shop",
        "KeyConditionExpression": "#n0 = :v0",
        "FilterExpression": "#n1 IN (:v1, :v2)",
        "ExpressionAttributeNames": {"#n0": "pk", "#n1": "_type"},
        "ExpressionAttributeValues": {":v0": {"S": "SHOP#s1"}, ":v1": {"S": "member"},
                                      ":v2": {"S": "item"}},
        "ScanIndexForward": False,
        "ConsistentRead": True,
    }
    assert transport.requests[1][1]["ExclusiveStartKey"] == {"pk": {"S": "SHOP#s1"}}
    assert "ConsistentRead" not in transport.requests[2][1]


async def test_limit_stops_reading() -> None:
    transport = MockTransport(paged)
    async with dynorm.connect(transport=transport):
        assert [type(x) for x in await Collection(Member, Item).query(shop="s1")
                .limit(1).to_list()] == [Member]
    assert len(transport.requests) == 1  # the first response had enough
