"""dynorm.plan()'s pure core: declarations x table descriptions -> changes with exact requests."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import pytest

from dynorm import TTL, GlobalIndex, LocalIndex, Model, PartitionKey, SchemaError, SortKey
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings, merge_settings
from dynorm.tables import Change, Plan, Step
from dynorm.tables.desired import desired_table
from dynorm.tables.diff import diff
from dynorm.tables.state import TableState

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/dev-orders"


class Order(Model, table="orders"):
    customer: Annotated[str, PartitionKey]
    order_id: Annotated[str, SortKey]
    status: str = "new"
    total: int = 0
    expires: Annotated[int | None, TTL] = None
    by_status = GlobalIndex("status", "total", projection=["customer"])
    by_total = LocalIndex("total", projection="KEYS_ONLY")


def described(**overrides: Any) -> dict[str, Any]:
    """DescribeTable's Table for dev-orders as Order declares it (on-demand, no stream)."""
    table: dict[str, Any] = {
        "TableName": "dev-orders",
        "TableArn": ARN,
        "TableStatus": "ACTIVE",
        "AttributeDefinitions": [
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "total", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                      {"AttributeName": "order_id", "KeyType": "RANGE"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_status", "IndexStatus": "ACTIVE",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "total", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["customer"]},
            "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        }],
        "LocalSecondaryIndexes": [{
            "IndexName": "by_total",
            "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                          {"AttributeName": "total", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        "DeletionProtectionEnabled": False,
    }
    table.update(overrides)
    return table


TTL_ON = {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def changes_for(settings: TableSettings | None = None, *, table: dict[str, Any] | None,
                ttl: dict[str, Any] | None = None, pitr: bool | None = None,
                tags: dict[str, str] | None = None, model: type[Model] = Order,
                ) -> list[Change]:
    settings = settings or TableSettings()
    state = TableState("dev-orders", table, TTL_ON if ttl is None else ttl, pitr, tags)
    live = None
    if table is not None and table.get("BillingModeSummary", {}).get(
            "BillingMode") == "PROVISIONED":
        live = Provisioned(table["ProvisionedThroughput"]["ReadCapacityUnits"],
                           table["ProvisionedThroughput"]["WriteCapacityUnits"])
    desired = desired_table([model._meta()], settings, "dev-orders", live_billing=live)
    found, _ = diff(desired, state)
    return found


def requests(changes: list[Change]) -> list[tuple[str, dict[str, Any]]]:
    return [(s.operation, s.request) for c in changes for s in c.steps]


def test_an_up_to_date_table_has_no_changes() -> None:
    assert changes_for(table=described()) == []


def test_a_missing_table_is_created_with_its_settings_then_ttl_and_pitr() -> None:
    settings = TableSettings(
        billing=Provisioned(read=10, write=5), stream=True, point_in_time_recovery=True,
        table_class="STANDARD_INFREQUENT_ACCESS", deletion_protection=True,
        encryption="KMS", kms_key="key-1", tags={"team": "shop", "env": "dev"},
        index_throughput={"by_status": Provisioned(read=3, write=2)})
    changes = changes_for(settings, table=None)
    assert [c.kind for c in changes] == ["create_table", "ttl", "point_in_time_recovery"]
    assert requests(changes) == [
        ("CreateTable", {
            "TableName": "dev-orders",
            "AttributeDefinitions": [
                {"AttributeName": "customer", "AttributeType": "S"},
                {"AttributeName": "order_id", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "total", "AttributeType": "N"},
            ],
            "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                          {"AttributeName": "order_id", "KeyType": "RANGE"}],
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5},
            "GlobalSecondaryIndexes": [{
                "IndexName": "by_status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "total", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["customer"]},
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 2},
            }],
            "LocalSecondaryIndexes": [{
                "IndexName": "by_total",
                "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                              {"AttributeName": "total", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
            "StreamSpecification": {"StreamEnabled": True,
                                    "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TableClass": "STANDARD_INFREQUENT_ACCESS",
            "DeletionProtectionEnabled": True,
            "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "key-1"},
            "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "shop"}],
        }),
        ("UpdateTimeToLive", {"TableName": "dev-orders", "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "expires"}}),
        ("UpdateContinuousBackups", {"TableName": "dev-orders",
                                     "PointInTimeRecoverySpecification": {
                                         "PointInTimeRecoveryEnabled": True}}),
    ]
    assert changes[0].steps[0].waits and not changes[1].steps[0].waits


def test_an_added_gsi_is_one_update_with_every_key_definition() -> None:
    table = described(GlobalSecondaryIndexes=[])
    changes = changes_for(table=table)
    assert [(c.kind, c.action, c.in_place) for c in changes] == [("add_index", "add", True)]
    assert changes[0].steps == (Step("UpdateTable", {
        "TableName": "dev-orders",
        "AttributeDefinitions": [
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "total", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexUpdates": [{"Create": {
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "total", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["customer"]},
        }}],
    }, index="by_status"),)
    assert str(changes[0]) == ("+ add global index by_status (backfilled from the existing "
                               "items): pk=status(S), sk=total(N), INCLUDE customer")


def test_an_undeclared_gsi_is_removed_and_a_changed_one_re_created() -> None:
    table = described()
    extra = copy.deepcopy(table["GlobalSecondaryIndexes"][0])
    extra["IndexName"] = "old_index"
    table["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "ALL"}
    table["GlobalSecondaryIndexes"].append(extra)
    changes = changes_for(table=table)
    assert [(c.kind, c.steps[0].request["GlobalSecondaryIndexUpdates"][0].keys())
            for c in changes] == [("remove_index", {"Delete"}), ("remove_index", {"Delete"}),
                                  ("add_index", {"Create"})]
    assert [c.steps[0].request["GlobalSecondaryIndexUpdates"][0] for c in changes[:2]] == [
        {"Delete": {"IndexName": "by_status"}}, {"Delete": {"IndexName": "old_index"}}]
    assert "re-create" in changes[0].what and changes[0].current == "pk=status(S), sk=total(N), ALL"


def test_a_gsi_being_deleted_counts_as_gone() -> None:
    table = described()
    table["GlobalSecondaryIndexes"][0]["IndexStatus"] = "DELETING"
    assert [c.kind for c in changes_for(table=table)] == ["add_index"]


def test_switching_to_provisioned_sets_every_remaining_index_in_the_same_request() -> None:
    settings = TableSettings(billing=Provisioned(read=4, write=2))
    changes = changes_for(settings, table=described())
    assert requests(changes) == [("UpdateTable", {
        "TableName": "dev-orders",
        "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2},
        "BillingMode": "PROVISIONED",
        "GlobalSecondaryIndexUpdates": [{"Update": {
            "IndexName": "by_status",
            "ProvisionedThroughput": {"ReadCapacityUnits": 4, "WriteCapacityUnits": 2}}}],
    })]
    assert (changes[0].current, changes[0].declared) == ("on-demand",
                                                         "provisioned 4 read / 2 write")


def provisioned_table(read: int, write: int, index: tuple[int, int]) -> dict[str, Any]:
    table = described(BillingModeSummary={"BillingMode": "PROVISIONED"},
                      ProvisionedThroughput={"ReadCapacityUnits": read,
                                             "WriteCapacityUnits": write})
    table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] = {
        "ReadCapacityUnits": index[0], "WriteCapacityUnits": index[1]}
    return table


def test_capacity_changes_on_a_provisioned_table() -> None:
    settings = TableSettings(billing=Provisioned(read=4, write=2),
                             index_throughput={"by_status": Provisioned(read=1, write=1)})
    changes = changes_for(settings, table=provisioned_table(4, 3, (2, 2)))
    assert requests(changes) == [
        ("UpdateTable", {"TableName": "dev-orders", "ProvisionedThroughput": {
            "ReadCapacityUnits": 4, "WriteCapacityUnits": 2}}),
        ("UpdateTable", {"TableName": "dev-orders", "GlobalSecondaryIndexUpdates": [
            {"Update": {"IndexName": "by_status", "ProvisionedThroughput": {
                "ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}]}),
    ]
    assert [c.kind for c in changes] == ["throughput", "index_throughput"]


def test_unmanaged_billing_keeps_a_provisioned_table_and_its_index_capacity() -> None:
    # No billing declared: the live table's mode and capacity stand, new indexes get it.
    assert changes_for(table=provisioned_table(7, 7, (2, 2))) == []
    table = provisioned_table(7, 6, (2, 2))
    table["GlobalSecondaryIndexes"] = []
    create = requests(changes_for(table=table))[0][1]["GlobalSecondaryIndexUpdates"][0]
    assert create["Create"]["ProvisionedThroughput"] == {"ReadCapacityUnits": 7,
                                                         "WriteCapacityUnits": 6}


def test_back_to_on_demand_with_maxima() -> None:
    settings = TableSettings(billing=OnDemand(max_read=100))
    changes = changes_for(settings, table=provisioned_table(4, 3, (2, 2)))
    assert requests(changes) == [("UpdateTable", {
        "TableName": "dev-orders", "BillingMode": "PAY_PER_REQUEST",
        "OnDemandThroughput": {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": -1}})]
    limited = described(OnDemandThroughput={"MaxReadRequestUnits": 100,
                                            "MaxWriteRequestUnits": -1})
    assert changes_for(settings, table=limited) == []
    assert requests(changes_for(TableSettings(billing=OnDemand()), table=limited)) == [
        ("UpdateTable", {"TableName": "dev-orders", "OnDemandThroughput": {
            "MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1}})]


def test_stream_on_off_and_a_new_view_type_in_two_steps() -> None:
    on = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    enable = ("UpdateTable", {"TableName": "dev-orders", "StreamSpecification": {
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}})
    disable = ("UpdateTable", {"TableName": "dev-orders",
                               "StreamSpecification": {"StreamEnabled": False}})
    assert requests(changes_for(TableSettings(stream="NEW_IMAGE"), table=described())) == [
        enable]
    assert requests(changes_for(TableSettings(stream=False),
                                table=described(StreamSpecification=on))) == [disable]
    assert requests(changes_for(TableSettings(stream="NEW_IMAGE"),
                                table=described(StreamSpecification=on))) == [disable, enable]
    # Not declared: whatever stream the table has stays.
    assert changes_for(table=described(StreamSpecification=on)) == []


def test_ttl_off_on_and_renamed() -> None:
    def ttl_requests(ttl: dict[str, Any], model: type[Model] = Order) -> list[Any]:
        return [r["TimeToLiveSpecification"] for _, r in requests(
            changes_for(table=described(), ttl=ttl, model=model))]

    assert ttl_requests({"TimeToLiveStatus": "DISABLED"}) == [
        {"Enabled": True, "AttributeName": "expires"}]
    assert ttl_requests({"TimeToLiveStatus": "ENABLED", "AttributeName": "gone"}) == [
        {"Enabled": False, "AttributeName": "gone"},
        {"Enabled": True, "AttributeName": "expires"}]
    assert ttl_requests({"TimeToLiveStatus": "ENABLING", "AttributeName": "expires"}) == []

    class NoTtl(Model, table="orders"):
        customer: Annotated[str, PartitionKey]
        order_id: Annotated[str, SortKey]
        status: str = "new"
        total: int = 0
        by_status = GlobalIndex("status", "total", projection=["customer"])
        by_total = LocalIndex("total", projection="KEYS_ONLY")

    assert ttl_requests(TTL_ON, NoTtl) == [{"Enabled": False, "AttributeName": "expires"}]
    # A server that cannot describe TTL (noted by read_state): not compared.
    assert changes_for(table=described(), ttl={}) == []


def test_key_schema_and_local_index_differences_block_with_the_way_out() -> None:
    table = described(KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"}],
                      LocalSecondaryIndexes=[])
    changes = changes_for(table=table)
    assert [(c.kind, c.in_place, c.steps, c.action) for c in changes] == [
        ("key_schema", False, (), "blocking"), ("local_indexes", False, (), "blocking")]
    assert changes[0].current == "customer(S)"
    assert changes[0].declared == "customer(S), order_id(S)"
    assert all("new table" in (c.way_out or "") for c in changes)
    assert str(changes[0]).startswith("! table key (DynamoDB cannot change it): customer(S) ->")


def test_settings_pitr_class_encryption_protection() -> None:
    settings = TableSettings(point_in_time_recovery=True, table_class="STANDARD",
                             encryption="AWS_OWNED", deletion_protection=True)
    changes = changes_for(settings, table=described(), pitr=False)
    assert requests(changes) == [
        ("UpdateContinuousBackups", {"TableName": "dev-orders",
                                     "PointInTimeRecoverySpecification": {
                                         "PointInTimeRecoveryEnabled": True}}),
        ("UpdateTable", {"TableName": "dev-orders", "DeletionProtectionEnabled": True}),
    ]
    kms = described(SSEDescription={"Status": "ENABLED", "SSEType": "KMS",
                                    "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/k-9"},
                    TableClassSummary={"TableClass": "STANDARD_INFREQUENT_ACCESS"})
    assert requests(changes_for(settings, table=kms, pitr=None)) == [
        ("UpdateTable", {"TableName": "dev-orders", "TableClass": "STANDARD"}),
        ("UpdateTable", {"TableName": "dev-orders", "SSESpecification": {"Enabled": False}}),
        ("UpdateTable", {"TableName": "dev-orders", "DeletionProtectionEnabled": True}),
    ]
    same_key = TableSettings(encryption="KMS", kms_key="k-9")
    assert changes_for(same_key, table=kms) == []
    other_key = TableSettings(encryption="KMS", kms_key="k-1")
    assert requests(changes_for(other_key, table=kms)) == [("UpdateTable", {
        "TableName": "dev-orders",
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "k-1"}})]


def test_tags_are_made_exact_except_aws_reserved_ones() -> None:
    settings = TableSettings(tags={"team": "shop", "env": "prod"})
    live = {"team": "shop", "env": "dev", "owner": "bob", "aws:cloudformation:stack": "s"}
    assert requests(changes_for(settings, table=described(), tags=live)) == [
        ("TagResource", {"ResourceArn": ARN, "Tags": [{"Key": "env", "Value": "prod"}]}),
        ("UntagResource", {"ResourceArn": ARN, "TagKeys": ["owner"]}),
    ]
    same = {"team": "shop", "env": "prod", "aws:cloudformation:stack": "s"}
    assert changes_for(settings, table=described(), tags=same) == []
    # Unreadable tags (a server without tagging): not compared.
    assert changes_for(settings, table=described(), tags=None) == []


def test_the_plan_prints_by_table() -> None:
    changes = changes_for(TableSettings(stream=True), table=described(
        GlobalSecondaryIndexes=[]))
    plan = Plan(tuple(changes), ("dev-orders", "dev-users"), ("dev-users: no tagging",))
    assert str(plan) == (
        "2 changes (0 blocking):\n"
        "table dev-orders:\n"
        "  + add global index by_status (backfilled from the existing items): "
        "pk=status(S), sk=total(N), INCLUDE customer\n"
        "  ~ stream: off -> NEW_AND_OLD_IMAGES\n"
        "note: dev-users: no tagging")
    assert len(plan) == 2 and list(plan) == changes and plan.blocking == ()
    empty = Plan((), ("dev-orders",))
    assert not empty and str(empty) == "No changes: dev-orders matches the models."


# ---------------------------------------------------------------------- settings


@pytest.mark.parametrize("kwargs", [
    {"stream": "ALL_IMAGES"}, {"table_class": "COLD"}, {"encryption": "RSA"},
    {"kms_key": "k"}, {"billing": "PROVISIONED"}, {"tags": {"": "x"}},
    {"point_in_time_recovery": "yes"}, {"index_throughput": {"ix": 5}},
])
def test_settings_refuse_what_dynamodb_does_not_know(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="TableSettings"):
        TableSettings(**kwargs)


@pytest.mark.parametrize("bad", [lambda: Provisioned(0, 1), lambda: Provisioned(1, True),
                                 lambda: OnDemand(max_read=-1)])
def test_capacity_units_are_whole_and_positive(bad: Any) -> None:
    with pytest.raises(ValueError, match="must be a whole number"):
        bad()


def test_models_sharing_a_table_merge_settings_and_conflicts_name_both() -> None:
    merged = merge_settings("app", [
        ("User", TableSettings(stream=True, tags={"a": "b"})),
        ("Order", None),
        ("Item", TableSettings(stream=True, point_in_time_recovery=True)),
    ])
    assert merged == TableSettings(stream=True, tags={"a": "b"}, point_in_time_recovery=True)
    with pytest.raises(SchemaError, match=r"Item and User share table 'app'.*stream"):
        merge_settings("app", [("User", TableSettings(stream=True)),
                               ("Item", TableSettings(stream="KEYS_ONLY"))])


def test_index_throughput_must_name_a_global_index_of_the_tables_mode() -> None:
    with pytest.raises(SchemaError, match=r"'nope', which is not a global index.*by_status"):
        desired_table([Order._meta()], TableSettings(
            index_throughput={"nope": OnDemand()}), "orders")
    with pytest.raises(SchemaError, match="declares Provisioned capacity but table 'orders' "
                                          "is on-demand"):
        desired_table([Order._meta()], TableSettings(
            index_throughput={"by_status": Provisioned(1, 1)}), "orders")


def test_settings_are_declared_on_the_model_and_inherited() -> None:
    class Base(Model, settings=TableSettings(deletion_protection=True)):
        id: Annotated[str, PartitionKey]

    class Child(Base, table="children"):
        pass

    assert Child.__dynorm_settings__ == TableSettings(deletion_protection=True)
    assert Order.__dynorm_settings__ is None
