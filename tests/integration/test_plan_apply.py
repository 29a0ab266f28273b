"""plan() and apply() against real servers: drift found, changes made, then nothing left.

``DYNORM_PLAN_ITEMS`` sets the size of the populated table of the main scenario (2,000 by
default, to keep CI fast; issue 20's done-means run used 20,000).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
import pytest_asyncio

import dynorm
from dynorm import (
    TTL,
    Connection,
    GlobalIndex,
    LocalIndex,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
)
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings
from dynorm.tables import ApplyProgress, Plan, PlanError, apply, plan

ITEMS = int(os.environ.get("DYNORM_PLAN_ITEMS", "2000"))
FAST: dict[str, Any] = {"poll_interval": 0.05}


class TicketV1(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    owner: str
    expires_at: int | None = None


class TicketV2(Model, table="tickets", settings=TableSettings(stream="NEW_AND_OLD_IMAGES")):
    """TicketV1 a release later: a GSI for a new access pattern, a TTL, a stream."""

    ticket_id: Annotated[str, PartitionKey]
    owner: str
    expires_at: Annotated[int | None, TTL] = None
    by_owner = GlobalIndex("owner", projection="KEYS_ONLY")


async def applied(*models: type[Model], **options: Any) -> Plan:
    """Plan, apply, and check the tables are then up to date; the plan applied."""
    found = await plan(*models)
    await apply(found, **FAST, **options)
    again = await plan(*models)
    assert not again, str(again)
    return found


async def test_a_populated_table_gains_an_index_ttl_and_stream(
        dynorm_connection: Connection) -> None:
    await applied(TicketV1)
    async with dynorm.batch() as batch:
        for i in range(ITEMS):
            batch.save(TicketV1(ticket_id=f"t{i:05}", owner=f"o{i % 20}"))

    found = await plan(TicketV2)
    assert [(c.kind, c.action) for c in found] == [
        ("add_index", "add"), ("stream", "update"), ("ttl", "update")]
    assert [(c.current, c.declared) for c in found] == [
        ("", "pk=owner(S), KEYS_ONLY"), ("off", "NEW_AND_OLD_IMAGES"), ("off", "on expires_at")]
    assert found.tables == ("tickets",) and not found.blocking

    seen: list[ApplyProgress] = []
    done = await apply(found, progress=seen.append, **FAST)
    assert done == found.changes
    assert [(p.number, p.status) for p in seen if p.status in ("started", "done")] == [
        (1, "started"), (1, "done"), (2, "started"), (2, "done"), (3, "started"), (3, "done")]

    assert not await plan(TicketV2)
    # The new index holds the items written before it existed (the backfill).
    assert await TicketV2.by_owner.query(TicketV2.owner == "o3").count() == ITEMS // 20
    desc = (await dynorm_connection.call("DescribeTable", {"TableName": "tickets"}))["Table"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True,
                                           "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = await dynorm_connection.call("DescribeTimeToLive", {"TableName": "tickets"})
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


class Account(Model, table="accounts", settings=TableSettings(
        billing=Provisioned(read=4, write=3), stream="KEYS_ONLY", deletion_protection=True)):
    account_id: Annotated[str, PartitionKey]
    email: str = ""
    region: str = ""
    gone: Annotated[int | None, TTL] = None
    by_email = GlobalIndex("email", projection=["region"])


class AccountLater(Model, table="accounts", settings=TableSettings(
        billing=OnDemand(), deletion_protection=False)):
    """Account, changed in every way DynamoDB allows in place."""

    account_id: Annotated[str, PartitionKey]
    email: str = ""
    region: str = ""
    expires: Annotated[int | None, TTL] = None
    by_email = GlobalIndex("email", projection="ALL")  # re-created: projection differs
    by_region = GlobalIndex("region")


@pytest_asyncio.fixture
async def unprotected(dynorm_connection: Connection) -> AsyncIterator[Connection]:
    """The server's reset deletes every table: leave none protected."""
    yield dynorm_connection
    tables = (await dynorm_connection.call("ListTables", {})).get("TableNames", [])
    for name in tables:
        await dynorm_connection.call("UpdateTable", {"TableName": name,
                                                     "DeletionProtectionEnabled": False})


async def test_every_in_place_change_is_made_and_then_nothing_is_left(
        unprotected: Connection) -> None:
    created = await applied(Account)
    assert [c.kind for c in created] == ["create_table", "ttl"]
    desc = (await unprotected.call("DescribeTable", {"TableName": "accounts"}))["Table"]
    # (DynamoDB Local, like AWS for tables made provisioned, has no BillingModeSummary)
    assert desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == \
        "PROVISIONED"
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert desc["DeletionProtectionEnabled"] is True

    found = await plan(AccountLater)
    assert [c.kind for c in found] == [
        "remove_index", "billing", "add_index", "add_index", "ttl", "deletion_protection"]
    assert [len(c.steps) for c in found] == [1, 1, 1, 1, 2, 1]
    await apply(found, **FAST)
    assert not await plan(AccountLater), str(await plan(AccountLater))
    desc = (await unprotected.call("DescribeTable", {"TableName": "accounts"}))["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted(g["IndexName"] for g in desc["GlobalSecondaryIndexes"]) == [
        "by_email", "by_region"]


@pytest.mark.only_on("dynamodb-local", reason="moto cannot enable a stream on a table whose "
                     "stream was disabled: it keeps the old stream's label and answers "
                     "ResourceInUseException (AWS makes a new stream)")
async def test_a_new_stream_view_type_turns_the_stream_off_and_on(
        dynorm_connection: Connection) -> None:
    class Feed(Model, table="feeds", settings=TableSettings(stream="KEYS_ONLY")):
        feed_id: Annotated[str, PartitionKey]

    class FeedLater(Model, table="feeds", settings=TableSettings(stream="NEW_IMAGE")):
        feed_id: Annotated[str, PartitionKey]

    await applied(Feed)
    before = (await dynorm_connection.call("DescribeTable", {"TableName": "feeds"}))["Table"]
    found = await applied(FeedLater)
    assert [(c.kind, c.current, c.declared, len(c.steps)) for c in found] == [
        ("stream", "KEYS_ONLY", "NEW_IMAGE", 2)]
    after = (await dynorm_connection.call("DescribeTable", {"TableName": "feeds"}))["Table"]
    assert after["LatestStreamArn"] != before["LatestStreamArn"]


async def test_provisioned_capacity_of_the_table_and_an_index(
        dynorm_connection: Connection) -> None:
    class Meter(Model, table="meters", settings=TableSettings(billing=Provisioned(2, 2))):
        meter_id: Annotated[str, PartitionKey]
        site: str = ""
        by_site = GlobalIndex("site")

    class MeterMore(Model, table="meters", settings=TableSettings(
            billing=Provisioned(5, 4), index_throughput={"by_site": Provisioned(3, 1)})):
        meter_id: Annotated[str, PartitionKey]
        site: str = ""
        by_site = GlobalIndex("site")

    await applied(Meter)
    found = await applied(MeterMore)
    assert [(c.kind, c.current, c.declared) for c in found] == [
        ("throughput", "provisioned 2 read / 2 write", "provisioned 5 read / 4 write"),
        ("index_throughput", "provisioned 2 read / 2 write", "provisioned 3 read / 1 write"),
    ]


class Person(Model, table="people", entity="PERSON"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    name: str = ""
    by_name = GlobalIndex("name", projection="KEYS_ONLY")


class Pet(Model, table="people", entity="PET", settings=TableSettings(stream=True)):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    species: str = ""
    by_species = GlobalIndex("species")


async def test_models_sharing_a_table_are_planned_together(
        dynorm_connection: Connection) -> None:
    await dynorm.create_tables(Person)
    found = await plan(Person, Pet)
    assert [(c.kind, c.what.split(" (")[0]) for c in found] == [
        ("add_index", "add global index by_species"), ("stream", "stream")]
    await applied(Person, Pet)
    # Planning one of them alone would remove the other's index: the plan says so.
    alone = await plan(Person)
    assert [c.what.split(" (")[0] for c in alone] == ["remove global index by_species"]

    class Clash(Model, table="people", settings=TableSettings(stream="KEYS_ONLY")):
        pk: Annotated[str, PartitionKey]
        sk: Annotated[str, SortKey]

    with pytest.raises(SchemaError, match="share table 'people' but declare different stream"):
        await plan(Pet, Clash)


async def test_keys_and_local_indexes_block_and_apply_refuses(
        dynorm_connection: Connection) -> None:
    class Reading(Model, table="readings"):
        sensor: Annotated[str, PartitionKey]
        at: Annotated[int, SortKey]
        value: int = 0

    class ReadingLater(Model, table="readings"):
        sensor: Annotated[str, PartitionKey]
        at: Annotated[int, SortKey]
        value: int = 0
        by_value = LocalIndex("value")

    await applied(Reading)
    found = await plan(ReadingLater)
    assert [(c.kind, c.in_place, c.steps) for c in found] == [("local_indexes", False, ())]
    assert "new table" in (found.changes[0].way_out or "")
    with pytest.raises(PlanError, match="local index by_value"):
        await apply(found)
    assert await plan(ReadingLater) == found  # nothing changed


async def test_the_table_prefix_names_the_physical_table(
        dynorm_server: dynorm.LocalServer) -> None:
    dynorm_server.reset()
    async with dynorm_server.connect(table_prefix="staging-") as connection:
        found = await applied(TicketV1)
        assert found.tables == ("staging-tickets",)
        assert found.changes[0].steps[0].request["TableName"] == "staging-tickets"
        names = (await connection.call("ListTables", {}))["TableNames"]
        assert names == ["staging-tickets"]


class Audit(Model, table="audits", settings=TableSettings(
        point_in_time_recovery=True, tags={"team": "risk", "env": "test"})):
    audit_id: Annotated[str, PartitionKey]


@pytest.mark.only_on("moto", reason="DynamoDB Local has neither point-in-time recovery "
                                    "(UnknownOperationException) nor tagging")
async def test_point_in_time_recovery_and_tags(dynorm_connection: Connection) -> None:
    created = await applied(Audit)
    assert [c.kind for c in created] == ["create_table", "point_in_time_recovery"]
    table = (await dynorm_connection.call("DescribeTable", {"TableName": "audits"}))["Table"]
    arn = table["TableArn"]
    await dynorm_connection.call("TagResource", {"ResourceArn": arn, "Tags": [
        {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "bob"}]})
    found = await applied(Audit)
    assert [(c.kind, c.current, c.declared) for c in found] == [
        ("tags", "env=prod, owner=bob, team=risk", "env=test, team=risk")]
    tags = (await dynorm_connection.call("ListTagsOfResource", {"ResourceArn": arn}))["Tags"]
    # Later entries win: moto appends a re-tagged key instead of replacing its value
    # (AWS replaces it), so its list still holds env=prod before env=test.
    assert {t["Key"]: t["Value"] for t in tags} == {"env": "test", "team": "risk"}


@pytest.mark.only_on("dynamodb-local", reason="moto has point-in-time recovery and tags")
async def test_a_server_without_pitr_or_tags_skips_and_notes_them(
        dynorm_connection: Connection) -> None:
    found = await plan(Audit)
    assert [c.kind for c in found] == ["create_table", "point_in_time_recovery"]
    done = await apply(found, **FAST)
    assert [c.kind for c in done] == ["create_table"]  # PITR skipped, with a warning
    again = await plan(Audit)
    assert not again
    assert [n.split(" (")[0] for n in again.notes] == [
        "audits: the server has no point-in-time recovery", "audits: the server has no tagging"]


class Declared(Model, table="plan_declared_stream",
               settings=TableSettings(stream="NEW_IMAGE")):
    declared_id: Annotated[str, PartitionKey]


async def test_create_table_makes_the_declared_table(unprotected: Connection,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    # Billing, capacity, deletion protection and TTL (Account); a stream; PITR and tags
    # (Audit: skipped with a warning where the server has neither, as apply() does).
    await Account.create_table()
    await Declared.create_table()
    await Audit.create_table()
    for model in (Account, Declared, Audit):
        assert not await plan(model), str(await plan(model))
    desc = (await unprotected.call("DescribeTable", {"TableName": "accounts"}))["Table"]
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert desc["DeletionProtectionEnabled"] is True
    desc = (await unprotected.call("DescribeTable",
                                   {"TableName": "plan_declared_stream"}))["Table"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert "declares TableSettings" not in caplog.text
    # An argument may add what the model leaves undeclared, never contradict it.
    with pytest.raises(ValueError, match=r"create_table\(stream=...\) asks for 'KEYS_ONLY' "
                                         r"but the model declares 'NEW_IMAGE'"):
        await Declared.create_table(stream="KEYS_ONLY")
