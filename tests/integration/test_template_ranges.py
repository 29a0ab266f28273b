"""Range conditions on key-template fields select exactly what Python selects.

Items with random values are saved under templates whose text order is the values'
order (zero-padded ints, a string ending the key) and under templates whose text order
is not (unpadded ints, Decimals, day-first dates). Every random range either returns
exactly the items whose field satisfies it (through the key, or through the key's prefix
and a filter on the stored field), or is refused with ExpressionError -- only for a field
stored nowhere but inside the key, where no filter could check it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dynorm import Connection, ExpressionError, InvalidKey, Model, PartitionKey, SortKey, attr

TABLE = "tpl_ranges"


class Score(Model, table=TABLE, entity="score"):
    user: str
    n: int
    pk = PartitionKey("U#{user}")
    sk = SortKey("N#{n}")  # "10" < "9": ranges refused, n is only in the key


class StoredScore(Model, table=TABLE, entity="stored_score", store_key_fields=True):
    user: str
    n: int
    pk = PartitionKey("U#{user}")
    sk = SortKey("M#{n}")  # same, but n is stored: ranges filtered


class Rank(Model, table=TABLE, entity="rank"):
    user: str
    n: int
    tag: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("R#{n:06d}#{tag}")  # fixed width: ranges in the key


class Name(Model, table=TABLE, entity="name"):
    user: str
    name: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("S#{name}")  # last: in the key unless the bound holds "#", "$" or "%"


class StoredName(Model, table=TABLE, entity="stored_name", store_key_fields=True):
    user: str
    name: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("T#{name}")


class Visit(Model, table=TABLE, entity="visit"):
    user: str
    day: date
    visit_id: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("V#{day:%d.%m.%Y}#{visit_id}")  # fixed width, day first: filtered


class Price(Model, table=TABLE, entity="price"):
    user: str
    x: Decimal
    pk = PartitionKey("U#{user}")
    sk = SortKey("P#{x}")


class StoredPrice(Model, table=TABLE, entity="stored_price", store_key_fields=True):
    user: str
    x: Decimal
    pk = PartitionKey("U#{user}")
    sk = SortKey("Q#{x}")


MODELS = [Score, StoredScore, Rank, Name, StoredName, Visit, Price, StoredPrice]
pytestmark = pytest.mark.dynorm_tables(MODELS)
ALPHABET = "ab#$%&-z"


def ranges(field: Any, low: Any, high: Any) -> list[tuple[Any, Callable[[Any], bool]]]:
    """(condition, the same test in Python) for each range operator."""
    return [
        (field > low, lambda v: v > low),
        (field >= low, lambda v: v >= low),
        (field < low, lambda v: v < low),
        (field <= low, lambda v: v <= low),
        (field.between(low, high), lambda v: low <= v <= high),
    ]


def canon(item: Model) -> str:
    """An item's values, equal numbers written alike (DynamoDB stores 4.80 as 4.8)."""
    return repr({k: v.normalize() if isinstance(v, Decimal) else v
                 for k, v in item.__dict__.items()})


async def check(model: type[Model], name: str, items: list[Model], bound: Callable[[], Any],
                rng: random.Random, refused: Callable[[Any], bool]) -> int:
    """Random ranges on ``name``: the query's items are Python's; returns the refusals."""
    count = 0
    for _ in range(12):
        low = bound()
        high = bound()
        low, high = min(low, high), max(low, high)
        cond, test = rng.choice(ranges(attr(getattr(model, name)), low, high))
        want = sorted(canon(x) for x in items if test(getattr(x, name)))
        try:
            got = await model.query(attr(model.user) == "u", cond).to_list()
        except ExpressionError as exc:
            assert refused(low) or refused(high), (model.__name__, cond, exc)
            assert model.__name__ in str(exc) and name in str(exc) and "Fix:" in str(exc)
            count += 1
            continue
        assert sorted(canon(x) for x in got) == want, (model.__name__, cond)
    return count


async def save_all(items: list[Model]) -> list[Model]:
    for item in items:
        await item.save()
    return items


async def test_int_ranges(dynorm_connection: Connection) -> None:
    rng = random.Random(15)
    values = sorted({rng.randint(-50, 1000) for _ in range(25)} | {9, 10, 55, -3})
    scores = await save_all([Score(user="u", n=n) for n in values])
    stored = await save_all([StoredScore(user="u", n=n) for n in values])
    ranks = await save_all([Rank(user="u", n=n, tag=rng.choice(["a", "b#"]))
                            for n in {rng.choice([0, 999999, rng.randint(0, 2000)])
                                      for _ in range(25)}])

    def bound() -> int:
        return rng.choice([9, 10, -3, 0, 999999, 1234567, rng.randint(-60, 1100)])

    assert await check(Score, "n", scores, bound, rng, lambda _: True) == 12  # all refused
    assert await check(StoredScore, "n", stored, bound, rng, lambda _: False) == 0
    assert await check(Rank, "n", ranks, bound, rng, lambda _: False) == 0
    # the hostile user's case: n > 9 finds 10 and 55
    found = await StoredScore.query(attr(StoredScore.user) == "u", attr(StoredScore.n) > 9
                                    ).to_list()
    assert {10, 55} <= {x.n for x in found} and all(x.n > 9 for x in found)
    with pytest.raises(InvalidKey, match=r"Rank\.n: 1234567 does not fit \{n:06d\}"):
        await Rank(user="u", n=1234567, tag="a").save()
    with pytest.raises(InvalidKey, match=r"Rank\.n: -3 does not fit"):
        await Rank(user="u", n=-3, tag="a").save()


async def test_string_ranges(dynorm_connection: Connection) -> None:
    rng = random.Random(16)

    def word() -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4)))

    names = {word() for _ in range(40)}
    plain = await save_all([Name(user="u", name=n) for n in sorted(names)])
    stored = await save_all([StoredName(user="u", name=n) for n in sorted(names)])

    def bad(bound: str) -> bool:
        return any(c in "#$%" for c in bound)  # "#" -> %23 sorts after "$"

    for _ in range(4):
        await check(Name, "name", plain, word, rng, bad)
        assert await check(StoredName, "name", stored, word, rng, lambda _: False) == 0
    for _ in range(10):  # begins_with maps exactly, separators and "%" included
        start = word()
        got = await Name.query(attr(Name.user) == "u", attr(Name.name).begins_with(start)
                               ).to_list()
        assert sorted(x.name for x in got) == sorted(n for n in names if n.startswith(start))


async def test_day_first_dates_and_decimals(dynorm_connection: Connection) -> None:
    rng = random.Random(17)
    start = date(2025, 12, 20)
    visits = await save_all([
        Visit(user="u", day=start + timedelta(days=rng.randint(0, 60)), visit_id=f"v{i}")
        for i in range(30)])
    assert await check(Visit, "day", visits,
                       lambda: start + timedelta(days=rng.randint(-5, 65)), rng,
                       lambda _: False) == 0

    amounts = sorted({Decimal(rng.randint(-500, 500)).scaleb(-2) for _ in range(25)})
    prices = await save_all([Price(user="u", x=x) for x in amounts])
    stored = await save_all([StoredPrice(user="u", x=x) for x in amounts])

    def amount() -> Decimal:
        return Decimal(rng.randint(-600, 600)).scaleb(-2)

    assert await check(Price, "x", prices, amount, rng, lambda _: True) == 12
    assert await check(StoredPrice, "x", stored, amount, rng, lambda _: False) == 0

    # equal Decimals are one key: 1.50 finds and overwrites 1.5
    await Price(user="u", x=Decimal("1.5")).save()
    assert (await Price.get(user="u", x=Decimal("1.50"))).x == Decimal("1.5")
    await Price(user="u", x=Decimal("1.50")).save()
    await Price(user="u", x=Decimal("15E-1")).save()
    ones = await Price.query(attr(Price.user) == "u", attr(Price.x) == Decimal("1.5")).to_list()
    assert len(ones) == 1
