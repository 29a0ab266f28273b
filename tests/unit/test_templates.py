"""Key templates: fill/parse round trips, escaping, declaration errors."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynorm import InvalidKey, KeyTemplate, Model, PartitionKey, SchemaError, SortKey

UTC = timezone.utc


class Color(str, Enum):
    RED = "red"


def bound(template: str, **types: Any) -> KeyTemplate:
    t = KeyTemplate(template)
    t.bind("M", types)
    return t


def test_fill_and_parse() -> None:
    t = bound("ORDER#{created:%Y-%m-%d}#{order_id}", created=datetime, order_id=str)
    text = t.fill({"created": datetime(2026, 11, 1, 23, tzinfo=UTC), "order_id": "o9"})
    assert text == "ORDER#2026-11-01#o9"
    assert t.parse(text) == {"created": "2026-11-01", "order_id": "o9"}
    assert not t.lossless("created") and t.lossless("order_id")
    assert t.fixed_width("created") and not t.fixed_width("order_id")
    assert t.literal_prefix == "ORDER#"


def test_separator_inside_values_is_escaped() -> None:
    t = bound("USER#{a}#{b}", a=str, b=str)
    text = t.fill({"a": "x#y%z", "b": "#"})
    assert text == "USER#x%23y%25z#%23"
    assert t.parse(text) == {"a": "x#y%z", "b": "#"}


@given(st.text(), st.text())
def test_round_trip_any_text(a: str, b: str) -> None:
    t = bound("P#{a}|{b}", a=str, b=str)
    text = t.fill({"a": a, "b": b})
    assert text is not None
    assert t.parse(text) == {"a": a, "b": b}


def test_formats() -> None:
    t = bound("{n:08d}#{d}#{u}#{c}#{x}", n=int, d=date, u=UUID, c=Color, x=Decimal)
    values = {"n": 42, "d": date(2026, 1, 2), "u": UUID(int=5), "c": Color.RED, "x": Decimal("1.5")}
    assert t.fill(values) == "00000042#2026-01-02#00000000-0000-0000-0000-000000000005#red#1.5"
    assert t.fixed_width("n") and t.fixed_width("d") and t.fixed_width("u")


def test_none_input_means_no_key() -> None:
    t = bound("OPEN#{since}", since=datetime)
    assert t.fill({"since": None}) is None


def test_prefix() -> None:
    t = bound("A#{x}#B#{y}", x=str, y=str)
    assert t.prefix({}, 0) == "A#"
    assert t.prefix({"x": "1"}, 1) == "A#1#B#"


def test_parse_rejects_foreign_text() -> None:
    with pytest.raises(InvalidKey, match="does not match template"):
        bound("USER#{id}", id=str).parse("ORDER#1")


@pytest.mark.parametrize(
    ("template", "types", "message"),
    [
        ("{a}{b}", {"a": str, "b": str}, "need literal text between"),
        ("X#{a}Y{b}", {"a": str, "b": str}, "needs a separator character"),
        ("U#{nope}", {"a": str}, "names 'nope', which is not a field"),
        ("U#{a}", {"a": float}, "a float field cannot be part"),
        ("U#{a}#{a}", {"a": str}, "names a field twice"),
        ("U#{a:%Q}", {"a": int}, "bad format spec"),
    ],
)
def test_declaration_errors(template: str, types: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        bound(template, **types)


def test_table_key_declared_twice() -> None:
    with pytest.raises(SchemaError, match="partition key is declared twice"):
        type("Twice", (Model,), {
            "__annotations__": {"a": Annotated[str, PartitionKey]},
            "pk": PartitionKey("A#{a}"),
        }, table="twice")


def test_key_needs_fields_by_name() -> None:
    class Thing(Model, table="things"):
        a: str
        b: str
        pk = PartitionKey("A#{a}")
        sk = SortKey("B#{b}")

    meta = Thing._meta()
    assert meta.key_from_fields({"a": "1", "b": "2"}) == {"pk": {"S": "A#1"}, "sk": {"S": "B#2"}}
    with pytest.raises(InvalidKey, match=r"pass them by name \(a=\.\.\., b=\.\.\.\)"):
        meta.key("1", "2")
    with pytest.raises(InvalidKey, match="needs b"):
        meta.key_from_fields({"a": "1"})
    assert meta.recovered == ("a", "b")
