"""A table's resource-based policy declared in TableSettings: plan() and apply() create,
change and remove it, then find nothing left."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest

from dynorm import Connection, Model, PartitionKey
from dynorm.schema.settings import TableSettings
from dynorm.tables import apply, plan

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/guarded"


def policy(*principals: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": f"Read{i}", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::123456789012:role/{p}"},
        "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": ARN,
    } for i, p in enumerate(principals)]}


def model(resource_policy: Any) -> type[Model]:
    class Guarded(Model, table="guarded",
                  settings=TableSettings(resource_policy=resource_policy)):
        guarded_id: Annotated[str, PartitionKey]

    return Guarded


async def applied(cls: type[Model]) -> list[tuple[str, str, str]]:
    found = await plan(cls)
    await apply(found, poll_interval=0.05)
    again = await plan(cls)
    assert not again, str(again)
    return [(c.kind, c.current, c.declared) for c in found]


@pytest.mark.only_on("moto", reason="DynamoDB Local has no resource policies")
async def test_resource_policy_is_created_changed_and_removed(
        dynorm_connection: Connection) -> None:
    guarded = model(policy("reader"))
    created = await plan(guarded)
    assert [c.kind for c in created] == ["create_table"]
    (create,) = created.changes[0].steps
    assert create.request["ResourcePolicy"] == json.dumps(policy("reader"))
    await apply(created, poll_interval=0.05)
    # moto ignores CreateTable's ResourcePolicy (AWS attaches it): the next plan puts it
    assert await applied(guarded) == [
        ("resource_policy", "none", "1 statement")]
    arn = (await dynorm_connection.call("DescribeTable", {"TableName": "guarded"})
           )["Table"]["TableArn"]

    async def stored() -> Any:
        answer = await dynorm_connection.call("GetResourcePolicy", {"ResourceArn": arn})
        return json.loads(answer["Policy"])

    assert await stored() == policy("reader")
    assert await applied(model(policy("reader", "auditor"))) == [
        ("resource_policy", "1 statement", "2 statements")]
    assert await stored() == policy("reader", "auditor")
    assert await applied(model({})) == [
        ("resource_policy", "2 statements", "none")]
    assert not await plan(model(None))  # undeclared: not managed, nothing to do


def test_a_resource_policy_must_be_a_policy_document() -> None:
    with pytest.raises(ValueError, match="Statement"):
        TableSettings(resource_policy={"Version": "2012-10-17"})
    assert TableSettings(resource_policy='{"Statement": []}').resource_policy == {
        "Statement": []}
    assert TableSettings(resource_policy="").resource_policy == {}
