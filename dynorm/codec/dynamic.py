"""Values encoded by their run-time type, and item sizes (pure).

``encode_value`` encodes a value by its type at run time (condition literals, values of
unions); ``encode_any`` encodes an ``Any`` field and refuses what would read back as
another type; ``item_size`` is DynamoDB's documented size of an item.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any

import pydantic

from dynorm._types import AttributeValue, Item
from dynorm.codec.core import _SCALARS, Encoder, check_text, encode_number, wrong_type
from dynorm.exceptions import EncodingError

__all__ = [
    "empty_map_key",
    "encode_any",
    "encode_map_values",
    "encode_set_dynamic",
    "encode_value",
    "item_size",
]


# ---------------------------------------------------------------------------- dynamic values


def encode_value(value: Any) -> AttributeValue:
    """Encode a value by its run-time type (for ``Any`` fields and condition literals)."""
    if value is None:
        return {"NULL": True}
    tp = type(value)
    if tp is str:
        return {"S": check_text(value)}
    if tp is bool:
        return {"BOOL": value}
    if tp is int or tp is float or tp is Decimal:
        return {"N": encode_number(value)}
    if isinstance(value, enum.Enum):
        return encode_value(value.value)
    if isinstance(value, pydantic.BaseModel):
        from dynorm.codec.objects import object_codec_for  # the objects import this module

        return object_codec_for(type(value)).encode_map(value)
    if isinstance(value, Mapping):
        return {"M": encode_map_values(value, encode_value)}
    if isinstance(value, (AbstractSet)):
        av = encode_set_dynamic(value)
        if av is None:
            raise EncodingError("an empty set cannot be stored here: DynamoDB has no empty sets")
        return av
    if isinstance(value, (list, tuple)):
        return {"L": [encode_value(x) for x in value]}
    for scalar, (enc, _) in _SCALARS.items():
        if isinstance(value, scalar):
            av = enc(value)
            assert av is not None
            return av
    raise EncodingError(f"{type(value).__name__} {value!r:.80} has no DynamoDB representation")


def encode_any(value: Any) -> AttributeValue:
    """Encode the value of an ``Any`` field: only values that read back as the same type.

    An ``Any`` field is decoded without a declared type: N comes back as ``int`` (or
    ``Decimal`` for a fraction), S as ``str``, L as ``list``. A value that would come back
    as another type (a float, a tuple, a datetime, an enum, a model...) is refused rather
    than silently changed; declare the field's type instead.
    """
    tp = type(value)
    if value is None:
        return {"NULL": True}
    if tp is str:
        return {"S": check_text(value)}
    if tp is bool:
        return {"BOOL": value}
    if tp is int:
        return {"N": encode_number(value)}
    if tp is bytes:
        return {"B": value}
    if tp is list:
        return {"L": [encode_any(x) for x in value]}
    if tp is dict:
        return {"M": encode_map_values(value, encode_any)}
    if tp is set:
        if all(type(x) is str for x in value) or all(type(x) is bytes for x in value) or all(
                type(x) is int for x in value):
            av = encode_set_dynamic(value)
            if av is None:
                raise EncodingError(
                    "an empty set cannot be stored here: DynamoDB has no empty sets")
            return av
        back = "a set of int, str or bytes"
    elif tp is Decimal and value.is_finite() and value != value.to_integral_value():
        return {"N": encode_number(value)}
    else:
        back = _ANY_READS_BACK.get(tp) or _any_reads_back(value)
    raise EncodingError(
        f"{tp.__name__} {value!r:.80} cannot be stored in an Any field: it would read back "
        f"as {back}; declare the field's type (e.g. {tp.__name__}) instead of Any"
    )


_ANY_READS_BACK: dict[type, str] = {
    float: "an int or a Decimal", Decimal: "an int", tuple: "a list", frozenset: "a set",
    bytearray: "bytes",
}


def _any_reads_back(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return "its value"
    if isinstance(value, pydantic.BaseModel):
        return "a dict"
    if isinstance(value, (str, int, float, Decimal)):
        return "the base type"
    return "another type (or cannot be stored at all)"


def encode_set_dynamic(value: AbstractSet[Any]) -> AttributeValue | None:
    if not value:
        return None
    if all(type(x) is str for x in value):
        return {"SS": sorted(check_text(x) for x in value)}
    if all(isinstance(x, (bytes, bytearray)) for x in value):
        return {"BS": sorted(bytes(x) for x in value)}
    if all(isinstance(x, (int, float, Decimal)) and not isinstance(x, bool) for x in value):
        return {"NS": sorted(encode_number(x) for x in value)}
    raise EncodingError(
        "a set must hold only strings, only numbers or only bytes to be stored as SS/NS/BS"
    )


def empty_map_key() -> EncodingError:
    """DynamoDB refuses an empty attribute name, and a map key is one."""
    return EncodingError(
        "a map key cannot be empty: DynamoDB refuses an empty attribute name (\"Empty "
        "attribute name\"); use a non-empty key"
    )


def encode_map_values(value: Mapping[Any, Any], enc: Encoder) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise wrong_type("str map keys", k)
        if not k:
            raise empty_map_key()
        av = enc(v)
        if av is None:
            raise EncodingError(
                f"an empty set under map key {k!r:.40} cannot be stored: DynamoDB has no empty "
                "sets and the key would be lost; leave the key out or use list[...]"
            )
        out[check_text(k)] = av
    return out


# ---------------------------------------------------------------------------- size


def _value_size(av: AttributeValue) -> int:
    for tag, v in av.items():
        if tag == "S":
            return len(v.encode()) if not v.isascii() else len(v)
        if tag == "N":
            return len(v.lstrip("-").replace(".", "").lstrip("0")) // 2 + 2
        if tag == "B":
            return len(v)
        if tag in ("BOOL", "NULL"):
            return 1
        if tag == "SS":
            return sum(len(x.encode()) for x in v)
        if tag == "NS":
            return sum(len(x) // 2 + 2 for x in v)
        if tag == "BS":
            return sum(len(x) for x in v)
        if tag == "L":
            return 3 + sum(1 + _value_size(x) for x in v)
        if tag == "M":
            return 3 + sum(1 + len(k.encode()) + _value_size(x) for k, x in v.items())
    return 0


def item_size(item: Item) -> int:
    """DynamoDB's size of an item in bytes (attribute names plus values), as documented."""
    return sum(len(k.encode()) + _value_size(v) for k, v in item.items())
