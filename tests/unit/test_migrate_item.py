"""A migration's write for one item (pure): the difference, the marker, the conditions."""

from __future__ import annotations

from typing import Annotated

import pytest

from dynorm import GlobalIndex, KeyTemplate, Model, PartitionKey, SortKey
from dynorm.migrate import Migration, MigrationError
from dynorm.migrate.item import KeyChanged, item_change


class Order(Model, table="orders", entity="ORDER"):
    customer: Annotated[str, PartitionKey]
    order_id: Annotated[str, SortKey]
    status: str = "new"
    note: str | None = None
    by_status = GlobalIndex(KeyTemplate("STATUS#{status}", attribute="gsi1pk"))


OLD = {"customer": {"S": "c1"}, "order_id": {"S": "o1"}, "status": {"S": "new"},
       "note": {"S": "fragile"}, "_type": {"S": "ORDER"}, "legacy": {"N": "7"}}


def test_the_change_sets_what_differs_and_removes_only_model_attributes() -> None:
    meta = Order._meta()
    new = meta.encode_item(Order(customer="c1", order_id="o1", status="paid"))
    change = item_change(meta, OLD, new)
    assert change.set == {"status": {"S": "paid"}, "gsi1pk": {"S": "STATUS#paid"}}
    assert change.remove == ("note",)           # "legacy" is not the model's: kept
    assert change.before == {"status": {"S": "new"}, "gsi1pk": None,
                             "note": {"S": "fragile"}}
    assert change.request("dev-orders", "m-1") == {
        "TableName": "dev-orders",
        "Key": {"customer": {"S": "c1"}, "order_id": {"S": "o1"}},
        "UpdateExpression": "SET #s0 = :s0, #s1 = :s1 ADD #m :ids REMOVE #r0",
        "ConditionExpression": (
            "NOT contains(#m, :id) AND attribute_exists(#k0) AND attribute_exists(#k1) "
            "AND attribute_not_exists(#s0) AND #s1 = :b1 AND #r0 = :o0"),
        "ExpressionAttributeNames": {"#m": "_migrations", "#k0": "customer",
                                     "#k1": "order_id", "#s0": "gsi1pk", "#s1": "status",
                                     "#r0": "note"},
        "ExpressionAttributeValues": {
            ":id": {"S": "m-1"}, ":ids": {"SS": ["m-1"]},
            ":s0": {"S": "STATUS#paid"}, ":s1": {"S": "paid"}, ":b1": {"S": "new"},
            ":o0": {"S": "fragile"}},
    }


def test_an_identical_item_is_no_change() -> None:
    meta = Order._meta()
    same = {**OLD, "gsi1pk": {"S": "STATUS#new"}}
    new = meta.encode_item(Order(customer="c1", order_id="o1", note="fragile"))
    assert item_change(meta, same, new).empty


def test_a_changed_key_is_refused() -> None:
    meta = Order._meta()
    with pytest.raises(KeyChanged, match="changed the key 'order_id'"):
        item_change(meta, OLD, meta.encode_item(Order(customer="c1", order_id="o2")))


@pytest.mark.parametrize("bad", ["", "has space", "x" * 201, "a|b"])
def test_migration_ids_are_checked(bad: str) -> None:
    with pytest.raises(MigrationError, match="migration id"):
        Migration(bad, Order, lambda o: o)


def test_result_prints_counts_and_reasons() -> None:
    from dynorm.migrate import MigrationResult

    result = MigrationResult("m-1", 10, 7, 2, 1, {"no change": 2, "does not fit": 1},
                             complete=True)
    assert str(result) == ("migration m-1 (complete): seen 10, changed 7, skipped 2, "
                           "failed 1\n  1 does not fit\n  2 no change")
