"""A catalogue of bad input: each case meets the exact error, naming the model/field, and
nothing reaches the table.

Hostile-looking values that are *valid* data (injection attempts, odd characters) are in
the catalogue too: they must be stored and read back verbatim, never interpreted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import pydantic
import pytest
import pytest_asyncio
from pydantic import Field

from dynorm import (
    ConditionFailed,
    EncodingError,
    ExpressionError,
    InvalidKey,
    InvalidTransaction,
    ItemNotFound,
    ItemTooLarge,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    ValidationFailed,
    Version,
    transact_get,
    transaction,
)
from dynorm.read.pagination import InvalidCursor
from tests.support.figures import record


class Acct(Model, table="bi_accts"):
    acct_id: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    owner: str = ""
    balance: int = 0
    ratio: float = 0.0
    amount: Decimal = Decimal(0)
    data: bytes = b""
    tags: set[str] = set()
    when: datetime | None = None
    reserved: str = Field(default="", alias="select")
    odd: str = Field(default="", alias="a.b #c :d [0]")
    version: Annotated[int, Version] = 0


class Strict(Model, table="bi_accts"):  # the same table read through a stricter model
    acct_id: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    balance: pydantic.PositiveInt


def acct(**values: Any) -> Acct:
    return Acct(acct_id=values.pop("acct_id", "a1"), seq=values.pop("seq", 1), **values)


async def save(**values: Any) -> Any:
    return await acct(**values).save()


async def tampered(change: Callable[[str], str]) -> Any:
    page = await Acct.query(Acct.acct_id == "p").page(size=1)
    assert page.cursor is not None
    return await Acct.query(Acct.acct_id == "p").page(size=1, cursor=change(page.cursor))


async def transact(n: int, **values: Any) -> None:
    async with transaction() as tx:
        for i in range(n):
            tx.save(acct(seq=i, **values))


async def twice_in_tx() -> None:
    async with transaction() as tx:
        tx.save(acct())
        tx.save(acct(owner="other"))


def raises(exc: type[BaseException], match: str) -> tuple[type[BaseException], str]:
    return exc, match


async def other_scope() -> Any:
    page = await Acct.query(Acct.acct_id == "p").page(size=1)
    return await Strict.scan().page(size=1, cursor=page.cursor)


Case = tuple[str, Callable[[], Awaitable[Any] | Any], type[BaseException], str]
WRONG_TYPES: list[Case] = [
    (f"{field}={value!r}", lambda f=field, v=value: save(**{f: v}), pydantic.ValidationError,
     field)
    for field, value in [("balance", "lots"), ("balance", 1.5), ("balance", [1]),
                         ("ratio", "fast"), ("amount", "ten"), ("amount", object()),
                         ("tags", 5), ("tags", [1, {}]), ("when", "yesterday"),
                         ("owner", 42), ("owner", None), ("data", 3.0)]
]
NUMBERS: list[Case] = [
    ("ratio NaN", lambda: save(ratio=float("nan")), EncodingError, r"Acct\.ratio: nan"),
    ("ratio inf", lambda: save(ratio=float("inf")), EncodingError, r"Acct\.ratio: inf"),
    ("ratio -inf", lambda: save(ratio=float("-inf")), EncodingError, r"Acct\.ratio: -inf"),
    ("amount NaN", lambda: save(amount=Decimal("NaN")), pydantic.ValidationError, "amount"),
    ("amount sNaN", lambda: save(amount=Decimal("sNaN")), pydantic.ValidationError, "amount"),
    ("amount Infinity", lambda: save(amount=Decimal("Infinity")), pydantic.ValidationError,
     "amount"),
    ("39 digits", lambda: save(amount=Decimal("1" * 39)), EncodingError,
     r"Acct\.amount: .* more than 38 significant digits"),
    ("1e200", lambda: save(amount=Decimal("1e200")), EncodingError,
     r"Acct\.amount: .*outside DynamoDB's number range"),
    ("1e-200", lambda: save(amount=Decimal("1e-200")), EncodingError,
     r"Acct\.amount: .*outside DynamoDB's number range"),
    ("int 10**40 + 1", lambda: save(balance=10**40 + 1), EncodingError, r"Acct\.balance"),
]
SIZES: list[Case] = [
    ("410 KB string", lambda: save(owner="x" * 410_000), ItemTooLarge, r"Acct: item is \d+"),
    ("410 KB bytes", lambda: save(data=b"x" * 410_000), ItemTooLarge, "Acct: item is"),
    ("set over 400 KB", lambda: save(tags={f"{i:07d}" * 10 for i in range(6000)}),
     ItemTooLarge, "Acct: item is"),
    ("400 KB in a transaction", lambda: transact(1, owner="y" * 410_000), ItemTooLarge,
     "Acct: item is"),
    ("transaction over 4 MB", lambda: transact(11, owner="z" * 390_000), InvalidTransaction,
     "over DynamoDB's 4194304"),
]
KEYS: list[Case] = [
    ("empty partition on save", lambda: save(acct_id=""), InvalidKey,
     r"Acct\.acct_id: key attributes cannot be empty"),
    ("empty partition on get", lambda: Acct.get("", 1), InvalidKey, r"Acct\.acct_id"),
    ("empty partition on delete", lambda: acct(acct_id="").delete(), InvalidKey,
     r"Acct\.acct_id"),
    ("int partition", lambda: Acct.get(123, 1), InvalidKey,
     r"Acct\.acct_id: .*expected str, got int"),
    ("str sort", lambda: Acct.get("a1", "one"), InvalidKey, r"Acct\.seq: .*expected int"),
    ("float sort", lambda: Acct.get("a1", 1.5), InvalidKey, r"Acct\.seq"),
    ("None partition", lambda: Acct.get(None, 1), InvalidKey, r"Acct\.acct_id: .*missing"),
    ("missing sort", lambda: Acct.get("a1"), InvalidKey, r"Acct: sort key 'seq' is required"),
    ("bytes partition", lambda: Acct.get(b"a1", 1), InvalidKey, r"Acct\.acct_id"),
    ("list partition", lambda: Acct.get(["a1"], 1), InvalidKey, r"Acct\.acct_id"),
    ("empty key in update_item", lambda: Acct.update_item(("", 1), Acct.balance.add(1)),
     InvalidKey, r"Acct\.acct_id"),
    ("wrong key in transact_get", lambda: transact_get((Acct, (1, 1))), InvalidKey,
     r"Acct\.acct_id"),
    ("update of a key field", lambda: acct().update(Acct.acct_id.set("b")), ExpressionError,
     r"Acct\.acct_id is \(part of\) the table key"),
    ("update of a missing item", lambda: acct(acct_id="zz").update(Acct.balance.add(1)),
     ItemNotFound, r"Acct \(acct_id='zz', seq='1'\) not found"),
]
EXPRESSIONS: list[Case] = [
    ("ADD to a string", lambda: acct().update(Acct.owner.add(1)), ExpressionError,
     r"Acct\.owner\.add\(\)"),
    ("truth value of a condition", lambda: bool(Acct.balance > 3), TypeError,
     "has no truth value"),
    ("unknown field", lambda: Acct.nope, AttributeError, "Acct has no field .*'nope'"),
    ("condition on a missing path", lambda: acct().save(condition=Acct.owner == "x"),
     ConditionFailed,
     r"Acct \(acct_id='a1', seq='1'\): condition failed"),
    ("condition on a missing nested path",
     lambda: acct().save(condition=Acct.tags.contains("x")), ConditionFailed, "condition failed"),
    ("exists() on a missing item", lambda: acct().save(condition=Acct.owner.exists()),
     ConditionFailed, "condition failed"),
]
LIMITS: list[Case] = [
    ("transaction of 101", lambda: transact(101), InvalidTransaction, "at most 100 actions"),
    ("one item twice in a transaction", twice_in_tx, InvalidTransaction,
     r"Acct \(acct_id='a1', seq='1'\) .* already in this transaction"),
    ("transact_get of 101", lambda: transact_get(*[(Acct, ("a", i)) for i in range(101)]),
     InvalidTransaction, "at most 100"),
    ("transact_get twice", lambda: transact_get((Acct, ("a", 1)), (Acct, ("a", 1))),
     InvalidTransaction, "asked twice"),
]
CURSORS: list[Case] = [
    ("garbage cursor", lambda: Acct.query(Acct.acct_id == "p").page(cursor="garbage"),
     InvalidCursor, "altered or forged"),
    ("empty cursor signature", lambda: tampered(lambda c: c.split(".")[0] + "."),
     InvalidCursor, "altered or forged"),
    ("flipped payload byte",
     lambda: tampered(lambda c: ("B" if c[0] != "B" else "C") + c[1:]),
     InvalidCursor, "altered or forged"),
    ("flipped signature byte", lambda: tampered(lambda c: c[:-5] + ("A" if c[-5] != "A" else "B")
                                                + c[-4:]),
     InvalidCursor, "altered or forged"),
    ("cursor of another model", other_scope,
     InvalidCursor, "cursors only continue the query they came from"),
    ("truncated cursor", lambda: tampered(lambda c: c[: len(c) // 2]), InvalidCursor,
     "altered or forged|not a dynorm cursor"),
    ("non-ascii cursor", lambda: tampered(lambda c: "é" + c), InvalidCursor,
     "altered or forged|not a dynorm cursor"),
]



STORED: list[Case] = [
    ("stored item with a wrong type", lambda: read_raw({"balance": {"S": "many"}}),
     ValidationFailed, r"table 'bi_accts' with key \(acct_id='raw', seq='1'\) does not fit "
                       r"Acct: balance"),
    ("stored item with a missing required field", lambda: read_raw({}, model=Strict),
     ValidationFailed, r"does not fit Strict: balance"),
    ("stored item out of the model's range", lambda: read_raw({"balance": {"N": "-5"}},
                                                                model=Strict),
     ValidationFailed, r"does not fit Strict: balance"),
    ("stored set where a string is", lambda: read_raw({"owner": {"SS": ["a"]}}),
     ValidationFailed, r"does not fit Acct: owner"),
    ("stored text where a number is", lambda: read_raw({"ratio": {"S": "x"}}),
     ValidationFailed, r"does not fit Acct: ratio"),
]

# Hostile but valid values: stored and read back verbatim (no error at all).
HOSTILE = ['") OR attribute_exists(#x', "#n0", ":v0", "' OR '1'='1", "a = :v0 OR b",
           "${jndi:x}", "\u0000\u202e", "SET #n0 = :v1", "REMOVE balance", "a.b[0]"]
VALUES: list[Case] = [(f"hostile value {v!r}", lambda v=v: roundtrip(v), type(None), "")
                      for v in HOSTILE]


async def read_raw(extra: dict[str, Any], model: type[Model] = Acct) -> Any:
    from dynorm.connection import get_connection

    item = {"acct_id": {"S": "raw"}, "seq": {"N": "1"}, **extra}
    await get_connection().call("PutItem", {"TableName": "bi_accts", "Item": item})
    return await model.get("raw", 1)


async def roundtrip(value: str) -> None:
    stored = await acct(acct_id=value, seq=7, owner=value, reserved=value, odd=value,
                        tags={value}).save()
    got = await Acct.get(value, 7, consistent=True)
    assert got == stored and got.owner == value and got.reserved == value
    found = await Acct.query(Acct.acct_id == value).filter(Acct.owner == value).to_list()
    assert found == [stored]
    none = await Acct.scan().filter(Acct.owner == value + "x").to_list()
    assert none == []


CASES: list[Case] = [*WRONG_TYPES, *NUMBERS, *SIZES, *KEYS, *EXPRESSIONS, *LIMITS, *CURSORS,
                     *STORED, *VALUES]


@pytest_asyncio.fixture
async def table(dynorm_server: LocalServer) -> AsyncIterator[None]:
    dynorm_server.reset()
    async with dynorm_server.connect(transport="fast"):
        await Acct.create_table()
        for i in range(3):  # a partition "p" to page through (cursor cases)
            await Acct(acct_id="p", seq=i).save()
        yield


def test_catalogue_is_big_enough() -> None:
    assert len(CASES) >= 60
    record("bad_input", cases=len(CASES))


@pytest.mark.parametrize(("name", "action", "error", "match"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_input(table: None, name: str, action: Callable[[], Any],
                         error: type[BaseException], match: str) -> None:
    before = {(a.acct_id, a.seq): a async for a in Acct.scan()}
    if error is type(None):
        result = action()
        if hasattr(result, "__await__"):
            await result
        return
    with pytest.raises(error, match=match):
        result = action()
        if hasattr(result, "__await__"):
            await result
    after = {(a.acct_id, a.seq): a async for a in Acct.scan()
             if a.acct_id != "raw"} if not name.startswith("stored") else before
    assert after == before  # nothing was written
