"""Frozen condition trees: filters, condition expressions and (validated) key conditions.

Built from paths with Python operators and methods, compiled with a shared
[`Placeholders`][dynorm.expressions.Placeholders]:

=====================================  ===========================================
Python                                 DynamoDB (one fresh allocator)
=====================================  ===========================================
``User.age == 3``                      ``#n0 = :v0``
``User.age != 3``                      ``#n0 <> :v0``
``User.age >= User.min_age``           ``#n0 >= #n1``
``User.age.between(18, 65)``           ``#n0 BETWEEN :v0 AND :v1``
``User.state.is_in("a", "b")``         ``#n0 IN (:v0, :v1)``
``User.name.begins_with("A")``         ``begins_with(#n0, :v0)``
``User.tags.contains("x")``            ``contains(#n0, :v0)``
``User.email.exists()``                ``attribute_exists(#n0)``
``User.email.not_exists()``            ``attribute_not_exists(#n0)``
``User.data.is_type("M")``             ``attribute_type(#n0, :v0)``
``User.tags.size() > 2``               ``size(#n0) > :v0``
``(a | b) & ~c``                       ``(... OR ...) AND NOT (...)``
=====================================  ===========================================

Values are encoded with the path's codec when the condition is built, so a datetime
compares as its stored string and an Enum as its value, and a wrong-typed value fails
at once with [`ExpressionError`][dynorm.ExpressionError].

Conditions have no truth value: ``if User.age > 3:``, ``a and b`` and
``1 < User.age < 3`` raise TypeError instead of silently dropping a clause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynorm._types import AttributeValue
from dynorm.exceptions import ExpressionError
from dynorm.expressions import _evaluate as ev
from dynorm.expressions._kinds import tag_of
from dynorm.expressions.placeholders import Placeholders

if TYPE_CHECKING:
    from dynorm.expressions.operands import Operand, Value
    from dynorm.expressions.paths import Path

__all__ = [
    "TYPE_TAGS",
    "And",
    "BeginsWith",
    "Between",
    "Compare",
    "Condition",
    "Contains",
    "Exists",
    "In",
    "IsType",
    "Not",
    "NotExists",
    "Or",
]

TYPE_TAGS = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")
"""The type names ``attribute_type`` accepts (``Path.is_type``)."""
_FLIP = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

Item = Mapping[str, AttributeValue]


# ---------------------------------------------------------------------------- conditions


class Condition:
    """A frozen boolean expression over an item.

    Combine with ``&`` (AND), ``|`` (OR) and ``~`` (NOT); never with ``and``/``or``/``not``.
    """

    __slots__ = ()

    def compile(self, ph: Placeholders) -> str:
        """The DynamoDB expression text, allocating placeholders from ``ph``."""
        raise NotImplementedError

    def paths(self) -> Iterator[Path]:
        """Every path this condition reads, in compile order."""
        raise NotImplementedError

    def matches(self, item: Item) -> bool:
        """Evaluate on a wire-form item with DynamoDB's semantics (no server involved)."""
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        if not isinstance(other, Condition):
            if hasattr(other, "label"):  # an operand: `(a > 1) & a < 9`
                raise precedence_error(self, "&", other)
            return NotImplemented
        return And((*_flat(self, And), *_flat(other, And)))

    def __or__(self, other: Condition) -> Condition:
        if not isinstance(other, Condition):
            if hasattr(other, "label"):  # an operand: `(a > 1) | a < 9`
                raise precedence_error(self, "|", other)
            return NotImplemented
        return Or((*_flat(self, Or), *_flat(other, Or)))

    def __rand__(self, other: object) -> Condition:
        # only a non-condition reaches here: `a > 1 & (a < 9)` computes `1 & (a < 9)` first
        raise precedence_error(other, "&", self)

    def __ror__(self, other: object) -> Condition:
        raise precedence_error(other, "|", self)

    def __invert__(self) -> Condition:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            f"a dynorm condition ({self!r}) has no truth value: combine conditions with "
            "& | ~ instead of and/or/not, write 1 < User.age < 3 as "
            "User.age.between(1, 3) or (User.age > 1) & (User.age < 3), and pass "
            "conditions to query/filter/condition= instead of testing them with if"
        )

    def __repr__(self) -> str:
        ph = Placeholders()
        text = self.compile(ph)
        names = ph.names
        # Readable form: real names back in, values shown as their wire form.
        for key in sorted(names, key=len, reverse=True):
            text = text.replace(key, names[key])
        for key, av in sorted(ph.values.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(key, repr(av))
        return f"<{type(self).__name__} {text}>"


def _flat(cond: Condition, kind: type[And] | type[Or]) -> tuple[Condition, ...]:
    return cond.conditions if isinstance(cond, kind) else (cond,)


def _operand_paths(*operands: Operand) -> Iterator[Path]:
    for op in operands:
        yield from op.paths()


def _label(side: object) -> str:
    label = getattr(side, "label", None)  # an operand (Path, size(...)) names itself
    return label if isinstance(label, str) else repr(side)


def precedence_error(left: object, op: str, right: object) -> ExpressionError:
    """``&``/``|`` with something that is not a condition: almost always Python's operator
    precedence (``&`` and ``|`` bind tighter than ``<``, ``==``...), so say how to write it."""
    name = next((_label(s) for s in (left, right) if hasattr(s, "label")), "User.age")
    return ExpressionError(
        f"cannot combine {_label(left)} {op} {_label(right)}: {op} only joins two conditions. "
        f"Python applies & and | before comparisons, so `{name} > 1 {op} {name} < 9` reads "
        f"as `{name} > (1 {op} {name}) < 9`: put each comparison in parentheses, "
        f"`({name} > 1) {op} ({name} < 9)`"
        + (f" (or use `{name}.between(low, high)`)" if op == "&" else "")
    )


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Compare(Condition):
    """``left op right`` with op one of ``= <> < <= > >=``.

    ``User.age != 3`` -> ``#n0 <> :v0``; ``3 < User.age`` is ``User.age > 3``.
    """

    op: str
    left: Operand
    right: Operand

    def compile(self, ph: Placeholders) -> str:
        left = self.left.compile(ph)
        return f"{left} {self.op} {self.right.compile(ph)}"

    def paths(self) -> Iterator[Path]:
        return _operand_paths(self.left, self.right)

    def matches(self, item: Item) -> bool:
        _refuse_as_dynamodb_does(self.op, self.left, self.right)
        a, b = self.left.resolve(item), self.right.resolve(item)
        if a is None or b is None:
            return self.op == "<>"  # a missing attribute is "not equal" to anything
        if self.op == "=":
            return ev.equal(a, b)
        if self.op == "<>":
            return not ev.equal(a, b)
        o = ev.order(a, b)
        if o is None:
            return False
        return {"<": o < 0, "<=": o <= 0, ">": o > 0, ">=": o >= 0}[self.op]

    def flipped(self) -> Compare:
        """The same test with the sides swapped: ``:v0 < #n0`` -> ``#n0 > :v0``."""
        return Compare(_FLIP[self.op], self.right, self.left)

    def __bool__(self) -> bool:
        # Paths are dict keys and set members: Python compares equal-hash keys with ==,
        # so path == path answers "same location" in a boolean context, as SQLAlchemy's
        # columns do. Every other condition still refuses to be a bool.
        from dynorm.expressions.paths import Path

        if self.op in ("=", "<>") and isinstance(self.left, Path) and isinstance(self.right, Path):
            return self.left.same_as(self.right) == (self.op == "=")
        return Condition.__bool__(self)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Between(Condition):
    """``User.age.between(18, 65)`` -> ``#n0 BETWEEN :v0 AND :v1`` (inclusive)."""

    operand: Operand
    low: Operand
    high: Operand

    def compile(self, ph: Placeholders) -> str:
        x = self.operand.compile(ph)
        lo = self.low.compile(ph)
        return f"{x} BETWEEN {lo} AND {self.high.compile(ph)}"

    def paths(self) -> Iterator[Path]:
        return _operand_paths(self.operand, self.low, self.high)

    def matches(self, item: Item) -> bool:
        _refuse_as_dynamodb_does("BETWEEN", self.operand, self.low, self.high)
        x, lo, hi = (o.resolve(item) for o in (self.operand, self.low, self.high))
        if x is None or lo is None or hi is None:
            return False
        a, b = ev.order(x, lo), ev.order(x, hi)
        return a is not None and b is not None and a >= 0 and b <= 0


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class In(Condition):
    """``User.state.is_in("a", "b")`` -> ``#n0 IN (:v0, :v1)``."""

    operand: Operand
    values: tuple[Operand, ...]

    def compile(self, ph: Placeholders) -> str:
        x = self.operand.compile(ph)
        return f"{x} IN ({', '.join(v.compile(ph) for v in self.values)})"

    def paths(self) -> Iterator[Path]:
        return _operand_paths(self.operand, *self.values)

    def matches(self, item: Item) -> bool:
        x = self.operand.resolve(item)
        if x is None:
            return False
        for v in self.values:
            av = v.resolve(item)
            if av is not None and ev.equal(x, av):
                return True
        return False


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BeginsWith(Condition):
    """``User.name.begins_with("Al")`` -> ``begins_with(#n0, :v0)`` (strings and bytes)."""

    path: Path
    prefix: Value

    def compile(self, ph: Placeholders) -> str:
        return f"begins_with({ph.path(self.path)}, {self.prefix.compile(ph)})"

    def paths(self) -> Iterator[Path]:
        yield self.path

    def matches(self, item: Item) -> bool:
        _refuse_as_dynamodb_does("begins_with", self.path, self.prefix)
        av = self.path.resolve(item)
        return av is not None and ev.begins_with(av, self.prefix.av)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Contains(Condition):
    """``User.tags.contains("pro")`` -> ``contains(#n0, :v0)``.

    A set or list path holds the element; a string path holds the substring.
    """

    path: Path
    operand: Operand

    def compile(self, ph: Placeholders) -> str:
        return f"contains({ph.path(self.path)}, {self.operand.compile(ph)})"

    def paths(self) -> Iterator[Path]:
        return _operand_paths(self.path, self.operand)

    def matches(self, item: Item) -> bool:
        av, x = self.path.resolve(item), self.operand.resolve(item)
        return av is not None and x is not None and ev.contains(av, x)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Exists(Condition):
    """``User.email.exists()`` -> ``attribute_exists(#n0)``."""

    path: Path

    def compile(self, ph: Placeholders) -> str:
        return f"attribute_exists({ph.path(self.path)})"

    def paths(self) -> Iterator[Path]:
        yield self.path

    def matches(self, item: Item) -> bool:
        return self.path.resolve(item) is not None


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class NotExists(Condition):
    """``User.email.not_exists()`` -> ``attribute_not_exists(#n0)``."""

    path: Path

    def compile(self, ph: Placeholders) -> str:
        return f"attribute_not_exists({ph.path(self.path)})"

    def paths(self) -> Iterator[Path]:
        yield self.path

    def matches(self, item: Item) -> bool:
        return self.path.resolve(item) is None


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class IsType(Condition):
    """``User.data.is_type("M")`` -> ``attribute_type(#n0, :v0)`` with ``:v0 = {"S": "M"}``."""

    path: Path
    type_tag: str

    def compile(self, ph: Placeholders) -> str:
        return f"attribute_type({ph.path(self.path)}, {ph.value({'S': self.type_tag})})"

    def paths(self) -> Iterator[Path]:
        yield self.path

    def matches(self, item: Item) -> bool:
        why = ev.rejection("attribute_type", [None, {"S": self.type_tag}])
        if why:
            raise ExpressionError(f"DynamoDB refuses {self!r}: {why}")
        av = self.path.resolve(item)
        return av is not None and tag_of(av) == self.type_tag


def _refuse_as_dynamodb_does(op: str, *operands: Operand) -> None:
    """ExpressionError where DynamoDB refuses the expression before reading any item
    (a BOOL ordered, a number as a begins_with prefix...): ``matches()`` must not answer
    for a condition the server would never have evaluated. The builders refuse these
    already; this guards conditions assembled from the classes directly."""
    from dynorm.expressions.operands import Value  # operands import this module

    why = ev.rejection(op, [o.av if isinstance(o, Value) else None for o in operands])
    if why:
        raise ExpressionError(f"DynamoDB refuses this condition: {why}")


# ---------------------------------------------------------------------------- logic


def _wrap(cond: Condition, ph: Placeholders, bare: tuple[type[Condition], ...]) -> str:
    text = cond.compile(ph)
    return text if isinstance(cond, bare) else f"({text})"


# Function-call conditions read unambiguously anywhere; anything with an infix
# operator is parenthesised under NOT, and AND/OR are parenthesised when mixed.
_CALLS: tuple[type[Condition], ...] = (BeginsWith, Contains, Exists, NotExists, IsType)
_LEAVES: tuple[type[Condition], ...] = (*_CALLS, Compare, Between, In)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class And(Condition):
    """``a & b & c`` -> ``a AND b AND c``; an OR inside is parenthesised: ``(a OR b) AND c``."""

    conditions: tuple[Condition, ...]

    def compile(self, ph: Placeholders) -> str:
        return " AND ".join(_wrap(c, ph, (*_LEAVES, Not, And)) for c in self.conditions)

    def paths(self) -> Iterator[Path]:
        for c in self.conditions:
            yield from c.paths()

    def matches(self, item: Item) -> bool:
        return all(c.matches(item) for c in self.conditions)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Or(Condition):
    """``a | b`` -> ``a OR b``; an AND inside is parenthesised: ``(a AND b) OR c``."""

    conditions: tuple[Condition, ...]

    def compile(self, ph: Placeholders) -> str:
        return " OR ".join(_wrap(c, ph, (*_LEAVES, Not, Or)) for c in self.conditions)

    def paths(self) -> Iterator[Path]:
        for c in self.conditions:
            yield from c.paths()

    def matches(self, item: Item) -> bool:
        return any(c.matches(item) for c in self.conditions)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Not(Condition):
    """``~User.email.exists()`` -> ``NOT attribute_exists(#n0)``;
    ``~(User.age > 3)`` -> ``NOT (#n0 > :v0)``. ``~~c`` is ``c``."""

    condition: Condition

    def compile(self, ph: Placeholders) -> str:
        return f"NOT {_wrap(self.condition, ph, _CALLS)}"

    def paths(self) -> Iterator[Path]:
        return self.condition.paths()

    def matches(self, item: Item) -> bool:
        return not self.condition.matches(item)

    def __invert__(self) -> Condition:
        return self.condition
