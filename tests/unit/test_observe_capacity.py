"""Consumed capacity and call hooks (issue 24), on MockTransport: the exact requests sent
with capacity on and off, what is parsed from ``ConsumedCapacity``, what is added up where,
and what hooks and the DEBUG log record see of each attempt."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import GlobalIndex, MockTransport, Model, PartitionKey, RetryPolicy, SortKey
from dynorm.exceptions import Throttled, TransportError
from dynorm.observe import CallEvent, Capacity, CapacityTotals, CapacityUnits, parse_capacity

FAST = RetryPolicy(max_attempts=3, base_delay=0)


class Order(Model, table="orders"):
    customer: Annotated[str, PartitionKey]
    order_id: Annotated[str, SortKey]
    status: str = "new"

    by_status = GlobalIndex("status", "order_id")


GET_ANSWER = {
    "Item": {"customer": {"S": "c1"}, "order_id": {"S": "o1"}, "status": {"S": "new"}},
    "ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 0.5,
                         "Table": {"CapacityUnits": 0.5}},
}
QUERY_ANSWER = {
    "Items": [], "Count": 0, "ScannedCount": 0,
    "ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 1.5,
                         "Table": {"CapacityUnits": 0.0},
                         "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 1.5}}},
}


def answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    if operation == "GetItem":
        return GET_ANSWER
    if operation == "Query":
        return QUERY_ANSWER
    if operation == "PutItem":
        return {"ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 2.0}}
    return {}


async def test_capacity_off_sends_requests_unchanged() -> None:
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport) as conn:
        await Order.get("c1", "o1")
        await Order(customer="c1", order_id="o2").save()
    assert transport.requests[0][1] == {
        "TableName": "orders", "Key": {"customer": {"S": "c1"}, "order_id": {"S": "o1"}}}
    assert all("ReturnConsumedCapacity" not in p for _, p in transport.requests)
    assert conn.capacity.total == CapacityUnits()  # answers' capacity is not counted


async def test_capacity_on_asks_for_indexes_on_capacity_operations_only() -> None:
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, capacity=True) as conn:
        await Order.get("c1", "o1")
        await conn.call("DescribeTable", {"TableName": "orders"})
    (_, get), (_, describe) = transport.requests
    assert get == {"TableName": "orders", "ReturnConsumedCapacity": "INDEXES",
                   "Key": {"customer": {"S": "c1"}, "order_id": {"S": "o1"}}}
    assert describe == {"TableName": "orders"}


async def test_totals_per_table_index_model_operation_and_page_capacity() -> None:
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, capacity=True) as conn:
        await Order.get("c1", "o1")
        page = await Order.by_status.query(Order.status == "new").page(10)
        await Order(customer="c1", order_id="o2").save()
        snapshot = conn.capacity.snapshot()
        assert page.capacity == Capacity(
            "orders", read=1.5, table_units=CapacityUnits(),
            indexes=(("by_status", CapacityUnits(read=1.5)),))
        assert snapshot == {
            "total": {"read": 2.0, "write": 2.0},
            "tables": {"orders": {"read": 2.0, "write": 2.0}},
            "indexes": {"orders/by_status": {"read": 1.5, "write": 0.0}},
            "models": {"Order": {"read": 2.0, "write": 2.0}},
            "entities": {},
            "operations": {"GetItem": {"read": 0.5, "write": 0.0},
                           "Query": {"read": 1.5, "write": 0.0},
                           "PutItem": {"read": 0.0, "write": 2.0}},
        }
        assert conn.capacity.reset() == snapshot
        assert conn.capacity.total == CapacityUnits() and conn.capacity.snapshot()["tables"] == {}


def test_parse_capacity_of_batches_and_split_units() -> None:
    raw = [
        {"TableName": "a", "CapacityUnits": 3.0, "ReadCapacityUnits": 1.0,
         "WriteCapacityUnits": 2.0, "Table": {"ReadCapacityUnits": 1.0,
                                              "WriteCapacityUnits": 1.0},
         "LocalSecondaryIndexes": {"lsi": {"WriteCapacityUnits": 1.0}}},
        {"TableName": "b", "CapacityUnits": 4.0},
    ]
    a, b = parse_capacity("TransactWriteItems", raw)
    assert (a.read, a.write, a.table_units) == (1.0, 2.0, CapacityUnits(1.0, 1.0))
    assert a.index("lsi") == CapacityUnits(0.0, 1.0) and a.index("other") is None
    assert (b.table, b.read, b.write) == ("b", 0.0, 4.0)  # a write operation's units
    assert parse_capacity("GetItem", None) == () and parse_capacity("Query", []) == ()
    assert (a + Capacity("a", read=0.5, indexes=(("lsi", CapacityUnits(0.5)),))).indexes == (
        ("lsi", CapacityUnits(0.5, 1.0)),)
    with pytest.raises(ValueError, match="'b'"):
        a + b


def test_totals_add_batches_per_table() -> None:
    totals = CapacityTotals()
    totals.add(parse_capacity("BatchGetItem", [{"TableName": "a", "CapacityUnits": 1.0},
                                               {"TableName": "b", "CapacityUnits": 2.5}]),
               "BatchGetItem")
    assert totals.snapshot()["tables"] == {"a": {"read": 1.0, "write": 0.0},
                                           "b": {"read": 2.5, "write": 0.0}}
    assert totals.total.total == 3.5 and totals.snapshot()["models"] == {}


async def test_hooks_see_every_attempt_with_error_codes() -> None:
    steps: list[Any] = [Throttled("slow down", code="ThrottlingException"),
                        TransportError("reset", sent=False), GET_ANSWER]

    def scripted(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    requests: list[CallEvent] = []
    responses: list[CallEvent] = []
    async with dynorm.connect(transport=MockTransport(scripted), retry=FAST) as conn:
        conn.on_request(requests.append)
        hook = conn.on_response(responses.append)
        await Order.get("c1", "o1")
        conn.remove_hook(hook)
        conn.remove_hook(requests.append)
        steps.append(GET_ANSWER)
        await Order.get("c1", "o1")  # nobody watches: not recorded
    assert [(e.operation, e.table, e.model, e.attempt, e.duration) for e in requests] == [
        ("GetItem", "orders", "Order", n, None) for n in (1, 2, 3)]
    assert [(e.attempt, e.error) for e in responses] == [
        (1, "ThrottlingException"), (2, "TransportError"), (3, None)]
    assert all(e.duration is not None and e.duration >= 0 for e in responses)
    # capacity=False: the answer's capacity is still shown to hooks, never counted
    assert responses[2].capacity == (Capacity("orders", read=0.5,
                                              table_units=CapacityUnits(0.5)),)
    assert conn.capacity.total.total == 0


async def test_a_failing_hook_is_logged_and_the_call_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: CallEvent) -> None:
        raise RuntimeError("hook bug")

    async with dynorm.connect(transport=MockTransport(answer)) as conn:
        conn.on_response(broken)
        with caplog.at_level(logging.ERROR, logger="dynorm.observe"):
            assert (await Order.get("c1", "o1")).status == "new"
    assert "hook bug" in caplog.text


async def test_debug_log_record_per_call_with_structured_fields(
        caplog: pytest.LogCaptureFixture) -> None:
    async with dynorm.connect(transport=MockTransport(answer), capacity=True):
        with caplog.at_level(logging.DEBUG, logger="dynorm.observe"):
            await Order.by_status.query(Order.status == "new").to_list()
    (record,) = [r for r in caplog.records if r.name == "dynorm.observe"]
    assert record.getMessage().startswith("Query orders (by_status): ")
    assert "1.5 RCU 0 WCU" in record.getMessage()
    fields = {k: v for k, v in vars(record).items() if k.startswith("dynorm_")}
    assert fields.pop("dynorm_duration_ms") >= 0
    assert fields == {
        "dynorm_operation": "Query", "dynorm_tables": ("orders",),
        "dynorm_index": "by_status", "dynorm_model": "Order", "dynorm_entity": None,
        "dynorm_attempts": 1, "dynorm_read_units": 1.5, "dynorm_write_units": 0.0,
        "dynorm_error": None,
    }


_units = st.integers(0, 40).map(lambda n: n / 2)
_entry = st.fixed_dictionaries(
    {"TableName": st.sampled_from(["a", "b", "c"]), "CapacityUnits": _units},
    optional={"GlobalSecondaryIndexes": st.dictionaries(
        st.sampled_from(["g1", "g2"]), st.fixed_dictionaries({"CapacityUnits": _units}),
        max_size=2)})


@settings(max_examples=80, deadline=None)
@given(calls=st.lists(st.tuples(st.sampled_from(["GetItem", "PutItem", "BatchGetItem",
                                                 "TransactWriteItems"]),
                                st.lists(_entry, min_size=1, max_size=3)), max_size=12))
def test_totals_are_the_sums_of_the_raw_answers(
        calls: list[tuple[str, list[dict[str, Any]]]]) -> None:
    totals = CapacityTotals()
    want_tables: dict[str, list[float]] = {}
    want_indexes: dict[str, list[float]] = {}
    for operation, entries in calls:
        raw: Any = entries[0] if operation in ("GetItem", "PutItem") else entries
        totals.add(parse_capacity(operation, raw), operation, "M")
        write = operation in ("PutItem", "TransactWriteItems")
        for entry in [raw] if isinstance(raw, dict) else raw:
            units = want_tables.setdefault(entry["TableName"], [0.0, 0.0])
            units[write] += entry["CapacityUnits"]
            for name, part in entry.get("GlobalSecondaryIndexes", {}).items():
                index = want_indexes.setdefault(f"{entry['TableName']}/{name}", [0.0, 0.0])
                index[write] += part["CapacityUnits"]
    snapshot = totals.snapshot()
    assert snapshot["tables"] == {t: {"read": r, "write": w}
                                  for t, (r, w) in want_tables.items()}
    assert snapshot["indexes"] == {i: {"read": r, "write": w}
                                   for i, (r, w) in want_indexes.items()}
    for kind in ("read", "write"):
        everything = snapshot["total"][kind]
        assert everything == sum(v[kind] for v in snapshot["tables"].values())
        assert everything == sum(v[kind] for v in snapshot["operations"].values())
        assert everything == snapshot["models"].get("M", {kind: 0.0})[kind]


class Customer(Model, table="shop", entity="customer"):
    customer_id: str
    pk = PartitionKey("C#{customer_id}")


class Invoice(Model, table="shop", entity="invoice"):
    invoice_id: str
    pk = PartitionKey("I#{invoice_id}")


async def test_single_table_entities_are_counted_apart() -> None:
    def shop(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        units = 1.0 if operation == "PutItem" else 0.5
        return {"ConsumedCapacity": {"TableName": "shop", "CapacityUnits": units}}

    events: list[CallEvent] = []
    async with dynorm.connect(transport=MockTransport(shop), capacity=True) as conn:
        conn.on_request(events.append)
        await Customer(customer_id="c1").save()
        await Invoice(invoice_id="i1").save()
        await Invoice(invoice_id="i2").save()
        assert await Invoice.find_one({"invoice_id": "i3"}) is None
        snapshot = conn.capacity.snapshot()
    assert snapshot["entities"] == {"customer": {"read": 0.0, "write": 1.0},
                                    "invoice": {"read": 0.5, "write": 2.0}}
    assert snapshot["models"] == {"Customer": {"read": 0.0, "write": 1.0},
                                  "Invoice": {"read": 0.5, "write": 2.0}}
    assert snapshot["tables"] == {"shop": {"read": 0.5, "write": 3.0}}
    assert [e.entity for e in events] == ["customer", "invoice", "invoice", "invoice"]
