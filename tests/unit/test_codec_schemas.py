"""The codec's oracle: random model *schemas*, random instances, exact round trips.

Hypothesis draws a model declaration (random field types from every type the codec
supports: scalars, enums, literals, secrets, ``Json[...]``, JSON-text types, sets, lists,
tuples, dicts, nested models, optionals, unions of distinct wire types), creates the
class with ``pydantic.create_model(..., __base__=dynorm.Model)``, draws instances and
checks that ``from_item(to_item(x)) == x`` with every value of the same Python type,
with and without ``store_none``. Unions of members sharing a wire type must be refused
with a SchemaError when the class is created.

The CI budget is fixed and derandomized (a few seconds). For a longer run::

    DYNORM_PROPERTY_EXAMPLES=5000 pytest -q -p no:cacheprovider -o timeout=0 \
        tests/unit/test_codec_schemas.py -k generated_schemas

(``-o timeout=0`` lifts pytest-timeout's per-test limit; 800 examples take about 20 s.)
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from uuid import UUID

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynorm import EncodingError, Model, PartitionKey, SchemaError

EXAMPLES = int(os.environ.get("DYNORM_PROPERTY_EXAMPLES", "150"))
BUDGET = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
UTC = timezone.utc


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Spec:
    """A declarable type, the values it holds, and the wire tags it writes."""

    annotation: Any
    values: st.SearchStrategy[Any]
    tags: frozenset[str]
    key: str  # the Python type a value reads back as: members sharing a tag need one


def _spec(annotation: Any, values: st.SearchStrategy[Any], tag: str, key: str) -> Spec:
    return Spec(annotation, values, frozenset({tag}), key)


texts = st.text(max_size=12)
keys = st.text(min_size=1, max_size=12)  # DynamoDB refuses an empty map key
in_range_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: x == 0 or 1e-129 < abs(x) < 1e125)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=6,
                       min_value=Decimal("-1e20"), max_value=Decimal("1e20"))
aware = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5)),
                                                timezone(timedelta(hours=-3, minutes=-30))]))

SCALARS: list[Spec] = [
    _spec(str, texts, "S", "str"),
    _spec(Annotated[str, pydantic.StringConstraints(max_length=5)], st.text(max_size=5), "S",
          "str"),
    _spec(int, st.integers(-(10**37), 10**37), "N", "int"),
    _spec(Annotated[int, pydantic.Field(gt=0)], st.integers(1, 10**12), "N", "int"),
    _spec(float, in_range_floats, "N", "float"),
    _spec(Decimal, decimals, "N", "Decimal"),
    _spec(bool, st.booleans(), "BOOL", "bool"),
    _spec(bytes, st.binary(max_size=12), "B", "bytes"),
    _spec(datetime, aware, "S", "datetime"),
    _spec(pydantic.AwareDatetime, aware, "S", "datetime"),
    _spec(date, st.dates(), "S", "date"),
    _spec(time, st.times(), "S", "time"),
    _spec(UUID, st.uuids(), "S", "UUID"),
    _spec(timedelta, st.timedeltas(), "S", "timedelta"),
    _spec(ipaddress.IPv4Address, st.ip_addresses(v=4), "S", "IPv4Address"),
    _spec(ipaddress.IPv6Address, st.ip_addresses(v=6), "S", "IPv6Address"),
    _spec(PurePosixPath, st.sampled_from([PurePosixPath("a/b"), PurePosixPath("/x")]), "S",
          "PurePosixPath"),
    _spec(pydantic.HttpUrl, st.sampled_from(["https://example.com/", "http://a.b/c?d=1"]),
          "S", "HttpUrl"),
    _spec(pydantic.SecretStr, texts.map(pydantic.SecretStr), "S", "SecretStr"),
    _spec(pydantic.SecretBytes, st.binary(max_size=8).map(pydantic.SecretBytes), "B",
          "SecretBytes"),
    # Json fields take JSON text and hold the parsed value.
    _spec(pydantic.Json[list[int]],
          st.lists(st.integers(-(10**9), 10**9), max_size=3).map(json.dumps), "S",
          "Json[list[int]]"),
    _spec(Color, st.sampled_from(Color), "S", "Color"),
    _spec(Level, st.sampled_from(Level), "N", "Level"),
    _spec(Literal["a", "b"], st.sampled_from(["a", "b"]), "S", "str"),
    _spec(Literal[1, 2], st.sampled_from([1, 2]), "N", "int"),
    # Any holds what reads back as itself: never in a union (it shares every tag).
    Spec(Any, st.recursive(
        st.none() | st.booleans() | st.integers(-(10**30), 10**30) | texts
        | st.binary(max_size=4),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=6), frozenset({"S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"}),
        "Any"),
]

SET_ELEMENTS: list[tuple[Any, st.SearchStrategy[Any], str]] = [
    (str, texts, "SS"),
    (int, st.integers(-(10**30), 10**30), "NS"),
    (bytes, st.binary(min_size=1, max_size=6), "BS"),
    (Decimal, decimals, "NS"),
]

_names = itertools.count()


def _model(fields: list[tuple[Spec, bool]], base: type[pydantic.BaseModel]) -> Spec:
    """A nested model: each field optional (default None or a non-None default) or not."""
    declared: dict[str, Any] = {}
    draws: dict[str, st.SearchStrategy[Any]] = {}
    for i, (spec, optional) in enumerate(fields):
        name = f"f{i}"
        if optional:
            declared[name] = (spec.annotation | None, None)
            draws[name] = st.none() | spec.values
        else:
            declared[name] = (spec.annotation, ...)
            draws[name] = spec.values
    cls = pydantic.create_model(f"Inner{next(_names)}", __base__=base, **declared)
    return _spec(cls, st.fixed_dictionaries(draws).map(cls.model_validate), "M",
                 cls.__name__)


@st.composite
def specs(draw: st.DrawFn, depth: int = 2) -> Spec:
    """A random declarable type (nested up to ``depth`` containers)."""
    if depth == 0:
        return draw(st.sampled_from(SCALARS))
    choice = draw(st.integers(0, 8))
    if choice <= 2:
        return draw(st.sampled_from(SCALARS))
    inner = draw(specs(depth - 1))
    if choice == 3:
        return _spec(list[inner.annotation], st.lists(inner.values, max_size=3), "L",
                     f"list[{inner.key}]")
    if choice == 4:
        other = draw(specs(depth - 1))
        return _spec(tuple[inner.annotation, other.annotation],
                     st.tuples(inner.values, other.values), "L", "tuple")
    if choice == 5:
        return _spec(dict[str, inner.annotation],
                     st.dictionaries(keys, inner.values, max_size=3), "M", f"dict[{inner.key}]")
    if choice == 6:
        elem, values, tag = draw(st.sampled_from(SET_ELEMENTS))
        kind = draw(st.sampled_from([set, frozenset]))
        return _spec(kind[elem], st.sets(values, min_size=1, max_size=3).map(kind), tag,
                     f"{kind.__name__}[{elem.__name__}]")
    if choice == 7:
        return union_of(draw, inner, depth)
    fields = draw(st.lists(st.tuples(specs(depth - 1), st.booleans()), min_size=1,
                           max_size=3))
    return _model(fields, pydantic.BaseModel)


def union_of(draw: st.DrawFn, first: Spec, depth: int) -> Spec:
    """``first | other`` where the members write distinct wire tags (else: first)."""
    other = draw(specs(depth - 1))
    if other.tags & first.tags:
        return first
    return Spec(first.annotation | other.annotation, first.values | other.values,
                first.tags | other.tags, f"{first.key}|{other.key}")


def same_type(a: Any, b: Any, where: str = "") -> None:
    """``a`` and ``b`` hold the same Python types all the way down."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, pydantic.BaseModel):
        for name in type(a).model_fields:
            same_type(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_type(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        for k in a:
            same_type(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (set, frozenset)):
        assert {(type(x), x) for x in a} == {(type(x), x) for x in b}, where


@st.composite
def models(draw: st.DrawFn) -> tuple[type[Model], Callable[[], st.SearchStrategy[Any]]]:
    """A table model of random fields; an optional field's default is None or a value."""
    declared: dict[str, Any] = {"pk": (Annotated[str, PartitionKey], ...),
                                "tags": (set[str], set()),
                                "maybe_tags": (set[int] | None, None)}
    draws: dict[str, st.SearchStrategy[Any]] = {
        "pk": st.just("k"),
        "tags": st.sets(texts, max_size=2),
        "maybe_tags": st.none() | st.sets(st.integers(0, 9), max_size=2),
    }
    for i, spec in enumerate(draw(st.lists(specs(), min_size=1, max_size=5))):
        name = f"f{i}"
        mode = draw(st.sampled_from(["plain", "optional", "defaulted"]))
        if mode == "plain":
            declared[name] = (spec.annotation, ...)
            draws[name] = spec.values
        elif mode == "optional":
            declared[name] = (spec.annotation | None, None)
            draws[name] = st.none() | spec.values
        else:  # x: T | None = <a value>: a None must not come back as the default
            default = draw(spec.values)
            declared[name] = (spec.annotation | None, default)
            draws[name] = st.none() | spec.values
    # A nested model whose None fields have non-None defaults (the None rule, in maps).
    holder = pydantic.create_model(f"Holder{next(_names)}", x=(int | None, 5),
                                   y=(str | None, "d"))
    declared["nested"] = (list[holder], [])  # type: ignore[valid-type]
    draws["nested"] = st.lists(st.builds(holder, x=st.none() | st.integers(0, 9),
                                         y=st.none() | texts), max_size=2)
    cls = pydantic.create_model(f"Doc{next(_names)}", __base__=Model,
                                __cls_kwargs__={"table": "docs"}, **declared)
    return cls, lambda: st.fixed_dictionaries(draws).map(cls.model_validate)


@BUDGET
@given(st.data())
def test_generated_schemas_round_trip_exactly(data: st.DataObject) -> None:
    cls, instances = data.draw(models())
    for _ in range(3):
        value = data.draw(instances())
        for store_none in (False, True):
            back = cls.from_item(value.to_item(store_none=store_none))
            assert back == value, (value, back)
            same_type(value, back, cls.__name__)


def _ambiguous_pairs() -> list[tuple[Spec, Spec]]:
    pairs = []
    for a, b in itertools.combinations(SCALARS, 2):
        if a.tags & b.tags and a.key != b.key:
            pairs.append((a, b))
    return pairs


@pytest.mark.parametrize(("a", "b"), _ambiguous_pairs(),
                         ids=lambda s: str(getattr(s, "key", s)))
def test_unions_sharing_a_wire_type_are_refused(a: Spec, b: Spec) -> None:
    if {a.key, b.key} & {"Color", "str"} == {"Color", "str"} and "Literal" in str(
            a.annotation) + str(b.annotation):
        pytest.skip("Literal['a', 'b'] and Color have disjoint values: the value tells")
    with pytest.raises(SchemaError, match=r"Doc\w*\.x: .* (are both stored as|Any accepts)"):
        pydantic.create_model(f"Doc{next(_names)}", __base__=Model,
                              __cls_kwargs__={"table": "docs"},
                              pk=(Annotated[str, PartitionKey], ...),
                              x=(a.annotation | b.annotation, ...))


# ---------------------------------------------------------------------------- the bugs


def declare(**fields: Any) -> type[Model]:
    return pydantic.create_model(f"Doc{next(_names)}", __base__=Model,
                                 __cls_kwargs__={"table": "docs"},
                                 pk=(Annotated[str, PartitionKey], "k"), **fields)


def round_trip(value: Model, store_none: bool = False) -> Model:
    back = type(value).from_item(value.to_item(store_none=store_none))
    assert back == value
    same_type(value, back)
    return back


def test_secrets_are_stored_exactly_and_never_printed() -> None:
    cls = declare(s=(pydantic.SecretStr, ...), b=(pydantic.SecretBytes, ...))
    value = cls(s="hunter2", b=b"\x00key")
    assert value.to_item()["s"] == {"S": "hunter2"}
    assert value.to_item()["b"] == {"B": b"\x00key"}
    back = round_trip(value)
    assert back.s.get_secret_value() == "hunter2"  # type: ignore[attr-defined]
    bad = cls(s="hunter2\ud800", b=b"")
    with pytest.raises(EncodingError, match=r"Doc\d+\.s: the secret cannot be stored") as exc:
        bad.to_item()
    assert "hunter2" not in str(exc.value)
    with pytest.raises(EncodingError, match=r"expected SecretStr, got str$"):
        cls.model_construct(pk="k", s="hunter2", b=pydantic.SecretBytes(b"")).to_item()


def test_json_fields_store_their_text() -> None:
    cls = declare(j=(pydantic.Json[list[int]], ...), anything=(pydantic.Json, ...))
    value = cls(j="[1, 2]", anything='{"a": [1.5, null, "x"]}')
    assert value.to_item()["j"] == {"S": "[1,2]"}
    round_trip(value)


@pytest.mark.parametrize("annotation", [
    datetime | str, UUID | str, date | str, time | str, Color | str, int | float,
    int | Decimal, float | Decimal, Level | int, list[int] | list[str], dict[str, int] | Any,
    timedelta | str,
])
def test_ambiguous_unions_are_refused_at_class_creation(annotation: Any) -> None:
    with pytest.raises(SchemaError, match=r"^Doc\d+\.x: .*cannot be stored: .*(store one type|"
                       r"one number type|Any accepts)"):
        declare(x=(annotation, ...))


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    name: str


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    name: str
    good: bool = True


class Plain(pydantic.BaseModel):
    name: str


@pytest.mark.parametrize(("annotation", "values"), [
    (int | str, [5, "5", ""]),
    (bytes | str, [b"x", "x"]),
    (list[int] | str, [[1], "[1]"]),
    (bool | int, [True, 1, 0, False]),
    (int | bool, [True, 1]),
    (str | Literal["x"], ["x", "y"]),
    (Literal["a"] | Color, ["a", Color.RED]),
    (Plain | None, [Plain(name="p"), None]),
    (Cat | Dog, [Cat(name="c"), Dog(name="d", good=False)]),
    (Annotated[Cat | Dog, pydantic.Field(discriminator="kind")], [Dog(name="d")]),
    (set[str] | int, [{"a"}, 3]),
    (datetime | int, [datetime(2026, 1, 1, tzinfo=UTC), 7]),
])
def test_unions_of_distinct_wire_types_round_trip_with_their_type(
        annotation: Any, values: list[Any]) -> None:
    cls = declare(x=(annotation, ...))
    for v in values:
        round_trip(cls(x=v))


def test_models_without_a_tag_field_are_refused_in_a_union() -> None:
    with pytest.raises(SchemaError, match=r"Doc\d+\.x: .*Plain, Cat.* no field tells them"):
        declare(x=(Plain | Cat, ...))


class Inner(pydantic.BaseModel):
    x: int | None = 5
    note: str | None = None


def test_none_is_never_read_back_as_the_default() -> None:
    cls = declare(inner=(Inner, ...), inners=(list[Inner], []), top=(int | None, 7))
    value = cls(inner=Inner(x=None), inners=[Inner(x=None), Inner()], top=None)
    item = value.to_item()
    assert item["inner"] == {"M": {"x": {"NULL": True}}}  # note: None is its default
    assert item["top"] == {"NULL": True}
    for store_none in (False, True):
        back = round_trip(value, store_none)
        assert back.inner.x is None and back.inners[0].x is None  # type: ignore[attr-defined]
        assert back.top is None  # type: ignore[attr-defined]
    assert value.to_item(store_none=True)["inner"] == item["inner"]


def test_a_nullable_set_keeps_none_apart_from_empty() -> None:
    cls = declare(tags=(set[str] | None, None))
    assert cls(tags=None).to_item()["tags"] == {"NULL": True}
    assert "tags" not in cls(tags=set()).to_item()
    for v in (None, set(), {"a"}):
        round_trip(cls(tags=v))


def test_an_empty_set_in_a_map_is_refused_not_dropped() -> None:
    cls = declare(m=(dict[str, set[str]], ...))
    with pytest.raises(EncodingError, match=r"Doc\d+\.m: an empty set under map key 'k'"):
        cls(m={"k": set()}).to_item()


@pytest.mark.parametrize(("annotation", "value"), [
    (str, "a\ud800b"),
    (list[str], ["ok", "\udfff"]),
    (dict[str, int], {"\ud800": 1}),
    (dict[str, str], {"k": "\ud800"}),
    (set[str], {"\ud800"}),
    (Any, "\ud800"),
    (Inner | str, "\ud800"),
])
def test_lone_surrogates_are_an_encoding_error_naming_the_field(annotation: Any,
                                                                 value: Any) -> None:
    cls = declare(x=(annotation, ...))
    with pytest.raises(EncodingError, match=r"^Doc\d+\.x: .*lone surrogate"):
        cls(x=value).to_item()


@pytest.mark.parametrize("value", [
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
])
def test_datetimes_out_of_range_in_utc_are_an_encoding_error(value: datetime) -> None:
    cls = declare(when=(datetime, ...))
    with pytest.raises(EncodingError, match=r"^Doc\d+\.when: .*outside the datetime range"):
        cls(when=value).to_item()


def test_floats_round_trip_exactly_or_are_refused() -> None:
    cls = declare(f=(float, ...))
    for v in (0.1, -0.0, 1e125, -2.5e-129, 1 / 3, 123456789.123456789):
        back = round_trip(cls(f=v))
        assert repr(back.f) == repr(v)  # type: ignore[attr-defined]
    for v in (1e308, 5e-324, 2.2250738585072014e-308):
        with pytest.raises(EncodingError, match=r"Doc\d+\.f: .*outside DynamoDB's number range"):
            cls(f=v).to_item()


@dataclass
class Point:
    x: int


class Pair(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    when: datetime


@pytest.mark.parametrize(("annotation", "message"), [
    (Point, "Point cannot be stored: dynorm stores str"),
    (complex, "complex cannot be stored"),
    (pydantic.NaiveDatetime, "a naive datetime has no instant"),
    (pydantic.FutureDatetime, "becomes past"),
    (Annotated[datetime, pydantic.Strict()], "strict datetime cannot be read back"),
    (Annotated[tuple[int, int], pydantic.Strict()], "strict tuple"),
    (Pair, r"Pair\.when: strict"),
])
def test_types_that_cannot_round_trip_are_refused(annotation: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=rf"^Doc\d+\.x: .*{message}"):
        declare(x=(annotation, ...))


def test_strict_fields_whose_stored_form_is_exact_are_fine() -> None:
    cls = declare(n=(int, pydantic.Field(strict=True)), s=(Annotated[str, pydantic.Strict()], ...))
    round_trip(cls(n=3, s="x"))


@pytest.mark.parametrize(("value", "back"), [
    (1.5, "an int or a Decimal"), (Decimal("2"), "an int"), ((1, 2), "a list"),
    (datetime(2026, 1, 1, tzinfo=UTC), "another type"), (Color.RED, "its value"),
    (Plain(name="p"), "a dict"), ([1, (2,)], "a list"), ({"k": 0.5}, "an int or a Decimal"),
    (frozenset({1}), "a set"),
])
def test_any_refuses_values_that_would_read_back_as_another_type(value: Any, back: str) -> None:
    cls = declare(x=(Any, None))
    with pytest.raises(EncodingError, match=rf"^Doc\d+\.x: .* cannot be stored in an Any field: "
                       rf"it would read back as {back}"):
        cls(x=value).to_item()


def test_any_keeps_what_reads_back_as_itself() -> None:
    cls = declare(x=(Any, None))
    for v in (None, 3, "s", b"b", True, Decimal("1.5"), [1, None, {"a": [b"x"]}], {"s"}):
        round_trip(cls(x=v))


def test_an_empty_map_key_is_refused_naming_the_field() -> None:
    """DynamoDB refuses an empty attribute name, and a map key is one (moto stores it
    mangled: tests/integration/test_backends.py)."""
    class Keys(Model, table="empty_keys"):
        id: Annotated[str, PartitionKey]
        ints: dict[str, int] = {}
        nested: dict[str, list[int]] = {}
        loose: Any = None

    for values in ({"ints": {"": 1}}, {"nested": {"a": [1], "": [2]}},
                   {"loose": {"x": {"": 2}}}):
        field = next(iter(values))
        with pytest.raises(EncodingError, match=rf"Keys.{field}: a map key cannot be empty"):
            Keys(id="k", **values).to_item()


def test_a_fixed_tuple_decodes_each_position_with_its_codec() -> None:
    """Found by the schema property: a fixed tuple was decoded as plain values, so a
    nested model's None left out (it reads back as None) came back as a missing field."""

    class Part(pydantic.BaseModel):
        size: int | None

    class Shelf(Model, table="tuple_shelves"):
        id: Annotated[str, PartitionKey]
        pair: tuple[str, Part]
        mixed: tuple[int | str, bytes, set[str]] = (0, b"", set())

    shelf = Shelf(id="s", pair=("", Part(size=None)), mixed=("7", b"\x00", {"a"}))
    item = shelf.to_item()
    assert item["pair"] == {"L": [{"S": ""}, {"M": {}}]}
    back = Shelf.from_item(item)
    assert back == shelf and type(back.mixed[0]) is str and back.mixed[2] == {"a"}


def test_a_union_member_is_read_back_as_itself_whatever_the_order() -> None:
    """Found by the schema property in CI: the datetime of ``SecretBytes | datetime`` was
    read back as SecretBytes (the first member that accepts its stored string)."""
    when = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for annotation in (pydantic.SecretBytes | datetime, datetime | pydantic.SecretBytes,
                       list[pydantic.SecretBytes | datetime], UUID | bytes, bytes | UUID):

        class Either(Model, table="either_docs"):
            id: Annotated[str, PartitionKey]
            value: annotation  # type: ignore[valid-type]

        for value in (when, pydantic.SecretBytes(b"s"), UUID(int=5), b"\x01"):
            try:
                doc = Either(id="e", value=[value] if "list" in str(annotation) else value)
            except pydantic.ValidationError:
                continue  # not a member of this union
            back = Either.from_item(doc.to_item())
            assert back == doc and type(back.value) is type(doc.value), (annotation, value)


def test_a_tuple_holding_json_inside_a_union_round_trips() -> None:
    """Found by the generated schemas: the union's member decoder validated the tuple
    (parsing its Json text), then the model validated it again and Json[X] refused the
    parsed list."""

    from pydantic import Json


    class JsonInUnion(Model, table="docs"):
        pk: Annotated[str, PartitionKey]
        f0: tuple[str, Json[list[int]]] | str
        f1: list[tuple[int, Json[dict[str, int]]]] | int = 0

    value = JsonInUnion.model_validate(
        {"pk": "k", "f0": ("", "[1, 2]"), "f1": [(1, '{"a": 1}')]})
    back = JsonInUnion.from_item(value.to_item())
    assert back == value and back.f0 == ("", [1, 2]) and back.f1 == [(1, {"a": 1})]
