"""CreateTable requests from model declarations, waiting for tables, deleting them.

``create_table_request`` and ``merged_table_request`` are pure (unit-tested request
dicts); ``wait_table`` and ``delete_table`` talk to the server. ``create_table`` (the
table as its models declare it, settings included) is in `dynorm.tables.make`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal, get_args

from dynorm._types import Request
from dynorm.connection import Connection
from dynorm.exceptions import DynormError, SchemaError, TableNotFound
from dynorm.schema.meta import IndexMeta, KeyAttr, TableMeta
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE

__all__ = [
    "STREAM_VIEWS",
    "StreamView",
    "create_table_request",
    "delete_table",
    "merged_table_request",
    "stream_view",
    "wait_table",
]

StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]
"""What a table's stream records hold (``stream=`` of ``Model.create_table()``)."""
STREAM_VIEWS: tuple[StreamView, ...] = get_args(StreamView)
"""DynamoDB's stream view types, in the order its documentation lists them."""


def _key_schema(partition: KeyAttr, sort: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.attr, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.attr, "KeyType": "RANGE"})
    return schema


def _projection(index: IndexMeta) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection_type}
    if index.projection_type == "INCLUDE":
        projection["NonKeyAttributes"] = list(index.projection_attrs)
    return projection


def _united(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """The projection of one index two models of a table declare, where they differ only
    in the schema-version attribute a model with ``schema_version`` projects (its index
    pages must say which version they read): both projections united; else None."""
    if {k: v for k, v in a.items() if k != "Projection"} != {
            k: v for k, v in b.items() if k != "Projection"}:
        return None
    lists = []
    for spec in (a, b):
        projection = spec["Projection"]
        if projection["ProjectionType"] == "ALL":
            return None
        lists.append(list(projection.get("NonKeyAttributes", ())))
    first, second = lists
    if set(first) ^ set(second) != {SCHEMA_ATTRIBUTE}:
        return None
    return {"ProjectionType": "INCLUDE",
            "NonKeyAttributes": first + [n for n in second if n not in first]}


def stream_view(stream: StreamView | bool | None) -> StreamView | None:
    """The stream view type a ``stream=`` argument asks for (``True``: new and old images).

    Raises:
        ValueError: anything but a bool, None or one of the four view types.
    """
    if stream is None or stream is False:
        return None
    if stream is True:
        return "NEW_AND_OLD_IMAGES"
    if stream not in STREAM_VIEWS:
        raise ValueError(
            f"stream must be True or one of {', '.join(STREAM_VIEWS)}, not {stream!r}"
        )
    return stream


def create_table_request(
    meta: TableMeta,
    table_name: str,
    *,
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST",
    read_capacity: int = 5,
    write_capacity: int = 5,
    stream: StreamView | bool | None = None,
) -> Request:
    """The CreateTable request for a model's declaration (pure)."""
    definitions: dict[str, str] = {}
    for key in (meta.partition, meta.sort):
        if key is not None:
            definitions[key.attr] = key.type
    for index in meta.indexes.values():
        for key in (index.partition, index.sort):
            if key is not None:
                definitions[key.attr] = key.type
    req: Request = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": t} for name, t in definitions.items()
        ],
        "KeySchema": _key_schema(meta.partition, meta.sort),
        "BillingMode": billing_mode,
    }
    provisioned = billing_mode == "PROVISIONED"
    if provisioned:
        req["ProvisionedThroughput"] = {
            "ReadCapacityUnits": read_capacity,
            "WriteCapacityUnits": write_capacity,
        }
    gsis, lsis = [], []
    for index in meta.indexes.values():
        spec: dict[str, Any] = {
            "IndexName": index.name,
            "KeySchema": _key_schema(index.partition, index.sort),
            "Projection": _projection(index),
        }
        if index.kind == "global":
            if provisioned:
                spec["ProvisionedThroughput"] = {
                    "ReadCapacityUnits": index.read_capacity or read_capacity,
                    "WriteCapacityUnits": index.write_capacity or write_capacity,
                }
            gsis.append(spec)
        else:
            lsis.append(spec)
    if gsis:
        req["GlobalSecondaryIndexes"] = gsis
    if lsis:
        req["LocalSecondaryIndexes"] = lsis
    view = stream_view(stream)
    if view is not None:
        req["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    return req


def merged_table_request(metas: list[TableMeta], table_name: str, **options: Any) -> Request:
    """One CreateTable for several models sharing a table (single-table design).

    Key schemas must agree; attribute definitions and indexes are united; two models
    declaring one index name differently is an error naming both.
    """
    first = metas[0]
    base = create_table_request(first, table_name, **options)
    definitions = {d["AttributeName"]: d["AttributeType"] for d in base["AttributeDefinitions"]}
    owners: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for spec in base.get(kind, []):
            owners[(kind, spec["IndexName"])] = (first.model_name, spec)
    for meta in metas[1:]:
        req = create_table_request(meta, table_name, **options)
        if req["KeySchema"] != base["KeySchema"]:
            raise SchemaError(
                f"{meta.model_name} and {first.model_name} share table {first.table_name!r} "
                f"but declare different keys: {req['KeySchema']} vs {base['KeySchema']}"
            )
        for d in req["AttributeDefinitions"]:
            seen = definitions.setdefault(d["AttributeName"], d["AttributeType"])
            if seen != d["AttributeType"]:
                raise SchemaError(
                    f"{meta.model_name}: attribute {d['AttributeName']!r} is {d['AttributeType']} "
                    f"here but {seen} in another model of table {first.table_name!r}"
                )
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for spec in req.get(kind, []):
                owner = owners.get((kind, spec["IndexName"]))
                if owner is None:
                    owners[(kind, spec["IndexName"])] = (meta.model_name, spec)
                    base.setdefault(kind, []).append(spec)
                elif owner[1] != spec:
                    united = _united(owner[1], spec)
                    if united is not None:  # one projects _schema: both read through it
                        owner[1]["Projection"] = united
                        continue
                    raise SchemaError(
                        f"{meta.model_name} and {owner[0]} disagree about index "
                        f"{spec['IndexName']!r} of table {first.table_name!r}: "
                        f"{spec} vs {owner[1]}"
                    )
    base["AttributeDefinitions"] = [
        {"AttributeName": n, "AttributeType": t} for n, t in definitions.items()
    ]
    ttls = {m.ttl.attr for m in metas if m.ttl is not None}
    if len(ttls) > 1:
        raise SchemaError(
            f"models of table {first.table_name!r} name different TTL attributes: {sorted(ttls)}"
        )
    return base


async def wait_table(connection: Connection, table_name: str, *, gone: bool, timeout: float
                     ) -> None:
    """Wait until the table is ACTIVE with every index ACTIVE (or, ``gone``, deleted)."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            desc = (await connection.call("DescribeTable", {"TableName": table_name}))["Table"]
        except TableNotFound:
            if gone:
                return
        else:
            if not gone and desc.get("TableStatus") == "ACTIVE" and all(
                g.get("IndexStatus", "ACTIVE") == "ACTIVE"
                for g in desc.get("GlobalSecondaryIndexes", [])
            ):
                return
        if time.monotonic() > deadline:
            state = "deleted" if gone else "ACTIVE"
            raise DynormError(f"table {table_name!r} did not become {state} in {timeout:.0f}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def delete_table(
    connection: Connection, meta: TableMeta, *, missing_ok: bool = True, wait: bool = True,
    timeout: float = 300.0,
) -> None:
    """Delete the table of ``meta``; see ``Model.delete_table``."""
    name = connection.table_name(meta.table_name)
    try:
        await connection.call("DeleteTable", {"TableName": name})
    except TableNotFound:
        if not missing_ok:
            raise
        return
    if wait:
        await wait_table(connection, name, gone=True, timeout=timeout)
