"""Cursors bound to the key value queried (issue 26), on the server: a page's cursor
continues its own partition only, and only inside the query's sort-key range; and what
each emulator does with a start key outside the key range when nothing checks it."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

import dynorm
from dynorm import Connection, Model, PartitionKey, SortKey
from dynorm.read.pagination import InvalidCursor
from tests.support.backend import on_backend


class Member(Model, table="cbi_members"):
    org: Annotated[str, PartitionKey]
    user: Annotated[str, SortKey]
    n: int = 0


@pytest.mark.dynorm_tables([Member])
async def test_a_cursor_continues_only_its_key_value(dynorm_connection: Connection) -> None:
    async with dynorm.batch() as b:
        for org in ("a", "b"):
            for i in range(1, 5):
                b.save(Member(org=org, user=f"u{i}", n=i))
    first = await Member.query(Member.org == "a").page(size=2)
    assert [m.user for m in first.items] == ["u1", "u2"]
    with pytest.raises(InvalidCursor, match="another 'org' value"):
        await Member.query(Member.org == "b").page(size=2, cursor=first.cursor)
    with pytest.raises(InvalidCursor, match="sort key 'user'"):
        await Member.query(Member.org == "a", Member.user >= "u3").page(cursor=first.cursor)
    # another sort-key condition that holds the position: the cursor continues it
    rest = await Member.query(Member.org == "a", Member.user <= "u3").page(
        size=2, cursor=first.cursor)
    assert [(m.org, m.user) for m in rest.items] == [("a", "u3")]
    assert rest.cursor is None


async def test_a_start_key_of_another_partition_on_the_server(raw_conn: Connection) -> None:
    """Why dynorm checks: moto ignores a start key of another partition and answers the
    queried partition from its start; DynamoDB Local (as AWS) refuses it."""
    await raw_conn.call("CreateTable", {
        "TableName": "cbi_probe", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"},
                                 {"AttributeName": "s", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                      {"AttributeName": "s", "KeyType": "RANGE"}]})
    for p in ("a", "b"):
        for s in ("1", "2", "3"):
            await raw_conn.call("PutItem", {"TableName": "cbi_probe",
                                            "Item": {"p": {"S": p}, "s": {"S": s}}})
    outcome: Any
    try:
        answer = await raw_conn.call("Query", {
            "TableName": "cbi_probe", "KeyConditionExpression": "p = :p",
            "ExpressionAttributeValues": {":p": {"S": "b"}},
            "ExclusiveStartKey": {"p": {"S": "a"}, "s": {"S": "2"}}})
        outcome = [item["p"]["S"] + item["s"]["S"] for item in answer["Items"]]
    except dynorm.RequestRejected:
        outcome = "refused"
    assert outcome == on_backend(moto=["b1", "b2", "b3"], aws="refused")
