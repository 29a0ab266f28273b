"""Hostile tests of get_many / batch_get / read_items (session 8: items of one model
decoded by key identity alone), and of key identities themselves.

Oracles: single reads of the same keys, and the item as saved. A batch read never
answers None for an item the server returned, and batches never take two items for one.
"""

from __future__ import annotations

import decimal
import random
from decimal import Decimal
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import Model, PartitionKey, SortKey, ValidationFailed
from dynorm.read.batch_get import read_items


class Num(Model, table="h8_num"):
    n: Annotated[Decimal, PartitionKey]
    body: str = ""


class NumSort(Model, table="h8_num_sort"):
    owner: Annotated[str, PartitionKey]
    amount: Annotated[Decimal, SortKey]
    body: str = ""


class Plain(Model, table="h8_plain"):
    pid: Annotated[str, PartitionKey]
    n: int = 0


class Big(Model, table="h8_big"):
    k: Annotated[Decimal, PartitionKey]
    body: str = ""
    n: int = 0


class Cat(Model, table="h8_pets", entity="cat"):
    name: str
    lives: int = 9
    pk = dynorm.PartitionKey("PET#{name}")
    sk = dynorm.SortKey("PET")


class Dog(Model, table="h8_pets", entity="dog"):
    name: str
    good: bool = True
    pk = dynorm.PartitionKey("PET#{name}")
    sk = dynorm.SortKey("PET")


# 31 significant digits written with a trailing ".0": DynamoDB stores (and answers) the
# number as "1234567890123456789012345678901". Key identities used to normalise numbers
# in the caller's decimal context (28 digits by default), so the key asked for and the
# item answered had two identities: get_many answered None for an item that exists.
# They are exact now (dynorm.schema.keys._norm).
LONG = Decimal("1234567890123456789012345678901")
LONG_ASKED = Decimal("1234567890123456789012345678901.0")
# Differs from 1 past the 28th digit: another key (DynamoDB keeps 38 digits).
NEAR_ONE = Decimal("1.000000000000000000000000000001")


@pytest.mark.dynorm_tables([Num, Plain])
async def test_get_many_long_number_key_answers_the_item(dynorm_connection: Any) -> None:
    stored = Num(n=LONG, body="kept")
    await stored.save()
    assert await Num.get(LONG_ASKED) == stored  # the item is there, under this key
    assert await Num.get_many([LONG_ASKED]) == [stored]
    assert await Num.get_many([LONG_ASKED, LONG]) == [stored, stored]  # one key, twice
    # several models in the batch: the same answer
    assert await dynorm.batch_get((Num, LONG_ASKED), (Plain, "p")) == (stored, None)


@pytest.mark.dynorm_tables([NumSort])
async def test_get_many_long_number_sort_key_answers_the_item(
        dynorm_connection: Any) -> None:
    stored = NumSort(owner="o", amount=LONG, body="kept")
    await stored.save()
    assert await NumSort.get(("o", LONG_ASKED)) == stored
    assert await dynorm.get_many(NumSort, [("o", LONG_ASKED), ("o", Decimal(1))]) == [
        stored, None]


@pytest.mark.dynorm_tables([Num])
async def test_read_items_long_number_key_answers_the_item(dynorm_connection: Any) -> None:
    await Num(n=LONG, body="kept").save()
    got = await read_items(Num, [{"n": {"N": str(LONG_ASKED)}}])
    assert got == [{"n": {"N": str(LONG)}, "body": {"S": "kept"}}]


@pytest.mark.dynorm_tables([Num])
async def test_get_many_in_a_decimal_context_answers_the_item(
        dynorm_connection: Any) -> None:
    """An application's decimal context of 10 digits (key identities used to be taken in
    the caller's context) and an 11-digit key written with cents."""
    stored = Num(n=Decimal("12345678901"), body="kept")
    await stored.save()
    with decimal.localcontext(prec=10):
        asked = Decimal("12345678901.00")
        assert await Num.get(asked) == stored
        assert await Num.get_many([asked, Decimal(5)]) == [stored, None]


@pytest.mark.dynorm_tables([Num])
async def test_keys_differing_past_28_digits_are_two_keys(dynorm_connection: Any) -> None:
    await Num(n=Decimal(1), body="one").save()
    assert await Num.find_one(NEAR_ONE) is None
    assert await Num.get_many([Decimal(1), NEAR_ONE]) == [await Num.get(Decimal(1)), None]


@pytest.mark.dynorm_tables([Num])
async def test_a_batch_write_keeps_items_whose_keys_differ_past_28_digits(
        dynorm_connection: Any) -> None:
    """A batch write keeps the last write to an item: two items whose keys differ past
    the 28th digit were one item to it, and the first was dropped unsent."""
    async with dynorm.batch() as b:
        b.save(Num(n=Decimal(1), body="one"))
        b.save(Num(n=NEAR_ONE, body="near"))
    assert (await Num.get(Decimal(1))).body == "one"
    assert (await Num.get(NEAR_ONE)).body == "near"


@pytest.mark.dynorm_tables([Num])
async def test_a_transaction_takes_items_whose_keys_differ_past_28_digits(
        dynorm_connection: Any) -> None:
    async with dynorm.transaction() as tx:
        tx.save(Num(n=Decimal(1), body="one"))
        tx.save(Num(n=NEAR_ONE, body="near"))
    assert [m.body for m in await Num.get_many([Decimal(1), NEAR_ONE]) if m] == [
        "one", "near"]


# --------------------------------------------------------------------------- oracles
# What passes: get_many / batch_get / read_items against single reads of the same keys.


async def _singly(model: type[Model], keys: list[Any]) -> list[Any]:
    return [await model.find_one(k) for k in keys]


@pytest.mark.dynorm_tables([Big])
@pytest.mark.parametrize("seed", range(3))
async def test_get_many_matches_single_reads_across_chunks(dynorm_connection: Any,
                                                           seed: int) -> None:
    """0..400 keys (duplicates, missing items, numbers as int/float/Decimal/"1.00"/dict,
    answers over and under 32 KB, one to eight calls at once) answer as find_one does."""
    r = random.Random(seed)
    async with dynorm.batch() as b:
        for i in range(260):
            if i % 7 != 3:  # every seventh key has no item
                b.save(Big(k=Decimal(i), body="x" * r.choice([0, 300, 3000]), n=i))
    singles = {i: await Big.find_one(i) for i in range(265)}
    assert sum(v is None for v in singles.values()) == 265 - 260 + 37
    for size in (0, 1, 99, 100, 101, 199, 200, 201, 400):
        ids = list(range(size)) if size <= 200 and r.random() < .3 else \
            [r.randrange(265) for _ in range(size)]
        keys = [r.choice([i, float(i), Decimal(i), Decimal(i).quantize(Decimal("0.01")),
                          {"k": i}]) for i in ids]
        got = await dynorm.get_many(Big, keys, concurrency=r.choice([1, 2, 8]))
        assert got == [singles[i] for i in ids], size
        assert sum(g is not None for g in got) == sum(singles[i] is not None for i in ids)
    # a key that does not fit: the same InvalidKey as get(), after chunks went out
    with pytest.raises(dynorm.InvalidKey) as one:
        await Big.get(("a", 1))
    with pytest.raises(dynorm.InvalidKey) as many:
        await Big.get_many([*range(350), ("a", 1)])
    assert str(many.value) == str(one.value)


@pytest.mark.dynorm_tables([Cat])
@pytest.mark.parametrize("seed", range(2))
async def test_single_table_entities_match_single_reads(dynorm_connection: Any,
                                                        seed: int) -> None:
    """Cats and dogs share a table and keys: get_many(Cat) answers None for a dog's
    item, batch_get of both models for one key gives each its own; the raw path
    (read_items, as index queries use it) too."""
    r = random.Random(seed)
    async with dynorm.batch() as b:
        for i in range(150):
            if i % 3 == 0:
                b.save(Cat(name=f"n{i}", lives=i % 9))
            elif i % 3 == 1:
                b.save(Dog(name=f"n{i}", good=bool(i % 2)))
    names = [f"n{r.randrange(160)}" for _ in range(r.choice([30, 150, 260]))]
    keys = [{"name": n} for n in names]
    cats, dogs = await _singly(Cat, keys), await _singly(Dog, keys)
    assert any(c is not None for c in cats) and any(d is not None for d in dogs)
    assert await Cat.get_many(keys) == cats
    assert await dynorm.get_many(Dog, keys) == dogs
    pairs = [p for k in keys[:60] for p in ((Cat, k), (Dog, k))]
    assert list(await dynorm.batch_get(*pairs)) == \
        [x for c, d in zip(cats[:60], dogs[:60], strict=True) for x in (c, d)]
    wire = [Cat.__dynorm_meta__.key_from_fields(k) for k in keys]
    raws = await read_items(Cat, wire)
    assert [x is not None for x in raws] == [c is not None for c in cats]
    assert all(x is None or x["_type"] == {"S": "cat"} for x in raws)


@pytest.mark.dynorm_tables([Plain, Num])
@pytest.mark.parametrize("where", [0, 60, 150])
async def test_an_item_that_does_not_fit_fails_as_get_does(dynorm_connection: Any,
                                                           where: int) -> None:
    async with dynorm.batch() as b:
        for i in range(200):
            b.save(Plain(pid=f"p{i}", n=i))
    conn = dynorm.get_connection()
    await conn.call("PutItem", {"TableName": conn.table_name("h8_plain"), "Item": {
        "pid": {"S": f"p{where}"}, "n": {"S": "not a number"}}})
    with pytest.raises(ValidationFailed) as one:
        await Plain.get(f"p{where}")
    keys = [f"p{i}" for i in range(200)] + ["nope", "p1"]
    with pytest.raises(ValidationFailed) as many:
        await Plain.get_many(keys)
    assert str(many.value) == str(one.value)
    with pytest.raises(ValidationFailed) as mixed:
        await dynorm.batch_get((Plain, f"p{where}"), (Num, Decimal(1)))
    assert str(mixed.value) == str(one.value)
