"""Hostile tests of the pure key code (session 8b): `key_maker` against `wire_key` for
keys of many declared types, and key identities against exact numeric equality (what
DynamoDB and DynamoDB Local take as one item: tests/integration/test_keys_hostile.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

from dynorm import GlobalIndex, LocalIndex, Model, PartitionKey, SortKey
from dynorm.schema.classes import meta_of
from dynorm.schema.keys import key_id, key_ider, key_maker, wire_key


class Colour(str, enum.Enum):
    RED = "red"
    EMPTY = ""
    LONG = "x" * 600


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Ratio(enum.Enum):
    HALF = 0.5
    ONE = 1.0


class Kind(enum.Enum):
    A = b"a"
    Z = b""


class Tag(str):
    """A str subclass: its codec writes the instance itself."""


class KEnum(Model, table="kh_enum"):
    colour: Annotated[Colour, PartitionKey]
    level: Annotated[Level, SortKey]


class KKind(Model, table="kh_kind"):
    kind: Annotated[Kind, PartitionKey]
    level: Annotated[Level, SortKey]


class KLit(Model, table="kh_lit"):
    lit: Annotated[Literal["a", "b", ""], PartitionKey]
    num: Annotated[Literal[1, 2], SortKey]


class KTime(Model, table="kh_time"):
    at: Annotated[dt.datetime, PartitionKey]
    day: Annotated[dt.date, SortKey]
    by_day = GlobalIndex("day", "at")


class KUuid(Model, table="kh_uuid"):
    uid: Annotated[uuid.UUID, PartitionKey]
    n: Annotated[int, SortKey]
    other: str = ""
    by_other = LocalIndex("other")


class KSub(Model, table="kh_sub"):
    p: Annotated[str, PartitionKey]  # given Tag values too
    s: Annotated[Annotated[str, pydantic.Field(max_length=3)], SortKey]
    by_s = GlobalIndex("s", "p")


class KDec(Model, table="kh_dec"):
    d: Annotated[Decimal, PartitionKey]


MODELS = [KEnum, KKind, KLit, KTime, KUuid, KSub, KDec]

_TEXT = st.one_of(st.text(max_size=4), st.sampled_from(
    ["", "a", "b", "red", "x" * 600, "\u00fc" * 300, "\U0001f600" * 129, "\U0001f600" * 128,
     "\U0001f600" * 513, "\U0001f600" * 512, "\U0001f600" * 257, "\U0001f600" * 256,
     "\u20ac" * 683, "\u20ac" * 342,
     "\ud800", "a" * 256, "a" * 257, "a" * 512, "a" * 513, "a" * 1025, "a" * 2049]))
_VALUE = st.one_of(
    _TEXT, st.builds(Tag, _TEXT), st.none(), st.booleans(), st.integers(),
    st.floats(), st.decimals(), st.binary(max_size=3),
    st.sampled_from([*Colour, *Level, *Ratio, *Kind, 0.5, 1.0, b"a", 2**130,
                     Decimal("1E+126"), Decimal("1E-131"), Decimal("-0"), -0.0,
                     Decimal("1." + "0" * 60), Decimal("1" * 39)]),
    st.datetimes(timezones=st.just(dt.timezone.utc)), st.datetimes(), st.dates(),
    st.uuids(), st.builds(str, st.uuids()),
)
_KEY = st.one_of(_VALUE, st.tuples(_VALUE, _VALUE), st.tuples(_VALUE),
                 st.tuples(_VALUE, _VALUE, _VALUE))


def _outcome(make: Any, key: Any) -> Any:
    try:
        made = make(key)
    except Exception as exc:  # the same error: its type and its words
        return (type(exc), str(exc))
    return ("ok", made, [(a, type(v), type(r)) for a, av in made.items()
                         for v, r in av.items()])


@settings(max_examples=600, deadline=None)
@given(key=_KEY)
def test_the_key_maker_is_wire_key_for_keys_of_every_declared_type(key: Any) -> None:
    """Enums (str, int, bytes values, empty and long ones), literals, datetimes,
    dates, UUIDs, str subclasses, constrained strings, index keys on key attributes:
    for any value the same wire key (the same types too) or the same error."""
    for model in MODELS:
        meta = meta_of(model)
        expected = _outcome(lambda k, m=meta, n=model.__name__: wire_key(m, n, k), key)
        got = _outcome(key_maker(meta, model.__name__), key)
        assert got == expected, (model.__name__, key)


#: values at each edge of the key maker's shortcut (512/256 characters, 4/3/2-byte
#: characters, the 2048/1024-byte limits), of every type, alone and as (partition, sort)
_EDGES: list[Any] = [
    *(c * n for c in ("a", "\u00fc", "\u20ac", "\U0001f600")
      for n in (1, 255, 256, 257, 341, 342, 511, 512, 513, 682, 683, 1024, 1025, 2048, 2049)),
    "", None, Tag("red"), Tag(""), Tag("\U0001f600" * 513), *Colour, *Level, *Kind,
    "red", 1, 2, 0, -1, True, 1.0, Decimal("1.0"), b"a", b"", bytearray(b"a"),
    b"\x00" * 1025, b"\x00" * 2049, dt.date(2026, 1, 2),
    dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 2),
    uuid.UUID(int=7), "b",
]
_EDGE_KEYS = [*_EDGES, *((p, s) for p in _EDGES for s in _EDGES)]


def test_the_key_maker_is_wire_key_at_every_edge() -> None:
    """Every pair of edge values, for every model: the same wire key or error."""
    for model in MODELS:
        meta = meta_of(model)
        make = key_maker(meta, model.__name__)
        for key in _EDGE_KEYS:
            expected = _outcome(lambda k, m=meta, n=model.__name__: wire_key(m, n, k), key)
            assert _outcome(make, key) == expected, (model.__name__, key)


def _spellings(d: Decimal) -> list[str]:
    """Texts of the number ``d`` as a server or a codec may write it."""
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    coeff = "".join(map(str, digits))
    minus = "-" if sign else ""
    out = [str(d), f"{d:f}", f"{minus}{coeff}E{exp:+d}", f"{minus}{coeff}000E{exp - 3:+d}",
           f"{d:E}"]
    if d.is_zero():
        out += ["0", "-0", "0.000", "0E-10", "-0E+5"]
    return out


_DEC = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: d.is_zero() or (-130 <= d.adjusted() <= 125
                              and len(d.as_tuple().digits) <= 38))


@settings(max_examples=500, deadline=None)
@given(a=_DEC, b=_DEC, prec=st.integers(1, 40), trap=st.booleans())
def test_key_identity_is_exact_numeric_equality_in_any_decimal_context(
        a: Decimal, b: Decimal, prec: int, trap: bool) -> None:
    """Every spelling of one number is one identity, two numbers that differ anywhere in
    38 digits are two, whatever the caller's decimal context (few digits, Inexact and
    Rounded trapped)."""
    ider = key_ider("t", ["n", "s"])
    with decimal.localcontext() as ctx:
        ctx.prec = prec
        if trap:
            ctx.traps[decimal.Inexact] = ctx.traps[decimal.Rounded] = True
        ids_a = {key_id("t", {"n": {"N": s}, "s": {"S": "x"}}) for s in _spellings(a)}
        ids_a |= {ider({"n": {"N": s}, "s": {"S": "x"}, "v": {"N": "1"}})
                  for s in _spellings(a)}
        ids_b = {key_id("t", {"n": {"N": s}, "s": {"S": "x"}}) for s in _spellings(b)}
    assert len(ids_a) == 1 and len(ids_b) == 1
    assert (ids_a == ids_b) == (a.compare_total(b) == 0 or a == b)
