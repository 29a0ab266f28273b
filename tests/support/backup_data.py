"""A model with every kind of value dynorm stores, items of it, and a table reader: the
data of the export and import tests (tests/integration/test_export*.py, test_import*.py,
test_backup*.py).

``DYNORM_BACKUP_ITEMS`` sets how many items the large tests move (see `ITEMS`; the
issue's figure is 50,000)."""

from __future__ import annotations

import ipaddress
import os
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel

import dynorm
from dynorm import Connection, Model, PartitionKey, SortKey

#: Items the round-trip and resume tests move: 300 by default on both servers (moto's
#: response serializer turns only a few hundred of these nested items a second into
#: JSON). What more items would exercise (several pages and data files per scan segment,
#: several chunks in flight, checkpoints between files) the tests get from small
#: ``page_size``/``file_size`` instead; ``DYNORM_BACKUP_ITEMS=50000`` is the issue's run.
ITEMS = int(os.environ.get("DYNORM_BACKUP_ITEMS") or 300)


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    city: str
    lines: list[str] = []
    zip: int | None = None


class Everything(Model, table="bk_everything"):
    """One field of every stored kind: S, N, B, BOOL, NULL, L, M, SS, NS, BS."""

    shard: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    text: str
    big: int
    ratio: float
    money: Decimal
    flag: bool
    blob: bytes
    at: datetime
    day: date
    clock: time
    span: timedelta
    uid: UUID
    ip: ipaddress.IPv4Address
    color: Color
    level: Level
    kind: Literal["a", "b"]
    words: set[str]
    numbers: set[int]
    blobs: set[bytes]
    scores: list[Decimal]
    attrs: dict[str, int]
    address: Address
    maybe: str | None = None
    anything: Any = None


def everything(i: int) -> Everything:
    """Item ``i``: every value depends on ``i``, so items differ in every field."""
    return Everything(
        shard=f"s{i % 61:02d}", seq=i, text=f"item {i} ✓ " + "x" * (i % 50),
        big=(-1) ** i * (10 ** 30 + i), ratio=i / 7, money=Decimal(i) / 100 - Decimal("0.5"),
        flag=i % 2 == 0, blob=i.to_bytes(4, "big") + b"\x00\xff", at=datetime(
            2020, 1, 1, tzinfo=timezone(timedelta(hours=i % 5))) + timedelta(seconds=i),
        day=date(2000, 1, 1) + timedelta(days=i), clock=time(i % 24, i % 60, i % 60, i),
        span=timedelta(seconds=i, microseconds=7), uid=UUID(int=i * 7919),
        ip=ipaddress.IPv4Address(i), color=Color.RED if i % 3 else Color.BLUE,
        level=Level.LOW if i % 2 else Level.HIGH, kind="a" if i % 2 else "b",
        words={f"w{i}", f"w{i + 1}"}, numbers={i, -i - 1}, blobs={b"\x01" + bytes([i % 256])},
        scores=[Decimal(i), Decimal("1e-5")], attrs={"a": i, "b": -i},
        address=Address(city=f"city {i}", lines=["l1", f"l{i}"], zip=i if i % 4 else None),
        maybe=None if i % 3 == 0 else f"maybe {i}",
        anything=None if i % 5 == 0 else {"n": i, "l": [True, None, "x", b"\x02"]},
    )


async def fill(count: int, start: int = 0) -> None:
    """Save items ``start`` .. ``start + count - 1`` with a batch."""
    async with dynorm.batch(concurrency=8) as writes:
        for i in range(start, start + count):
            writes.save(everything(i))


async def scan_all(connection: Connection, table: str, **extra: Any) -> list[dict[str, Any]]:
    """Every item of a physical table (raw wire form), by plain Scan pages."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, **extra}
    while True:
        answer = await connection.call("Scan", request)
        items.extend(answer.get("Items") or [])
        if not answer.get("LastEvaluatedKey"):
            return items
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def canonical(value: Any) -> Any:
    """A wire item in a form where equal items compare equal (sets unordered, numbers
    as written by DynamoDB, binary as bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag in ("SS", "NS", "BS"):
                return (tag, frozenset(canonical(v) for v in inner))
            if tag == "N":
                return ("N", Decimal(inner).normalize())
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(canonical(v) for v in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def by_key(items: list[dict[str, Any]], *keys: str) -> dict[Any, Any]:
    """Items indexed by their key (canonical), asserting no key repeats."""
    out: dict[Any, Any] = {}
    for item in items:
        key = tuple(canonical(item[k]) for k in keys)
        assert key not in out, f"key {key} twice"
        out[key] = canonical(item)
    return out
