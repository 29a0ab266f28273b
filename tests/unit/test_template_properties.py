"""Key templates as a bijection, and their order: properties over generated templates.

Oracles, for templates of random literals (separator characters, ``%``, non-BMP
characters) and random placeholders (every supported field type, with specs that are
lossless or not, sortable or not):

* ``parse(fill(v))`` gives back every value of a placeholder the template calls
  lossless, and the template never calls lossless a placeholder that altered a value;
* where the template calls a placeholder order-preserving, the keys of two values
  compare in DynamoDB's order (UTF-8 bytes) as the values do;
* equal values give equal keys.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pydantic
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from dynorm import InvalidKey, KeyTemplate, attr

UTC = timezone.utc
BUDGET = settings(max_examples=200, deadline=None, derandomize=True)


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "gr#en"


class Level(enum.Enum):  # int values: "1" does not validate back as Level.LOW
    LOW = 1
    HIGH = 2


SPECS: dict[Any, list[str]] = {
    str: ["", "", "s", ".4", ">6", "<3", "^5", "*>4"],
    int: ["", "", "08d", "04d", "-06d", "d", "5d", "+d", "x", "_", ",", ".2f", "e"],
    Decimal: ["", "", ".2f", "e", "g", ">8", "f"],
    date: ["", "%Y-%m-%d", "%d.%m.%Y", "%Y%j", "%Y-%m", "%m/%d/%Y", "%%Y%Y"],
    datetime: ["", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%H:%M %d/%m/%Y", "%Y", "%Y%m%d%H%M%S%f"],
    UUID: ["", "s", ">40"],
    Color: ["", ">5"],
    Level: [""],
}
LITERAL = st.text(st.sampled_from("AZaz09#|%$&-:_/. \U0001f600\u00e9\u20ac"), max_size=4)
TEXT = st.text(st.characters(codec="utf-8"), max_size=8) | st.text(
    st.sampled_from("ab0#|%$&-:_/. \U0001f600\u00e9\U0010fffe"), max_size=6)
DAY_MIN, DAY_MAX = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)


def values_of(tp: Any, spec: str) -> st.SearchStrategy[Any]:
    if tp is str:
        return TEXT
    if tp is int:
        padded = spec.lstrip("-")[:1] == "0"
        width = int(spec.lstrip("-0").rstrip("d")) if padded else 0
        small = st.integers(0, 10**width - 1) if padded else st.integers(-1000, 1000)
        return small | st.integers(0, 12) | st.integers()
    if tp is Decimal:
        return st.decimals(allow_nan=False, allow_infinity=False) | st.decimals(
            -100, 100, places=2)
    if tp is date:
        return st.dates()
    if tp is datetime:
        return st.datetimes(min_value=DAY_MIN.replace(tzinfo=None),
                            max_value=DAY_MAX.replace(tzinfo=None),
                            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
    if tp is UUID:
        return st.uuids()
    return st.sampled_from(list(tp))


@dataclass
class Case:
    template: KeyTemplate
    types: dict[str, Any]


@st.composite
def templates(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 3))
    parts: list[str] = []
    types: dict[str, Any] = {}
    head = draw(LITERAL)
    parts.append(head)
    for i in range(n):
        tp = draw(st.sampled_from(list(SPECS)))
        spec = draw(st.sampled_from(SPECS[tp]))
        name = f"f{i}"
        types[name] = tp
        parts.append("{" + name + (":" + spec if spec else "") + "}")
        if i < n - 1:  # between placeholders: at least one separator character
            parts.append(draw(LITERAL) + draw(st.sampled_from("#|%$&-:/.\U0001f600")))
        else:
            parts.append(draw(st.sampled_from(["", "", "#END", "\U0001f600"])))
    template = KeyTemplate("".join(parts))
    template.bind("M", types)
    return Case(template, types)


def fitting(case: Case, draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, Any]:
    """Values that the template accepts (a zero-padded int must fit its width)."""
    values = {}
    for p in case.template.placeholders:
        value = draw(values_of(case.types[p.field], p.spec))
        width = case.template.width(p.field)
        if width is not None:
            value = abs(value) % 10**width
        values[p.field] = value
    return values


def read_back(tp: Any, raw: str) -> Any:
    return pydantic.TypeAdapter(tp).validate_python(raw)


@BUDGET
@given(st.data())
def test_lossless_placeholders_round_trip(data: st.DataObject) -> None:
    case = data.draw(templates())
    values = fitting(case, data.draw)
    text = case.template.fill(values)
    assert text is not None
    parsed = case.template.parse(text)  # the shape always parses, lossy or not
    for p in case.template.placeholders:
        try:
            back = read_back(case.types[p.field], parsed[p.field])
        except pydantic.ValidationError:
            back = None
        exact = back == values[p.field] and type(back) is type(values[p.field])
        if case.template.lossless(p.field):
            assert exact, (case.template, p, values[p.field], parsed[p.field])
        # a lossy placeholder may happen to round-trip for this value: never the reverse


@BUDGET
@given(st.data())
def test_order_preserving_placeholders_sort_as_bytes(data: st.DataObject) -> None:
    case = data.draw(templates())
    t = case.template
    ordered = [i for i, p in enumerate(t.placeholders) if t.ordered(p.field)]
    assume(ordered)
    i = data.draw(st.sampled_from(ordered))
    field = t.placeholders[i].field
    a, b = fitting(case, data.draw), fitting(case, data.draw)
    for p in t.placeholders[:i]:  # the placeholders before it are fixed by equality
        b[p.field] = a[p.field]
    if data.draw(st.booleans()):  # nearby values, where the edge cases are
        b[field] = a[field]
    assume(t.orderable_bound(field, a[field]))
    ka, kb = t.fill(a), t.fill(b)
    assert ka is not None and kb is not None
    va, vb = a[field], b[field]
    ta, tb = t.format_value(field, va), t.format_value(field, vb)
    if va == vb:
        assert ta == tb
    if ta != tb:  # a lossy placeholder may map unequal values to one text
        assert (va < vb) == (ka.encode() < kb.encode()), (t, va, vb, ka, kb)
        assert (vb < va) == (kb.encode() < ka.encode()), (t, va, vb, ka, kb)
    if t.lossless(field):
        assert (va == vb) == (ta == tb)


@BUDGET
@given(st.decimals(allow_nan=False, allow_infinity=False), st.integers(0, 5))
def test_equal_numbers_give_equal_keys(d: Decimal, zeros: int) -> None:
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    padded = Decimal((sign, (*digits, *([0] * zeros)), exponent - zeros))  # same value
    assert padded == d
    t = KeyTemplate("N#{x}")
    t.bind("M", {"x": Decimal})
    assert t.fill({"x": padded}) == t.fill({"x": d})
    assert read_back(Decimal, t.parse(t.fill({"x": d}) or "")["x"]) == d
    if d == int(d):
        assert t.fill({"x": int(d)}) == t.fill({"x": d})
    # a float is read as pydantic reads it into the field (0.1 -> Decimal("0.1"))
    as_field = read_back(Decimal, float(d))
    assert t.fill({"x": float(d)}) == t.fill({"x": as_field})
    n = KeyTemplate("N#{n}")
    n.bind("M", {"n": int})
    if d == int(d):
        assert n.fill({"n": d}) == n.fill({"n": int(d)}) == t.fill({"x": d})


@BUDGET
@given(TEXT, st.sets(st.sampled_from("#|%$&-:_/. \U0001f600\u00e9\u20ac\U0010fffe"), max_size=5))
def test_escaping_is_a_bijection(value: str, specials: set[str]) -> None:
    t = KeyTemplate("K" + "".join(specials) + "{a}" + "".join(sorted(specials)) + "#{b}")
    t.bind("M", {"a": str, "b": str})
    text = t.fill({"a": value, "b": value})
    assert text is not None
    assert t.parse(text) == {"a": value, "b": value}
    escaped = t.format_value("a", value)
    # any other spelling of an escape is refused, or is the key of another value: a text
    # parses only if it is exactly what filling its values writes
    for other in (escaped.replace("%", "%u00", 1), escaped.replace("%", "%25", 1),
                  escaped.replace("%", "%v0000", 1), escaped.lower(), escaped + "%",
                  escaped + "%7", escaped + "%ZZ", escaped + "%41", escaped + "%v110000"):
        mutated = text.replace(escaped, other, 1)
        try:
            parsed = t.parse(mutated)
        except InvalidKey:
            continue
        assert t.fill(parsed) == mutated


@pytest.mark.parametrize(
    ("tp", "spec", "value"),
    [
        (str, ".4", "abcdefgh"),           # truncates
        (str, ">6", "  ab"),               # pads: "    ab" cannot be told from a value
        (str, ".20", "x" * 21),            # cuts past what short samples show
        (Decimal, ".30f", Decimal("1E-31")),
        (Decimal, ".2f", Decimal("1.005")),  # rounds
        (Decimal, ".2f", Decimal("0.001")),
        (int, ",", 1000),                  # "1,000" does not read back
        (int, "x", 255),
        (Level, "", Level.LOW),            # "1" is not Level.LOW as text
        (datetime, "%Y-%m-%d", datetime(2026, 1, 2, 9, 30, tzinfo=UTC)),  # strftime: never
    ],
)
def test_hostile_specs_are_lossy(tp: Any, spec: str, value: Any) -> None:
    t = KeyTemplate("K#{v:" + spec + "}" if spec else "K#{v}")
    t.bind("M", {"v": tp})
    assert not t.lossless("v")
    assert not t.ordered("v") or tp is datetime
    raw = t.parse(t.fill({"v": value}) or "")["v"]
    with contextlib.suppress(pydantic.ValidationError):  # and it does alter this value
        assert read_back(tp, raw) != value


@pytest.mark.parametrize(
    ("template", "tp", "ordered"),
    [
        ("S#{n}", int, False),            # "10" < "9"
        ("S#{n:08d}", int, True),
        ("S#{n:08d}#{x}", int, True),     # fixed width: also in the middle
        ("S#{n}#{x}", int, False),
        ("S#{v}", Decimal, False),
        ("S#{d:%d.%m.%Y}", date, False),  # fixed width, day first
        ("S#{d:%Y-%m-%d}#{x}", date, True),
        ("S#{d:%Y%j}", date, True),
        ("S#{d:%y-%m-%d}", date, False),  # two-digit year
        ("S#{d}#{x}", datetime, True),
        ("S#{s}", str, True),             # last: sorts as text (bounds permitting)
        ("S#{s}#{x}", str, False),
        ("S#{u}#{x}", UUID, True),
        ("S#{c}", Color, False),
    ],
)
def test_which_placeholders_preserve_order(template: str, tp: Any, ordered: bool) -> None:
    t = KeyTemplate(template)
    types = {f: (str if f == "x" else tp) for f in t.fields}
    t.bind("M", types)
    assert t.ordered(t.fields[0]) is ordered


def test_a_string_bound_with_reordered_characters_is_not_orderable() -> None:
    t = KeyTemplate("S#{s}")
    t.bind("M", {"s": str})
    assert t.orderable_bound("s", "o1")
    # "#" is written %23, after "$": "$" and "#" cannot bound a range through the key
    assert not t.orderable_bound("s", "a$") and not t.orderable_bound("s", "a#")
    assert (t.fill({"s": "#"}) or "") > (t.fill({"s": "$"}) or "") and "#" < "$"


@BUDGET
@given(st.datetimes(min_value=DAY_MIN.replace(tzinfo=None), max_value=DAY_MAX.replace(tzinfo=None),
                    timezones=st.just(UTC)), st.integers(-14 * 60, 14 * 60))
def test_one_instant_gives_one_key(moment: datetime, minutes: int) -> None:
    elsewhere = moment.astimezone(timezone(timedelta(minutes=minutes)))
    for spec in ("", ":%Y-%m-%dT%H", ":%Y%j"):
        t = KeyTemplate("T#{t" + spec + "}")
        t.bind("M", {"t": datetime})
        assert t.fill({"t": elsewhere}) == t.fill({"t": moment})


# ------------------------------------------------- key conditions against Python's answer

DOMAINS: dict[str, tuple[Any, list[str], st.SearchStrategy[Any]]] = {
    "int": (int, ["", "04d"], st.integers(-20, 120) | st.sampled_from([-1, 0, 9999, 10**4])),
    "str": (str, ["", ""], st.text(st.sampled_from("a#$%&|X\U0001f600"), max_size=3)),
    "dec": (Decimal, [""], st.sampled_from(["-1.5", "0", "0.50", "1E+1", "10", "2.25", "3"]
                                          ).map(Decimal)),
    "date": (date, ["", "%d.%m.%Y", "%Y-%m"], st.dates(date(2025, 12, 25), date(2026, 2, 5))),
    "dt": (datetime, ["", "%Y-%m-%d"], st.datetimes(
        datetime(2026, 1, 1), datetime(2026, 1, 4), timezones=st.just(UTC))),
}
SEPARATORS = ["#", "|", "X#", "$"]


@st.composite
def queried(draw: st.DrawFn, domains: tuple[str, ...] = tuple(DOMAINS), most: int = 2
            ) -> tuple[type[Any], list[dict[str, Any]], list[Any], Any, bool]:
    """A model with a random sort-key template, items, and a key query on it."""
    from dynorm import Model, PartitionKey, SortKey

    n = draw(st.integers(1, most))
    kinds = [draw(st.sampled_from(domains)) for _ in range(n)]
    specs = [draw(st.sampled_from(DOMAINS[k][1])) for k in kinds]
    text = draw(st.sampled_from(["S#", "S#", "", "S", "A|"]))
    for i, spec in enumerate(specs):
        text += "{f" + str(i) + (":" + spec if spec else "") + "}"
        if i < n - 1:
            text += draw(st.sampled_from(SEPARATORS))
    text += draw(st.sampled_from(["", "", "#E"]))
    annotations = {"user": str, **{f"f{i}": DOMAINS[k][0] for i, k in enumerate(kinds)}}
    stored = draw(st.booleans())
    model = type("Q", (Model,), {"__annotations__": annotations, "__module__": __name__,
                                 "pk": PartitionKey("U#{user}"), "sk": SortKey(text)},
                 table="t_queried", store_key_fields=stored)
    template = model._meta().sort.template
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        row = {"user": "u"}
        for i, k in enumerate(kinds):
            value = draw(DOMAINS[k][2])
            if template.width(f"f{i}") is not None:
                value = abs(value) % 10**4
            row[f"f{i}"] = value
        rows.append(row)
    i = draw(st.integers(0, n - 1))
    fixed = draw(st.sampled_from(rows))
    conditions: list[Any] = [attr(model.user) == "u"]
    for j in range(i):
        conditions.append(attr(getattr(model, f"f{j}")) == fixed[f"f{j}"])
    path = attr(getattr(model, f"f{i}"))
    bound = draw(DOMAINS[kinds[i]][2])
    other = draw(DOMAINS[kinds[i]][2])
    if kinds[i] == "str" and draw(st.booleans()):  # a prefix of a stored value, plus a bit
        bound = draw(st.sampled_from(rows))[f"f{i}"][: draw(st.integers(0, 3))] + draw(
            st.sampled_from(["", "X", "$", "#"]))
    ops = {"==": path == bound, "<": path < bound, "<=": path <= bound, ">": path > bound,
           ">=": path >= bound, "between": path.between(min(bound, other), max(bound, other))}
    if kinds[i] == "str":
        ops["begins_with"] = path.begins_with(bound)
    op = draw(st.sampled_from(sorted(ops)))
    conditions.append(ops[op])
    low, high = min(bound, other), max(bound, other)
    tests = {"==": lambda v: v == bound, "<": lambda v: v < bound, "<=": lambda v: v <= bound,
             ">": lambda v: v > bound, ">=": lambda v: v >= bound,
             "between": lambda v: low <= v <= high, "begins_with": lambda v: v.startswith(bound)}

    def expect(row: dict[str, Any]) -> bool:
        return all(row[f"f{j}"] == fixed[f"f{j}"] for j in range(i)) and tests[op](row[f"f{i}"])

    return model, rows, conditions, expect, stored


@settings(max_examples=300, deadline=None, derandomize=True)
@given(queried() | queried(domains=("str",)) | queried(domains=("str", "int", "dt"), most=1))
def test_key_conditions_select_what_python_selects(case: Any) -> None:
    from dynorm import ExpressionError
    from dynorm.schema.key_conditions import key_query

    model, rows, conditions, expect, stored = case
    try:
        key, filters = key_query(model._meta(), None, conditions)
    except ExpressionError as exc:
        assert not stored, exc  # refused only for a field stored nowhere but in the key
        event("refused")
        return
    except InvalidKey:  # == a value no key can hold ({n:04d} == 10000): nothing to find
        assert not any(expect(row) for row in rows)
        event("no such key")
        return
    event("filtered" if filters else "key only")
    items = {}
    for row in rows:
        try:
            item = model(**row).to_item()
        except InvalidKey:  # an empty key: cannot be stored
            continue
        items[item["sk"]["S"]] = (item, row)  # one item per key, as in the table
    for item, row in items.values():
        got = key.matches(item) and all(f.matches(item) for f in filters)
        assert got == expect(row), (model.__name__, item["sk"], row, key, filters)
