"""Operands of conditions: paths, ``size(path)`` and encoded values.

Their comparison operators build `conditions`, not booleans::

    User.age > 3            ->  #n0 > :v0
    User.tags.size() <= 10  ->  size(#n0) <= :v0
    3 < User.age            ->  #n0 > :v0   (Python reflects the comparison)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynorm._types import AttributeValue
from dynorm.codec.core import Codec, compile_codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import _evaluate as ev
from dynorm.expressions._kinds import encode, stored_tag, tag_of, type_label
from dynorm.expressions.conditions import Between, Compare, Condition, In, precedence_error

if TYPE_CHECKING:
    from dynorm.expressions.paths import Path
    from dynorm.expressions.placeholders import Placeholders

__all__ = ["MAX_IN_OPERANDS", "Operand", "Size", "Value", "size"]

MAX_IN_OPERANDS = 100
_ORDERED_TAGS = ("N", "S", "B")
_INT_CODEC = compile_codec(int)

Item = Mapping[str, AttributeValue]


class Operand:
    """Something a condition compares: a [`Path`][dynorm.expressions.Path], ``size(path)``, or a
    value.

    Comparison operators build conditions, not booleans::

        User.age > 3            ->  #n0 > :v0
        User.age.size() <= 10   ->  size(#n0) <= :v0
    """

    __slots__ = ()

    def compile(self, ph: Placeholders) -> str:
        raise NotImplementedError

    def resolve(self, item: Item) -> AttributeValue | None:
        """This operand's value in a wire item (None when missing)."""
        raise NotImplementedError

    def paths(self) -> Iterator[Path]:
        return iter(())

    @property
    def label(self) -> str:
        """How error messages name this operand, e.g. ``User.age``."""
        raise NotImplementedError

    def _value_codec(self) -> Codec:
        """The codec that encodes values compared with this operand."""
        raise NotImplementedError

    def _as_operand(self) -> Operand:
        """This operand on the other side of a comparison or in an update (a path of a
        sealed field refuses)."""
        return self

    def _operand(self, value: Any) -> Operand:
        if isinstance(value, Operand):
            return value._as_operand()
        if isinstance(value, Condition):
            raise ExpressionError(f"{self.label}: cannot compare with a condition ({value!r})")
        return Value(encode(self.label, self._value_codec(), value))

    def _ordered(self, op: str, value: Any) -> Compare:
        other = self._operand(value)
        for side in (self, other):
            if isinstance(side, Value) and tag_of(side.av) not in _ORDERED_TAGS:
                raise ExpressionError(
                    f"{self.label} {op} ...: only numbers, strings and bytes are ordered, "
                    f"got {tag_of(side.av)}"
                )
        return Compare(op, self, other)

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        return Compare("=", self, self._operand(other))

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        return Compare("<>", self, self._operand(other))

    def __lt__(self, other: Any) -> Compare:
        return self._ordered("<", other)

    def __le__(self, other: Any) -> Compare:
        return self._ordered("<=", other)

    def __gt__(self, other: Any) -> Compare:
        return self._ordered(">", other)

    def __ge__(self, other: Any) -> Compare:
        return self._ordered(">=", other)

    # ``User.age > 1 & User.age < 9`` evaluates ``1 & User.age`` first: say why, and the fix.
    def __and__(self, other: Any) -> Condition:
        raise precedence_error(self, "&", other)

    def __rand__(self, other: Any) -> Condition:
        raise precedence_error(other, "&", self)

    def __or__(self, other: Any) -> Condition:
        raise precedence_error(self, "|", other)

    def __ror__(self, other: Any) -> Condition:
        raise precedence_error(other, "|", self)

    __hash__ = object.__hash__

    def between(self, low: Any, high: Any) -> Between:
        """Inclusive range: ``User.age.between(18, 65)`` -> ``#n0 BETWEEN :v0 AND :v1``.

        Raises:
            ExpressionError: a bound has the wrong type, or ``low > high`` (DynamoDB
                rejects that request).
        """
        lo, hi = self._ordered(">=", low).right, self._ordered("<=", high).right
        if isinstance(lo, Value) and isinstance(hi, Value) and (ev.order(lo.av, hi.av) or 0) > 0:
            raise ExpressionError(f"{self.label}.between({low!r}, {high!r}): low > high")
        return Between(self, lo, hi)

    def is_in(self, *values: Any) -> In:
        """Equal to any of 1..100 values: ``User.state.is_in("a", "b")`` ->
        ``#n0 IN (:v0, :v1)``.

        Raises:
            ExpressionError: no values, more than 100, or a wrong-typed one.
        """
        if not values or len(values) > MAX_IN_OPERANDS:
            raise ExpressionError(
                f"{self.label}.is_in(): DynamoDB IN takes 1 to {MAX_IN_OPERANDS} values, "
                f"got {len(values)}"
            )
        return In(self, tuple(self._operand(v) for v in values))


@dataclass(frozen=True, slots=True, eq=False)
class Value(Operand):
    """A literal, already encoded: compiles to a ``:v`` placeholder."""

    av: AttributeValue

    def compile(self, ph: Placeholders) -> str:
        return ph.value(self.av)

    def resolve(self, item: Item) -> AttributeValue | None:
        return self.av

    @property
    def label(self) -> str:
        return repr(self.av)

    def _value_codec(self) -> Codec:
        return compile_codec(Any)


@dataclass(frozen=True, slots=True, eq=False)
class Size(Operand):
    """``size(path)``: string length, bytes, or element count; compared with ints.

    ``User.tags.size() > 2`` -> ``size(#n0) > :v0``
    """

    path: Path

    def compile(self, ph: Placeholders) -> str:
        return f"size({ph.path(self.path)})"

    def resolve(self, item: Item) -> AttributeValue | None:
        av = self.path.resolve(item)
        n = ev.size_of(av) if av is not None else None
        return None if n is None else {"N": str(n)}

    def paths(self) -> Iterator[Path]:
        yield self.path

    @property
    def label(self) -> str:
        return f"size({self.path.label})"

    def _value_codec(self) -> Codec:
        return _INT_CODEC


def size(path: Path) -> Size:
    """``size(User.name) < 20`` -> ``size(#n0) < :v0`` (same as ``User.name.size()``).

    Raises:
        ExpressionError: the path stores a type without a size (number, bool).
    """
    tag = stored_tag(path.codec)
    if tag is not None and tag not in ("S", "B", "SS", "NS", "BS", "L", "M"):
        raise ExpressionError(
            f"size({path.label}): a {type_label(path.codec)} has no size "
            "(size works on strings, bytes, sets, lists and maps)"
        )
    return Size(path)
