"""A live table's state, read once per plan: DescribeTable, DescribeTimeToLive,
DescribeContinuousBackups and ListTagsOfResource (the last two only for declared settings).

A server that does not know an operation (DynamoDB Local has no point-in-time recovery
and no tagging) leaves that part unread, with a note saying so: the plan cannot compare
it, and says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dynorm._types import Response
from dynorm.connection import Connection
from dynorm.exceptions import ServiceError, TableNotFound
from dynorm.schema.settings import TableSettings

__all__ = ["UNLIMITED", "IndexShape", "TableState", "index_shape", "read_state"]

#: DynamoDB's "no maximum" for on-demand throughput.
UNLIMITED = -1


@dataclass(frozen=True)
class IndexShape:
    """What an index is, in comparable form (from a CreateTable spec or a description).

    ``keys``: ``(attribute, HASH|RANGE, S|N|B)``; ``projection``: the type and the sorted
    non-key attributes; ``provisioned``: ``(read, write)`` capacity units, if any;
    ``on_demand``: the ``(read, write)`` maxima (`UNLIMITED` for none).
    """

    name: str
    keys: tuple[tuple[str, str, str], ...]
    projection: tuple[str, tuple[str, ...]]
    provisioned: tuple[int, int] | None = None
    on_demand: tuple[int, int] = (UNLIMITED, UNLIMITED)

    def describe(self) -> str:
        """``pk=email(S), sk=ts(N), ALL`` for messages."""
        keys = ", ".join(
            f"{'pk' if role == 'HASH' else 'sk'}={attr}({t})" for attr, role, t in self.keys
        )
        kind, attrs = self.projection
        projection = f"INCLUDE {', '.join(attrs)}" if kind == "INCLUDE" else kind
        return f"{keys}, {projection}"

    def same_index(self, other: IndexShape) -> bool:
        """Same keys and projection (capacity aside): nothing to re-create."""
        return self.keys == other.keys and self.projection == other.projection


def _units(value: Any) -> int:
    try:
        units = int(value)
    except (TypeError, ValueError):
        return UNLIMITED
    return units if units > 0 else UNLIMITED


def index_shape(spec: Mapping[str, Any], types: Mapping[str, str]) -> IndexShape:
    """The shape of an index from its CreateTable spec or its DescribeTable entry."""
    keys = tuple(
        (k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?"))
        for k in spec.get("KeySchema") or ()
    )
    projection = spec.get("Projection") or {}
    shape = (str(projection.get("ProjectionType", "ALL")),
             tuple(sorted(projection.get("NonKeyAttributes") or ())))
    provisioned = None
    throughput = spec.get("ProvisionedThroughput")
    if throughput and throughput.get("ReadCapacityUnits"):
        provisioned = (int(throughput["ReadCapacityUnits"]),
                       int(throughput["WriteCapacityUnits"]))
    demand = spec.get("OnDemandThroughput") or {}
    on_demand = (_units(demand.get("MaxReadRequestUnits")),
                 _units(demand.get("MaxWriteRequestUnits")))
    return IndexShape(spec["IndexName"], keys, shape, provisioned, on_demand)


@dataclass(frozen=True)
class TableState:
    """One table as the server describes it.

    Attributes:
        name: the physical table name.
        description: DescribeTable's ``Table``; ``None`` when the table does not exist.
        ttl: DescribeTimeToLive's ``TimeToLiveDescription`` (``{}`` when unknown).
        point_in_time_recovery: whether PITR is on; ``None`` when not read.
        tags: the table's tags; ``None`` when not read.
        resource_policy: the table's resource-based policy (``{}``: none); ``None``
            when not read.
        notes: what the server would not tell, and why.
    """

    name: str
    description: Response | None
    ttl: Mapping[str, Any]
    point_in_time_recovery: bool | None = None
    tags: Mapping[str, str] | None = None
    notes: tuple[str, ...] = ()
    #: the resource-based policy (``{}``: none); ``None`` when not read
    resource_policy: Mapping[str, Any] | None = None

    @property
    def exists(self) -> bool:
        return self.description is not None

    @property
    def types(self) -> dict[str, str]:
        """Attribute name -> S/N/B, from the AttributeDefinitions."""
        desc = self.description or {}
        return {d["AttributeName"]: d["AttributeType"]
                for d in desc.get("AttributeDefinitions") or ()}

    def indexes(self, field: str) -> dict[str, IndexShape]:
        """The shapes of ``"GlobalSecondaryIndexes"`` or ``"LocalSecondaryIndexes"``;
        a global index being deleted counts as gone."""
        types = self.types
        return {
            ix["IndexName"]: index_shape(ix, types)
            for ix in (self.description or {}).get(field) or ()
            if ix.get("IndexStatus") != "DELETING"
        }

    @property
    def billing_mode(self) -> str:
        """``PAY_PER_REQUEST`` or ``PROVISIONED`` (a table described without a billing
        summary was created provisioned, before on-demand existed)."""
        summary = (self.description or {}).get("BillingModeSummary") or {}
        return str(summary.get("BillingMode") or "PROVISIONED")

    @property
    def provisioned(self) -> tuple[int, int]:
        throughput = (self.description or {}).get("ProvisionedThroughput") or {}
        return (int(throughput.get("ReadCapacityUnits") or 0),
                int(throughput.get("WriteCapacityUnits") or 0))

    @property
    def on_demand(self) -> tuple[int, int]:
        demand = (self.description or {}).get("OnDemandThroughput") or {}
        return (_units(demand.get("MaxReadRequestUnits")),
                _units(demand.get("MaxWriteRequestUnits")))

    @property
    def stream_view(self) -> str | None:
        """The enabled stream's view type, or ``None``."""
        spec = (self.description or {}).get("StreamSpecification") or {}
        return str(spec.get("StreamViewType")) if spec.get("StreamEnabled") else None

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute when TTL is enabled (or being enabled), else ``None``."""
        if self.ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return str(self.ttl.get("AttributeName") or "") or None
        return None

    @property
    def table_class(self) -> str:
        summary = (self.description or {}).get("TableClassSummary") or {}
        return str(summary.get("TableClass") or "STANDARD")

    @property
    def deletion_protection(self) -> bool:
        return bool((self.description or {}).get("DeletionProtectionEnabled"))

    @property
    def encryption(self) -> tuple[str, str | None]:
        """``("AWS_OWNED", None)`` or ``("KMS", key ARN)``."""
        sse = (self.description or {}).get("SSEDescription") or {}
        if sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING"):
            return "KMS", sse.get("KMSMasterKeyArn")
        return "AWS_OWNED", None

    @property
    def arn(self) -> str:
        return str((self.description or {}).get("TableArn") or "")


def _unknown(exc: ServiceError) -> bool:
    return exc.code == "UnknownOperationException"


async def read_state(connection: Connection, name: str, settings: TableSettings
                     ) -> TableState:
    """Read what ``settings`` (and the keys, indexes, TTL) need of table ``name``."""
    try:
        desc = (await connection.call("DescribeTable", {"TableName": name}))["Table"]
    except TableNotFound:
        return TableState(name, None, {})
    notes: list[str] = []
    ttl: Mapping[str, Any] = {}
    try:
        answer = await connection.call("DescribeTimeToLive", {"TableName": name})
        ttl = answer.get("TimeToLiveDescription") or {}
    except ServiceError as exc:
        if not _unknown(exc):
            raise
        notes.append(f"{name}: the server cannot describe TTL ({exc.message}); not compared")
    pitr: bool | None = None
    if settings.point_in_time_recovery is not None:
        try:
            answer = await connection.call("DescribeContinuousBackups", {"TableName": name})
        except ServiceError as exc:
            if not _unknown(exc):
                raise
            notes.append(f"{name}: the server has no point-in-time recovery "
                         f"({exc.code}); not compared")
        else:
            described = (answer.get("ContinuousBackupsDescription") or {}).get(
                "PointInTimeRecoveryDescription") or {}
            pitr = described.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING")
    tags: dict[str, str] | None = None
    if settings.tags is not None:
        try:
            tags = await _tags(connection, desc["TableArn"])
        except ServiceError as exc:
            if not _unknown(exc):
                raise
            notes.append(f"{name}: the server has no tagging ({exc.message}); not compared")
    policy: dict[str, Any] | None = None
    if settings.resource_policy is not None:
        try:
            answer = await connection.call("GetResourcePolicy",
                                           {"ResourceArn": desc["TableArn"]})
            policy = json.loads(answer.get("Policy") or "{}")
        except ServiceError as exc:
            if exc.code == "PolicyNotFoundException":
                policy = {}
            elif _unknown(exc):
                notes.append(f"{name}: the server has no resource policies ({exc.message}); "
                             "not compared")
            else:
                raise
    return TableState(name, desc, ttl, pitr, tags, tuple(notes), policy)


async def _tags(connection: Connection, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    token: str | None = None
    while True:
        request: dict[str, Any] = {"ResourceArn": arn}
        if token:
            request["NextToken"] = token
        answer = await connection.call("ListTagsOfResource", request)
        tags.update(_pairs(answer.get("Tags") or ()))
        token = answer.get("NextToken")
        if not token:
            return tags


def _pairs(tags: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}
