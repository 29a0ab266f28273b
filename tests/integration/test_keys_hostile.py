"""Hostile tests of key identities and batch-get bookkeeping (session 8b).

Oracles: the server itself (two spellings of a number written one by one are one item
to it, then a batch must treat them as one), single reads of the same keys, and for
``BatchGetFailed`` the keys withheld by the fault proxy (tests/support/fault_proxy.py).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import LocalServer, Model, PartitionKey, RetryPolicy, SortKey
from dynorm.read.batch_get import BatchGetFailed, read_items
from tests.support.fault_proxy import FaultConfig, faulty_connection


class HNum(Model, table="hk_num"):
    n: Annotated[Decimal, PartitionKey]
    body: str = ""


class HPair(Model, table="hk_pair"):
    owner: Annotated[str, PartitionKey]
    amount: Annotated[Decimal, SortKey]
    body: str = ""


class HBin(Model, table="hk_bin"):
    blob: Annotated[bytes, PartitionKey]
    seq: Annotated[int, SortKey]
    body: str = ""


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class HEnum(Model, table="hk_enum"):
    colour: Annotated[Colour, PartitionKey]
    level: Annotated[Level, SortKey]
    body: str = ""


class HCat(Model, table="hk_pets", entity="cat"):
    name: str
    lives: int = 9
    pk = dynorm.PartitionKey("PET#{name}")
    sk = dynorm.SortKey("PET")


class HDog(Model, table="hk_pets", entity="dog"):
    name: str
    good: bool = True
    pk = dynorm.PartitionKey("PET#{name}")
    sk = dynorm.SortKey("PET")


#: (one number as stored, other spellings of it as keys a caller may give)
SPELLINGS: list[tuple[Decimal, list[Any]]] = [
    (Decimal(0), [0, -0.0, 0.0, Decimal("-0"), Decimal("0E-10"), Decimal("-0.000"),
                  Decimal("0E+100")]),
    (Decimal(1), [1, 1.0, Decimal("1.000"), Decimal("1E+0"), Decimal("10E-1"),
                  Decimal("0.1E+1")]),
    (Decimal(-7), [-7, -7.0, Decimal("-7.00"), Decimal("-0.7E+1"), Decimal("-70E-1")]),
    (Decimal("1E+125"), [10**125, Decimal("10E+124"), Decimal("1.000E+125"), 1e125]),
    (Decimal("1E-129"), [Decimal("0.1E-128"), Decimal("10E-130"), Decimal("1.0E-129")]),
    (Decimal("12345678901234567890123456789012345678"),
     [12345678901234567890123456789012345678,
      Decimal("12345678901234567890123456789012345678.000"),
      Decimal("1.2345678901234567890123456789012345678E+37")]),
    (Decimal("-9.9999999999999999999999999999999999999E+125"),
     [Decimal("-99999999999999999999999999999999999999E+88")]),
]


@pytest.mark.dynorm_tables([HNum, HPair])
@pytest.mark.parametrize(("stored", "spellings"), SPELLINGS,
                         ids=[str(s) for s, _ in SPELLINGS])
async def test_every_spelling_of_a_number_key_is_the_item_it_is_on_the_server(
        dynorm_connection: Any, stored: Decimal, spellings: list[Any]) -> None:
    item = HNum(n=stored, body="kept")
    await item.save()
    pair = HPair(owner="o", amount=stored, body="kept")
    await pair.save()
    # the server: each spelling reads the item, and writing one adds no item
    singles = [await HNum.find_one(k) for k in spellings]
    assert singles == [item] * len(spellings)
    # a batch read: every spelling answered with the item, one key on the wire
    assert await HNum.get_many(spellings) == [item] * len(spellings)
    assert await dynorm.get_many(HPair, [("o", k) for k in spellings]) == \
        [pair] * len(spellings)
    assert await dynorm.batch_get(*[(HNum, k) for k in spellings],
                                  (HPair, ("o", spellings[0]))) == \
        (*[item] * len(spellings), pair)
    raw = await read_items(HNum, [HNum.__dynorm_meta__.key(k) for k in spellings])
    assert [r is not None for r in raw] == [True] * len(spellings)
    # a batch write: the last write to the item wins, as on the server one by one
    async with dynorm.batch() as b:
        for i, k in enumerate(spellings):
            b.save(HNum(n=k, body=f"w{i}"))
    assert await HNum.scan().count() == 1
    assert (await HNum.get(stored)).body == f"w{len(spellings) - 1}"
    # a transaction: two spellings are one item (refused as a second action)
    if len(spellings) > 1:
        with pytest.raises(dynorm.DynormError):
            async with dynorm.transaction() as tx:
                tx.save(HNum(n=spellings[0], body="t0"))
                tx.save(HNum(n=spellings[1], body="t1"))
    assert await HNum.scan().count() == 1


@pytest.mark.dynorm_tables([HNum])
async def test_numbers_one_apart_in_the_38th_digit_are_two_items(
        dynorm_connection: Any) -> None:
    base, next_up = (Decimal("1234567890123456789012345678901234567.8"),
                     Decimal("1234567890123456789012345678901234567.9"))
    near = [base, next_up, Decimal(f"-{base}"), Decimal(f"-{next_up}"),
            Decimal("1E-129"), Decimal("1.1E-129"), Decimal("1E+125"), Decimal("1.1E+125")]
    async with dynorm.batch() as b:
        for i, k in enumerate(near):
            b.save(HNum(n=k, body=f"b{i}"))
    assert await HNum.scan().count() == len(near)
    got = await HNum.get_many([*near, *near])
    assert [g.body if g else None for g in got] == [f"b{i}" for i in range(len(near))] * 2
    async with dynorm.transaction() as tx:
        for i, k in enumerate(near):
            tx.save(HNum(n=k, body=f"t{i}"))
    got = await HNum.get_many(near)
    assert [g.body if g else None for g in got] == [f"t{i}" for i in range(len(near))]


BLOBS = [b"\x00", b"\x00\x00", b"\xff", b"\xff\xfe\x00", bytes(range(256)), b"a" * 1024]


@pytest.mark.dynorm_tables([HBin])
async def test_binary_keys_read_back_by_every_bytes_like_spelling(
        dynorm_connection: Any) -> None:
    items = [HBin(blob=v, seq=i, body=f"b{i}") for i, v in enumerate(BLOBS)]
    async with dynorm.batch() as b:
        for it in items:
            b.save(it)
    keys: list[Any] = []
    want: list[Any] = []
    for i, v in enumerate(BLOBS):
        for spelled in (v, bytearray(v), memoryview(v)):
            keys.append((spelled, i))
            want.append(items[i])
        keys.append((v + b"\x00", i))  # another item (none)
        want.append(None)
    assert await HBin.get_many(keys) == want
    assert list(await dynorm.batch_get(*[(HBin, k) for k in keys])) == want
    async with dynorm.batch() as b:  # last write wins per item
        for i, v in enumerate(BLOBS):
            b.save(HBin(blob=bytearray(v), seq=i, body="first"))
            b.save(HBin(blob=v, seq=i, body="last"))
    assert await HBin.scan().count() == len(BLOBS)
    assert {g.body for g in await HBin.get_many([(v, i) for i, v in enumerate(BLOBS)])
            if g} == {"last"}


TEXTS = ["a", "A", "\u00e9", "e\u0301", "\u00e9\u0301", "\U0001f600", "\U0010ffff", "\u00df",
         "SS", "\x00", " a", "a ", "\ufb00", "ff", "\u0130", "i\u0307", "\u2126", "\u03a9"]


@pytest.mark.dynorm_tables([HPair])
async def test_strings_differing_only_in_unicode_form_are_distinct_items(
        dynorm_connection: Any) -> None:
    async with dynorm.batch() as b:
        for i, t in enumerate(TEXTS):
            b.save(HPair(owner=t, amount=Decimal(1), body=f"b{i}"))
    assert await HPair.scan().count() == len(TEXTS)
    got = await HPair.get_many([(t, 1) for t in TEXTS] + [(t, Decimal("1.0")) for t in TEXTS])
    assert [g.body if g else None for g in got] == [f"b{i}" for i in range(len(TEXTS))] * 2
    got2 = await dynorm.batch_get(*[(HPair, (t, 1)) for t in TEXTS])
    assert [g.body if g else None for g in got2] == [f"b{i}" for i in range(len(TEXTS))]


@pytest.mark.dynorm_tables([HEnum])
async def test_enum_keys_read_as_their_values(dynorm_connection: Any) -> None:
    stored = HEnum(colour=Colour.RED, level=Level.HIGH, body="x")
    await stored.save()
    keys: list[Any] = [(Colour.RED, Level.HIGH), ("red", 2), (Colour.RED, 2),
                       ("red", Level.HIGH), (Colour.BLUE, Level.HIGH), ("red", 1)]
    singles = [await HEnum.find_one(k) for k in keys]
    assert singles == [stored] * 4 + [None, None]
    assert await HEnum.get_many(keys) == singles


# -------------------------------------------------------------- batch get bookkeeping

MODELS = [HNum, HPair, HCat, HDog]


async def _fill() -> dict[str, Any]:
    saved = {
        "n1": HNum(n=Decimal(1), body="n1"), "n2": HNum(n=Decimal("2.5"), body="n2"),
        "p1": HPair(owner="o", amount=Decimal(3), body="p1"),
        "tom": HCat(name="tom", lives=3), "rex": HDog(name="rex", good=False),
    }
    async with dynorm.batch() as b:
        for s in saved.values():
            b.save(s)
    return saved


def _pairs() -> list[tuple[type[Model], Any]]:
    """Several tables, one shared table, keys asked by two models at once, spellings."""
    return [
        (HNum, Decimal("1.00")), (HDog, {"name": "tom"}), (HCat, {"name": "tom"}),
        (HNum, 1), (HPair, ("o", 3)), (HCat, {"name": "rex"}), (HNum, Decimal("2.50")),
        (HDog, {"name": "rex"}), (HPair, ("o", Decimal("3.0"))), (HNum, 9),
        (HCat, {"name": "nobody"}), (HDog, {"name": "nobody"}), (HNum, 2.5),
    ]


def _expected(saved: dict[str, Any]) -> list[Any]:
    n1, n2, p1, tom, rex = (saved[k] for k in ("n1", "n2", "p1", "tom", "rex"))
    return [n1, None, tom, n1, p1, None, n2, rex, p1, None, None, None, n2]


async def test_batch_get_of_several_models_through_unprocessed_keys(
        dynorm_server: LocalServer) -> None:
    """Every key withheld the first two times it is asked for (UnprocessedKeys, in the
    spelling asked): the retries answer exactly what single reads answer."""
    seen: dict[str, int] = {}

    def twice(table: str, entry: dict[str, Any]) -> bool:
        k = f"{table}:{sorted((a, tuple(v.items())) for a, v in entry.items())}"
        seen[k] = seen.get(k, 0) + 1
        return seen[k] <= 2

    config = FaultConfig(seed=1, unprocessed=None)
    async with faulty_connection(dynorm_server, config, MODELS, max_attempts=2) as (proxy, _):
        saved = await _fill()
        proxy.config.unprocessed = twice
        patient = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.002)
        got = await dynorm.batch_get(*_pairs(), retry=patient)
        assert list(got) == _expected(saved)
        assert proxy.stats.unprocessed_keys == 2 * 7  # seven distinct keys, twice each
        seen.clear()
        got1 = await dynorm.get_many(HNum, [Decimal("1.00"), 1, 9, 2.5, Decimal("2.50")],
                                     retry=patient)
        assert got1 == [saved["n1"], saved["n1"], None, saved["n2"], saved["n2"]]


async def test_batch_get_failed_names_each_withheld_key_once_by_its_first_asker(
        dynorm_server: LocalServer) -> None:
    """Keys withheld on every round: ``missing`` names each once, with the model that
    asked for it first and the wire key as first spelled; nothing else is named."""

    def always(table: str, entry: dict[str, Any]) -> bool:
        return entry.get("pk") == {"S": "PET#tom"} or entry.get("n", {}).get("N") in (
            "1.00", "1")

    config = FaultConfig(seed=1)
    async with faulty_connection(dynorm_server, config, MODELS, max_attempts=2) as (proxy, _):
        await _fill()
        proxy.config.unprocessed = always
        brief = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
        with pytest.raises(BatchGetFailed) as info:
            await dynorm.batch_get(*_pairs(), retry=brief)
        missing = sorted((m.__name__, repr(k)) for m, k in info.value.missing)
        assert missing == sorted([
            ("HNum", repr({"n": {"N": "1.00"}})),
            ("HDog", repr({"pk": {"S": "PET#tom"}, "sk": {"S": "PET"}})),
        ])
        with pytest.raises(BatchGetFailed) as one:
            await dynorm.get_many(HNum, [Decimal("2.5"), 1, Decimal("1.0"), 9], retry=brief)
        assert [(m, k) for m, k in one.value.missing] == [(HNum, {"n": {"N": "1"}})]
