"""What a codec stores on the wire, and encoding that names the path when it fails.

Expressions validate operators against the stored type (``ADD`` needs a number or a
set, ``begins_with`` a string or bytes...), so they need the DynamoDB type tag a codec
writes, known from the declaration rather than from a value.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from dynorm._types import AttributeValue
from dynorm.codec.core import Codec, type_name
from dynorm.exceptions import EncodingError, ExpressionError

__all__ = ["covers", "encode", "is_dynamic", "stored_tag", "tag_of", "type_label"]

_SET_ORIGINS = (set, frozenset, AbstractSet, typing.AbstractSet)
_LIST_ORIGINS = (list, tuple, Sequence, typing.Sequence)
_MAP_ORIGINS = (dict, Mapping, typing.Mapping)


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X`` (the codec of an optional field stores what X stores)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def is_dynamic(codec: Codec) -> bool:
    """True for ``Any`` fields, whose stored type depends on the value."""
    return _unwrap(codec.python_type) in (Any, object)


def stored_tag(codec: Codec) -> str | None:
    """The DynamoDB type tag the codec writes (``"N"``, ``"SS"``, ``"L"``...), or None if
    it depends on the value (``Any``, unions, JSON-stored types)."""
    if codec.object_codec is not None:
        return "M"
    tp = _unwrap(codec.python_type)
    origin = typing.get_origin(tp) or tp
    if origin in _SET_ORIGINS:
        elem = codec.item_codec
        return elem.key_type + "S" if elem is not None and elem.key_type else None
    if origin in _LIST_ORIGINS:
        return "L"
    if origin in _MAP_ORIGINS:
        return "M"
    if codec.key_type is not None:
        return codec.key_type
    if tp is bool:
        return "BOOL"
    if isinstance(tp, type) and issubclass(tp, float) and not issubclass(tp, enum.Enum):
        return "N"
    if tp is _dt.time:
        return "S"
    return None


def type_label(codec: Codec) -> str:
    return type_name(_unwrap(codec.python_type))


def tag_of(av: AttributeValue) -> str:
    """The type tag of a wire value: ``{"N": "1"}`` -> ``"N"``."""
    return next(iter(av))


def encode(label: str, codec: Codec, value: Any) -> AttributeValue:
    """Encode ``value`` as the path ``label`` stores it, or raise ExpressionError naming it.

    Raises:
        ExpressionError: the value has the wrong type, or is an empty set.
    """
    try:
        av = codec.encode(value)
    except EncodingError as exc:
        hint = ""
        if value is None:
            hint = " (test for a missing attribute with .not_exists(); delete one with .remove())"
        raise ExpressionError(f"{label}: {exc}{hint}") from exc
    if av is None:
        raise ExpressionError(
            f"{label}: an empty set cannot be used here: DynamoDB has no empty sets"
        )
    return av


def covers(outer: tuple[str | int, ...], inner: tuple[str | int, ...]) -> bool:
    """True when ``outer`` is ``inner`` or one of its ancestors (``a`` covers ``a.b[0]``)."""
    return len(outer) <= len(inner) and inner[: len(outer)] == outer
