"""Update actions and their ``UpdateExpression``.

=================================================  ======================================
Python                                             DynamoDB (one fresh allocator)
=================================================  ======================================
``User.name.set("Ann")``                           ``SET #n0 = :v0``
``User.n.set(User.n + 1)``                         ``SET #n0 = #n0 + :v0``
``User.n.set(User.n.if_not_exists(0) + 1)``        ``SET #n0 = if_not_exists(#n0, :v0) + :v1``
``User.log.append(["x"])``                         ``SET #n0 = list_append(#n0, :v0)``
``User.log.prepend(["x"])``                        ``SET #n0 = list_append(:v0, #n0)``
``User.nick.remove()``                             ``REMOVE #n0``
``User.score.add(5)`` / ``User.tags.add({"a"})``   ``ADD #n0 :v0``
``User.tags.delete({"a"})``                        ``DELETE #n0 :v0``
=================================================  ======================================

[`compile_update()`][dynorm.expressions.compile_update] joins actions into ``SET a, b REMOVE c
ADD d DELETE e``.

``set(None)`` stores NULL, which only a nullable field (``int | None``) accepts;
``remove()`` is how an attribute is deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Union

from dynorm._types import AttributeValue
from dynorm.exceptions import ExpressionError
from dynorm.expressions._bases import UpdateOperand, _Arith
from dynorm.expressions._kinds import covers, encode, stored_tag, tag_of, type_label
from dynorm.expressions.conditions import Condition
from dynorm.expressions.operands import Operand, Size, Value

if TYPE_CHECKING:
    from typing import TypeAlias

    from dynorm.expressions.paths import Path
    from dynorm.expressions.placeholders import Placeholders

__all__ = [
    "AddAction",
    "Arithmetic",
    "DeleteAction",
    "IfNotExists",
    "ListAppend",
    "RemoveAction",
    "SetAction",
    "UpdateAction",
    "UpdateOperand",
    "compile_update",
    "list_append",
]

SECTIONS = ("SET", "REMOVE", "ADD", "DELETE")


# What DynamoDB accepts as one side of ``+``/``-`` or inside ``list_append``.
Term: TypeAlias = Union["Path", Value, "IfNotExists", "ListAppend"]


def _term(anchor: Path, value: Any, what: str) -> Term:
    """Turn one operand of ``+ - list_append`` into a Term, encoding literals like anchor."""
    if isinstance(value, (IfNotExists, ListAppend, Value)):
        return value
    if isinstance(value, Arithmetic):
        raise ExpressionError(f"{anchor.label}: DynamoDB allows one + or - per SET value ({what})")
    if isinstance(value, (Size, Condition)):
        raise ExpressionError(f"{anchor.label}: {value!r} cannot be used in an update")
    if isinstance(value, Operand):  # a Path (the only other Operand)
        return value._as_operand()  # type: ignore[return-value]
    return Value(encode(anchor.label, anchor.codec, value))


@dataclass(frozen=True, slots=True, eq=False)
class IfNotExists(_Arith, UpdateOperand):
    """``User.n.if_not_exists(0)`` -> ``if_not_exists(#n0, :v0)``: the stored value, or
    the default when the attribute is missing."""

    path: Path
    default: Term

    def compile(self, ph: Placeholders) -> str:
        return f"if_not_exists({ph.path(self.path)}, {self.default.compile(ph)})"

    def paths(self) -> Iterator[Path]:
        yield self.path
        yield from self.default.paths()

    def _anchor(self) -> Path:
        return self.path


@dataclass(frozen=True, slots=True, eq=False)
class ListAppend(UpdateOperand):
    """``list_append(first, second)``: the two lists concatenated."""

    first: Term
    second: Term

    def compile(self, ph: Placeholders) -> str:
        first = self.first.compile(ph)
        return f"list_append({first}, {self.second.compile(ph)})"

    def paths(self) -> Iterator[Path]:
        yield from self.first.paths()
        yield from self.second.paths()


def list_append(first: Any, second: Any) -> ListAppend:
    """Concatenate two lists, e.g. appending to a list that may not exist yet::

        User.log.set(list_append(User.log.if_not_exists([]), ["x"]))
        -> SET #n0 = list_append(if_not_exists(#n0, :v0), :v1)

    One side must be a path or ``if_not_exists`` (it decides how the other is encoded).
    """
    anchor = next((_path_of(x) for x in (first, second) if _path_of(x) is not None), None)
    if anchor is None:
        raise ExpressionError("list_append(): one side must be a list attribute")
    return ListAppend(_list_term(anchor, first), _list_term(anchor, second))


def _path_of(x: Any) -> Path | None:
    if isinstance(x, IfNotExists):
        return x.path
    if isinstance(x, Operand) and not isinstance(x, (Value, Size)):
        return x  # type: ignore[return-value]
    return None


def _list_term(anchor: Path, value: Any) -> Term:
    if stored_tag(anchor.codec) not in ("L", None):
        raise ExpressionError(
            f"{anchor.label}: list_append needs a list attribute, not {type_label(anchor.codec)}"
        )
    term = _term(anchor, value, "list_append")
    if isinstance(term, Value) and tag_of(term.av) != "L":
        raise ExpressionError(f"{anchor.label}: list_append takes a list, got {value!r}")
    return term


@dataclass(frozen=True, slots=True, eq=False)
class Arithmetic(UpdateOperand):
    """``User.n + 1`` -> ``#n0 + :v0``; ``1 - User.n`` -> ``:v0 - #n0``."""

    left: Term
    op: str
    right: Term

    def compile(self, ph: Placeholders) -> str:
        left = self.left.compile(ph)
        return f"{left} {self.op} {self.right.compile(ph)}"

    def paths(self) -> Iterator[Path]:
        yield from self.left.paths()
        yield from self.right.paths()

    def __add__(self, other: Any) -> Arithmetic:
        raise ExpressionError("DynamoDB allows one + or - per SET value")

    __radd__ = __sub__ = __rsub__ = __add__


# ---------------------------------------------------------------------------- actions


class UpdateAction:
    """One clause of an update. ``.path`` is the attribute it writes (the model layer
    uses it to refuse updates of key attributes)."""

    __slots__ = ()
    section: ClassVar[str]
    path: Path

    def compile(self, ph: Placeholders) -> str:
        raise NotImplementedError

    def paths(self) -> Iterator[Path]:
        """The written path, then any paths the value reads."""
        yield self.path


@dataclass(frozen=True, slots=True, eq=False)
class SetAction(UpdateAction):
    """``User.name.set("Ann")`` -> ``#n0 = :v0`` (in the ``SET`` section)."""

    path: Path
    value: Term | Arithmetic
    section: ClassVar[str] = "SET"

    def compile(self, ph: Placeholders) -> str:
        target = ph.path(self.path)
        return f"{target} = {self.value.compile(ph)}"

    def paths(self) -> Iterator[Path]:
        yield self.path
        yield from self.value.paths()


@dataclass(frozen=True, slots=True, eq=False)
class RemoveAction(UpdateAction):
    """``User.nick.remove()`` -> ``#n0`` (in ``REMOVE``); ``User.log[0].remove()`` ->
    ``#n0[0]``."""

    path: Path
    section: ClassVar[str] = "REMOVE"

    def compile(self, ph: Placeholders) -> str:
        return ph.path(self.path)


@dataclass(frozen=True, slots=True, eq=False)
class AddAction(UpdateAction):
    """``User.score.add(5)`` -> ``#n0 :v0`` (in ``ADD``): add to a number (missing counts
    as 0) or union into a set (missing counts as empty)."""

    path: Path
    value: AttributeValue
    section: ClassVar[str] = "ADD"

    def compile(self, ph: Placeholders) -> str:
        return f"{ph.path(self.path)} {ph.value(self.value)}"


@dataclass(frozen=True, slots=True, eq=False)
class DeleteAction(UpdateAction):
    """``User.tags.delete({"a"})`` -> ``#n0 :v0`` (in ``DELETE``): remove set elements."""

    path: Path
    value: AttributeValue
    section: ClassVar[str] = "DELETE"

    def compile(self, ph: Placeholders) -> str:
        return f"{ph.path(self.path)} {ph.value(self.value)}"


def compile_update(actions: Sequence[UpdateAction], ph: Placeholders) -> str:
    """The ``UpdateExpression`` of some actions: sections in the fixed order
    ``SET, REMOVE, ADD, DELETE``, actions in the order given within each.

    ``[User.a.set(1), User.c.remove(), User.b.set(User.b + 1)]``
    -> ``SET #n0 = :v0, #n1 = #n1 + :v1 REMOVE #n2``

    Raises:
        ExpressionError: no actions, something that is not an action, or two actions
            on the same or overlapping paths (``a`` and ``a.b``), which DynamoDB rejects.
    """
    if not actions:
        raise ExpressionError("an update needs at least one action (set, remove, add...)")
    seen: list[Path] = []
    for action in actions:
        if not isinstance(action, UpdateAction):
            hint = " (a condition goes in condition=)" if isinstance(action, Condition) else ""
            raise ExpressionError(f"not an update action: {action!r}{hint}")
        p = action.path
        for other in seen:
            if covers(other.elements, p.elements) or covers(p.elements, other.elements):
                raise ExpressionError(
                    f"two update actions on overlapping paths {other.label} and {p.label}: "
                    "DynamoDB rejects an update that writes an attribute twice, or an "
                    "attribute and a part of it"
                )
        seen.append(p)
    parts = []
    for section in SECTIONS:
        clauses = [a.compile(ph) for a in actions if a.section == section]
        if clauses:
            parts.append(f"{section} {', '.join(clauses)}")
    return " ".join(parts)
