"""Attribute paths: ``User.age``, ``User.address.city``, ``User.tags[0]``.

A [`Path`][dynorm.expressions.Path] names a (possibly nested) attribute by its wire names and
carries the codec of the value found there, so conditions and updates can encode their operands
exactly as the field is stored. Its operators and methods build conditions (``User.age > 3``)
and update actions (``User.age.add(1)``).

A nested field whose name is also a Path method (``size``, ``set``, ``contains``...)
is reached with brackets: ``User.box["size"]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from dynorm._types import AttributeValue
from dynorm.codec.core import Codec, compile_codec, type_name
from dynorm.exceptions import ExpressionError
from dynorm.expressions import _evaluate
from dynorm.expressions._bases import Operand, UpdateOperand, _Arith
from dynorm.expressions._kinds import encode, is_dynamic, stored_tag, tag_of, type_label

if TYPE_CHECKING:
    from dynorm.expressions.conditions import BeginsWith, Contains, Exists, IsType, NotExists
    from dynorm.expressions.operands import Size
    from dynorm.expressions.placeholders import Placeholders
    from dynorm.expressions.updates import (
        AddAction,
        DeleteAction,
        IfNotExists,
        RemoveAction,
        SetAction,
    )

# The condition and update node classes are imported by the methods that build them:
# a program that never builds an expression does not load them (issue 18).

__all__ = ["Path"]

_ANY_CODEC = compile_codec(Any)
_SET_TAGS = ("SS", "NS", "BS")


class Path(_Arith, Operand):
    """The location of an attribute inside an item.

    Args:
        elements: wire attribute names (str) and list indexes (int), outermost first.
        codec: the codec of the value at this location.
        owner: the model class the path starts from (for messages and checks), or None.
        field: the Python name of the top-level field, or None.
    """

    __slots__ = ("codec", "elements", "field", "owner")

    def __init__(
        self,
        elements: tuple[str | int, ...],
        codec: Codec,
        owner: Any = None,
        field: str | None = None,
    ) -> None:
        if not elements or not isinstance(elements[0], str):
            raise ExpressionError("a path starts with an attribute name")
        self.elements = elements
        self.codec = codec
        self.owner = owner
        self.field = field

    @property
    def name(self) -> str:
        """The top-level attribute name on the wire."""
        return self.elements[0]  # type: ignore[return-value]

    @property
    def is_top_level(self) -> bool:
        return len(self.elements) == 1

    @property
    def label(self) -> str:
        """The path for messages: ``User.address.city`` (``address.city`` without owner)."""
        owner = getattr(self.owner, "__name__", None)
        return f"{owner}.{self}" if owner else str(self)

    # ------------------------------------------------------------------ navigation

    def __getattr__(self, name: str) -> Path:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._child(name, AttributeError)

    def _child(self, name: str, error: type[Exception]) -> Path:
        obj = self.codec.object_codec
        if obj is not None:
            fc = obj.fields.get(name)
            if fc is None:
                raise error(
                    f"{self}: {obj.cls.__name__} has no field {name!r} "
                    f"(fields: {', '.join(obj.fields)})"
                )
            return Path((*self.elements, fc.attr), fc.codec, self.owner, self.field)
        if self.codec.item_codec is not None and _is_map(self.codec):
            return Path((*self.elements, name), self.codec.item_codec, self.owner, self.field)
        if self.codec.python_type is Any:
            return Path((*self.elements, name), _ANY_CODEC, self.owner, self.field)
        raise error(
            f"{self} is a {type_name(self.codec.python_type)}, which has no attribute {name!r}"
        )

    def __getitem__(self, key: int | str) -> Path:
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise ExpressionError(f"{self}[{key!r}]: index with an int (list) or str (map key)")
        if isinstance(key, str):
            if _is_map(self.codec) or self.codec.python_type is Any:
                return Path(
                    (*self.elements, key),
                    self.codec.item_codec or _ANY_CODEC,
                    self.owner,
                    self.field,
                )
            if self.codec.object_codec is not None:
                # Not getattr: a field called "size" or "set" must not find the method.
                return self._child(key, ExpressionError)
            raise ExpressionError(f"{self} is not a map: cannot take [{key!r}]")
        if key < 0:
            raise ExpressionError(f"{self}[{key}]: DynamoDB list indexes cannot be negative")
        if _is_list(self.codec) or self.codec.python_type is Any:
            return Path(
                (*self.elements, key), self.codec.item_codec or _ANY_CODEC, self.owner, self.field
            )
        raise ExpressionError(f"{self} is a {type_name(self.codec.python_type)}, not a list")

    def __iter__(self) -> NoReturn:
        # Without this, __getitem__ makes `for x in User.tags` loop forever.
        raise TypeError(f"{self.label} is a path, not a value: it cannot be iterated")

    def __contains__(self, item: object) -> NoReturn:
        raise TypeError(f"`x in {self.label}` has no meaning; use {self.label}.contains(x)")

    def __hash__(self) -> int:
        return hash(self.elements)

    def same_as(self, other: Path) -> bool:
        """True when both name the same location (``==`` builds a condition instead)."""
        return self.elements == other.elements

    def __str__(self) -> str:
        out = ""
        for e in self.elements:
            out += f"[{e}]" if isinstance(e, int) else (f".{e}" if out else e)
        return out

    def __repr__(self) -> str:
        owner = getattr(self.owner, "__name__", None)
        return f"Path({owner + ':' if owner else ''}{self})"

    # ------------------------------------------------------------------ operand protocol

    def compile(self, ph: Placeholders) -> str:
        """``address.city`` -> ``#n0.#n1``."""
        return ph.path(self)

    def resolve(self, item: Mapping[str, AttributeValue]) -> AttributeValue | None:
        """The value at this path in a wire item, or None when missing."""
        return _evaluate.resolve(item, self.elements)

    def paths(self) -> Iterator[Path]:
        yield self

    def _value_codec(self) -> Codec:
        return self.codec

    def _anchor(self) -> Path:
        return self

    def _encode(self, value: Any) -> AttributeValue:
        return encode(self.label, self.codec, value)

    # ------------------------------------------------------------------ conditions

    def begins_with(self, prefix: str | bytes) -> BeginsWith:
        """``User.name.begins_with("Al")`` -> ``begins_with(#n0, :v0)``.

        Works on anything stored as a string (str, datetime, UUID...) or as bytes:
        ``Score.achieved.begins_with("2026-11")``.

        Raises:
            ExpressionError: the path stores neither, or the prefix type does not match.
        """
        from dynorm.expressions.conditions import BeginsWith
        from dynorm.expressions.operands import Value

        tag = stored_tag(self.codec)
        if isinstance(prefix, str) and tag in ("S", None):
            return BeginsWith(self, Value({"S": prefix}))
        if isinstance(prefix, (bytes, bytearray)) and tag in ("B", None):
            return BeginsWith(self, Value({"B": bytes(prefix)}))
        raise ExpressionError(
            f"{self.label}.begins_with({prefix!r}): begins_with needs a string prefix on a "
            f"string attribute or bytes on a bytes attribute; {self.label} stores "
            f"{type_label(self.codec)}"
        )

    def contains(self, value: Any) -> Contains:
        """``User.tags.contains("pro")`` -> ``contains(#n0, :v0)``.

        On a set or list the operand is one element (encoded with the element's codec);
        on a string it is a substring.

        Raises:
            ExpressionError: the path is not a string, set or list, or the value does
                not fit its elements.
        """
        from dynorm.expressions.conditions import Contains
        from dynorm.expressions.operands import Value

        tag = stored_tag(self.codec)
        if isinstance(value, Operand):
            return Contains(self, value)
        if tag in ("L", *_SET_TAGS):
            elem = self.codec.item_codec or _ANY_CODEC
            return Contains(self, Value(encode(f"{self.label} element", elem, value)))
        if tag == "S":
            if not isinstance(value, str):
                raise ExpressionError(
                    f"{self.label}.contains({value!r}): a string contains a str substring"
                )
            return Contains(self, Value({"S": value}))
        if tag is None:
            return Contains(self, Value(encode(self.label, _ANY_CODEC, value)))
        raise ExpressionError(
            f"{self.label}.contains(): contains works on strings, sets and lists; "
            f"{self.label} stores {type_label(self.codec)}"
        )

    def exists(self) -> Exists:
        """``User.email.exists()`` -> ``attribute_exists(#n0)``."""
        from dynorm.expressions.conditions import Exists

        return Exists(self)

    def not_exists(self) -> NotExists:
        """``User.email.not_exists()`` -> ``attribute_not_exists(#n0)``."""
        from dynorm.expressions.conditions import NotExists

        return NotExists(self)

    def is_type(self, type_tag: str) -> IsType:
        """``User.data.is_type("M")`` -> ``attribute_type(#n0, :v0)``.

        Args:
            type_tag: one of ``S SS N NS B BS BOOL NULL L M``.
        """
        from dynorm.expressions.conditions import TYPE_TAGS, IsType

        if type_tag not in TYPE_TAGS:
            raise ExpressionError(
                f"{self.label}.is_type({type_tag!r}): the type is one of {', '.join(TYPE_TAGS)}"
            )
        return IsType(self, type_tag)

    def size(self) -> Size:
        """``User.tags.size() > 2`` -> ``size(#n0) > :v0``."""
        from dynorm.expressions.operands import size

        return size(self)

    # ------------------------------------------------------------------ updates

    def set(self, value: Any) -> SetAction:
        """``User.name.set("Ann")`` -> ``SET #n0 = :v0``.

        Also takes another path (``User.a.set(User.b)``), ``User.n + 1``,
        ``User.n.if_not_exists(0)`` and [`list_append()`][dynorm.expressions.list_append].
        ``None`` stores NULL and is accepted only by nullable fields; to delete an attribute use
        [`remove()`][dynorm.expressions.Path.remove].

        Raises:
            ExpressionError: the value does not fit the field (or is an empty set).
        """
        from dynorm.expressions.operands import Value
        from dynorm.expressions.updates import SetAction, _term

        if isinstance(value, UpdateOperand):
            return SetAction(self, value)  # type: ignore[arg-type]
        if isinstance(value, Operand):  # a path, a Value; size() is refused by _term
            return SetAction(self, _term(self, value, "set"))
        if value is None and not (self.codec.nullable or is_dynamic(self.codec)):
            raise ExpressionError(
                f"{self.label}.set(None): {self.label} is not nullable; "
                f"to delete the attribute use {self.label}.remove()"
            )
        if _is_set_value(value) and not value:
            raise ExpressionError(
                f"{self.label}.set(set()): DynamoDB has no empty sets; "
                f"use {self.label}.remove() to clear it"
            )
        return SetAction(self, Value(self._encode(value)))

    def remove(self) -> RemoveAction:
        """``User.nick.remove()`` -> ``REMOVE #n0``: delete the attribute (or list element)."""
        from dynorm.expressions.updates import RemoveAction

        return RemoveAction(self)

    def add(self, value: Any) -> AddAction:
        """``User.score.add(5)`` / ``User.tags.add({"a"})`` -> ``ADD #n0 :v0``.

        Raises:
            ExpressionError: the path is not a number or a set, or the value does not fit.
        """
        from dynorm.expressions.updates import AddAction

        tag = stored_tag(self.codec)
        if tag not in ("N", *_SET_TAGS, None):
            raise ExpressionError(
                f"{self.label}.add(): ADD works on numbers and sets; {self.label} stores "
                f"{type_label(self.codec)} (use .set() or .append())"
            )
        av = self._encode(value)
        if tag_of(av) not in ("N", *_SET_TAGS):
            raise ExpressionError(f"{self.label}.add({value!r}): ADD takes a number or a set")
        return AddAction(self, av)

    def delete(self, value: Any) -> DeleteAction:
        """``User.tags.delete({"a"})`` -> ``DELETE #n0 :v0``: remove elements from a set.

        Raises:
            ExpressionError: the path is not a set, or the value is not a non-empty set.
        """
        from dynorm.expressions.updates import DeleteAction

        tag = stored_tag(self.codec)
        if tag not in (*_SET_TAGS, None):
            raise ExpressionError(
                f"{self.label}.delete(): DELETE removes elements from a set; {self.label} "
                f"stores {type_label(self.codec)} (to delete the attribute use .remove())"
            )
        av = self._encode(value)
        if tag_of(av) not in _SET_TAGS:
            raise ExpressionError(f"{self.label}.delete({value!r}): DELETE takes a set")
        return DeleteAction(self, av)

    def append(self, values: Any) -> SetAction:
        """``User.log.append(["x"])`` -> ``SET #n0 = list_append(#n0, :v0)``.

        The list must exist; otherwise write
        ``User.log.set(list_append(User.log.if_not_exists([]), ["x"]))``.
        """
        from dynorm.expressions.updates import ListAppend, SetAction, _list_term

        return SetAction(self, ListAppend(self, _list_term(self, values)))

    def prepend(self, values: Any) -> SetAction:
        """``User.log.prepend(["x"])`` -> ``SET #n0 = list_append(:v0, #n0)``."""
        from dynorm.expressions.updates import ListAppend, SetAction, _list_term

        return SetAction(self, ListAppend(_list_term(self, values), self))

    def if_not_exists(self, default: Any) -> IfNotExists:
        """``User.n.if_not_exists(0)`` -> ``if_not_exists(#n0, :v0)``, for use in ``set``:
        ``User.n.set(User.n.if_not_exists(0) + 1)``."""
        from dynorm.expressions.updates import IfNotExists, _term

        return IfNotExists(self, _term(self, default, "if_not_exists"))


def _is_set_value(value: Any) -> bool:
    return isinstance(value, (set, frozenset))


def _is_map(codec: Codec) -> bool:
    # stored_tag sees through `X | None`, so optional maps and lists navigate too.
    return stored_tag(codec) == "M" and codec.object_codec is None and codec.item_codec is not None


def _is_list(codec: Codec) -> bool:
    return stored_tag(codec) == "L"
