"""Single-table design against the moto server: templates, entities, collections,
merged table definitions, sparse indexes and key integrity on partial updates."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

import dynorm
from dynorm import (
    Collection,
    ConditionFailed,
    Connection,
    ExpressionError,
    GlobalIndex,
    KeyTemplate,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
    attr,
)
from examples import single_table_shop as shop
from examples.single_table_shop import DAY, Address, Order, OrderLine, Status, User


async def raw(conn: Connection, pk: str, sk: str) -> dict[str, Any]:
    response = await conn.call("GetItem", {"TableName": "shop",
                                           "Key": {"pk": {"S": pk}, "sk": {"S": sk}}})
    return response.get("Item", {})


async def test_example_runs(dynorm_connection: Connection) -> None:
    result = await shop.main()
    assert result["user"] == User(user_id="u1", name="Ada", email="ada@example.com")
    assert [o.order_id for o in result["week"]] == ["o1", "o2", "o3"]  # type: ignore[attr-defined]
    assert [o.order_id for o in result["open"]] == ["o4", "o3", "o2", "o0"]  # type: ignore[attr-defined]
    assert [o.order_id for o in result["sparse"]] == ["o0", "o2", "o3", "o4"]  # type: ignore[attr-defined]
    assert [a.label for a in result["paris"]] == ["home"]  # type: ignore[attr-defined]


async def test_stored_form(dynorm_connection: Connection) -> None:
    await shop.seed()
    item = await raw(dynorm_connection, "USER#u1", "ORDER#2026-11-01#o0")
    assert item["_type"] == {"S": "order"}
    assert item["gsi1pk"] == {"S": "STATUS#open"}
    assert item["gsi1sk"] == {"S": "2026-11-01T09:30:00.000000Z#o0"}
    assert item["gsi2pk"] == {"S": "OPEN"}
    assert "user_id" not in item and "order_id" not in item  # recovered from pk/sk
    assert "created" in item  # its key form (a day) is lossy: stored too
    order = await Order.get(user_id="u1", created=DAY, order_id="o0")
    assert order.order_id == "o0" and order.total == Decimal(5)
    profile = await raw(dynorm_connection, "USER#u1", "PROFILE")
    assert profile["_type"] == {"S": "user"} and "user_id" not in profile


async def test_separator_characters_in_values(dynorm_connection: Connection) -> None:
    await dynorm.create_tables(User)
    await User(user_id="we#ird%id", name="X", email="x").save()
    assert await raw(dynorm_connection, "USER#we%23ird%25id", "PROFILE")
    got = await User.get(user_id="we#ird%id")
    assert got.user_id == "we#ird%id"


async def test_entity_isolation(dynorm_connection: Connection) -> None:
    await shop.seed()
    assert [o.order_id for o in await Order.query(attr(Order.user_id) == "u1").to_list()] == [
        f"o{i}" for i in range(5)]
    lines = await OrderLine.query(attr(OrderLine.user_id) == "u1").to_list()
    assert [(x.order_id, x.quantity) for x in lines] == [(f"o{i}", i + 1) for i in range(5)]
    assert len(await Address.scan().to_list()) == 2
    assert await User.query(attr(User.user_id) == "u1").count() == 1
    # an address key read as an order is not an order
    assert await Order.find_one(user_id="u1", created=DAY, order_id="o9") is None
    # the GSI gsi1 holds orders and addresses: each model sees its own
    assert len(await Order.by_status.query(attr(Order.status) == Status.OPEN).to_list()) == 5


async def test_collection(dynorm_connection: Connection) -> None:
    await shop.seed()
    result = await Collection(User, Address, Order, OrderLine).query(user_id="u1").fetch()
    assert len(result) == 1 + 2 + 5 + 5
    assert result.one(User) is not None
    assert [a.label for a in result.of(Address)] == ["home", "work"]
    assert all(isinstance(x, OrderLine) for x in result.of(OrderLine))
    partial = await Collection(User, Order).query(user_id="u1").consistent().fetch()
    assert len(partial) == 6 and partial.skipped == 0  # others filtered on the server
    with pytest.raises(dynorm.InvalidKey, match="needs user_id"):
        Collection(User, Order).query(name="x")  # checked when built, before sending


async def test_range_queries_match_python(dynorm_connection: Connection) -> None:
    """Random key conditions on template fields select what Python selects."""
    await dynorm.create_tables(Order)
    rng = random.Random(7)
    orders = []
    for i in range(40):
        created = DAY + timedelta(days=rng.randint(0, 9), hours=rng.randint(0, 23))
        order = Order(user_id="u1", order_id=f"o{i:02d}", created=created, total=Decimal(i))
        await order.save()
        orders.append(order)
    await Order(user_id="u2", order_id="x", created=DAY, total=Decimal(1)).save()

    for _ in range(40):
        pivot = DAY + timedelta(days=rng.randint(0, 9), hours=rng.randint(0, 23))
        other = pivot + timedelta(days=rng.randint(0, 3), hours=rng.randint(0, 23))
        cases = [
            (attr(Order.created) >= pivot, lambda x, p=pivot: x.created >= p),
            (attr(Order.created) > pivot, lambda x, p=pivot: x.created > p),
            (attr(Order.created) <= pivot, lambda x, p=pivot: x.created <= p),
            (attr(Order.created) < pivot, lambda x, p=pivot: x.created < p),
            (attr(Order.created).between(pivot, other),
             lambda x, p=pivot, o=other: p <= x.created <= o),
        ]
        cond, expect = rng.choice(cases)
        got = [x.order_id for x in await Order.query(attr(Order.user_id) == "u1", cond).to_list()]
        want = sorted((x.created.date(), x.order_id) for x in orders if expect(x))
        # exact to the microsecond although the key holds only the day (a filter adds it)
        assert got == [oid for _, oid in want], cond

    # equality on the (exact) time, then ranges on the last placeholder: never another day
    first = orders[0]
    same_day = [x for x in orders if x.created == first.created]
    for op, check in ((">", str.__gt__), ("<", str.__lt__), (">=", str.__ge__),
                      ("<=", str.__le__)):
        for pivot_id in ("o", "o1", first.order_id, "p", "a"):
            path = attr(Order.order_id)
            cond = {">": path > pivot_id, "<": path < pivot_id, ">=": path >= pivot_id,
                    "<=": path <= pivot_id}[op]
            got = await Order.query(attr(Order.user_id) == "u1",
                                    attr(Order.created) == first.created, cond).to_list()
            want = sorted(x.order_id for x in same_day if check(x.order_id, pivot_id))
            assert [x.order_id for x in got] == want, (op, pivot_id)
    exact = await Order.query(attr(Order.user_id) == "u1", attr(Order.created) == first.created,
                              attr(Order.order_id).begins_with("o0")).to_list()
    assert all(x.created == first.created and x.order_id.startswith("o0") for x in exact)


def test_queries_the_template_cannot_serve() -> None:
    with pytest.raises(ExpressionError, match="needs user_id == value"):
        Order.query(attr(Order.created) >= DAY)
    with pytest.raises(ExpressionError, match="needs created == value first"):
        Order.query(attr(Order.user_id) == "u1", attr(Order.order_id) == "o1")
    with pytest.raises(ExpressionError, match="stored only inside the table key"):
        Order.query(attr(Order.user_id) == "u1").filter(attr(Order.order_id) == "o1")
    with pytest.raises(ExpressionError, match=r"total is not part of this key|not a key"):
        Order.query(attr(Order.user_id) == "u1", attr(Order.total) == 3)


async def test_update_rewrites_dependent_index_keys(dynorm_connection: Connection) -> None:
    await shop.seed()
    order = await Order.get(user_id="u1", created=DAY, order_id="o0")
    await order.update(attr(Order.status).set(Status.CANCELLED))
    item = await raw(dynorm_connection, "USER#u1", "ORDER#2026-11-01#o0")
    assert item["gsi1pk"] == {"S": "STATUS#cancelled"}
    await order.update(attr(Order.open_since).remove())
    item = await raw(dynorm_connection, "USER#u1", "ORDER#2026-11-01#o0")
    assert "gsi2sk" not in item and "open_since" not in item  # left the sparse index
    assert "o0" not in [o.order_id for o in await Order.open_orders.query().to_list()]
    later = DAY + timedelta(days=20)
    await order.update(attr(Order.open_since).set(later))
    item = await raw(dynorm_connection, "USER#u1", "ORDER#2026-11-01#o0")
    assert item["gsi2sk"] == {"S": "2026-11-21T09:30:00.000000Z#o0"}  # back, re-keyed

    # without loading: the key's fields are known, so the index key can be computed
    await Order.update_item({"user_id": "u1", "created": DAY + timedelta(days=1),
                             "order_id": "o1"}, attr(Order.status).set(Status.SHIPPED))
    item = await raw(dynorm_connection, "USER#u1", "ORDER#2026-11-02#o1")
    assert item["gsi1pk"] == {"S": "STATUS#shipped"}


class Doc(Model, table="docs", entity="doc"):
    id: str
    a: str
    b: str
    pk = PartitionKey("D#{id}")
    by_ab = GlobalIndex(KeyTemplate("A#{a}", attribute="g1pk"),
                        KeyTemplate("B#{b}#{a}", attribute="g1sk"), name="gsi_ab")


async def test_update_refuses_what_it_cannot_keep_consistent(
    dynorm_connection: Connection,
) -> None:
    await shop.seed()
    key = {"user_id": "u1", "label": "home"}
    with pytest.raises(ExpressionError, match=r"table key and cannot be updated"):
        await Address.update_item(key, attr(Address.label).set("office"))
    address = await Address.get(**key)
    with pytest.raises(ExpressionError, match="only set\\(value\\) or remove\\(\\)"):
        await address.update(attr(Address.city).set(attr(Address.zip_code)))
    await address.update(attr(Address.zip_code).set("75002"))
    item = await raw(dynorm_connection, "USER#u1", "ADDRESS#home")
    assert item["gsi1sk"] == {"S": "ZIP#75002#u1"}

    await dynorm.create_tables(Doc)
    await Doc(id="1", a="x", b="y").save()
    with pytest.raises(ExpressionError, match="that key also needs a"):
        await Doc.update_item({"id": "1"}, attr(Doc.b).set("z"))  # g1sk needs a: unknown
    stale = await Doc.get(id="1")
    fresh = await Doc.get(id="1")
    await fresh.update(attr(Doc.a).set("w"))  # rewrites g1pk and g1sk
    with pytest.raises(ConditionFailed):
        await stale.update(attr(Doc.b).set("z"))  # computed from a == "x": refused
    stored = (await dynorm_connection.call(
        "GetItem", {"TableName": "docs", "Key": {"pk": {"S": "D#1"}}}))["Item"]
    assert stored["g1pk"] == {"S": "A#w"} and stored["g1sk"] == {"S": "B#y#w"}
    await stale.refresh()
    await stale.update(attr(Doc.b).set("z"))
    assert (await Doc.by_ab.query(attr(Doc.a) == "w").to_list())[0].b == "z"


async def test_move_changes_the_table_key(dynorm_connection: Connection) -> None:
    await shop.seed()
    address = await Address.get(user_id="u1", label="work")
    moved = await address.move(label="office")
    assert moved.label == "office"
    assert await Address.find_one(user_id="u1", label="work") is None
    assert (await Address.get(user_id="u1", label="office")).city == "Lyon"


async def test_conflicting_index_declarations(dynorm_connection: Connection) -> None:
    class A(Model, table="clash", entity="a"):
        x: str
        y: str
        pk = PartitionKey("A#{x}")
        sk = SortKey("A")
        by_y = GlobalIndex(KeyTemplate("Y#{y}", attribute="g1pk"), name="gsi1")

    class B(Model, table="clash", entity="b"):
        x: str
        y: str
        pk = PartitionKey("B#{x}")
        sk = SortKey("B")
        by_y = GlobalIndex(KeyTemplate("Y#{y}", attribute="other"), name="gsi1")

    with pytest.raises(SchemaError, match="B and A disagree about index 'gsi1'"):
        await dynorm.create_tables(A, B)

    class C(Model, table="clash", entity="c"):
        x: str
        pk = PartitionKey("C#{x}")

    with pytest.raises(SchemaError, match="declare different keys"):
        await dynorm.create_tables(A, C)


async def test_stream_events_per_entity(dynorm_connection: Connection) -> None:
    """One stream, several entities: each record reaches its own model's handlers, keys
    come back as the fields the templates were made from, other entities are skipped."""
    from tests.integration.test_streams import FAST, run_until

    await dynorm.create_tables(User, Address, Order, stream="NEW_AND_OLD_IMAGES")
    listener = dynorm.StreamListener(User, Order, **FAST)
    seen: list[tuple[str, str, dict[str, Any]]] = []
    errors: list[Any] = []

    @listener.on(User)
    async def users(event: dynorm.ChangeEvent[User]) -> None:
        seen.append(("user", event.kind, event.keys))

    @listener.on(Order)
    async def orders(event: dynorm.ChangeEvent[Order]) -> None:
        assert event.new is None or isinstance(event.new, Order)
        seen.append(("order", event.kind, event.keys))

    listener.on_error(errors.append)
    await User(user_id="u1", name="Ada", email="a@x").save()
    await Address(user_id="u1", label="home", city="Paris", zip_code="75001").save()
    order = Order(user_id="u1", order_id="o1", created=DAY, total=Decimal(3))
    await order.save()
    await order.update(attr(Order.status).set(Status.SHIPPED))
    await run_until(listener, lambda: len(seen) >= 3)
    order_keys = {"user_id": "u1", "order_id": "o1"}  # created is in sk only as a day
    assert seen == [("user", "insert", {"user_id": "u1"}), ("order", "insert", order_keys),
                    ("order", "modify", order_keys)]
    assert errors == []  # the address was skipped, not reported as a poison record


async def test_collection_query_is_a_builder_read_by_async_readers(
        dynorm_connection: Connection) -> None:
    await shop.seed()
    query = Collection(User, Address, Order).query(user_id="u1")  # nothing sent yet
    assert query.consistent() is not query and query.reverse() is not query
    everything = await query.to_list()
    assert [type(x).__name__ for x in everything] == ["Address"] * 2 + ["Order"] * 5 + ["User"]
    assert [x async for x in query] == everything
    assert await query.first() == everything[0]
    assert await query.reverse().first() == everything[-1]  # sk PROFILE sorts last
    assert await query.reverse().limit(2).to_list() == everything[:-3:-1]
    limited = await query.limit(3).fetch()
    assert limited.items == everything[:3]
    pages = [page async for page in query.consistent().pages()]
    assert [x for page in pages for x in page] == everything
    assert sum(page.skipped for page in pages) == 0
    assert await Collection(User, Order).query(user_id="nobody").first() is None


async def test_collection_one_is_sqlalchemys_one(dynorm_connection: Connection) -> None:
    await shop.seed()
    result = await Collection(User, Address, OrderLine).query(user_id="u1").fetch()
    assert result.one(User).name == "Ada" and result.one_or_none(User) is result.one(User)
    no_orders = await Collection(User, Order).query(user_id="nobody").fetch()
    with pytest.raises(dynorm.ItemNotFound, match="no User item"):
        no_orders.one(User)
    assert no_orders.one_or_none(User) is None
    with pytest.raises(dynorm.ExpressionError, match="2 Address items"):
        result.one(Address)
