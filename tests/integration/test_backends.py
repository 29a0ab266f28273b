"""Where moto differs from AWS, shown on the server itself (raw requests, no dynorm logic).

Each test asserts moto's behaviour when the suite runs on moto and AWS's documented
behaviour on DynamoDB Local (AWS's own emulator), so a change in either emulator shows
up here. docs/testing.md tabulates these differences and names each test. dynorm's
own behaviour is the same on both (it refuses 39-digit numbers, long keys and short
table names before sending, and reads ``StreamEnabled``, not ``LatestStreamArn``).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dynorm import (
    ConditionFailed,
    Connection,
    RequestRejected,
    ServerError,
    ServiceError,
    TableNotFound,
)
from tests.support.backend import BACKEND, on_backend

pytestmark = pytest.mark.skipif(BACKEND not in ("moto", "dynamodb-local"),
                                reason="the expectations are those of moto and DynamoDB Local")

TABLE = "backend_probe"


def _table(name: str = TABLE, *, stream: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    return request


async def _outcome(raw_conn: Connection, operation: str, payload: dict[str, Any]) -> Any:
    """The answer, or the class of dynorm error it was turned into."""
    try:
        return await raw_conn.call(operation, payload)
    except ServiceError as exc:
        return type(exc)


@pytest.fixture
async def table(raw_conn: Connection) -> Connection:
    await raw_conn.call("CreateTable", _table())
    await raw_conn.call("PutItem", {"TableName": TABLE, "Item": {
        "k": {"S": "a"}, "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]},
        "b": {"B": base64.b64encode(b"\x01\x02\x03").decode()},
    }})
    return raw_conn


async def test_size_of_a_missing_attribute(table: Connection) -> None:
    """AWS: the comparison is false. moto: HTTP 500 ("Invalid attribute name")."""
    got = await _outcome(table, "PutItem", {
        "TableName": TABLE, "Item": {"k": {"S": "a"}},
        "ConditionExpression": "size(#m) > :z",
        "ExpressionAttributeNames": {"#m": "missing"},
        "ExpressionAttributeValues": {":z": {"N": "0"}},
    })
    assert got is on_backend(moto=ServerError, aws=ConditionFailed)


async def test_list_index_on_a_name_placeholder_in_a_projection(table: Connection) -> None:
    """AWS: ``#l[1]`` projects one element. moto: "ExpressionAttributeNames unused"."""
    got = await _outcome(table, "GetItem", {
        "TableName": TABLE, "Key": {"k": {"S": "a"}},
        "ProjectionExpression": "#l[1]", "ExpressionAttributeNames": {"#l": "l"},
    })
    assert got == on_backend(moto=RequestRejected, aws={"Item": {"l": {"L": [{"N": "2"}]}}})


async def test_set_beyond_the_end_of_a_list(table: Connection) -> None:
    """AWS appends in index order; moto in the order the actions are written."""
    got = await table.call("UpdateItem", {
        "TableName": TABLE, "Key": {"k": {"S": "a"}},
        "UpdateExpression": "SET #l[10] = :ten, #l[5] = :five",
        "ExpressionAttributeNames": {"#l": "l"},
        "ExpressionAttributeValues": {":ten": {"S": "ten"}, ":five": {"S": "five"}},
        "ReturnValues": "ALL_NEW",
    })
    tail = [v.get("S") for v in got["Attributes"]["l"]["L"][3:]]
    assert tail == on_backend(moto=["ten", "five"], aws=["five", "ten"])


async def test_contains_on_a_binary_value(table: Connection) -> None:
    """AWS: ``contains(b, :sub)`` is true for a byte subsequence of a Binary. moto: false."""
    got = await _outcome(table, "DeleteItem", {
        "TableName": TABLE, "Key": {"k": {"S": "a"}},
        "ConditionExpression": "contains(b, :sub)",
        "ExpressionAttributeValues": {":sub": {"B": base64.b64encode(b"\x02\x03").decode()}},
    })
    assert got == on_backend(moto=ConditionFailed, aws={})


async def test_number_of_39_digits(table: Connection) -> None:
    """AWS refuses more than 38 significant digits; moto stores them."""
    got = await _outcome(table, "PutItem", {
        "TableName": TABLE, "Item": {"k": {"S": "n"}, "n": {"N": "1" * 39}},
    })
    assert got == on_backend(moto={}, aws=RequestRejected)


async def test_page_that_ends_exactly_at_the_limit(table: Connection) -> None:
    """AWS returns a LastEvaluatedKey when Limit stops the page, even with nothing after
    it; moto leaves it out."""
    got = await table.call("Scan", {"TableName": TABLE, "Limit": 1})
    assert got["Count"] == 1
    assert ("LastEvaluatedKey" in got) is on_backend(moto=False, aws=True)


async def test_partition_key_over_2048_bytes(table: Connection) -> None:
    """AWS refuses the key (ValidationException); moto's GetItem answers "no item"."""
    got = await _outcome(table, "GetItem", {"TableName": TABLE, "Key": {"k": {"S": "x" * 2049}}})
    assert got == on_backend(moto={}, aws=RequestRejected)


async def test_query_of_an_index_the_table_lacks(table: Connection) -> None:
    """AWS: ValidationException. moto: ResourceNotFoundException (a missing table)."""
    got = await _outcome(table, "Query", {
        "TableName": TABLE, "IndexName": "nope", "KeyConditionExpression": "k = :k",
        "ExpressionAttributeValues": {":k": {"S": "a"}},
    })
    assert got is on_backend(moto=TableNotFound, aws=RequestRejected)


async def test_table_name_of_two_characters(raw_conn: Connection) -> None:
    """AWS wants 3 to 255 characters; moto creates the table."""
    got = await _outcome(raw_conn, "CreateTable", _table("ab"))
    assert isinstance(got, dict) is on_backend(moto=True, aws=False)


async def test_stream_shard_ids(raw_conn: Connection) -> None:
    """AWS gives each stream its own shards; moto gives every table the same shard id."""
    ids = []
    for name in ("backend_probe_a", "backend_probe_b"):
        await raw_conn.call("CreateTable", _table(name, stream="KEYS_ONLY"))
        desc = await raw_conn.call("DescribeTable", {"TableName": name})
        stream = await raw_conn.call(
            "DescribeStream", {"StreamArn": desc["Table"]["LatestStreamArn"]})
        ids.append(stream["StreamDescription"]["Shards"][0]["ShardId"])
    assert (ids[0] == ids[1]) is on_backend(moto=True, aws=False)


async def test_table_recreated_without_its_stream(raw_conn: Connection) -> None:
    """AWS keeps ``LatestStreamArn`` (the old, disabled stream); moto drops it. Both
    leave out ``StreamSpecification``: only ``StreamEnabled == true`` means a stream."""
    await raw_conn.call("CreateTable", _table(stream="NEW_IMAGE"))
    await raw_conn.call("DeleteTable", {"TableName": TABLE})
    await raw_conn.call("CreateTable", _table())
    desc = (await raw_conn.call("DescribeTable", {"TableName": TABLE}))["Table"]
    assert "StreamSpecification" not in desc
    assert ("LatestStreamArn" in desc) is on_backend(moto=False, aws=True)


async def test_map_with_an_empty_key(raw_conn: Connection) -> None:
    """AWS refuses an empty attribute name, a map key included; moto stores the map
    mangled (``{"": {"N": "1"}}`` comes back as ``{"N": "1"}``). dynorm refuses it."""
    await raw_conn.call("CreateTable", _table())
    got = await _outcome(raw_conn, "PutItem", {"TableName": TABLE, "Item": {
        "k": {"S": "m"}, "m": {"M": {"": {"N": "1"}}}}})
    assert got == on_backend(moto={}, aws=RequestRejected)
    if BACKEND == "moto":
        stored = await raw_conn.call("GetItem", {"TableName": TABLE, "Key": {"k": {"S": "m"}}})
        assert stored["Item"]["m"] == {"M": {"N": "1"}}
