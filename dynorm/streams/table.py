"""``TableCheckpoints``: checkpoints and shard leases in a DynamoDB table.

One item per shard, keyed by ``shard`` = ``"<stream ARN>|<shard id>"``:

=================== ==== ===================================================
attribute           type meaning
=================== ==== ===================================================
``shard``           S    the key
``sequence_number`` S    the last record done (as DynamoDB gave it)
``position``        S    the same, zero-padded to 40 digits (sorts as integer)
``finished``        BOOL the shard was read to its end
``lease_owner``     S    the worker reading the shard
``lease_expires``   N    epoch milliseconds when the lease lapses
``handoff_to``      S    a worker that asked for the shard
``handoff_expires`` N    epoch milliseconds when that request lapses
=================== ==== ===================================================

Every write is conditional: a checkpoint only moves forward, a lease is only taken
when free, expired or already ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Any

from dynorm._types import Item
from dynorm.connection import get_connection
from dynorm.exceptions import ConditionFailed, DynormError, ResourceInUse, TableNotFound
from dynorm.streams.checkpoints import Checkpoint, position
from dynorm.streams.leases import Lease

__all__ = ["TableCheckpoints"]

log = logging.getLogger(__name__)

_FREE = ("(attribute_not_exists(lease_owner) OR lease_owner = :me OR lease_expires < :now)"
         " AND (attribute_not_exists(handoff_to) OR handoff_to = :me"
         " OR handoff_expires < :now)")


def _ms(seconds: float) -> dict[str, str]:
    return {"N": str(int(seconds * 1000))}


class TableCheckpoints:
    """Checkpoints (and leases, for several workers) in a DynamoDB table.

    The table is created on first use (on-demand billing, key ``shard``). Its name goes
    through the connection's ``table_prefix`` like a model's.

    Args:
        table_name: the table's name (before the prefix).
        create: create the table when it is missing (default True).
    """

    def __init__(self, table_name: str, *, create: bool = True) -> None:
        self.table_name = table_name
        self.create = create
        self._ready: str | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TableCheckpoints({self.table_name!r})"

    # ------------------------------------------------------------------ plumbing

    async def _table(self) -> str:
        conn = get_connection()
        name = conn.table_name(self.table_name)
        if self._ready == name:
            return name
        async with self._lock:
            if self._ready != name:
                await self._ensure(name)
                self._ready = name
        return name

    async def _ensure(self, name: str) -> None:
        conn = get_connection()
        try:
            desc = (await conn.call("DescribeTable", {"TableName": name}))["Table"]
        except TableNotFound:
            if not self.create:
                raise
            log.info("creating checkpoint table %r", name)
            # ResourceInUse: another worker is creating it.
            with contextlib.suppress(ResourceInUse):
                await conn.call("CreateTable", {
                    "TableName": name,
                    "AttributeDefinitions": [{"AttributeName": "shard", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                })
            desc = {}
        deadline = time.monotonic() + 120
        while desc.get("TableStatus") != "ACTIVE":
            if time.monotonic() > deadline:
                raise DynormError(f"checkpoint table {name!r} did not become ACTIVE")
            await asyncio.sleep(0.05)
            desc = (await conn.call("DescribeTable", {"TableName": name}))["Table"]

    async def _update(self, stream_arn: str, shard_id: str, expression: str, condition: str,
                      values: Item, *, returns: bool = False) -> Item | None:
        name = await self._table()
        request: dict[str, Any] = {
            "TableName": name,
            "Key": {"shard": {"S": f"{stream_arn}|{shard_id}"}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if returns:
            request["ReturnValues"] = "ALL_NEW"
        response = await get_connection().call("UpdateItem", request)
        attributes: Item | None = response.get("Attributes")
        return attributes

    # ------------------------------------------------------------------ checkpoints

    async def load(self, stream_arn: str, shard_id: str) -> Checkpoint | None:
        name = await self._table()
        response = await get_connection().call("GetItem", {
            "TableName": name,
            "Key": {"shard": {"S": f"{stream_arn}|{shard_id}"}},
            "ConsistentRead": True,
        })
        item = response.get("Item")
        if item is None or ("sequence_number" not in item and "finished" not in item):
            return None
        seq = item.get("sequence_number", {}).get("S")
        return Checkpoint(seq, bool(item.get("finished", {}).get("BOOL", False)))

    async def save(
        self, stream_arn: str, shard_id: str, sequence_number: str | None, *,
        finished: bool = False,
    ) -> None:
        values: Item = {":arn": {"S": stream_arn}}
        sets = ["stream_arn = :arn"]
        if finished:
            sets.append("finished = :t")
            values[":t"] = {"BOOL": True}
        name = await self._table()
        request: dict[str, Any] = {
            "TableName": name,
            "Key": {"shard": {"S": f"{stream_arn}|{shard_id}"}},
            "ExpressionAttributeValues": values,
        }
        if sequence_number is not None:
            sets += ["sequence_number = :s", "#p = :p"]
            values[":s"] = {"S": sequence_number}
            values[":p"] = {"S": position(sequence_number)}
            request["ConditionExpression"] = "attribute_not_exists(#p) OR #p <= :p"
            request["ExpressionAttributeNames"] = {"#p": "position"}
        request["UpdateExpression"] = "SET " + ", ".join(sets)
        try:
            await get_connection().call("UpdateItem", request)
        except ConditionFailed:
            log.debug("checkpoint of %s not moved back to %s", shard_id, sequence_number)

    # ------------------------------------------------------------------ leases

    async def leases(self, stream_arns: Collection[str]) -> list[Lease]:
        name = await self._table()
        wanted = set(stream_arns)
        out: list[Lease] = []
        request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        while True:
            response = await get_connection().call("Scan", request)
            for item in response.get("Items", []):
                arn, _, shard_id = item["shard"]["S"].rpartition("|")
                if arn in wanted:
                    out.append(_lease(arn, shard_id, item))
            last = response.get("LastEvaluatedKey")
            if not last:
                return out
            request = {**request, "ExclusiveStartKey": last}

    async def acquire(self, stream_arn: str, shard_id: str, owner: str, duration: float
                      ) -> bool:
        now = time.time()
        try:
            await self._update(
                stream_arn, shard_id,
                "SET lease_owner = :me, lease_expires = :exp, stream_arn = :arn "
                "REMOVE handoff_to, handoff_expires",
                _FREE,
                {":me": {"S": owner}, ":now": _ms(now), ":exp": _ms(now + duration),
                 ":arn": {"S": stream_arn}},
            )
        except ConditionFailed:
            return False
        return True

    async def renew(self, stream_arn: str, shard_id: str, owner: str, duration: float
                    ) -> Lease | None:
        try:
            item = await self._update(
                stream_arn, shard_id, "SET lease_expires = :exp", "lease_owner = :me",
                {":me": {"S": owner}, ":exp": _ms(time.time() + duration)}, returns=True,
            )
        except ConditionFailed:
            return None
        return _lease(stream_arn, shard_id, item or {})

    async def release(self, stream_arn: str, shard_id: str, owner: str) -> None:
        with contextlib.suppress(ConditionFailed):
            await self._update(stream_arn, shard_id, "REMOVE lease_owner, lease_expires",
                               "lease_owner = :me", {":me": {"S": owner}})

    async def request_handoff(self, stream_arn: str, shard_id: str, holder: str,
                              requester: str, duration: float) -> bool:
        now = time.time()
        try:
            await self._update(
                stream_arn, shard_id, "SET handoff_to = :me, handoff_expires = :exp",
                "lease_owner = :holder AND (attribute_not_exists(handoff_to) OR "
                "handoff_to = :me OR handoff_expires < :now)",
                {":me": {"S": requester}, ":holder": {"S": holder}, ":now": _ms(now),
                 ":exp": _ms(now + 3 * duration)},
            )
        except ConditionFailed:
            return False
        return True


def _lease(stream_arn: str, shard_id: str, item: Item) -> Lease:
    def ms(attr: str) -> float:
        av = item.get(attr)
        return int(av["N"]) / 1000 if av else 0.0

    def text(attr: str) -> str | None:
        av = item.get(attr)
        return str(av["S"]) if av else None

    return Lease(
        stream_arn=stream_arn,
        shard_id=shard_id,
        owner=text("lease_owner"),
        expires=ms("lease_expires"),
        handoff_to=text("handoff_to"),
        handoff_expires=ms("handoff_expires"),
        finished=bool(item.get("finished", {}).get("BOOL", False)),
    )
