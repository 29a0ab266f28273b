"""Python values <-> DynamoDB AttributeValues, compiled once per declared type.

``compile_codec(int)`` returns a `Codec` whose ``encode`` turns ``5`` into
``{"N": "5"}`` and whose ``decode`` turns it back. Codecs are built from the type
annotation when a model class is created, so no call inspects types at run time
(except for ``Any`` and unions, which dispatch on the value).

Wire rules (see docs/models.md):

* numbers travel as strings, Decimal-exact, at most 38 significant digits; NaN and
  infinities are refused;
* datetimes must be timezone-aware and are stored as ISO-8601 UTC strings with a fixed
  width (``2026-11-25T01:38:29.000000Z``), so string order is time order;
* text must be valid UTF-8: a lone surrogate (``"\\ud800"``) is refused;
* empty sets cannot be stored: they are left out of items and nested models (an absent set
  attribute reads back as an empty set), and refused inside lists and under map keys;
* ``None`` is ``{"NULL": true}`` inside lists and maps; in an item or a nested model it
  is left out when that reads back as ``None`` (see dynorm/codec/objects.py);
* ``SecretStr``/``SecretBytes`` store the secret, ``Json[X]`` its JSON text, and a fixed
  list of types (``timedelta``, IP addresses, paths, URLs) their JSON string;
* a type that cannot round-trip exactly, value and type, is refused with a
  [`SchemaError`][dynorm.SchemaError] when the class is created: ambiguous unions (``datetime |
  str``, ``int | float``), dataclasses, ``TypedDict``... (see dynorm/codec/scalars.py).

Containers live in dynorm/codec/containers.py, unions and special types in
dynorm/codec/scalars.py, values encoded by their run-time type (``Any`` fields,
condition literals) and item sizes in dynorm/codec/dynamic.py.

Decoding produces plain Python values that pydantic validates into the declared
type (``"2026-...Z"`` becomes a ``datetime`` there), so every read is validated.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import orjson
import pydantic

from dynorm._types import AttributeValue
from dynorm.codec.decoding import Decoder, decode_number, decode_value, tag_decoder
from dynorm.exceptions import EncodingError

if TYPE_CHECKING:
    from dynorm.codec.objects import ObjectCodec

__all__ = [
    "MAX_ITEM_BYTES",
    "Codec",
    "compile_codec",
    "encode_number",
]

MAX_ITEM_BYTES = 400 * 1024

Encoder = Callable[[Any], "AttributeValue | None"]

# DynamoDB numbers: 38 significant digits, magnitude 1E-130 .. 9.9999...E+125.
INT_FAST_LIMIT = 10**38
_UTC = _dt.timezone.utc


class Codec:
    """How one declared type is written and read.

    Attributes:
        encode: Python value -> AttributeValue; ``None`` means "nothing to store"
            (an empty set). Raises [`EncodingError`][dynorm.EncodingError] on a value of the
            wrong type.
        decode: AttributeValue -> a plain Python value pydantic validates.
        key_type: ``"S"``, ``"N"`` or ``"B"`` when the type can be a key attribute.
        python_type: the declared type, for messages.
        item_codec: the codec of the elements/values for lists, sets and maps.
        object_codec: for nested pydantic models, the per-field codec.
        tags: the type tags ``encode`` can write (``{"S"}``, ``{"N"}``, ``{"L"}``...),
            ``None`` when any (``Any``); a union refuses members whose tags overlap.
        kind: what the decoded value validates into (the declared type for scalars, the
            value type for a ``Literal``): members of a union that share a tag must
            share their kind, or the stored form could not say which member it was.
        values: the finite set of values of an ``Enum`` or ``Literal`` (a union may hold
            such members on one tag if their values are disjoint), else ``None``.
        exact: True when the decoded plain value already has the declared type, so
            pydantic's strict mode accepts it (``"2026-...Z"`` is not a strict datetime).
        can_omit: True when ``encode`` may return ``None`` (an empty set): an absent
            attribute then reads back as an empty set.
    """

    __slots__ = ("can_omit", "decode", "encode", "exact", "is_set", "item_codec", "key_type",
                 "kind", "nullable", "object_codec", "python_type", "tags", "values")

    def __init__(
        self,
        encode: Encoder,
        python_type: Any,
        *,
        decode: Decoder | None = None,
        key_type: str | None = None,
        nullable: bool = False,
        item_codec: Codec | None = None,
        object_codec: ObjectCodec | None = None,
        is_set: bool = False,
        tags: AbstractSet[str] | None = None,
        kind: Any = None,
        values: AbstractSet[Any] | None = None,
        exact: bool = False,
        can_omit: bool | None = None,
    ) -> None:
        self.encode = encode
        self.is_set = is_set
        self.tags = frozenset(tags) if tags is not None else None
        self.kind = kind if kind is not None else python_type
        self.values = frozenset(values) if values is not None else None
        self.exact = exact
        self.can_omit = is_set if can_omit is None else can_omit
        self.decode: Decoder = decode or decode_value
        self.python_type = python_type
        self.key_type = key_type
        self.nullable = nullable
        self.item_codec = item_codec
        self.object_codec = object_codec

    def __repr__(self) -> str:
        return f"Codec({type_name(self.python_type)})"


def type_name(tp: Any) -> str:
    """A short readable name for a type annotation (``Annotated`` metadata left out)."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        inner, *metadata = get_args(tp)
        if any(isinstance(m, pydantic.Json) for m in metadata):
            return f"Json[{type_name(inner)}]"
        return type_name(inner)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in get_args(tp))
    if isinstance(tp, type) and not get_args(tp):
        return "None" if tp is type(None) else tp.__name__
    return str(tp).replace("typing.", "").replace("decimal.", "").replace("datetime.", "")


class WrongType(EncodingError):
    """A value is not of the declared type (a union then tries its next member; any
    other EncodingError, a NaN or a lone surrogate, is the value's own and propagates)."""


def wrong_type(expected: str, value: Any) -> EncodingError:
    """The error for a value that is not of the declared type."""
    return WrongType(f"expected {expected}, got {type(value).__name__} {value!r:.80}")


def check_text(v: str) -> str:
    """``v`` if it can be stored as UTF-8; EncodingError for a lone surrogate.

    ``str.isascii`` is O(1) in CPython, so ASCII text costs one call; other text is
    encoded once.
    """
    if not v.isascii():
        try:
            v.encode()
        except UnicodeEncodeError as exc:
            raise EncodingError(
                f"{v!r:.80} cannot be stored: it holds a lone surrogate "
                f"({v[exc.start]!r} at index {exc.start}), which is not valid UTF-8; "
                "decode your text with errors='replace' or store it as bytes"
            ) from None
    return v


# ---------------------------------------------------------------------------- numbers


def encode_number(value: Any) -> str:
    """The wire text of a number, checked against DynamoDB's range and precision."""
    tp = type(value)
    if tp is int:
        if -INT_FAST_LIMIT < value < INT_FAST_LIMIT:
            return str(value)
        return _checked_decimal(Decimal(value), value)
    if tp is float:
        text = repr(value)
        # Fast path: plain notation (no exponent, not inf/nan) is always in range.
        if "e" not in text and "n" not in text:
            return text
    elif tp is Decimal:
        text = str(value)
        # Fast path: no exponent and at most 38 characters of digits: in range and precise.
        if len(text) <= 38 and "E" not in text and text[-1].isdigit():
            return text
    if tp is bool or not isinstance(value, (int, float, Decimal)):
        raise wrong_type("a number", value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EncodingError(f"{value!r} cannot be stored: DynamoDB numbers must be finite")
        return _checked_decimal(Decimal(repr(value)), value)
    if isinstance(value, int):  # int subclasses (IntEnum handled earlier)
        return encode_number(int(value))
    return _checked_decimal(value, value)


def _checked_decimal(d: Decimal, original: Any) -> str:
    if not d.is_finite():
        raise EncodingError(f"{original!r} cannot be stored: DynamoDB numbers must be finite")
    if d.is_zero():
        return "0"
    adjusted = d.adjusted()
    if adjusted > 125 or adjusted < -130:
        raise EncodingError(f"{original!r} is outside DynamoDB's number range (1E-130..1E+126)")
    digits = d.as_tuple().digits
    significant = len(digits) - (len(digits) - len("".join(map(str, digits)).rstrip("0")))
    if significant > 38:
        raise EncodingError(
            f"{original!r} has more than 38 significant digits, which DynamoDB cannot store"
        )
    return str(d)


# ---------------------------------------------------------------------------- scalar encoders


def _enc_str(v: Any) -> AttributeValue:
    if type(v) is str or isinstance(v, str):
        return {"S": check_text(v)}
    raise wrong_type("str", v)


def _enc_bool(v: Any) -> AttributeValue:
    if v is True or v is False:
        return {"BOOL": v}
    raise wrong_type("bool", v)


def _enc_number(v: Any) -> AttributeValue:
    return {"N": encode_number(v)}


def _enc_int(v: Any) -> AttributeValue:
    if type(v) is int:
        if -INT_FAST_LIMIT < v < INT_FAST_LIMIT:
            return {"N": str(v)}
        return {"N": encode_number(v)}
    if isinstance(v, int) and not isinstance(v, bool):
        return {"N": encode_number(int(v))}
    raise wrong_type("int", v)


def _enc_bytes(v: Any) -> AttributeValue:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"B": bytes(v)}
    raise wrong_type("bytes", v)


def format_datetime(v: _dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: fixed width, so sortable as text."""
    tz = v.tzinfo
    if tz is not _UTC and (tz is None or v.utcoffset() is None):
        raise EncodingError(
            f"naive datetime {v.isoformat()} cannot be stored: its instant is unknown; use an "
            "aware datetime such as datetime.now(timezone.utc) (or declare AwareDatetime)"
        )
    if tz is not _UTC:
        try:
            v = v.astimezone(_UTC)
        except OverflowError:
            raise EncodingError(
                f"{v.isoformat()} cannot be stored: it is outside the datetime range once "
                "converted to UTC (year 1..9999); use a value at least a day from "
                "datetime.min/max"
            ) from None
    if type(v) is _dt.datetime:
        # orjson formats a datetime 4x faster than isoformat (which is 2x strftime); it
        # drops a zero fraction, which the fixed width needs back.
        text = orjson.dumps(v, option=orjson.OPT_UTC_Z)
        if v.microsecond:
            return text[1:-1].decode()
        return text[1:-2].decode() + ".000000Z"
    return v.isoformat(timespec="microseconds")[:-6] + "Z"


def _enc_datetime(v: Any) -> AttributeValue:
    if isinstance(v, _dt.datetime):
        return {"S": format_datetime(v)}
    raise wrong_type("datetime", v)


def _enc_date(v: Any) -> AttributeValue:
    if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
        return {"S": v.isoformat()}
    raise wrong_type("date", v)


def _enc_time(v: Any) -> AttributeValue:
    if isinstance(v, _dt.time):
        return {"S": v.isoformat()}
    raise wrong_type("time", v)


def _enc_uuid(v: Any) -> AttributeValue:
    if isinstance(v, uuid.UUID):
        return {"S": str(v)}
    raise wrong_type("UUID", v)


def _enc_null(v: Any) -> AttributeValue:
    if v is None:
        return {"NULL": True}
    raise wrong_type("None", v)


def epoch_seconds(v: Any) -> int:
    """A TTL value as whole epoch seconds (datetime or int)."""
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            raise EncodingError(f"naive datetime {v.isoformat()} cannot be a TTL: make it aware")
        return int(v.timestamp())
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise wrong_type("datetime or int epoch seconds", v)


def ttl_codec(python_type: Any) -> Codec:
    """The codec of a TTL field: epoch seconds as N, whatever the declared type."""
    return Codec(lambda v: {"N": str(epoch_seconds(v))}, python_type, key_type=None)


_SCALAR_DECODERS: dict[Any, Decoder] = {
    str: tag_decoder("S"),
    bool: tag_decoder("BOOL"),
    int: tag_decoder("N", decode_number),
    float: tag_decoder("N", float),
    Decimal: tag_decoder("N", Decimal),
    bytes: tag_decoder("B"),
    _dt.datetime: tag_decoder("S"),
    _dt.date: tag_decoder("S"),
    uuid.UUID: tag_decoder("S"),
}

_SCALARS: dict[Any, tuple[Encoder, str | None]] = {
    str: (_enc_str, "S"),
    bool: (_enc_bool, None),
    int: (_enc_int, "N"),
    float: (_enc_number, None),  # floats make poor keys: their text is not exact
    Decimal: (_enc_number, "N"),
    bytes: (_enc_bytes, "B"),
    bytearray: (_enc_bytes, "B"),
    memoryview: (_enc_bytes, "B"),
    _dt.datetime: (_enc_datetime, "S"),
    _dt.date: (_enc_date, "S"),
    _dt.time: (_enc_time, None),
    uuid.UUID: (_enc_uuid, "S"),
    type(None): (_enc_null, None),
}


_SCALAR_TAGS: dict[Any, str] = {
    str: "S", bool: "BOOL", int: "N", float: "N", Decimal: "N", bytes: "B", bytearray: "B",
    memoryview: "B", _dt.datetime: "S", _dt.date: "S", _dt.time: "S", uuid.UUID: "S",
    type(None): "NULL",
}

#: scalars whose decoded plain value already has the declared type
_EXACT_SCALARS = frozenset({str, bool, int, float, Decimal, bytes, type(None)})

#: encoders inlined by encode_fields for values of exactly their type
PASS_THROUGH: dict[Encoder, tuple[type, str]] = {
    _enc_str: (str, "S"), _enc_bool: (bool, "BOOL"), _enc_int: (int, "N"),
}


# ---------------------------------------------------------------------------- compiled codecs


_cache: dict[Any, Codec] = {}


def compile_codec(annotation: Any) -> Codec:
    """The codec for a type annotation (cached per annotation; an annotation that names a
    model class is not cached here -- its model's codec lives on the class -- so that
    the cache never keeps a model class alive)."""
    try:
        return _cache[annotation]
    except (KeyError, TypeError):
        pass
    codec = _build(annotation)
    if not _names_a_model(annotation):
        with contextlib.suppress(TypeError):  # unhashable metadata inside Annotated
            _cache[annotation] = codec
    return codec


def _names_a_model(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, pydantic.BaseModel)
    return any(_names_a_model(arg) for arg in get_args(annotation))


def _build(tp: Any) -> Codec:
    # Containers and special types live in their own modules, which import this one.
    from dynorm.codec import containers
    from dynorm.codec import scalars as special

    origin = get_origin(tp)
    if origin is typing.Annotated:
        return special.annotated_codec(tp)
    if tp is Any or tp is object:
        from dynorm.codec.dynamic import encode_any  # it imports this module

        return Codec(encode_any, tp, kind=Any)
    if origin is typing.Union or origin is types.UnionType:
        return special.union_codec(tp)
    if origin is Literal:
        return special.literal_codec(tp)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return special.enum_codec(tp)
        if issubclass(tp, pydantic.BaseModel):
            from dynorm.codec.objects import object_codec_for  # the objects import this module

            obj = object_codec_for(tp)
            # A recursive model meets itself before its decoder is generated.
            decode_fields = getattr(obj, "decode_fields", None) or (
                lambda v: obj.decode_fields(v))
            return Codec(obj.encode_map, tp, object_codec=obj,
                         decode=tag_decoder("M", decode_fields), tags={"M"}, exact=True)
        scalar = _SCALARS.get(tp)
        if scalar is not None:
            return Codec(scalar[0], tp, key_type=scalar[1], decode=_SCALAR_DECODERS.get(tp),
                         tags={_SCALAR_TAGS[tp]}, exact=tp in _EXACT_SCALARS)
        special_codec = special.special_codec(tp)
        if special_codec is not None:
            return special_codec
        if origin is None:
            for base, (enc, key_type) in _SCALARS.items():
                if base is not type(None) and issubclass(tp, base):
                    return Codec(enc, tp, key_type=key_type, tags={_SCALAR_TAGS[base]})
    if origin in (set, frozenset, AbstractSet, typing.AbstractSet) or tp in (set, frozenset):
        return containers.set_codec(tp)
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        return containers.list_codec(tp)
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        return containers.map_codec(tp)
    return special.json_codec(tp)
