"""One way to pass a key (issue 16): every API that takes a key takes the partition value,
``(partition, sort)`` or a dict of key fields, normalised by ``dynorm.schema.keys`` alone.
Exact request dicts through MockTransport (no server); the same against a server in
tests/integration/test_keys_everywhere.py."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import GlobalIndex, InvalidKey, MockTransport, Model, PartitionKey, SortKey
from dynorm.schema.keys import key_arg, wire_key


class Score(Model, table="k_scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    points: int = 0


class Player(Model, table="k_players"):
    player_id: Annotated[str, PartitionKey]
    name: str = ""


class Order(Model, table="k_shop", entity="order"):
    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("ORDER#{order_id}")
    user_id: str
    order_id: str
    total: int = 0


SCORE_KEY = {"user_id": {"S": "u1"}, "game": {"S": "tetris"}}
PLAYER_KEY = {"player_id": {"S": "p1"}}
ORDER_KEY = {"pk": {"S": "USER#u1"}, "sk": {"S": "ORDER#o9"}}

#: (model, every spelling of one key, its wire form)
SPELLINGS: list[tuple[type[Model], list[Any], dict[str, Any]]] = [
    (Score, [("u1", "tetris"), {"user_id": "u1", "game": "tetris"}], SCORE_KEY),
    (Player, ["p1", ("p1",), {"player_id": "p1"}], PLAYER_KEY),
    (Order, [{"user_id": "u1", "order_id": "o9"}], ORDER_KEY),
]

#: Each API, called with one key: what it sends is checked for that key.
Call = Callable[[type[Model], Any], Awaitable[Any]]


#: an update action of each model (for update_item)
ACTION = {Score: Score.points.set(1), Player: Player.name.set("x"), Order: Order.total.set(1)}


async def _get(model: type[Model], key: Any) -> None:
    with contextlib.suppress(dynorm.ItemNotFound):
        await model.get(key)


async def _tx_check(model: type[Model], key: Any) -> None:
    async with dynorm.transaction() as tx:
        tx.check(model, key, ACTION[model].path.exists())


async def _batch_delete(model: type[Model], key: Any) -> None:
    async with dynorm.batch() as b:
        b.delete(model, key)


APIS: dict[str, Call] = {
    "get": _get,
    "find_one": lambda m, k: m.find_one(k),
    "update_item": lambda m, k: m.update_item(k, ACTION[m], upsert=True),
    "Model.get_many": lambda m, k: m.get_many([k]),
    "dynorm.get_many": lambda m, k: dynorm.get_many(m, [k]),
    "batch_get": lambda m, k: dynorm.batch_get((m, k)),
    "transact_get": lambda m, k: dynorm.transact_get((m, k)),
    "tx.check": _tx_check,
    "b.delete": _batch_delete,
}


def _sent_key(operation: str, request: dict[str, Any]) -> Any:
    if operation in ("GetItem", "UpdateItem"):
        return request["Key"]
    if operation == "BatchGetItem":
        ((entry,),) = [e["Keys"] for e in request["RequestItems"].values()]
        return entry
    if operation == "TransactGetItems":
        return request["TransactItems"][0]["Get"]["Key"]
    if operation == "TransactWriteItems":
        return request["TransactItems"][0]["ConditionCheck"]["Key"]
    assert operation == "BatchWriteItem"
    (((entry,),),) = [request["RequestItems"].values()]
    return entry["DeleteRequest"]["Key"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("model", "spellings", "wire"), SPELLINGS,
                         ids=[m.__name__ for m, _, _ in SPELLINGS])
async def test_every_spelling_sends_the_same_key(api: str, model: type[Model],
                                                 spellings: list[Any], wire: Any) -> None:
    transport = MockTransport(lambda op, req: {"Attributes": {}} if op == "UpdateItem" else {})
    async with dynorm.connect(transport=transport):
        for key in spellings:
            await APIS[api](model, key)
    assert len(transport.requests) == len(spellings)
    assert [_sent_key(op, req) for op, req in transport.requests] == [wire] * len(spellings)


async def test_get_shorthands_are_the_same_key() -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport):
        assert await Score.find_one("u1", "tetris") is None
        assert await Score.find_one(("u1", "tetris")) is None
        assert await Score.find_one(user_id="u1", game="tetris") is None
        assert await Score.find_one({"user_id": "u1", "game": "tetris"}) is None
        assert await Order.find_one(user_id="u1", order_id="o9") is None
        with pytest.raises(dynorm.ItemNotFound, match=r"Score \(user_id='u1', game='tetris'\)"):
            await Score.get("u1", "tetris")
    keys = [req["Key"] for _, req in transport.requests]
    assert keys == [SCORE_KEY] * 4 + [ORDER_KEY] + [SCORE_KEY]


WRONG = [
    (Score, "u1", r"Score: sort key 'game' is required .*: a key is \(user_id, game\) or a "
     r"dict of key fields \(user_id=\.\.\., game=\.\.\.\), got 'u1'"),
    (Score, ("u1", "tetris", "x"), r"Score: a key is \(user_id, game\) or a dict of key fields "
     r"\(user_id=\.\.\., game=\.\.\.\), got \('u1', 'tetris', 'x'\)"),
    (Player, ("p1", "x"), r"Player: a key is the player_id value or a dict of key fields "
     r"\(player_id=\.\.\.\), got \('p1', 'x'\)"),
    (Order, ("u1", "o9"), r"Order's key is computed from fields: pass them by name "
     r"\(order_id=\.\.\., user_id=\.\.\.\)"),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("model", "key", "message"), WRONG,
                         ids=["missing sort", "three values", "two values", "templated"])
async def test_a_key_of_the_wrong_shape_is_invalid_everywhere(
        api: str, model: type[Model], key: Any, message: str) -> None:
    transport = MockTransport()
    async with dynorm.connect(transport=transport):
        with pytest.raises(InvalidKey, match=message):
            await APIS[api](model, key)
    assert transport.requests == []  # refused before anything was sent


def test_key_arg_is_the_one_shape_of_get_arguments() -> None:
    assert key_arg("M", "u1") == "u1"
    assert key_arg("M", "u1", "t") == ("u1", "t")
    assert key_arg("M", ("u1", "t")) == ("u1", "t")
    assert key_arg("M", fields={"user_id": "u1"}) == {"user_id": "u1"}
    with pytest.raises(InvalidKey, match="by position or by name, not both"):
        key_arg("M", "u1", fields={"game": "t"})
    with pytest.raises(InvalidKey, match="a sort value was given after a whole key"):
        key_arg("M", ("u1", "t"), "t")
    meta = Score.__dynorm_meta__
    assert meta is not None
    assert wire_key(meta, "Score", key_arg("Score", "u1", "tetris")) == SCORE_KEY


@pytest.mark.parametrize("attrs", [("pk",), ("sk", "pk")])
def test_key_ider_is_key_id_read_from_the_item(attrs: tuple[str, ...]) -> None:
    from dynorm.schema.keys import key_id, key_ider

    ider = key_ider("t", attrs)
    items: list[dict[str, Any]] = [
        {"pk": {"S": "a"}, "sk": {"N": "10"}, "x": {"S": "y"}},
        {"pk": {"B": b"\x00"}, "sk": {"N": "1.50"}},
        {"pk": {"S": "b"}, "sk": {"N": "-7"}},
    ]
    for item in items:
        assert ider(item) == key_id("t", {a: item[a] for a in attrs})


class Counter(Model, table="k_counters"):
    n: Annotated[int, PartitionKey]
    at: Annotated[bytes, SortKey]


def test_a_batch_gets_key_maker_makes_what_wire_key_makes_and_refuses_what_it_refuses() -> None:
    """``key_maker`` is `wire_key` for many keys of one model (a batch get's, measured
    faster): for every key, good or bad, the same wire key or the same error."""
    from dynorm.schema.classes import meta_of
    from dynorm.schema.keys import key_maker

    big = "x" * 2049
    keys: list[Any] = [
        ("u1", "tetris"), ("u1",), "u1", ("u1", "t", "x"), ("u1", None), (None, "t"),
        ("", "t"), ("u1", ""), (big, "t"), ("u1", "y" * 1025), ("u1", 3), (3, "t"),
        {"user_id": "u1", "game": "g"}, {"user_id": "u1"}, ["u1", "t"], ("ü" * 600, "t"),
        "p1", ("p1",), {"player_id": "p1"}, 7, ("p1", "x"), None, big,
        {"user_id": "u1", "order_id": "o9"}, ("u1", "o9"), "u1",
        (5, b"\x00"), (5, b""), (True, b"a"), (2**70, b"a"), (5.5, b"a"), ("5", b"a"),
    ]
    for model in (Score, Player, Order, Counter):
        meta = meta_of(model)
        make = key_maker(meta, model.__name__)
        for key in keys:
            try:
                expected: Any = wire_key(meta, model.__name__, key)
            except Exception as exc:
                expected = (type(exc), str(exc))
            try:
                got: Any = make(key)
            except Exception as exc:
                got = (type(exc), str(exc))
            assert got == expected, (model.__name__, key)


class Reading(Model, table="k_readings"):
    """Key attributes also keys of indexes (their limits are checked with the table's),
    a number partition and a binary-free sort key of text."""

    device: Annotated[int, PartitionKey]
    at: Annotated[str, SortKey]
    by_at = GlobalIndex("at", "device")
    kind: str = ""


class Tag(Model, table="k_tags"):
    name: Annotated[str, PartitionKey]


_TEXT = st.one_of(
    st.text(max_size=3), st.text(alphabet=st.characters(codec="utf-8"), min_size=250,
                                 max_size=270),
    st.sampled_from(["", "a" * 256, "a" * 257, "a" * 512, "a" * 513, "ü" * 257, "€" * 700,
                     "\ud800", "x\udfffy", "a" * 1024, "a" * 1025, "a" * 2048, "a" * 2049]),
)
_VALUE = st.one_of(_TEXT, st.none(), st.booleans(), st.integers(), st.floats(),
                   st.decimals(), st.binary(max_size=3), st.just(2**130))
_KEY = st.one_of(_VALUE, st.tuples(_VALUE, _VALUE), st.tuples(_VALUE),
                 st.tuples(_VALUE, _VALUE, _VALUE))


@settings(max_examples=400, deadline=None)
@given(key=_KEY)
def test_the_key_maker_is_wire_key_for_generated_keys(key: Any) -> None:
    """The key maker takes the common key values as their codec writes them and sends the
    rest the whole way: for any value, of any model, the same wire key or the same error
    as `wire_key` (refusals of long, empty, surrogate and mistyped values included)."""
    from dynorm.schema.classes import meta_of
    from dynorm.schema.keys import key_maker

    for model in (Score, Player, Counter, Reading, Tag):
        meta = meta_of(model)
        try:
            expected: Any = wire_key(meta, model.__name__, key)
        except Exception as exc:
            expected = (type(exc), str(exc))
        try:
            got: Any = key_maker(meta, model.__name__)(key)
        except Exception as exc:
            got = (type(exc), str(exc))
        assert got == expected, (model.__name__, key)
