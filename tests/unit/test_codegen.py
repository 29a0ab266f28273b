"""The generated per-class encoder against the generic loop it replaces."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pydantic
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import EncodingError


class Mood(Enum):
    UP = "up"
    DOWN = "down"


class Inner(pydantic.BaseModel):
    label: str
    weight: int | None = None


class Wide(pydantic.BaseModel):
    text: str
    maybe_text: str | None = None
    count: int
    maybe_count: int | None = None
    flag: bool
    maybe_flag: bool | None = None
    amount: Decimal
    ratio: float = 0.5
    when: datetime
    tags: set[str] = set()
    numbers: set[int] = set()
    history: list[int] = []
    names: list[str] = []
    inner: Inner | None = None
    inners: list[Inner] = []
    counts: dict[str, int] = {}
    labels: dict[str, str] = {}
    mood: Mood = Mood.UP
    either: int | str = 0
    anything: Any = None
    # None here is always written as NULL: left out it would read back as 3 / set().
    sticky: int | None = 3
    maybe_tags: set[str] | None = None
    # Attribute names a generated source must quote correctly.
    quoted: str = pydantic.Field(default="q", alias="it's \"quoted\"\\n")


texts = st.text(max_size=8)
ints = st.integers(min_value=-(10**40), max_value=10**40)


@st.composite
def wides(draw: st.DrawFn) -> Wide:
    return Wide.model_validate({
        "text": draw(texts),
        "maybe_text": draw(st.none() | texts),
        "count": draw(ints),
        "maybe_count": draw(st.none() | ints),
        "flag": draw(st.booleans()),
        "maybe_flag": draw(st.none() | st.booleans()),
        "amount": draw(st.decimals(allow_nan=False, allow_infinity=False, places=4,
                                   min_value=-(10**20), max_value=10**20)),
        "ratio": draw(st.floats(allow_nan=False, allow_infinity=False, width=32)),
        "when": draw(st.datetimes(timezones=st.just(timezone.utc))),
        "tags": draw(st.sets(texts, max_size=3)),
        "numbers": draw(st.sets(ints, max_size=3)),
        "history": draw(st.lists(ints, max_size=4)),
        "names": draw(st.lists(texts, max_size=3)),
        "inner": draw(st.none() | st.builds(Inner, label=texts, weight=st.none() | ints)),
        "inners": draw(st.lists(st.builds(Inner, label=texts), max_size=2)),
        "counts": draw(st.dictionaries(texts, ints, max_size=3)),
        "labels": draw(st.dictionaries(texts, texts, max_size=3)),
        "mood": draw(st.sampled_from(Mood)),
        "either": draw(ints | texts),
        "anything": draw(st.none() | ints | texts | st.lists(texts, max_size=2)),
        "sticky": draw(st.none() | ints),
        "maybe_tags": draw(st.none() | st.sets(texts, max_size=2)),
        "it's \"quoted\"\\n": draw(texts),
    })


@settings(max_examples=300, deadline=None)
@given(wides(), st.booleans())
def test_generated_encoder_matches_the_loop(value: Wide, store_none: bool) -> None:
    codec = ObjectCodec(Wide)

    def outcome(encode: Any) -> Any:
        try:
            return encode(value, store_none=store_none)
        except EncodingError as exc:  # 39 significant digits and the like: same message
            return str(exc)

    assert outcome(codec.encode_fields) == outcome(codec._encode_fields_loop)


def test_the_generated_encoder_is_used_and_named() -> None:
    codec = ObjectCodec(Wide)
    assert codec.encode_fields.__qualname__ == "Wide.encode_fields"
    assert codec.encode_fields.__code__.co_filename.startswith("<dynorm encode of Wide #")


def test_none_fields_are_left_out_or_stored_as_null() -> None:
    value = Wide(text="t", count=1, flag=False, amount=Decimal("1.5"),
                 when=datetime(2026, 1, 1, tzinfo=timezone.utc))
    item = ObjectCodec(Wide).encode_fields(value)
    assert "maybe_text" not in item and "inner" not in item
    assert "tags" not in item  # an empty set is never stored
    assert item["flag"] == {"BOOL": False}
    assert item["it's \"quoted\"\\n"] == {"S": "q"}
    assert item["sticky"] == {"N": "3"}  # its default, stored like any value
    assert ObjectCodec(Wide).encode_fields(value.model_copy(update={"sticky": None}))[
        "sticky"] == {"NULL": True}  # left out, it would read back as 3
    with_none = ObjectCodec(Wide).encode_fields(value, store_none=True)
    assert with_none["maybe_text"] == {"NULL": True}
    assert with_none["maybe_flag"] == {"NULL": True}


def test_a_bad_value_is_named_by_class_and_field() -> None:
    value = Wide.model_construct(text="t", count=True, flag=1, amount=Decimal(1),
                                 when=datetime(2026, 1, 1, tzinfo=timezone.utc))
    # bool is not an int to DynamoDB: the generated fast path must not take it for one.
    with pytest.raises(EncodingError, match=r"^Wide\.count: expected int, got bool True"):
        ObjectCodec(Wide).encode_fields(value)
    value = Wide.model_construct(text="t", count=1, flag=1, amount=Decimal(1),
                                 when=datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(EncodingError, match=r"^Wide\.flag: expected bool, got int 1"):
        ObjectCodec(Wide).encode_fields(value)


def reference_decode(codec: ObjectCodec, item: dict[str, Any]) -> dict[str, Any]:
    """What decode_fields means: the plain loop through each field's full decoder (the
    one DYNORM_NO_CODEGEN uses)."""
    return codec._decode_fields_loop(item)


wire_values = st.one_of(
    st.builds(lambda s: {"S": s}, texts),
    st.builds(lambda n: {"N": str(n)}, st.integers(-10**6, 10**6)),
    st.just({"N": "1.5"}),
    st.just({"NULL": True}),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"L": [{"N": "1"}, {"S": "x"}]}),
    st.just({"M": {"label": {"S": "l"}}}),
    st.just({"SS": ["a", "b"]}),
    st.just({"NS": ["1", "2.5"]}),
)


@settings(max_examples=300, deadline=None)
@given(wides(), st.dictionaries(st.sampled_from(sorted(ObjectCodec(Wide).by_attr)), wire_values,
                                max_size=4))
def test_generated_decoder_matches_the_loop(value: Wide, damage: dict[str, Any]) -> None:
    """Items dynorm wrote, and the same items with attributes of unexpected types (another
    program wrote them): the generated decoder reads them exactly as the loop does."""
    codec = ObjectCodec(Wide)
    try:
        item = codec.encode_fields(value)
    except EncodingError:  # 39 significant digits: not storable, nothing to decode
        assume(False)
    assert codec.decode_fields(item) == reference_decode(codec, item)
    assert Wide.model_validate(codec.decode_fields(item)) == value
    damaged = {**item, **damage}
    assert codec.decode_fields(damaged) == reference_decode(codec, damaged)


class Node(pydantic.BaseModel):
    name: str
    children: list[Node] = []
    parent: Node | None = None


def test_recursive_models_encode_and_decode() -> None:
    tree = Node(name="root", children=[Node(name="a", children=[Node(name="a1")]),
                                       Node(name="b")], parent=Node(name="up"))
    codec = ObjectCodec(Node)
    item = codec.encode_fields(tree)
    assert item["children"]["L"][0]["M"]["children"]["L"][0]["M"]["name"] == {"S": "a1"}
    assert Node.model_validate(codec.decode_fields(item)) == tree
