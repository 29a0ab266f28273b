"""Differential test, type by type: every comparison and function, every attribute type
against every operand type, on the server and in ``Condition.matches``.

Two tables:

* ``singles``: one item per edge value (attribute ``x``), plus one without ``x``; every
  operator runs against every literal operand (``x < :v``, ``contains(x, :v)``...).
* ``pairs``: one item per pair of representative values (``x``, ``y``, either missing);
  every operator runs path against path (``x < y``, ``contains(x, y)``...), which the
  server cannot reject up front, so this is its evaluation at run time.

For each condition the server's Scan (DynamoDB Local: AWS's own emulator) and ``matches``
must keep the same items, or the server rejects the expression: then the rule in
``_evaluate.rejection`` must predict it. Where moto differs from DynamoDB Local the case
is listed in ``MOTO_DIFFERS`` and skipped on moto only, with the reason.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal

import pytest

from dynorm import Connection
from dynorm._types import AttributeValue
from dynorm.expressions import Condition
from dynorm.expressions import _evaluate as ev
from dynorm.expressions.conditions import (
    And,
    BeginsWith,
    Between,
    Compare,
    Contains,
    Exists,
    In,
    IsType,
    Not,
    NotExists,
    Or,
)
from dynorm.expressions.operands import Size, Value
from tests.support.backend import BACKEND
from tests.support.differential import (
    KEY,
    Outcome,
    b,
    create_table,
    load,
    path,
    python_select,
    server_select,
    val,
)

pytestmark = pytest.mark.skipif(BACKEND not in ("moto", "dynamodb-local"),
                                reason="the expectations are those of moto and DynamoDB Local")

AV = AttributeValue
Item = Mapping[str, AV]

# ------------------------------------------------------------------------------ values

STRINGS = ["", "a", "A", "ab", "b", "é", "\x7f", "\u07ff", "\uffff", "\U00010000",
           "\U0001f600x", "a\x00", "ab\u00e9"]
NUMBERS = ["0", "-0", "1", "1.0", "-1", "0.5", "-0.5", "10", "2", "1E+125", "-1E+125",
           "1E-130", "-1E-130", "99999999999999999999999999999999999999",
           "0.00000000000000000000000000000000000001", "123456789012345678901234567890.12345678"]
BYTES = [b"", b"\x00", b"\x01", b"\x01\x02\x03", b"\x02\x03", b"\x7f", b"\x80", b"\xff",
         b"\xff\x00"]

EDGE: list[AV] = [
    *({"S": s} for s in STRINGS),
    *({"N": n} for n in NUMBERS),
    *(b(x) for x in BYTES),
    {"BOOL": True}, {"BOOL": False}, {"NULL": True},
    {"SS": ["a", "b"]}, {"SS": ["b", "a"]}, {"SS": ["a"]}, {"SS": [""]},
    {"SS": ["\U00010000", "\uffff"]},
    {"NS": ["1", "2"]}, {"NS": ["2", "1.0"]}, {"NS": ["1E+125"]}, {"NS": ["-0.5"]},
    {"BS": [b(b"\x01")["B"], b(b"\x80")["B"]]}, {"BS": [b(b"")["B"]]},
    {"L": []}, {"L": [{"S": "a"}]}, {"L": [{"N": "1"}, {"S": "a"}]},
    {"L": [{"S": "a"}, {"N": "1"}]}, {"L": [{"L": [{"N": "1"}]}]}, {"L": [{"M": {}}]},
    {"L": [{"NULL": True}, {"BOOL": False}]}, {"L": [b(b"\x01")]},
    {"L": [{"SS": ["a", "b"]}]}, {"L": [{"M": {"a": {"N": "1"}}}]},
    {"M": {}}, {"M": {"a": {"N": "1"}}}, {"M": {"a": {"N": "1.0"}}},
    {"M": {"a": {"N": "1"}, "b": {"S": "x"}}}, {"M": {"b": {"S": "x"}, "a": {"N": "1"}}},
    {"M": {"a": {"L": [{"N": "1"}]}}},
]

# a few of each type, for the pairs table (its size is the square of this list)
PAIR: list[AV] = [
    {"S": ""}, {"S": "a"}, {"S": "ab"}, {"S": "\uffff"}, {"S": "\U00010000"},
    {"N": "-1"}, {"N": "0"}, {"N": "1"}, {"N": "1E+100"},
    b(b""), b(b"\x00"), b(b"\x01\x02"), b(b"\x02"), b(b"\x80"),
    {"BOOL": True}, {"BOOL": False}, {"NULL": True},
    {"SS": ["a", "b"]}, {"SS": ["ab"]}, {"NS": ["1", "2"]}, {"NS": ["0"]},
    {"BS": [b(b"\x02")["B"]]},
    {"L": []}, {"L": [{"S": "a"}]}, {"L": [{"N": "1"}, {"S": "a"}]},
    {"M": {}}, {"M": {"a": {"N": "1"}}},
]

COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
TYPE_NAMES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")


def tag(av: AV) -> str:
    return next(iter(av))


# ---------------------------------------------------------------------------- conditions


def literal_conditions() -> Iterator[Condition]:
    """Every operator of ``x`` against every edge literal."""
    x = path("x")
    for v in EDGE:
        for op in COMPARISONS:
            yield Compare(op, x, val(v))
        yield Contains(x, val(v))
        yield BeginsWith(x, val(v))
        yield In(x, (val(v),))
    for v in EDGE:  # IN with operands of mixed types, BETWEEN with equal bounds
        yield In(x, (val({"N": "2"}), val(v), val({"S": "a"})))
        yield Between(x, val(v), val(v))
    for lo, hi in itertools.combinations(
            [{"S": "a"}, {"S": "\uffff"}, {"S": "\U00010000"}, {"N": "-1E+125"}, {"N": "0"},
             {"N": "1E+125"}, b(b"\x00"), b(b"\xff"), {"SS": ["a"]}, {"BOOL": True}], 2):
        yield Between(x, val(lo), val(hi))
        yield Between(x, val(hi), val(lo))
    for t in (*TYPE_NAMES, "s", "X"):
        yield IsType(x, t)
    yield Exists(x)
    yield NotExists(x)
    for op in COMPARISONS:
        for n in ("-1", "0", "1", "2", "3", "4", "6"):
            yield Compare(op, Size(x), val({"N": n}))
    yield Compare("=", Size(x), val({"S": "1"}))
    yield Compare("<", Size(x), val({"S": "1"}))
    yield Compare("<", val({"N": "1"}), val({"N": "2"}))
    yield Compare("<", val({"N": "1"}), val({"SS": ["a"]}))
    yield Between(val({"N": "1"}), x, val({"N": "1E+125"}))
    yield Contains(x, val({"N": "1"})) & ~BeginsWith(x, val({"S": "a"}))
    yield Compare("=", x, val({"N": "1"})) | BeginsWith(x, val({"N": "1"}))
    yield ~Compare("<", x, val({"N": "1"}))
    yield ~Compare("=", Size(x), val({"N": "1"}))


def nested_conditions() -> Iterator[Condition]:
    """Paths into maps and lists, with missing and wrong-typed intermediates."""
    for elements in [("x", "a"), ("x", "a", "b"), ("x", 0), ("x", 1), ("x", 0, 0),
                     ("x", 0, "a"), ("x", "a", 0), ("x", 5)]:
        p = path(*elements)
        yield Exists(p)
        yield NotExists(p)
        yield Compare("=", p, val({"N": "7"}))
        yield Compare("<>", p, val({"N": "7"}))
        yield Compare("=", p, val({"S": "a"}))
        yield Compare(">=", Size(p), val({"N": "0"}))
        yield IsType(p, "N")


def pair_conditions() -> Iterator[Condition]:
    x, y = path("x"), path("y")
    for op in COMPARISONS:
        yield Compare(op, x, y)
        yield Compare(op, Size(x), Size(y))
    yield Contains(x, y)
    yield In(x, (y,))
    yield In(x, (val({"N": "1"}), y))
    yield Between(x, y, val({"S": "b"}))
    yield Between(x, val({"N": "0"}), y)
    yield Between(x, y, y)


# --------------------------------------------------------------------------- the check


def literal(operand: object) -> AV | None:
    return operand.av if isinstance(operand, Value) else None


def expected_rejection(cond: Condition) -> str | None:
    """``_evaluate.rejection`` for this condition (the tree's first refused leaf)."""
    if isinstance(cond, Compare):
        return ev.rejection(cond.op, [literal(cond.left), literal(cond.right)])
    if isinstance(cond, Between):
        return ev.rejection("BETWEEN", [literal(o) for o in (cond.operand, cond.low, cond.high)])
    if isinstance(cond, In):
        return ev.rejection("IN", [literal(o) for o in (cond.operand, *cond.values)])
    if isinstance(cond, BeginsWith):
        return ev.rejection("begins_with", [None, literal(cond.prefix)])
    if isinstance(cond, Contains):
        return ev.rejection("contains", [None, literal(cond.operand)])
    if isinstance(cond, IsType):
        return ev.rejection("attribute_type", [None, {"S": cond.type_tag}])
    if isinstance(cond, Not):
        return expected_rejection(cond.condition)
    if isinstance(cond, (And, Or)):
        return next(filter(None, map(expected_rejection, cond.conditions)), None)
    return None


def leaves(cond: Condition) -> Iterator[Condition]:
    if isinstance(cond, Not):
        yield from leaves(cond.condition)
    elif isinstance(cond, (And, Or)):
        for c in cond.conditions:
            yield from leaves(c)
    else:
        yield cond


def operands(leaf: Condition) -> list[object]:
    if isinstance(leaf, Compare):
        return [leaf.left, leaf.right]
    if isinstance(leaf, Between):
        return [leaf.operand, leaf.low, leaf.high]
    if isinstance(leaf, In):
        return [leaf.operand, *leaf.values]
    if isinstance(leaf, BeginsWith):
        return [leaf.path, leaf.prefix]
    if isinstance(leaf, Contains):
        return [leaf.path, leaf.operand]
    return []


def any_leaf(test: Callable[[Condition], bool]) -> Callable[[Condition], bool]:
    return lambda cond: any(map(test, leaves(cond)))


def _equality(leaf: Condition) -> bool:
    return isinstance(leaf, (In, Contains)) or (
        isinstance(leaf, Compare) and leaf.op in ("=", "<>"))


def _bool_or_0_1(operand: object) -> bool:
    av = literal(operand)
    if av is None:  # a path: the pairs table holds BOOL and N 0/1 side by side
        return not isinstance(operand, Size)
    return tag(av) == "BOOL" or (tag(av) == "N" and Decimal(av["N"]) in (0, 1))


#: (reason, test) for the cases where moto differs from DynamoDB Local: skipped on moto.
#: docs/testing.md's table of emulator differences lists them.
MOTO_DIFFERS: list[tuple[str, Callable[[Condition], bool]]] = [
    ("moto: size() of an attribute some item lacks, or of a type without a size, fails "
     "the whole request (ValidationException or HTTP 500); AWS: that comparison is false",
     any_leaf(lambda leaf: any(isinstance(o, Size) for o in operands(leaf)))),
    ("moto: accepts operands DynamoDB refuses up front (a non-N/S/B value in < <= > >= "
     "BETWEEN, a non-S/B prefix in begins_with, an unknown attribute_type name)",
     lambda cond: expected_rejection(cond) is not None),
    ("moto: < <= > >= and BETWEEN over values of different types is an HTTP 500 "
     "(Python compares str with Decimal); AWS: false",
     any_leaf(lambda leaf: isinstance(leaf, Between) or (
         isinstance(leaf, Compare) and leaf.op in ("<", "<=", ">", ">=")))),
    ("moto: contains() and begins_with() on a Binary value are always false",
     any_leaf(lambda leaf: isinstance(leaf, (Contains, BeginsWith)) and any(
         literal(o) is None or tag(literal(o) or {}) == "B" for o in operands(leaf)[1:]))),
    ("moto: BOOL true/false equals N 1/0 in = <> IN contains (Python's True == 1)",
     any_leaf(lambda leaf: _equality(leaf) and any(map(_bool_or_0_1, operands(leaf)[1:])))),
    ("moto: a missing attribute equals NULL (= <> IN)",
     any_leaf(lambda leaf: _equality(leaf) and not isinstance(leaf, Contains) and any(
         tag(literal(o) or {"-": 0}) == "NULL" for o in operands(leaf)[1:]))),
]


def moto_reason(cond: Condition) -> str | None:
    if BACKEND != "moto":
        return None
    for reason, applies in MOTO_DIFFERS:
        if applies(cond):
            return reason
    return None


async def run(raw_conn: Connection, table: str, items: dict[str, Item],
              conditions: list[Condition]) -> tuple[list[str], dict[str, int]]:
    failures: list[str] = []
    skipped: dict[str, int] = {}
    for cond in conditions:
        got = await server_select(raw_conn, table, cond)
        reason = moto_reason(cond)
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        want: Outcome
        rule = expected_rejection(cond)
        want = "rejected" if rule else python_select(items, cond)
        if got != want:
            failures.append(describe(cond, items, got, want, rule))
    return failures, skipped


def describe(cond: Condition, items: dict[str, Item], got: Outcome, want: Outcome,
             rule: str | None) -> str:
    if isinstance(got, str) or isinstance(want, str):
        return f"{cond!r}: server {got if isinstance(got, str) else 'evaluates'}, " \
               f"python {want if isinstance(want, str) else 'evaluates'} ({rule})"
    only_server = sorted(got - want)[:4]
    only_python = sorted(want - got)[:4]
    show = [f"{k}={ {a: v for a, v in items[k].items() if a != KEY} }"
            for k in (*only_server, *only_python)]
    return (f"{cond!r}: server only {only_server}, python only {only_python}: "
            f"{'; '.join(show)}")


async def test_literal_operands(raw_conn: Connection) -> None:
    start = time.monotonic()
    await create_table(raw_conn, "singles")
    rows = [{KEY: {"S": f"v{i:02d}"}, "x": v} for i, v in enumerate(EDGE)]
    rows.append({KEY: {"S": "missing"}})
    items = await load(raw_conn, "singles", rows)
    failures, skipped = await run(raw_conn, "singles", items,
                                  [*literal_conditions(), *nested_conditions()])
    print(f"literal operands: {time.monotonic() - start:.1f}s, moto skips {skipped}")
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures[:60])


async def test_nested_paths(raw_conn: Connection) -> None:
    await create_table(raw_conn, "nested")
    rows: list[dict[str, AV]] = [{KEY: {"S": f"v{i:02d}"}, "x": v} for i, v in enumerate(EDGE)]
    rows.append({KEY: {"S": "deep"}, "x": {"M": {"a": {"M": {"b": {"N": "7"}}}}}})
    rows.append({KEY: {"S": "lists"}, "x": {"L": [{"L": [{"N": "7"}]}, {"N": "7"}]}})
    rows.append({KEY: {"S": "mixed"}, "x": {"L": [{"M": {"a": {"N": "7"}}}]}})
    rows.append({KEY: {"S": "flat"}, "x": {"M": {"a": {"N": "7"}}}})
    rows.append({KEY: {"S": "missing"}})
    items = await load(raw_conn, "nested", rows)
    failures, _ = await run(raw_conn, "nested", items, list(nested_conditions()))
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures[:60])


async def test_path_operands(raw_conn: Connection) -> None:
    start = time.monotonic()
    await create_table(raw_conn, "pairs")
    values: list[AV | None] = [*PAIR, None]
    rows = []
    for i, x in enumerate(values):
        for j, y in enumerate(values):
            row: dict[str, AV] = {KEY: {"S": f"x{i:02d}y{j:02d}"}}
            if x is not None:
                row["x"] = x
            if y is not None:
                row["y"] = y
            rows.append(row)
    items = await load(raw_conn, "pairs", rows)
    failures, skipped = await run(raw_conn, "pairs", items, list(pair_conditions()))
    print(f"path operands: {time.monotonic() - start:.1f}s, moto skips {skipped}")
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures[:60])
