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
from dynorm.expressions._bases import MAX_IN_OPERANDS, Operand
from dynorm.expressions._kinds import stored_tag, type_label

if TYPE_CHECKING:
    from dynorm.expressions.paths import Path
    from dynorm.expressions.placeholders import Placeholders

__all__ = ["MAX_IN_OPERANDS", "Operand", "Size", "Value", "size"]

_INT_CODEC = compile_codec(int)

Item = Mapping[str, AttributeValue]


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
