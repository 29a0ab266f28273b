"""The base classes of operands and update operands, without the node classes.

`Path` derives from `Operand` (comparisons build conditions) and from `_Arith` (``+``
and ``-`` build update arithmetic). They live here, apart from the frozen node
classes their operators build (`conditions`, `operands`, `updates`, imported when an
operator is first used), so that a program that never builds an expression (one that
only gets items by key: a Lambda's cold start, issue 18) does not create those classes.
`dynorm.expressions.operands` and `dynorm.expressions.updates` re-export them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dynorm._types import AttributeValue
from dynorm.codec.core import Codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import _evaluate as ev
from dynorm.expressions._kinds import encode, stored_tag, tag_of, type_label

if TYPE_CHECKING:
    from dynorm.expressions.conditions import Between, Compare, Condition, In
    from dynorm.expressions.paths import Path
    from dynorm.expressions.placeholders import Placeholders
    from dynorm.expressions.updates import Arithmetic, Term

__all__ = ["MAX_IN_OPERANDS", "Operand", "UpdateOperand", "is_number"]

MAX_IN_OPERANDS = 100
_ORDERED_TAGS = ("N", "S", "B")

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
        from dynorm.expressions.conditions import Condition
        from dynorm.expressions.operands import Value

        if isinstance(value, Operand):
            return value._as_operand()
        if isinstance(value, Condition):
            raise ExpressionError(f"{self.label}: cannot compare with a condition ({value!r})")
        return Value(encode(self.label, self._value_codec(), value))

    def _ordered(self, op: str, value: Any) -> Compare:
        from dynorm.expressions.conditions import Compare
        from dynorm.expressions.operands import Value

        other = self._operand(value)
        for side in (self, other):
            if isinstance(side, Value) and tag_of(side.av) not in _ORDERED_TAGS:
                raise ExpressionError(
                    f"{self.label} {op} ...: only numbers, strings and bytes are ordered, "
                    f"got {tag_of(side.av)}"
                )
        return Compare(op, self, other)

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        from dynorm.expressions.conditions import Compare

        return Compare("=", self, self._operand(other))

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        from dynorm.expressions.conditions import Compare

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
        from dynorm.expressions.conditions import precedence_error

        raise precedence_error(self, "&", other)

    def __rand__(self, other: Any) -> Condition:
        from dynorm.expressions.conditions import precedence_error

        raise precedence_error(other, "&", self)

    def __or__(self, other: Any) -> Condition:
        from dynorm.expressions.conditions import precedence_error

        raise precedence_error(self, "|", other)

    def __ror__(self, other: Any) -> Condition:
        from dynorm.expressions.conditions import precedence_error

        raise precedence_error(other, "|", self)

    __hash__ = object.__hash__

    def between(self, low: Any, high: Any) -> Between:
        """Inclusive range: ``User.age.between(18, 65)`` -> ``#n0 BETWEEN :v0 AND :v1``.

        Raises:
            ExpressionError: a bound has the wrong type, or ``low > high`` (DynamoDB
                rejects that request).
        """
        from dynorm.expressions.conditions import Between
        from dynorm.expressions.operands import Value

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
        from dynorm.expressions.conditions import In

        if not values or len(values) > MAX_IN_OPERANDS:
            raise ExpressionError(
                f"{self.label}.is_in(): DynamoDB IN takes 1 to {MAX_IN_OPERANDS} values, "
                f"got {len(values)}"
            )
        return In(self, tuple(self._operand(v) for v in values))


class UpdateOperand:
    """A computed value for ``SET``: ``if_not_exists``, ``list_append`` or ``a + b``."""

    __slots__ = ()

    def compile(self, ph: Placeholders) -> str:
        raise NotImplementedError

    def paths(self) -> Iterator[Path]:
        raise NotImplementedError


def is_number(path: Path) -> bool:
    """Whether ``path`` stores a number (or anything: an untyped attribute)."""
    return stored_tag(path.codec) in ("N", None)


class _Arith:
    """``+``/``-`` for operands that may stand on either side of one."""

    __slots__ = ()

    def _anchor(self) -> Path:
        raise NotImplementedError

    def _arith(self, op: str, other: Any, reflected: bool) -> Arithmetic:
        from dynorm.expressions.operands import Value
        from dynorm.expressions.updates import Arithmetic, _term

        anchor = self._anchor()
        if not is_number(anchor):
            raise ExpressionError(
                f"{anchor.label} {op} ...: arithmetic needs a number attribute, "
                f"not {type_label(anchor.codec)}"
            )
        other_term = _term(anchor, other, op)
        if isinstance(other_term, Value) and tag_of(other_term.av) != "N":
            raise ExpressionError(f"{anchor.label} {op} {other!r}: not a number")
        me: Term = self  # type: ignore[assignment]
        return Arithmetic(other_term, op, me) if reflected else Arithmetic(me, op, other_term)

    def __add__(self, other: Any) -> Arithmetic:
        return self._arith("+", other, False)

    def __radd__(self, other: Any) -> Arithmetic:
        return self._arith("+", other, True)

    def __sub__(self, other: Any) -> Arithmetic:
        return self._arith("-", other, False)

    def __rsub__(self, other: Any) -> Arithmetic:
        return self._arith("-", other, True)
