"""Run one condition on the server (a Scan filter) and in Python (``Condition.matches``).

Conditions are built from the raw condition classes over untyped paths, so any attribute
type can meet any operand type (the typed builders refuse many such pairs before
sending). Values are wire values as the fast transport sends them: Binary as base64.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from dynorm import Connection, RequestRejected, ServiceError
from dynorm._types import AttributeValue
from dynorm.codec.core import compile_codec
from dynorm.expressions import Condition, Path, Placeholders, Value

__all__ = ["KEY", "Outcome", "b", "create_table", "load", "path", "python_select",
           "server_select", "val"]

KEY = "k"
ANY = compile_codec(Any)

#: a set of item keys, or the name of the error: ``"rejected"`` is a ValidationException
Outcome = frozenset[str] | str

Item = Mapping[str, AttributeValue]


def b(raw: bytes) -> AttributeValue:
    """A Binary wire value as the fast transport sends it."""
    return {"B": base64.b64encode(raw).decode()}


def path(*elements: str | int) -> Path:
    return Path(tuple(elements), ANY)


def val(av: AttributeValue) -> Value:
    return Value(av)


async def create_table(conn: Connection, name: str) -> None:
    await conn.call("CreateTable", {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    })


async def load(conn: Connection, table: str, items: Sequence[Item]) -> dict[str, Item]:
    """Write the items, then read them back as the server stores them (normalised numbers)."""
    for i in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": dict(it)}} for it in items[i:i + 25]]
        pending: dict[str, Any] = {table: chunk}
        while pending:
            answer = await conn.call("BatchWriteItem", {"RequestItems": pending})
            pending = answer.get("UnprocessedItems") or {}
    stored: dict[str, Item] = {}
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = await conn.call("Scan", request)
        for it in page["Items"]:
            stored[it[KEY]["S"]] = it
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert len(stored) == len(items)
    return stored


async def server_select(conn: Connection, table: str, cond: Condition) -> Outcome:
    """The keys of the items the server's Scan keeps with ``cond`` as its filter."""
    ph = Placeholders()
    text = cond.compile(ph)
    request: dict[str, Any] = {
        "TableName": table, "FilterExpression": text,
        "ProjectionExpression": ph.name(KEY), **ph.to_request(),
    }
    keys: set[str] = set()
    try:
        while True:
            page = await conn.call("Scan", request)
            keys.update(it[KEY]["S"] for it in page["Items"])
            if "LastEvaluatedKey" not in page:
                return frozenset(keys)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except RequestRejected:
        return "rejected"
    except ServiceError as exc:
        return f"{type(exc).__name__}({exc.code})"


def python_select(items: Mapping[str, Item], cond: Condition) -> Outcome:
    """The keys of the items ``cond.matches`` keeps (or the error it raised)."""
    try:
        return frozenset(k for k, it in items.items() if cond.matches(it))
    except Exception as exc:  # the kind of error is the outcome
        return f"raises {type(exc).__name__}"
