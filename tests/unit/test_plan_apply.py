"""plan() and apply() through MockTransport: what they read, what they send, in order."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    TTL,
    GlobalIndex,
    MockTransport,
    Model,
    PartitionKey,
    ServiceError,
    TableNotFound,
)
from dynorm._types import Request, Response
from dynorm.schema.settings import Provisioned, TableSettings
from dynorm.tables import ApplyProgress, PlanError, apply, plan

ARN = "arn:aws:dynamodb:us-east-1:1:table/dev-users"


class User(Model, table="users", settings=TableSettings(point_in_time_recovery=True,
                                                        tags={"team": "id"})):
    user_id: Annotated[str, PartitionKey]
    email: str = ""
    by_email = GlobalIndex("email", projection="KEYS_ONLY")


class Server:
    """Canned answers for one table that follow the updates it is sent (enough for the
    sequences tested here; the integration tests use real servers)."""

    def __init__(self, *, exists: bool = True, pitr: Any = False) -> None:
        self.table: dict[str, Any] | None = None
        if exists:
            self.table = {
                "TableName": "dev-users", "TableArn": ARN, "TableStatus": "ACTIVE",
                "AttributeDefinitions": [{"AttributeName": "user_id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                "ItemCount": 10,
            }
        self.pitr = pitr
        self.tags: dict[str, str] = {"team": "id"}
        self.backfill: list[dict[str, Any]] = []  # describes to give while creating
        self.unavailable = 0  # ContinuousBackupsUnavailableException answers to give

    def __call__(self, op: str, req: Request) -> Response:
        if op == "DescribeTable":
            if self.table is None:
                raise TableNotFound("not found", code="ResourceNotFoundException", operation=op)
            if self.backfill:
                return {"Table": self.backfill.pop(0)}
            return {"Table": copy.deepcopy(self.table)}
        if op == "DescribeTimeToLive":
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        if op == "DescribeContinuousBackups":
            if isinstance(self.pitr, Exception):
                raise self.pitr
            status = "ENABLED" if self.pitr else "DISABLED"
            return {"ContinuousBackupsDescription": {
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status}}}
        if op == "ListTagsOfResource":
            return {"Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]}
        if op == "UpdateContinuousBackups":
            if self.unavailable:
                self.unavailable -= 1
                raise ServiceError("Backups are being enabled", operation=op,
                                   code="ContinuousBackupsUnavailableException")
            self.pitr = req["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
            return {}
        if op == "UpdateTable" and self.table is not None:
            create = req["GlobalSecondaryIndexUpdates"][0]["Create"]
            self.table["AttributeDefinitions"] = req["AttributeDefinitions"]
            creating = copy.deepcopy(self.table)
            creating["GlobalSecondaryIndexes"] = [
                {**create, "IndexStatus": "CREATING", "Backfilling": True, "ItemCount": 4}]
            self.backfill = [creating]
            self.table["GlobalSecondaryIndexes"] = [{**create, "IndexStatus": "ACTIVE"}]
            return {}
        if op == "CreateTable":
            self.table = {**req, "TableStatus": "ACTIVE", "TableArn": ARN}
            return {}
        return {}


async def run(server: Server, work: Any) -> tuple[Any, list[tuple[str, Request]]]:
    transport = MockTransport(server)
    async with dynorm.connect(transport=transport, table_prefix="dev-"):
        result = await work()
    return result, transport.requests


async def test_plan_reads_only_what_the_declarations_need() -> None:
    found, sent = await run(Server(pitr=True), lambda: plan(User))
    assert sent == [
        ("DescribeTable", {"TableName": "dev-users"}),
        ("DescribeTimeToLive", {"TableName": "dev-users"}),
        ("DescribeContinuousBackups", {"TableName": "dev-users"}),
        ("ListTagsOfResource", {"ResourceArn": ARN}),
    ]
    assert [c.kind for c in found] == ["add_index"]
    assert found.tables == ("dev-users",) and found.models == (User,)


async def test_a_server_without_an_operation_leaves_a_note_not_a_change() -> None:
    unknown = ServiceError("An unknown operation was requested.", operation="X",
                           code="UnknownOperationException")
    found, _ = await run(Server(pitr=unknown), lambda: plan(User))
    assert [c.kind for c in found] == ["add_index"]
    assert found.notes == ("dev-users: the server has no point-in-time recovery "
                           "(UnknownOperationException); not compared",)


async def test_apply_creates_waits_for_the_backfill_and_reports_progress() -> None:
    server = Server(pitr=False)
    server.unavailable = 1
    seen: list[ApplyProgress] = []

    async def work() -> Any:
        found = await plan(User)
        return await apply(found, progress=seen.append, poll_interval=0.01)

    done, sent = await run(server, work)
    assert [c.kind for c in done] == ["add_index", "point_in_time_recovery"]
    writes = [(op, req) for op, req in sent if not op.startswith(("Describe", "List"))]
    assert writes == [
        ("UpdateTable", {
            "TableName": "dev-users",
            "AttributeDefinitions": [{"AttributeName": "email", "AttributeType": "S"},
                                     {"AttributeName": "user_id", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "by_email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}}]}),
        ("UpdateContinuousBackups", {"TableName": "dev-users",
                                     "PointInTimeRecoverySpecification": {
                                         "PointInTimeRecoveryEnabled": True}}),
        ("UpdateContinuousBackups", {"TableName": "dev-users",
                                     "PointInTimeRecoverySpecification": {
                                         "PointInTimeRecoveryEnabled": True}}),
    ]
    assert [(p.number, p.total, p.status) for p in seen] == [
        (1, 2, "started"), (1, 2, "backfilling"), (1, 2, "done"),
        (2, 2, "started"), (2, 2, "waiting"), (2, 2, "done")]
    backfilling = seen[1]
    assert (backfilling.indexed, backfilling.items) == (4, 10)
    assert backfilling.detail == "index by_email CREATING (backfilling)"
    assert server.pitr is True


async def test_apply_creates_a_missing_table_then_its_settings() -> None:
    server = Server(exists=False)

    async def work() -> Any:
        return await apply(await plan(User), poll_interval=0.01)

    done, sent = await run(server, work)
    assert [c.kind for c in done] == ["create_table", "point_in_time_recovery"]
    assert [op for op, _ in sent if not op.startswith("Describe")] == [
        "CreateTable", "UpdateContinuousBackups"]
    create = next(req for op, req in sent if op == "CreateTable")
    assert create["Tags"] == [{"Key": "team", "Value": "id"}]


async def test_a_plan_made_stale_is_refused_before_anything_is_sent() -> None:
    server = Server(pitr=False)

    async def work() -> Any:
        found = await plan(User)
        server.pitr = True  # someone else changed the table meanwhile
        with pytest.raises(PlanError, match="the tables changed since this plan") as info:
            await apply(found)
        return info.value

    error, sent = await run(server, work)
    assert [c.kind for c in error.changes] == ["add_index"]
    assert all(op.startswith(("Describe", "List")) for op, _ in sent)


async def test_blocking_changes_are_refused_unless_skipped() -> None:
    server = Server(pitr=True)
    assert server.table is not None
    server.table["KeySchema"] = [{"AttributeName": "email", "KeyType": "HASH"}]
    server.table["AttributeDefinitions"] = [{"AttributeName": "email", "AttributeType": "S"}]

    async def work() -> Any:
        found = await plan(User)
        with pytest.raises(PlanError, match="cannot make in place; nothing was changed"):
            await apply(found)
        return await apply(found, skip_blocking=True, poll_interval=0.01)

    done, sent = await run(server, work)
    assert [c.kind for c in done] == ["add_index"]
    assert [op for op, _ in sent if op == "UpdateTable"] == ["UpdateTable"]


async def test_plan_needs_models_with_a_table() -> None:
    class NoTable(Model):
        x: Annotated[str, PartitionKey]

    with pytest.raises(ValueError, match="at least one model"):
        await plan()
    with pytest.raises(dynorm.SchemaError, match="NoTable has no table"):
        await run(Server(), lambda: plan(NoTable))


class Order(Model, table="users", settings=TableSettings(
        billing=Provisioned(read=4, write=2), index_throughput={"by_email": Provisioned(1, 1)},
        stream=True, point_in_time_recovery=True, table_class="STANDARD_INFREQUENT_ACCESS",
        deletion_protection=True, encryption="KMS", kms_key="alias/orders",
        tags={"team": "id"})):
    """Every declared setting (the table name is User's: the fake server has one table)."""

    user_id: Annotated[str, PartitionKey]
    email: str = ""
    expires: Annotated[int | None, TTL] = None
    by_email = GlobalIndex("email", projection="KEYS_ONLY")


async def test_create_table_sends_the_declared_settings_then_ttl_and_pitr() -> None:
    server = Server(exists=False)
    _, sent = await run(server, Order.create_table)
    assert sent == [
        ("CreateTable", {
            "TableName": "dev-users",
            "AttributeDefinitions": [{"AttributeName": "user_id", "AttributeType": "S"},
                                     {"AttributeName": "email", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2},
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_email",
                "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
            "StreamSpecification": {"StreamEnabled": True,
                                    "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TableClass": "STANDARD_INFREQUENT_ACCESS",
            "DeletionProtectionEnabled": True,
            "SSESpecification": {"Enabled": True, "SSEType": "KMS",
                                 "KMSMasterKeyId": "alias/orders"},
            "Tags": [{"Key": "team", "Value": "id"}]}),
        ("DescribeTable", {"TableName": "dev-users"}),          # until ACTIVE
        ("DescribeTimeToLive", {"TableName": "dev-users"}),
        ("UpdateTimeToLive", {"TableName": "dev-users", "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "expires"}}),
        ("DescribeTable", {"TableName": "dev-users"}),          # ACTIVE again
        ("UpdateContinuousBackups", {"TableName": "dev-users",
                                     "PointInTimeRecoverySpecification": {
                                         "PointInTimeRecoveryEnabled": True}}),
    ]
    # The same request plan() would make it with: one builder.
    found, _ = await run(Server(exists=False), lambda: plan(Order))
    assert found.changes[0].steps[0].request == sent[0][1]


async def test_create_table_arguments_fill_in_and_never_contradict_the_settings() -> None:
    _, sent = await run(Server(exists=False), lambda: User.create_table(
        billing_mode="PROVISIONED", read_capacity=3, stream="KEYS_ONLY", wait=False))
    create = sent[0][1]
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 3, "WriteCapacityUnits": 5}
    assert create["StreamSpecification"] == {"StreamEnabled": True,
                                             "StreamViewType": "KEYS_ONLY"}
    with pytest.raises(ValueError, match=r"Order: create_table\(billing=...\) asks for "
                                         r"OnDemand\(.*\) but the model declares Provisioned"):
        await run(Server(exists=False), lambda: Order.create_table(
            billing_mode="PAY_PER_REQUEST"))
    with pytest.raises(ValueError, match="need billing_mode='PROVISIONED'"):
        await run(Server(exists=False), lambda: User.create_table(read_capacity=3))
