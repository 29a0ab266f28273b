"""Global tables in TableSettings: plan/apply request shapes (MockTransport) and the MRSC
refusals at class creation, each with its message.

The shapes follow AWS's API reference for UpdateTable: ``ReplicaUpdates`` (one
``Create``/``Delete`` per request), ``GlobalTableWitnessUpdates`` and
``MultiRegionConsistency`` (valid only with the ``Create`` actions that make the global
table); DescribeTable's ``Replicas`` (``RegionName``, ``ReplicaStatus``),
``GlobalTableWitnesses`` (``RegionName``, ``WitnessStatus``) and
``MultiRegionConsistency``.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    TTL,
    DynormError,
    LocalIndex,
    MockTransport,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
    TableNotFound,
)
from dynorm._types import Request, Response
from dynorm.schema.settings import TableSettings, merge_settings
from dynorm.tables import apply, plan

MREC = TableSettings(replicas=("us-east-1", "eu-west-1", "ap-south-1"))
MRSC = TableSettings(replicas=("us-east-1", "us-east-2"), witness="us-west-2",
                     consistency="STRONG")


class Order(Model, table="orders", settings=MREC):
    order_id: Annotated[str, PartitionKey]


class Payment(Model, table="payments", settings=MRSC):
    payment_id: Annotated[str, PartitionKey]
    amount: int = 0


class Server:
    """One table in us-east-1 that follows the replica updates it is sent; a new replica
    is CREATING on the first DescribeTable after the request, then ACTIVE."""

    def __init__(self, name: str, key: str = "order_id", *, exists: bool = True,
                 replicas: dict[str, str] | None = None, mode: str | None = None) -> None:
        self.table: dict[str, Any] | None = None
        if exists:
            self.table = {
                "TableName": name, "TableStatus": "ACTIVE",
                "TableArn": f"arn:aws:dynamodb:us-east-1:1:table/{name}",
                "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
            if replicas:
                self.table["Replicas"] = [{"RegionName": r, "ReplicaStatus": s}
                                          for r, s in replicas.items()]
            if mode:
                self.table["MultiRegionConsistency"] = mode
        self.describes = 0
        self.settling: list[str] = []

    def __call__(self, op: str, req: Request) -> Response:
        if op == "DescribeTable":
            if self.table is None:
                raise TableNotFound("no", code="ResourceNotFoundException", operation=op)
            self.describes += 1
            answer = copy.deepcopy(self.table)
            if self.settling:
                for replica in answer.get("Replicas") or ():
                    if replica["RegionName"] in self.settling:
                        replica["ReplicaStatus"] = "CREATING"
                self.settling = []
            return {"Table": answer}
        if op == "DescribeTimeToLive":
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        if op == "CreateTable":
            self.table = {**copy.deepcopy(req), "TableStatus": "ACTIVE"}
            return {}
        if op == "UpdateTable":
            assert self.table is not None
            replicas = self.table.setdefault("Replicas", [])
            for update in req.get("ReplicaUpdates") or ():
                if "Create" in update:
                    region = update["Create"]["RegionName"]
                    replicas.append({"RegionName": region, "ReplicaStatus": "ACTIVE"})
                    self.settling.append(region)
                else:
                    region = update["Delete"]["RegionName"]
                    replicas[:] = [r for r in replicas if r["RegionName"] != region]
            for update in req.get("GlobalTableWitnessUpdates") or ():
                self.table.setdefault("GlobalTableWitnesses", []).append(
                    {"RegionName": update["Create"]["RegionName"], "WitnessStatus": "ACTIVE"})
            if "MultiRegionConsistency" in req:
                self.table["MultiRegionConsistency"] = req["MultiRegionConsistency"]
            return {}
        raise AssertionError(f"unexpected {op}")


def updates(transport: MockTransport) -> list[Request]:
    return [req for op, req in transport.requests if op == "UpdateTable"]


async def test_new_mrec_table_is_created_then_given_one_replica_per_update() -> None:
    server = Server("orders", exists=False)
    transport = MockTransport(server)
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Order)
        assert [c.kind for c in found] == ["create_table", "replicas", "replicas"]
        assert "+ add replica in eu-west-1" in str(found)
        await apply(found, poll_interval=0.001)
        assert updates(transport) == [
            {"TableName": "orders", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]},
            {"TableName": "orders",
             "ReplicaUpdates": [{"Create": {"RegionName": "ap-south-1"}}]},
        ]
        # apply waited for each new replica to be ACTIVE before the next request
        ops = [op for op, _ in transport.requests]
        first, second = (i for i, op in enumerate(ops) if op == "UpdateTable")
        assert ops[first + 1:second].count("DescribeTable") >= 2
        again = await plan(Order)
        assert not again
        assert again.notes == ("orders: global table (EVENTUAL), replicas ap-south-1 ACTIVE, "
                               "eu-west-1 ACTIVE",)


async def test_replicas_not_declared_are_removed_and_status_is_shown() -> None:
    server = Server("orders", replicas={"eu-west-1": "ACTIVE", "sa-east-1": "UPDATING",
                                        "ap-south-1": "ACTIVE"})
    transport = MockTransport(server)
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Order)
        assert "note: orders: global table (EVENTUAL), replicas ap-south-1 ACTIVE, " \
               "eu-west-1 ACTIVE, sa-east-1 UPDATING" in str(found)
        assert [c.steps[0].request for c in found] == [
            {"TableName": "orders", "ReplicaUpdates": [{"Delete": {"RegionName": "sa-east-1"}}]}]
        assert found.changes[0].current == "sa-east-1 UPDATING"


async def test_explicit_eventual_consistency_goes_with_the_first_replica_only() -> None:
    class Cart(Model, table="carts", settings=TableSettings(
            replicas=("eu-west-1", "us-east-1", "us-west-2"), consistency="EVENTUAL")):
        cart_id: Annotated[str, PartitionKey]

    transport = MockTransport(Server("carts", "cart_id"))
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Cart)
    assert [c.steps[0].request for c in found] == [
        {"TableName": "carts", "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}],
         "MultiRegionConsistency": "EVENTUAL"},
        {"TableName": "carts", "ReplicaUpdates": [{"Create": {"RegionName": "us-west-2"}}]},
    ]


async def test_mrsc_is_made_in_one_request_with_witness_and_consistency() -> None:
    server = Server("payments", "payment_id")
    transport = MockTransport(server)
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Payment)
        await apply(found, poll_interval=0.001)
        assert updates(transport) == [{
            "TableName": "payments",
            "ReplicaUpdates": [{"Create": {"RegionName": "us-east-2"}}],
            "GlobalTableWitnessUpdates": [{"Create": {"RegionName": "us-west-2"}}],
            "MultiRegionConsistency": "STRONG",
        }]
        again = await plan(Payment)
    assert not again
    assert again.notes == ("payments: global table (STRONG), replicas us-east-2 ACTIVE; "
                           "witness us-west-2 ACTIVE",)


async def test_mrsc_with_three_replicas_creates_both_others_at_once() -> None:
    class Ledger(Model, table="ledger", settings=TableSettings(
            replicas=("eu-west-1", "eu-west-3", "eu-central-1"), consistency="STRONG")):
        entry_id: Annotated[str, PartitionKey]

    transport = MockTransport(Server("ledger", "entry_id"))
    async with dynorm.connect(transport=transport, region="eu-west-3"):
        found = await plan(Ledger)
    assert [c.steps[0].request for c in found] == [{
        "TableName": "ledger",
        "ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}},
                           {"Create": {"RegionName": "eu-central-1"}}],
        "MultiRegionConsistency": "STRONG"}]


async def test_changing_the_mode_or_mrsc_regions_of_a_global_table_is_blocking() -> None:
    transport = MockTransport(Server("payments", "payment_id", replicas={"us-east-2": "ACTIVE"}))
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Payment)   # live MREC, declared MRSC
    (change,) = found.blocking
    assert (change.current, change.declared) == ("EVENTUAL", "STRONG")
    assert "fixed when it is made" in change.way_out

    server = Server("payments", "payment_id", replicas={"us-west-2": "ACTIVE"}, mode="STRONG")
    server.table["GlobalTableWitnesses"] = [  # type: ignore[index]
        {"RegionName": "us-east-2", "WitnessStatus": "ACTIVE"}]
    async with dynorm.connect(transport=MockTransport(server), region="us-east-1"):
        found = await plan(Payment)
    (change,) = found.blocking
    assert (change.current, change.declared) == ("us-west-2 + witness us-east-2",
                                                 "us-east-2 + witness us-west-2")


async def test_plan_from_a_region_not_declared_is_refused() -> None:
    async with dynorm.connect(transport=MockTransport(Server("orders")), region="eu-west-2"):
        with pytest.raises(DynormError, match=r"declares replicas in us-east-1, eu-west-1, "
                           r"ap-south-1, but the plan runs in eu-west-2"):
            await plan(Order)


async def test_apply_stops_on_a_failed_replica() -> None:
    server = Server("orders", replicas={"eu-west-1": "ACTIVE"})
    transport = MockTransport(server)
    async with dynorm.connect(transport=transport, region="us-east-1"):
        found = await plan(Order)
        server.table["Replicas"].append(  # type: ignore[index]
            {"RegionName": "ap-south-1", "ReplicaStatus": "CREATION_FAILED"})
        server.settling = []
        found = await plan(Order)   # the failed replica is there: nothing to add
        assert not found
        server.table["Replicas"][0]["ReplicaStatus"] = "REGION_DISABLED"  # type: ignore[index]
        server.table["Replicas"].pop()  # type: ignore[index]
        found = await plan(Order)
        with pytest.raises(DynormError, match="replica in eu-west-1 is REGION_DISABLED"):
            await apply(found, poll_interval=0.001)


# ------------------------------------------------------------------ refusals


def test_mrsc_refuses_ttl_at_class_creation() -> None:
    with pytest.raises(SchemaError, match=(
            r"^Session: field 'expires' is a TTL attribute, but table 'sessions' is declared "
            r"MRSC \(TableSettings\(consistency='STRONG'\)\), and MRSC global tables do not "
            r"support TTL: remove the TTL marker")):
        class Session(Model, table="sessions", settings=MRSC):
            session_id: Annotated[str, PartitionKey]
            expires: Annotated[int, TTL] = 0


def test_mrsc_refuses_local_indexes_at_class_creation() -> None:
    with pytest.raises(SchemaError, match=(
            r"^Score: local secondary index\(es\) by_points on table 'scores', declared MRSC "
            r"\(TableSettings\(consistency='STRONG'\)\): MRSC global tables do not support "
            r"local secondary indexes: make them GlobalIndex")):
        class Score(Model, table="scores", settings=MRSC):
            user: Annotated[str, PartitionKey]
            game: Annotated[str, SortKey]
            points: int = 0
            by_points = LocalIndex("points")


async def test_mrsc_refuses_transactions() -> None:
    message = (r"^Payment: table 'payments' is declared MRSC \(TableSettings\(consistency="
               r"'STRONG'\)\), and MRSC global tables do not support transactions "
               r"\(Transact{}Items\): write the items one by one")
    async with dynorm.connect(transport=MockTransport()):
        tx = dynorm.transaction()
        with pytest.raises(SchemaError, match=message.format("Write")):
            tx.save(Payment(payment_id="p1"))
        assert len(tx) == 0
        tx.save(Order(order_id="o1"))  # an MREC table: fine
        with pytest.raises(SchemaError, match=message.format("Get")):
            await dynorm.transact_get((Payment, "p1"))


@pytest.mark.parametrize(("settings", "message"), [
    (dict(replicas=("us-east-1", "eu-west-1"), witness="us-west-2", consistency="STRONG"),
     r"us-east-1, eu-west-1, us-west-2 is not one of AWS's MRSC Region sets: the three "
     r"Regions of an MRSC table must come from one set \(US: us-east-1, us-east-2, "
     r"us-west-2; EU: eu-central-1, eu-west-1, eu-west-2, eu-west-3; AP: ap-northeast-1, "
     r"ap-northeast-2, ap-northeast-3\)"),
    (dict(replicas=("us-east-1", "us-east-2"), consistency="STRONG"),
     r"an MRSC table \(consistency='STRONG'\) lives in exactly three Regions: three "
     r"replicas, or two replicas and a witness; not 2 replica\(s\) \(us-east-1, us-east-2\)"),
    (dict(replicas=("us-east-1", "us-east-2", "us-west-2"), witness="us-west-2",
          consistency="STRONG"),
     r"the witness must be a Region without a replica, not 'us-west-2'"),
    (dict(replicas=("us-east-1",), witness="us-west-2"),
     r"a witness serves only multi-Region strong consistency"),
    (dict(witness="us-west-2", consistency="STRONG"),
     r"consistency and witness describe a global table: declare its Regions too"),
    (dict(replicas=("us-east-1", "eu-west-1"), stream="KEYS_ONLY"),
     r"an MREC global table replicates through its stream, which must be "
     r"NEW_AND_OLD_IMAGES \(stream=True\), not stream='KEYS_ONLY'"),
    (dict(replicas="us-east-1"), r"replicas is a sequence of Region names, not the string"),
    (dict(replicas=("us-east-1", "us-east-1")), r"replicas names a Region twice"),
    (dict(replicas=("us-east-1",), consistency="strong"),
     r"consistency must be 'EVENTUAL' \(MREC\) or 'STRONG' \(MRSC\), not 'strong'"),
])
def test_settings_refuse_what_dynamodb_refuses(settings: dict[str, Any], message: str
                                               ) -> None:
    with pytest.raises(ValueError, match=message):
        TableSettings(**settings)


def test_models_sharing_a_table_must_agree_on_replicas() -> None:
    with pytest.raises(SchemaError, match="declare different replicas"):
        merge_settings("t", [("A", TableSettings(replicas=("us-east-1", "eu-west-1"))),
                             ("B", TableSettings(replicas=("us-east-1",)))])
    merged = merge_settings("t", [("A", MRSC), ("B", TableSettings(tags={"a": "b"}))])
    assert (merged.replicas, merged.witness, merged.consistency) == (
        ("us-east-1", "us-east-2"), "us-west-2", "STRONG")


async def test_plan_of_replicas_needs_a_one_region_connection() -> None:
    from dynorm import RegionRouter

    router = RegionRouter({"us-east-1": MockTransport(Server("orders")),
                           "eu-west-1": MockTransport(Server("orders"))})
    async with dynorm.connect(transport=router):
        with pytest.raises(DynormError, match=r"plan\(\) of replicas \(us-east-1, eu-west-1, "
                           r"ap-south-1\) needs a one-Region connection"):
            await plan(Order)


async def test_replicas_of_a_kms_table_get_their_regional_keys() -> None:
    class Vault(Model, table="vault", settings=TableSettings(
            replicas=("us-east-1", "eu-west-1", "eu-central-1"), encryption="KMS",
            kms_key="alias/vault", replica_kms_keys={"eu-west-1": "alias/vault-eu"})):
        vault_id: Annotated[str, PartitionKey]

    server = Server("vault", "vault_id")
    server.table["SSEDescription"] = {  # type: ignore[index]
        "Status": "ENABLED", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:alias/vault"}
    async with dynorm.connect(transport=MockTransport(server), region="us-east-1"):
        found = await plan(Vault)
    assert [c.steps[0].request["ReplicaUpdates"] for c in found if c.kind == "replicas"] == [
        [{"Create": {"RegionName": "eu-west-1", "KMSMasterKeyId": "alias/vault-eu"}}],
        [{"Create": {"RegionName": "eu-central-1"}}],
    ]
    with pytest.raises(ValueError, match="replica_kms_keys needs encryption='KMS'"):
        TableSettings(replicas=("us-east-1",), replica_kms_keys={"us-east-1": "k"})
    with pytest.raises(ValueError, match=r"replica_kms_keys names ap-south-1, not among "
                       r"replicas \(us-east-1\)"):
        TableSettings(replicas=("us-east-1",), encryption="KMS",
                      replica_kms_keys={"ap-south-1": "k"})
