"""Where a migration keeps its progress: one item per scan segment in a DynamoDB table.

| attribute | type | meaning |
|---|---|---|
| ``migration`` | S | the migration's id (partition key) |
| ``segment`` | N | the scan segment (sort key) |
| ``segments`` | N | how many segments the scan has (a resume keeps the number) |
| ``position`` | S | the segment's ``LastEvaluatedKey`` after the last page done (JSON) |
| ``done`` | BOOL | the segment was scanned to its end |
| ``counts`` | M | seen / changed / skipped / failed so far (numbers) |
| ``reasons`` | M | skip and failure reasons -> how many |
| ``updated`` | N | epoch seconds of the last save |

A segment is saved after each page whose items are all settled (changed, skipped or
failed): a restart resumes at the page after it. Items of a page a crash interrupted are
read again; those already changed carry the migration's marker and are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from dynorm._types import Item
from dynorm.connection import get_connection
from dynorm.exceptions import DynormError, ResourceInUse, TableNotFound

__all__ = ["DEFAULT_TABLE", "MigrationCheckpoints", "SegmentState"]

#: The checkpoint table's default name (before the connection's table prefix).
DEFAULT_TABLE = "dynorm-migrations"

_COUNTS = ("seen", "changed", "skipped", "failed")


@dataclass
class SegmentState:
    """One scan segment's progress (mutable: the runner updates it page by page)."""

    segment: int
    segments: int
    position: Item | None = None
    done: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    reasons: dict[str, int] = field(default_factory=dict)


class MigrationCheckpoints:
    """Migration progress in a DynamoDB table, created on first use (on-demand billing).

    Args:
        table_name: the table (before the connection's table prefix).
        create: create the table when it is missing.
    """

    def __init__(self, table_name: str = DEFAULT_TABLE, *, create: bool = True) -> None:
        self.table_name = table_name
        self.create = create
        self._ready: str | None = None

    def __repr__(self) -> str:
        return f"MigrationCheckpoints({self.table_name!r})"

    async def _table(self) -> str:
        conn = get_connection()
        name = conn.table_name(self.table_name)
        if self._ready == name:
            return name
        try:
            desc = (await conn.call("DescribeTable", {"TableName": name}))["Table"]
        except TableNotFound:
            if not self.create:
                raise
            with contextlib.suppress(ResourceInUse):  # another worker made it first
                await conn.call("CreateTable", {
                    "TableName": name,
                    "AttributeDefinitions": [
                        {"AttributeName": "migration", "AttributeType": "S"},
                        {"AttributeName": "segment", "AttributeType": "N"}],
                    "KeySchema": [{"AttributeName": "migration", "KeyType": "HASH"},
                                  {"AttributeName": "segment", "KeyType": "RANGE"}],
                    "BillingMode": "PAY_PER_REQUEST",
                })
            desc = {}
        deadline = time.monotonic() + 120
        while desc.get("TableStatus") != "ACTIVE":
            if time.monotonic() > deadline:
                raise DynormError(f"migration checkpoint table {name!r} did not become ACTIVE")
            await asyncio.sleep(0.05)
            desc = (await conn.call("DescribeTable", {"TableName": name}))["Table"]
        self._ready = name
        return name

    async def load(self, migration: str) -> list[SegmentState]:
        """Every saved segment of ``migration`` (none: it never ran)."""
        name = await self._table()
        request: dict[str, Any] = {
            "TableName": name, "ConsistentRead": True,
            "KeyConditionExpression": "migration = :m",
            "ExpressionAttributeValues": {":m": {"S": migration}},
        }
        states: list[SegmentState] = []
        while True:
            answer = await get_connection().call("Query", request)
            states.extend(_state(item) for item in answer.get("Items") or ())
            last = answer.get("LastEvaluatedKey")
            if not last:
                return sorted(states, key=lambda s: s.segment)
            request["ExclusiveStartKey"] = last

    async def save(self, migration: str, state: SegmentState) -> None:
        """Save one segment's progress."""
        name = await self._table()
        item: Item = {
            "migration": {"S": migration},
            "segment": {"N": str(state.segment)},
            "segments": {"N": str(state.segments)},
            "done": {"BOOL": state.done},
            "counts": {"M": {k: {"N": str(v)} for k, v in state.counts.items()}},
            "reasons": {"M": {k: {"N": str(v)} for k, v in state.reasons.items()}},
            "updated": {"N": str(int(time.time()))},
        }
        if state.position is not None:
            item["position"] = {"S": json.dumps(state.position, sort_keys=True,
                                                default=_bytes_out)}
        await get_connection().call("PutItem", {"TableName": name, "Item": item})

    async def clear(self, migration: str) -> None:
        """Forget ``migration``'s progress (its items keep their markers)."""
        name = await self._table()
        for state in await self.load(migration):
            await get_connection().call("DeleteItem", {"TableName": name, "Key": {
                "migration": {"S": migration}, "segment": {"N": str(state.segment)}}})


def _state(item: Item) -> SegmentState:
    counts = {k: int(v["N"]) for k, v in item.get("counts", {}).get("M", {}).items()}
    reasons = {k: int(v["N"]) for k, v in item.get("reasons", {}).get("M", {}).items()}
    position = item.get("position")
    return SegmentState(
        segment=int(item["segment"]["N"]),
        segments=int(item["segments"]["N"]),
        position=json.loads(position["S"], object_hook=_bytes_in) if position else None,
        done=bool(item.get("done", {}).get("BOOL")),
        counts={**dict.fromkeys(_COUNTS, 0), **counts},
        reasons=reasons,
    )


def _bytes_out(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$base64": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot save {type(value).__name__} in a checkpoint")


def _bytes_in(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$base64" in obj:
        return base64.b64decode(obj["$base64"])
    return obj
