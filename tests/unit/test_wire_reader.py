"""The fast item reader (`dynorm.codec.wire`) against the general way, differentially.

For random model schemas (the codec oracle's generator, tests/unit/test_codec_schemas.py)
and random items -- stored instances, then mutated: an attribute removed, stored with
another type tag, a NULL, an unknown attribute, the same inside maps and lists -- the fast
reader either declines (raises) or builds exactly what the general way builds
(``model_validate(decode_item(item))``): equal, the same Python types all the way down,
the same ``model_fields_set``. Where the general way refuses an item, the fast reader must
decline it too.

CI runs a fixed, derandomized budget; ``DYNORM_PROPERTY_EXAMPLES=2000`` for a longer run.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynorm import Model, PartitionKey, SortKey, ValidationFailed
from dynorm.codec.wire import wire_reader
from dynorm.schema.classes import meta_of
from tests.unit.test_codec_schemas import BUDGET, models, same_type

OTHER_VALUES: list[dict[str, Any]] = [
    {"S": "x"}, {"S": "5"}, {"S": ""}, {"S": "2024-05-17T09:30:00Z"}, {"N": "5"},
    {"N": "1.0"}, {"N": "1E+2"}, {"N": "-0.5"}, {"BOOL": True}, {"NULL": True},
    {"B": b"x"}, {"L": []}, {"L": [{"N": "1"}, {"S": "a"}]}, {"M": {}},
    {"M": {"S": {"S": "a"}}}, {"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}, {"BS": [b"q"]},
    # numbers in other spellings, strings that look like numbers, NULL inside containers
    {"N": "-0"}, {"N": "1e2"}, {"N": "0.10"}, {"N": "007"}, {"S": "1e2"}, {"S": "true"},
    {"BOOL": False}, {"NS": ["-0", "1E+2"]}, {"SS": ["1", "01"]}, {"BS": [b"", b"\x00"]},
    {"L": [{"NULL": True}]}, {"M": {"a": {"NULL": True}}}, {"L": [{"BOOL": True}]},
]


def respelled(text: str, choice: int) -> str:
    """The same number written another way (DynamoDB answers its own canonical form, but
    items also come from streams, exports and other writers)."""
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    if choice == 0:
        return f"{sign}{digits}E+0" if "E" not in digits.upper() else text
    if choice == 1:
        return f"{sign}{digits}0" if "." in digits else f"{sign}{digits}.0"
    if choice == 2:
        return f"{sign}0{digits}"
    return "-0"  # another number, which both ways must read alike


def general(cls: type[Model], item: dict[str, Any]) -> Any:
    """The general way: plain values decoded field by field, then model_validate."""
    return cls.model_validate(meta_of(cls).decode_item(item))


def fast(cls: type[Model], item: dict[str, Any]) -> Any:
    reader = wire_reader(cls)
    assert reader is not None, f"{cls.__name__} has no fast reader"
    return reader(item)


def same(a: Any, b: Any) -> None:
    assert a == b, (a, b)
    same_type(a, b, type(a).__name__)
    exact(a, b, type(a).__name__)


def exact(a: Any, b: Any, where: str) -> None:
    """``a`` and ``b`` alike all the way down: types, each value's repr (``Decimal("0")``
    vs ``Decimal("-0")``, ``0.0`` vs ``-0.0``: equal, yet not the same data), each nested
    model's fields set, extra and private values."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, pydantic.BaseModel):
        assert a.model_fields_set == b.model_fields_set, where
        assert a.__pydantic_extra__ == b.__pydantic_extra__, where
        assert a.__pydantic_private__ == b.__pydantic_private__, where
        assert list(a.__dict__) == list(b.__dict__), where
        for name, value in a.__dict__.items():
            exact(value, b.__dict__[name], f"{where}.{name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            exact(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            exact(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (set, frozenset)):
        assert {(type(x), repr(x)) for x in a} == {(type(x), repr(x)) for x in b}, where
    else:
        assert repr(a) == repr(b), f"{where}: {a!r} != {b!r}"


def check(cls: type[Model], item: dict[str, Any]) -> bool:
    """Both ways agree on ``item``; True when the fast reader built it."""
    try:
        quick = fast(cls, item)
    except AssertionError:
        raise
    except Exception:
        return False
    try:
        slow = general(cls, item)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"fast read an item the general way refuses: {exc}") from exc
    same(quick, slow)
    return True


@st.composite
def mutated(draw: st.DrawFn, av: Any, depth: int = 0) -> Any:
    """``av`` with one change somewhere inside (or none)."""
    choice = draw(st.integers(0, 5))
    if choice == 0 or depth > 3:
        return av
    if choice == 1:
        return draw(st.sampled_from(OTHER_VALUES))
    if "N" in av or av.get("NS"):
        how = draw(st.integers(0, 3))
        if "N" in av:
            return {"N": respelled(av["N"], how)}
        return {"NS": [respelled(t, how) for t in av["NS"]]}
    if av.get("M"):
        inner = dict(av["M"])
        key = draw(st.sampled_from(sorted(inner)))
        action = draw(st.integers(0, 2))
        if action == 0:
            del inner[key]
        elif action == 1:
            inner["zz_unknown"] = {"S": "u"}
        else:
            inner[key] = draw(mutated(inner[key], depth + 1))
        return {"M": inner}
    if av.get("L"):
        items = list(av["L"])
        i = draw(st.integers(0, len(items) - 1))
        items[i] = draw(mutated(items[i], depth + 1))
        return {"L": items}
    return draw(st.sampled_from(OTHER_VALUES))


@BUDGET
@given(st.data())
def test_fast_reads_equal_the_general_way_or_decline(data: st.DataObject) -> None:
    cls, instances = data.draw(models())
    assert wire_reader(cls) is not None
    for _ in range(3):
        value = data.draw(instances())
        item = value.to_item(store_none=data.draw(st.booleans()))
        # an unchanged item is read by both ways alike (the fast one may decline)
        check(cls, item)
        changed = dict(item)
        key = data.draw(st.sampled_from(sorted(changed)))
        action = data.draw(st.integers(0, 2))
        if action == 0:
            del changed[key]
        elif action == 1:
            changed["zz_unknown"] = data.draw(st.sampled_from(OTHER_VALUES))
        else:
            changed[key] = data.draw(mutated(changed[key]))
        check(cls, changed)
        how = data.draw(st.integers(0, 3))  # every number of the item spelled another way
        check(cls, {k: respell_all(v, how) for k, v in item.items()})


def respell_all(av: Any, how: int) -> Any:
    """``av`` with every number in it `respelled`."""
    ((tag, v),) = av.items()
    if tag == "N":
        return {"N": respelled(v, how)}
    if tag == "NS":
        return {"NS": [respelled(t, how) for t in v]}
    if tag == "L":
        return {"L": [respell_all(x, how) for x in v]}
    if tag == "M":
        return {"M": {k: respell_all(x, how) for k, x in v.items()}}
    return av


class Address(pydantic.BaseModel):
    street: str
    city: str = "Amsterdam"


class Order(Model, table="wire_orders"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    name: str
    status: str = "new"
    total: Decimal
    rate: float
    paid: bool
    at: dt.datetime
    tags: set[str]
    lucky: set[int]
    history: list[int]
    aliases: list[str]
    address: Address
    attrs: dict[str, int]
    note: str | None = None


ITEM: dict[str, Any] = {
    "pk": {"S": "o"}, "sk": {"N": "1"}, "name": {"S": "n"}, "status": {"S": "paid"},
    "total": {"N": "12.50"}, "rate": {"N": "0.1"}, "paid": {"BOOL": True},
    "at": {"S": "2024-05-17T09:30:00.123456Z"}, "tags": {"SS": ["a", "b"]},
    "lucky": {"NS": ["7", "42"]}, "history": {"L": [{"N": "1"}, {"N": "2"}]},
    "aliases": {"L": [{"S": "x"}]},
    "address": {"M": {"street": {"S": "Main"}, "city": {"S": "Utrecht"}}},
    "attrs": {"M": {"logins": {"N": "3"}}},
}


def test_a_plain_item_is_read_by_the_fast_reader() -> None:
    assert check(Order, ITEM)
    order = fast(Order, ITEM)
    assert order.total == Decimal("12.50") and str(order.total) == "12.50"
    assert order.lucky == {7, 42} and order.address == Address(street="Main", city="Utrecht")


@pytest.mark.parametrize(("attr", "stored"), [
    ("status", {"N": "5"}),          # another tag, on a field with a default
    ("address", {"NULL": True}),
    ("history", {"L": [{"S": "1"}]}),
    ("attrs", {"M": {"logins": {"S": "3"}}}),
])
def test_what_the_fast_reader_cannot_settle_goes_the_general_way(
        attr: str, stored: dict[str, Any] | None) -> None:
    item = {k: v for k, v in ITEM.items() if k != attr}
    if stored is not None:
        item[attr] = stored
    with pytest.raises(Exception):  # noqa: B017 - declined, in any way
        fast(Order, item)
    check(Order, item)
    try:
        read = Order.from_item(item)
    except ValidationFailed:
        return
    assert read == general(Order, item)


def test_an_absent_attribute_reads_as_its_default_in_both_ways() -> None:
    item = {**ITEM, "address": {"M": {"street": {"S": "Main"}}}}
    item.pop("status")
    assert check(Order, item)
    order = fast(Order, item)
    assert order.status == "new" and order.address.city == "Amsterdam"
    assert "status" not in order.model_fields_set


def test_null_and_absent_sets_are_read_by_the_fast_reader_as_by_the_general_way() -> None:
    item = {**ITEM, "note": {"NULL": True}}
    item.pop("tags")
    assert check(Order, item)
    order = fast(Order, item)
    assert order.note is None and order.tags == set()
    assert {"note", "tags"} <= order.model_fields_set


def test_attributes_the_model_does_not_declare_are_ignored_as_by_the_general_way() -> None:
    item = {**ITEM, "_type": {"S": "Order"}, "gsi1pk": {"S": "X#1"}}
    assert check(Order, item)


class Custom(Model, table="wire_custom"):
    pk: Annotated[str, PartitionKey]
    text: Annotated[str, pydantic.BeforeValidator(lambda v: str(v))] = "d"


def test_a_field_validator_sees_what_the_general_way_hands_it() -> None:
    # stored as a number, the before-validator receives the decoded number, not the map
    item = {"pk": {"S": "k"}, "text": {"N": "5"}}
    assert Custom.from_item(item).text == "5"
    check(Custom, item)


class Checked(Model, table="wire_checked"):
    pk: Annotated[str, PartitionKey]
    n: int

    @pydantic.model_validator(mode="before")
    @classmethod
    def seen(cls, data: Any) -> Any:
        return data


class Loose(Model, table="wire_loose", extra="allow"):
    pk: Annotated[str, PartitionKey]


def test_models_it_cannot_build_exactly_have_no_fast_reader() -> None:
    assert wire_reader(Checked) is None
    assert wire_reader(Loose) is None
    assert Checked.from_item({"pk": {"S": "k"}, "n": {"N": "1"}}).n == 1


class Sparse(Model, table="wire_sparse"):
    pk: Annotated[str, PartitionKey]
    inner: Address | None = None


def test_a_reader_that_declines_most_items_rests_and_is_tried_again() -> None:
    from dynorm.codec.wire import _KEY

    declining = {"pk": {"S": "k"}, "inner": {"M": {"street": {"S": "s"}, "zz": {"S": "?"}}}}
    for _ in range(16):
        assert Sparse.from_item(declining).inner == Address(street="s")
    slot = Sparse.__dict__[_KEY]
    assert slot.rest == 1024 and wire_reader(Sparse) is None
    plain = {"pk": {"S": "k"}, "inner": {"M": {"street": {"S": "s"}}}}
    for _ in range(1023):
        assert Sparse.from_item(plain).inner == Address(street="s")  # the general way
    assert wire_reader(Sparse) is not None  # tried again
    assert check(Sparse, plain) and check(Sparse, declining) is False


# ----------------------------------------------------------- found by hostile testing


class Signed(Model, table="wire_signed"):
    pk: Annotated[str, PartitionKey]
    amounts: set[Decimal] = set()
    ratios: set[float] = set()
    frozen: frozenset[Decimal] = frozenset()
    maybe: set[Decimal] | None = None


@pytest.mark.parametrize("text", ["-0", "-00", "0", "7", "-7", "1E+2", "0.10", "-0.0"])
@pytest.mark.parametrize("attr", ["amounts", "ratios", "frozen", "maybe"])
def test_a_number_set_reads_its_numbers_as_the_general_way(attr: str, text: str) -> None:
    # The general way reads a number set's texts with int() first: "-0" is 0, Decimal("0")
    # and 0.0 -- not Decimal("-0") and -0.0 as a decimal or float schema reads the text.
    item = {"pk": {"S": "k"}, attr: {"NS": [text]}}
    check(Signed, item)
    got, expected = Signed.from_item(item), general(Signed, item)
    assert repr(getattr(got, attr)) == repr(getattr(expected, attr))


class Watched(Model, table="wire_watched"):
    pk: Annotated[str, PartitionKey]
    note: str | None
    tags: set[str] = set()
    _loaded: list[str] = pydantic.PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        self._loaded = sorted(self.model_fields_set)


def test_model_post_init_sees_the_fields_set_the_general_way_sets() -> None:
    # absent, note (required, nullable) and tags (a set) are handed over by the general
    # way as None and set(): they are "set" already when model_post_init runs
    item = {"pk": {"S": "k"}}
    check(Watched, item)
    got = Watched.from_item(item)
    assert got._loaded == ["note", "pk", "tags"]
    assert got.__pydantic_private__ == general(Watched, item).__pydantic_private__


def test_a_rest_count_taken_below_zero_by_racing_threads_ends_the_rest() -> None:
    # two threads may both see rest == 1 and both count it down: -1 must not mean
    # "resting" for ever (no fast reads of the model again)
    from dynorm.codec.wire import _KEY

    item = {"pk": {"S": "k"}, "inner": {"M": {"street": {"S": "s"}}}}
    Sparse.from_item(item)
    slot = Sparse.__dict__[_KEY]
    slot.rest = -1
    assert wire_reader(Sparse) is not None


class ByName(Model, table="wire_by_name", validate_by_name=True, validate_by_alias=False):
    pk: Annotated[str, PartitionKey]
    name: str = pydantic.Field(default="d", alias="n")


def test_a_model_validated_by_name_only_is_left_to_the_general_way() -> None:
    # stored under its alias, the field is not read by the general way's model_validate
    # (validate_by_alias=False): the fast reader must not read it either
    item = {"pk": {"S": "k"}, "n": {"S": "stored"}}
    assert wire_reader(ByName) is None
    with pytest.raises(pydantic.ValidationError):
        general(ByName, item)
