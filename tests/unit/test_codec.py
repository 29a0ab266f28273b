"""The codec: exact wire forms, refusals, and a hypothesis round trip."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynorm.codec.core import compile_codec
from dynorm.codec.decoding import decode_value
from dynorm.codec.dynamic import encode_value, item_size
from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import EncodingError, SchemaError

UTC = timezone.utc


class _Stamp(datetime):
    """A datetime subclass (pendulum's and arrow's are): formatted the slow way."""


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@pytest.mark.parametrize(
    ("tp", "value", "wire"),
    [
        (str, "héllo", {"S": "héllo"}),
        (str, "", {"S": ""}),
        (int, 42, {"N": "42"}),
        (int, -(10**37), {"N": str(-(10**37))}),
        (float, 0.1, {"N": "0.1"}),
        (float, 1e-5, {"N": "0.00001"}),
        (Decimal, Decimal("1.10"), {"N": "1.10"}),
        (bool, True, {"BOOL": True}),
        (bytes, b"\x00\x01", {"B": b"\x00\x01"}),
        (set[str], {"b", "a"}, {"SS": ["a", "b"]}),
        (set[int], {3, 1}, {"NS": ["1", "3"]}),
        (frozenset[bytes], frozenset({b"x"}), {"BS": [b"x"]}),
        (list[int], [1, 2], {"L": [{"N": "1"}, {"N": "2"}]}),
        (tuple[int, str], (1, "a"), {"L": [{"N": "1"}, {"S": "a"}]}),
        (list[int | None], [None], {"L": [{"NULL": True}]}),
        (dict[str, int], {"a": 1}, {"M": {"a": {"N": "1"}}}),
        (datetime, datetime(2026, 11, 25, 1, 38, 29, tzinfo=UTC),
         {"S": "2026-11-25T01:38:29.000000Z"}),
        (datetime, datetime(2026, 11, 25, 3, 38, 29, 5, tzinfo=timezone(timedelta(hours=2))),
         {"S": "2026-11-25T01:38:29.000005Z"}),
        (datetime, datetime(2026, 11, 25, 1, 38, 29, 5000, tzinfo=UTC),
         {"S": "2026-11-25T01:38:29.005000Z"}),
        (datetime, datetime(5, 1, 2, tzinfo=UTC), {"S": "0005-01-02T00:00:00.000000Z"}),
        (datetime, _Stamp(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
         {"S": "2026-01-02T03:04:05.000006Z"}),
        (datetime, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("UTC")),
         {"S": "2026-01-02T03:04:05.000006Z"}),
        (date, date(2026, 1, 2), {"S": "2026-01-02"}),
        (UUID, UUID(int=1), {"S": "00000000-0000-0000-0000-000000000001"}),
        (Color, Color.RED, {"S": "red"}),
        (Color, "blue", {"S": "blue"}),
        (Level, Level.HIGH, {"N": "2"}),
        (Literal["a", "b"], "a", {"S": "a"}),
        (int | str, "x", {"S": "x"}),
        (Any, {"k": [1, "a", None, {"s"}]},
         {"M": {"k": {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}, {"SS": ["s"]}]}}}),
        (timedelta, timedelta(seconds=90), {"S": "PT1M30S"}),
    ],
)
def test_exact_wire_form(tp: Any, value: Any, wire: dict[str, Any]) -> None:
    assert compile_codec(tp).encode(value) == wire


def test_float_set_is_a_number_set() -> None:
    assert compile_codec(set[float]).encode({0.5, 2.0}) == {"NS": ["0.5", "2.0"]}


def test_empty_set_encodes_to_nothing() -> None:
    assert compile_codec(set[str]).encode(set()) is None


@pytest.mark.parametrize(
    ("tp", "value", "message"),
    [
        (float, math.nan, "must be finite"),
        (float, math.inf, "must be finite"),
        (Decimal, Decimal("NaN"), "must be finite"),
        (Decimal, Decimal("1.234567890123456789012345678901234567891"), "more than 38"),
        (int, 10**40 + 1, "more than 38"),
        (Decimal, Decimal("1E+200"), "outside DynamoDB's number range"),
        (int, "5", "expected int, got str"),
        (int, True, "expected int, got bool"),
        (str, 5, "expected str, got int"),
        (datetime, datetime(2026, 1, 1), "naive datetime"),
        (Color, "green", "expected Color member"),
        (Literal["a"], "b", "one of 'a'"),
        (list[set[str]], [set()], "empty set inside a list"),
        (set[str], ["a"], "expected set"),
    ],
)
def test_refusals(tp: Any, value: Any, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        compile_codec(tp).encode(value)


def test_numbers_round_trip_exactly() -> None:
    for text in ["0", "-1", "12345678901234567890123456789012345678", "0.000001", "1E-130"]:
        assert decode_value(encode_value(Decimal(text))) == Decimal(text)


def test_unstorable_declarations() -> None:
    with pytest.raises(SchemaError, match="sets hold only strings, numbers or bytes"):
        compile_codec(set[bool])
    with pytest.raises(SchemaError, match="map keys must be str"):
        compile_codec(dict[int, str])


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"a": {"S": "é"}}) == 3  # UTF-8 bytes


class Inner(pydantic.BaseModel):
    when: datetime
    amount: Decimal
    note: str | None = None


class Doc(pydantic.BaseModel):
    s: str
    i: int
    f: float
    d: Decimal
    b: bool
    raw: bytes
    ss: set[str]
    ns: frozenset[int]
    li: list[int | str]
    m: dict[str, Inner]
    e: Color
    maybe: int | None
    required_nullable: str | None


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=6,
                              min_value=Decimal("-1e20"), max_value=Decimal("1e20"))
aware = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 1, 1),
                     timezones=st.just(UTC))
inner = st.builds(Inner, when=aware, amount=finite_decimals,
                  note=st.none() | st.text(max_size=5))


docs = st.builds(
    Doc,
    s=st.text(max_size=40),
    i=st.integers(min_value=-(10**30), max_value=10**30),
    f=st.floats(min_value=-1e120, max_value=1e120).filter(lambda x: x == 0 or abs(x) > 1e-120),
    d=finite_decimals,
    b=st.booleans(),
    raw=st.binary(max_size=40),
    ss=st.sets(st.text(max_size=8), max_size=4),
    ns=st.frozensets(st.integers(-1000, 1000), max_size=4),
    li=st.lists(st.integers(-(10**37), 10**37) | st.text(max_size=8), max_size=6),
    m=st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),  # no "" key
    e=st.sampled_from(Color),
    maybe=st.none() | st.integers(-(10**37), 10**37),  # 38 digits at most
    required_nullable=st.none() | st.text(max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(docs)
def test_round_trip(doc: Doc) -> None:
    codec = ObjectCodec(Doc)
    item = codec.encode_fields(doc)
    assert all(av is not None for av in item.values())
    back = Doc.model_validate(codec.decode_fields(item))
    assert back == doc


@settings(max_examples=150, deadline=None)
@given(docs)
def test_json_length_bounds_the_item_size(doc: Doc) -> None:
    """checked_json skips the exact walk when the JSON text fits: that must be an upper
    bound (bytes are base64 there, never shorter than the raw bytes DynamoDB counts)."""
    from dynorm.codec.json import dumps

    item = ObjectCodec(Doc).encode_fields(doc)
    assert item_size(item) <= len(dumps(item))
