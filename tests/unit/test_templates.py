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

from dynorm import (
    ExpressionError,
    GlobalIndex,
    InvalidKey,
    KeyTemplate,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
    attr,
)
from dynorm.schema.indexes import Projection

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


# ---------------------------------------------------------------- issue 15, principle 3


def key_request(model: type[Model], *conditions: Any) -> tuple[str, list[str], list[Any]]:
    """The KeyConditionExpression, the filters dynorm adds, and the values, of a query."""
    from dynorm.expressions import Placeholders
    from dynorm.schema.key_conditions import key_query

    key, filters = key_query(model._meta(), None, list(conditions))
    ph = Placeholders()
    text = key.compile(ph)
    compiled = [f.compile(ph) for f in filters]
    values = [next(iter(v.values())) for v in ph.to_request()["ExpressionAttributeValues"].values()]
    return text, compiled, values


class Truncated(Model, table="t_truncated"):
    user: str
    name: str
    price: Decimal
    pk = PartitionKey("U#{user}")
    sk = SortKey("N#{name:.4}#{price:.2f}")


def test_truncating_rounding_and_padding_specs_are_stored_too() -> None:
    meta = Truncated._meta()
    assert meta.recovered == ("user",)
    item = Truncated(user="u", name="abcdefgh", price=Decimal("1.005")).to_item()
    assert item["sk"] == {"S": "N#abcd#1.00"}
    assert item["name"] == {"S": "abcdefgh"} and item["price"] == {"N": "1.005"}
    back = Truncated.from_item(item)
    assert (back.name, back.price) == ("abcdefgh", Decimal("1.005"))

    from dynorm.streams.events import decode_keys

    assert decode_keys(Truncated, {"pk": item["pk"], "sk": item["sk"]}) == {"user": "u"}

    padded = bound("P#{s:>6}", s=str)
    assert not padded.lossless("s")  # "    ab" cannot be told from a value with spaces


def test_equal_decimals_give_one_key() -> None:
    t = bound("N#{x}", x=Decimal)
    keys = {t.fill({"x": v}) for v in (Decimal("1.5"), Decimal("1.50"), Decimal("15E-1"), 1.5)}
    assert keys == {"N#1.5"}
    assert t.fill({"x": Decimal("1E+1")}) == t.fill({"x": 10}) == "N#10"
    assert t.fill({"x": Decimal("-0.00")}) == "N#0"
    assert t.fill({"x": 0.1}) == t.fill({"x": Decimal("0.1")}) == "N#0.1"  # as pydantic reads it
    long = Decimal("12345678901234567890.123456789012")  # past the context's 28 digits
    assert t.fill({"x": long}) == f"N#{long}"
    with pytest.raises(InvalidKey, match=r"M\.x"):
        t.fill({"x": Decimal("NaN")})


def test_non_bmp_literal_escapes_round_trip() -> None:
    t = bound("A\U0001f600{x}\U0001f600{y}", x=str, y=str)
    values = {"x": "\U0001f600A0", "y": "b\U0001f600"}
    text = t.fill(values)
    assert text == "A\U0001f600%v01F600A0\U0001f600b%v01F600"
    assert t.parse(text or "") == values
    with pytest.raises(InvalidKey, match=r"is not how M\.x is written"):
        t.parse("A\U0001f600%u1F600A0\U0001f600b")  # the old, ambiguous form


class Ranked(Model, table="t_ranked"):
    user: str
    n: int
    pk = PartitionKey("U#{user}")
    sk = SortKey("N#{n}")


class RankedStored(Model, table="t_ranked", store_key_fields=True):
    user: str
    n: int
    pk = PartitionKey("U#{user}")
    sk = SortKey("N#{n}")


class Padded(Model, table="t_padded"):
    user: str
    n: int
    pk = PartitionKey("U#{user}")
    sk = SortKey("N#{n:04d}#X")


class Dotted(Model, table="t_dotted"):
    user: str
    day: date
    pk = PartitionKey("U#{user}")
    sk = SortKey("D#{day:%d.%m.%Y}")


class Named(Model, table="t_named"):
    user: str
    name: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("S#{name}")


U = "#n0 = :v0 AND "


def test_unpadded_int_range_is_refused_when_only_in_the_key() -> None:
    with pytest.raises(ExpressionError, match=r"Ranked: a range on n .*'10' < '9'.*\{n:08d\}"):
        key_request(Ranked, attr(Ranked.user) == "u", attr(Ranked.n) > 9)


def test_unpadded_int_range_is_filtered_when_stored() -> None:
    assert key_request(RankedStored, attr(RankedStored.user) == "u", attr(RankedStored.n) > 9) == (
        U + "begins_with(#n1, :v1)", ["#n2 > :v2"], ["U#u", "N#", "9"])


def test_zero_padded_int_ranges_stay_within_the_width() -> None:
    user = attr(Padded.user) == "u"
    assert key_request(Padded, user, attr(Padded.n) > 12) == (
        U + "#n1 BETWEEN :v1 AND :v2", [], ["U#u", "N#0012\U0010ffff", "N#\U0010ffff"])
    # outside 0..9999: all, or nothing
    assert key_request(Padded, user, attr(Padded.n) < 12345)[2] == [
        "U#u", "N#", "N#9999\U0010ffff"]
    assert key_request(Padded, user, attr(Padded.n) > -3)[2] == [
        "U#u", "N#0000", "N#\U0010ffff"]
    assert key_request(Padded, user, attr(Padded.n) > 12345) == (
        U + "#n1 = :v1", [], ["U#u", "N#\U0010ffff"])
    for bad in (12345, -3):
        with pytest.raises(InvalidKey, match=r"Padded.n: .* does not fit \{n:04d\}"):
            Padded(user="u", n=bad).to_item()


def test_day_first_dates_are_filtered() -> None:
    day = date(2026, 3, 1)
    assert key_request(Dotted, attr(Dotted.user) == "u", attr(Dotted.day) >= day) == (
        U + "begins_with(#n1, :v1)", ["#n2 >= :v2"], ["U#u", "D#", "2026-03-01"])


def test_string_bounds_that_escaping_reorders() -> None:
    user = attr(Named.user) == "u"
    assert key_request(Named, user, attr(Named.name) > "o1")[2] == [
        "U#u", "N#o1\x00".replace("N", "S"), "S#\U0010ffff"]
    with pytest.raises(ExpressionError, match=r"Named: a range on name .*bound holds"):
        key_request(Named, user, attr(Named.name) >= "a$")


class Located(Model, table="t_located", entity="loc"):
    loc_id: str
    city: str
    zip_code: str
    pk = PartitionKey("L#{loc_id}")
    by_city = GlobalIndex(KeyTemplate("C#{city}", attribute="g1pk"),
                          KeyTemplate("Z#{zip_code}#{loc_id}", attribute="g1sk"),
                          name="gsi1", projection=Projection.keys_only())


def test_a_filter_the_index_cannot_check_is_refused() -> None:
    # (a KEYS_ONLY index of an entity projects the entity attribute: INCLUDE)
    with pytest.raises(ExpressionError, match=r"Located\.gsi1: .* zip_code .* INCLUDE"):
        Located.by_city.query(attr(Located.city) == "P", attr(Located.zip_code) >= "7")


class Lettered(Model, table="t_lettered", store_key_fields=True):
    user: str
    s: str
    t: str
    pk = PartitionKey("U#{user}")
    sk = SortKey("S#{s}X#{t}")


def test_begins_with_before_a_literal_starting_with_a_letter_is_filtered() -> None:
    # s == "a" gives "S#aX#..." which begins with "S#aX": the key alone would match it
    assert key_request(Lettered, attr(Lettered.user) == "u", attr(Lettered.s).begins_with("aX")
                       ) == (U + "begins_with(#n1, :v1)", ["begins_with(#n2, :v2)"],
                             ["U#u", "S#", "aX"])


def test_an_inherited_template_is_bound_per_class() -> None:
    """A template declared on a base class is one object: each subclass binds its own
    copy, so one subclass's field types never decide another's key."""
    from dynorm import Model, PartitionKey

    class Base(Model):
        pk = PartitionKey("N#{n}")  # every subclass declares n, each of its own type

    class Padded(Base, table="padded_children"):
        n: int

    class Named(Base, table="named_children"):
        n: str

    padded, named = Padded._meta().partition.template, Named._meta().partition.template
    assert padded is not named
    assert Padded(n=7).to_item()["pk"] == {"S": "N#7"}
    assert Named(n="a#b").to_item()["pk"] == {"S": "N#a%23b"}
    assert Padded.from_item(Padded(n=7).to_item()).n == 7  # read back as an int
