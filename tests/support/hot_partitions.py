"""Per-partition-key throughput limits, scaled down, for the fault proxy (pure: no I/O).

DynamoDB serves one partition key value with at most about 1,000 write units and 3,000
read units per second, on the table and on each global index (a write whose index
partition is hot is throttled too). Emulators have no such limit, so a hot key looks
free there. `PartitionLimits` puts it back: each partition key value of the watched
attributes (the table's and its indexes') gets a token bucket of ``write_units`` and
``read_units`` per second (scaled down, e.g. 25 instead of 1,000, so a laptop can reach
the limit), holding at most ``burst`` seconds of them. The fault proxy
(``FaultConfig(limits=...)``, tests/support/fault_proxy.py) asks it before forwarding:

* a write (PutItem, UpdateItem, DeleteItem, each action of TransactWriteItems) whose
  partitions lack the units is answered ``ProvisionedThroughputExceededException``
  without being forwarded; a BatchWriteItem's writes that lack them come back as
  UnprocessedItems, as DynamoDB does;
* a read (GetItem, Query) of a partition whose bucket is empty is refused the same way;
  one that goes through is charged what it read (4 KB per unit, half for an eventually
  consistent read), so a bucket may go below zero and refuses reads until it refills.

Units: a write costs ``ceil(item JSON bytes / 1 KB)`` (1 for an update or a delete).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PartitionLimits"]

_ASSIGN = re.compile(r"(#\w+)\s*=\s*(:\w+)")
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
_READS = ("GetItem", "Query")


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class PartitionLimits:
    """Token buckets per (table, attribute, partition key value).

    Args:
        keys: table name -> the partition key attributes to limit (the table's own and
            its global indexes', e.g. ``{"scores": ["user_id", "game_shard"]}``).
        write_units: write units per second per partition key value.
        read_units: read units per second per partition key value.
        burst: seconds of units a bucket holds (and starts with).
        clock: seconds, monotonic (a fake one in tests).
    """

    keys: Mapping[str, Sequence[str]]
    write_units: float = 25.0
    read_units: float = 75.0
    burst: float = 0.2
    clock: Callable[[], float] = time.monotonic
    throttled_writes: int = 0
    throttled_reads: int = 0
    #: units consumed per partition key value: (table, attribute, value) -> units
    consumed: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _buckets: dict[tuple[str, str, str, str], _Bucket] = field(default_factory=dict)

    # ------------------------------------------------------------------ buckets

    def _bucket(self, kind: str, part: tuple[str, str, str]) -> _Bucket:
        rate = self.write_units if kind == "w" else self.read_units
        now = self.clock()
        key = (kind, *part)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate * self.burst, now)
        else:
            bucket.tokens = min(rate * self.burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
        return bucket

    def _take(self, parts: list[tuple[tuple[str, str, str], float]]) -> bool:
        """Charge every part's write units, or none when one bucket lacks them."""
        buckets = [(self._bucket("w", part), units) for part, units in parts]
        if any(b.tokens < units for b, units in buckets):
            return False
        for (part, units), (bucket, _) in zip(parts, buckets, strict=True):
            bucket.tokens -= units
            self.consumed[part] = self.consumed.get(part, 0.0) + units
        return True

    # ------------------------------------------------------------------ requests

    def _parts(self, table: str, *sources: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        out = []
        for attr in self.keys.get(table, ()):
            for source in sources:
                value = source.get(attr)
                if value is not None:
                    out.append((table, attr, json.dumps(value, sort_keys=True)))
                    break
        return out

    def _write_parts(self, operation: str, action: Mapping[str, Any]
                     ) -> list[tuple[tuple[str, str, str], float]]:
        table = action["TableName"]
        if operation in ("PutItem", "Put"):
            item = action["Item"]
            units = float(math.ceil(len(json.dumps(item)) / 1024)) or 1.0
            return [(p, units) for p in self._parts(table, item)]
        sets: dict[str, Any] = {}
        if operation in ("UpdateItem", "Update"):
            names = action.get("ExpressionAttributeNames", {})
            values = action.get("ExpressionAttributeValues", {})
            for name, value in _ASSIGN.findall(action.get("UpdateExpression", "")):
                if name in names and value in values:
                    sets[names[name]] = values[value]
        return [(p, 1.0) for p in self._parts(table, action.get("Key", {}), sets)]

    def admit(self, operation: str, payload: Mapping[str, Any]) -> bool:
        """Whether the proxy may forward this request (units charged for a write)."""
        if operation in _WRITES:
            if operation == "TransactWriteItems":
                parts = [part for entry in payload.get("TransactItems", [])
                         for kind, action in entry.items() if kind != "ConditionCheck"
                         for part in self._write_parts(kind, action)]
            else:
                parts = self._write_parts(operation, payload)
            if self._take(parts):
                return True
            self.throttled_writes += 1
            return False
        if operation in _READS and any(
                self._bucket("r", p).tokens <= 0 for p in self._read_parts(payload)):
            self.throttled_reads += 1
            return False
        return True

    def withhold(self, table: str, entry: Mapping[str, Any]) -> bool:
        """For a BatchWriteItem's put or delete: True to return it unprocessed."""
        units = float(math.ceil(len(json.dumps(entry)) / 1024)) or 1.0
        if self._take([(p, units) for p in self._parts(table, entry)]):
            return False
        self.throttled_writes += 1
        return True

    def _read_parts(self, payload: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        table = payload.get("TableName", "")
        if "Key" in payload:
            return self._parts(table, payload["Key"])
        names = payload.get("ExpressionAttributeNames", {})
        values = payload.get("ExpressionAttributeValues", {})
        keyed = {names[n]: values[v]
                 for n, v in _ASSIGN.findall(payload.get("KeyConditionExpression", ""))
                 if n in names and v in values}
        return self._parts(table, keyed)

    def charge(self, operation: str, payload: Mapping[str, Any], answer: bytes) -> None:
        """Charge a read that went through for what it read."""
        if operation not in _READS:
            return
        units = max(1.0, math.ceil(len(answer) / 4096))
        if not payload.get("ConsistentRead"):
            units /= 2
        for part in self._read_parts(payload):
            self._bucket("r", part).tokens -= units
            self.consumed[part] = self.consumed.get(part, 0.0) + units
