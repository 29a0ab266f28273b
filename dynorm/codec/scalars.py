"""The codecs of the declared types that need more than a scalar rule: unions, literals,
enums, ``Annotated`` metadata, secrets, ``Json[...]`` and the JSON-stored types.

Every type either round-trips exactly (value and type) or is refused with a
[`SchemaError`][dynorm.SchemaError] when the class is created:

* a union is decoded by the wire type of the stored value, so its members must be told
  apart by it: ``int | str`` (N / S), ``bytes | str``, ``list[int] | str``,
  ``Model | None`` work; ``datetime | str``, ``UUID | str``, ``int | float`` (both N:
  DynamoDB normalises ``1.0`` to ``1``) and two models without a ``Literal`` tag field
  are refused, naming what to use instead. Members sharing a wire type are fine when
  they read back as the same type (``str | Literal["x"]``), are enums/literals with
  disjoint values, or are models with a ``Literal`` field of disjoint values (a
  discriminated union);
* ``SecretStr``/``SecretBytes`` store the secret itself (S / B) and read back as
  secrets; no error message prints the secret;
* ``Json[X]`` stores the JSON text (S), which pydantic parses back;
* types stored in their JSON form (``timedelta``, IP addresses and networks, paths,
  URLs, ``NameEmail``) are a fixed list known to parse back exactly; anything else that
  would fall back to JSON (dataclasses, ``TypedDict``, ``complex``...) is refused;
* ``Strict`` fields whose stored form is not already of the declared type
  (``"2026-...Z"`` is not a strict ``datetime``) are refused.
"""

from __future__ import annotations

import datetime as _dt
import enum
import ipaddress
import pathlib
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args, get_origin

import pydantic
import pydantic_core

from dynorm._types import AttributeValue
from dynorm.codec.core import (
    Codec,
    WrongType,
    check_text,
    compile_codec,
    type_name,
    wrong_type,
)
from dynorm.codec.decoding import Decoder, decode_value, tag_decoder
from dynorm.codec.dynamic import encode_value
from dynorm.exceptions import EncodingError, SchemaError

__all__ = [
    "annotated_codec",
    "enum_codec",
    "json_codec",
    "literal_codec",
    "special_codec",
    "union_codec",
]

_NULL: AttributeValue = {"NULL": True}

def _json_exact() -> tuple[type, ...]:
    """The types pydantic stores as a JSON string and parses back to an equal value of the
    type (pydantic's URL and e-mail types load ``pydantic.networks`` and
    ``importlib.metadata``: only when a model declares a type no other codec takes)."""
    from pydantic import networks

    return (
        _dt.timedelta,
        ipaddress.IPv4Address, ipaddress.IPv6Address,
        ipaddress.IPv4Network, ipaddress.IPv6Network,
        ipaddress.IPv4Interface, ipaddress.IPv6Interface,
        pathlib.PurePath,
        networks.AnyUrl, networks._BaseMultiHostUrl,
        pydantic_core.Url, pydantic_core.MultiHostUrl,
        networks.NameEmail,
    )


# ---------------------------------------------------------------------------- unions


def union_codec(tp: Any) -> Codec:
    """``X | None`` and unions whose members have distinct wire types (see the module)."""
    args = get_args(tp)
    members = [a for a in args if a is not type(None)]
    nullable = len(members) < len(args)
    if len(members) == 1:
        inner = compile_codec(members[0])
        enc = inner.encode

        def encode_optional(v: Any) -> AttributeValue | None:
            return _NULL if v is None else enc(v)

        return Codec(
            encode_optional if nullable else enc,
            tp,
            key_type=inner.key_type,
            nullable=nullable,
            item_codec=inner.item_codec,
            object_codec=inner.object_codec,
            decode=inner.decode,
            is_set=inner.is_set,
            tags=(inner.tags | {"NULL"}) if inner.tags is not None else None,
            kind=inner.kind,
            values=inner.values,
            exact=inner.exact,
            can_omit=inner.can_omit,
        )
    codecs = [compile_codec(m) for m in members]
    names = " | ".join(type_name(m) for m in members)
    decoders = _union_decoders(tp, codecs)

    def encode_union(v: Any) -> AttributeValue | None:
        if v is None and nullable:
            return _NULL
        for codec in codecs:
            try:
                return codec.encode(v)
            except WrongType:
                continue
        raise wrong_type(names, v)

    def decode_union(av: AttributeValue) -> Any:
        for tag in av:
            decode = decoders.get(tag)
            return decode(av) if decode is not None else decode_value(av)
        return decode_value(av)

    key_types = {c.key_type for c in codecs}
    tags: set[str] = {"NULL"} if nullable else set()
    for c in codecs:
        tags |= c.tags or set()
    return Codec(
        encode_union,
        tp,
        key_type=key_types.pop() if len(key_types) == 1 else None,
        nullable=nullable,
        decode=decode_union,
        tags=tags,
        exact=all(c.exact for c in codecs),
        can_omit=any(c.can_omit for c in codecs),
    )


def _union_decoders(tp: Any, codecs: Sequence[Codec]) -> dict[str, Decoder]:
    """The decoder of each wire tag; SchemaError when two members share a tag and the
    stored value could not say which of them it was."""
    tags: list[frozenset[str]] = []
    for c in codecs:
        if c.tags is None:
            raise _ambiguous(tp, c, None, "", "Any accepts every stored value; declare the "
                             "types it may hold instead")
        tags.append(c.tags)
    for i, a in enumerate(codecs):
        for j in range(i + 1, len(codecs)):
            b = codecs[j]
            shared = tags[i] & tags[j]
            if not shared or a.kind == b.kind:  # str | Literal["x"]: the same type back
                continue
            if a.values is not None and b.values is not None and a.values.isdisjoint(b.values):
                continue  # enums / literals with disjoint values: the value tells
            if a.object_codec is not None and b.object_codec is not None:
                continue  # models: checked together below (a Literal tag field)
            raise _ambiguous(tp, a, b, min(shared), _advice(a, b))
    decoders: dict[str, Decoder] = {"NULL": decode_value}
    models = [c for c in codecs if c.object_codec is not None]
    for c, c_tags in zip(codecs, tags, strict=True):
        decode = c.decode if c.exact or c.object_codec is not None else _as_member(c)
        for tag in c_tags:
            decoders.setdefault(tag, decode)
    if len(models) > 1:
        decoders["M"] = _discriminated_decoder(tp, models)
    return decoders


def _as_member(codec: Codec) -> Decoder:
    """Decode into the member's own type, not a plain value pydantic would validate
    against the whole union: ``"2000-01-01T...Z"`` stored by the ``datetime`` member of
    ``SecretBytes | datetime`` must not become the first member that accepts a string."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(codec.python_type)
    plain = codec.decode
    if _holds_json(codec.python_type):
        # The model validates the member again, and Json[X] parses text only: hand it
        # the member's value with its Json parts as text again (pydantic's round trip).
        def decode_json_member(av: AttributeValue) -> Any:
            return adapter.dump_python(adapter.validate_python(plain(av)), round_trip=True)

        return decode_json_member

    def decode_member(av: AttributeValue) -> Any:
        return adapter.validate_python(plain(av))

    return decode_member


def _holds_json(tp: Any) -> bool:
    """Whether ``tp`` has a ``Json[...]`` anywhere inside (``tuple[str, Json[X]]``)."""
    if get_origin(tp) is Annotated and any(
            isinstance(m, pydantic.Json) or m is pydantic.Json for m in get_args(tp)[1:]):
        return True
    return any(_holds_json(a) for a in get_args(tp) if a is not Ellipsis)


def _advice(a: Codec, b: Codec) -> str:
    if a.tags == b.tags == frozenset({"N"}):
        return ("DynamoDB keeps a number's value, not its Python type (1.0 reads back as 1): "
                "declare one number type (Decimal holds any number exactly)")
    return ("store one type (e.g. keep the str and convert it yourself), or use a "
            "discriminated union of models, each with a Literal tag field")


def _ambiguous(tp: Any, a: Codec, b: Codec | None, tag: str, advice: str) -> SchemaError:
    if b is None:
        return SchemaError(f"{type_name(tp)} cannot be stored: {advice}")
    return SchemaError(
        f"{type_name(tp)} cannot be stored: {_member_name(a)} and {_member_name(b)} are both "
        f"stored as {tag}, so a stored value cannot say which it was; {advice}"
    )


def _member_name(c: Codec) -> str:
    # A Json[X] codec's python_type is str (its wire type); its kind names it.
    return type_name(c.kind if c.python_type is str and c.kind is not str else c.python_type)


def _literal_values(annotation: Any) -> frozenset[Any] | None:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return frozenset(get_args(annotation))
    return None


def _tag_field_decoder(attr: str, by_value: dict[Any, Decoder]) -> Decoder:
    """Decode a map with the decoder of the model its ``attr`` value names."""

    def decode_tagged(av: AttributeValue) -> Any:
        raw = av.get("M")
        tag_av = raw.get(attr) if isinstance(raw, dict) else None
        decode = by_value.get(decode_value(tag_av)) if tag_av is not None else None
        return decode(av) if decode is not None else decode_value(av)

    return decode_tagged


def _discriminated_decoder(tp: Any, models: Sequence[Codec]) -> Decoder:
    """The decoder of a union of models told apart by a ``Literal`` field."""
    classes = [c.python_type for c in models]
    common = set.intersection(*(set(cls.model_fields) for cls in classes))
    for name in sorted(common):
        per_model = [_literal_values(cls.model_fields[name].annotation) for cls in classes]
        attrs = {cls.model_fields[name].alias or name for cls in classes}
        if any(v is None for v in per_model) or len(attrs) != 1:
            continue
        by_value: dict[Any, Decoder] = {}
        for values, codec in zip(per_model, models, strict=True):
            assert values is not None
            if any(v in by_value for v in values):
                break
            by_value.update(dict.fromkeys(values, codec.decode))
        else:
            return _tag_field_decoder(attrs.pop(), by_value)
    names = ", ".join(cls.__name__ for cls in classes)
    raise SchemaError(
        f"{type_name(tp)} cannot be stored: the models {names} are all stored as maps (M) "
        "and no field tells them apart; give each a Literal tag field with distinct values "
        "(kind: Literal['a'] = 'a'), i.e. a discriminated union"
    )


# ---------------------------------------------------------------------------- literals, enums


def literal_codec(tp: Any) -> Codec:
    allowed = get_args(tp)
    value_codecs = {type(a): compile_codec(type(a)) for a in allowed}
    allowed_text = ", ".join(repr(a) for a in allowed)

    def encode_literal(v: Any) -> AttributeValue | None:
        if v in allowed and type(v) in value_codecs:
            return value_codecs[type(v)].encode(v)
        raise wrong_type(f"one of {allowed_text}", v)

    key_types = {c.key_type for c in value_codecs.values()}
    tags: set[str] = set()
    for c in value_codecs.values():
        tags |= c.tags or set()
    kinds = {c.kind for c in value_codecs.values()}
    return Codec(encode_literal, tp, key_type=key_types.pop() if len(key_types) == 1 else None,
                 tags=tags, kind=kinds.pop() if len(kinds) == 1 else tp,
                 values=frozenset(allowed), exact=all(c.exact for c in value_codecs.values()))


def enum_codec(tp: type[enum.Enum]) -> Codec:
    values = [m.value for m in tp]
    value_types = {type(v) for v in values}
    odd = value_types - {str, int, float, bytes, bool}
    if odd:
        raise SchemaError(
            f"{tp.__name__} cannot be stored: its values are {type_name(odd.pop())}; an enum is "
            "stored by value, which must be str, int, float, bytes or bool"
        )
    value_codec = compile_codec(value_types.pop()) if len(value_types) == 1 else None
    encode_raw = value_codec.encode if value_codec is not None else encode_value
    by_value = {m.value: m for m in tp}

    def encode_enum(v: Any) -> AttributeValue | None:
        if isinstance(v, tp):
            return encode_raw(v.value)
        if not isinstance(v, enum.Enum):
            try:
                if v in by_value:
                    return encode_raw(v)
            except TypeError:
                pass
        raise wrong_type(f"{tp.__name__} member", v)

    tags: set[str] = set()
    for t in {type(v) for v in values}:
        tags |= compile_codec(t).tags or set()
    # Float values come back as float (Decimal("0.1") is not 0.1); others as they are.
    decode = (value_codec.decode if value_codec is not None and value_codec.python_type is float
              else None)
    return Codec(encode_enum, tp, key_type=value_codec.key_type if value_codec else None,
                 tags=tags, values=frozenset(values), decode=decode)


# ---------------------------------------------------------------------------- Annotated


def annotated_codec(tp: Any) -> Codec:
    """``Annotated[X, ...]``: X's codec, except ``Json`` (stored as text) and ``Strict``
    (refused unless the stored form is already of type X)."""
    inner, *metadata = get_args(tp)
    if any(isinstance(m, pydantic.Json) or m is pydantic.Json for m in metadata):
        return _json_text_codec(tp, inner)
    codec = compile_codec(inner)
    if any(getattr(m, "strict", None) is True for m in metadata) and not codec.exact:
        raise strict_error(inner)
    return codec


def strict_error(tp: Any) -> SchemaError:
    return SchemaError(
        f"strict {type_name(tp)} cannot be read back: it is stored as plain DynamoDB values "
        "that pydantic's strict mode refuses (a datetime is stored as text, a tuple as a "
        "list); drop strict=True / Strict() for this field"
    )


def _json_text_codec(tp: Any, inner: Any) -> Codec:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(inner)

    def encode_json_text(v: Any) -> AttributeValue | None:
        try:
            text = adapter.dump_json(v).decode()
        except pydantic_core.PydanticSerializationError as exc:
            raise wrong_type(f"Json[{type_name(inner)}]", v) from exc
        return {"S": check_text(text)}

    # python_type str: expressions read the stored type from it (Json[list[int]] is text
    # on the wire, not a list); kind keeps it apart from a plain str in a union.
    return Codec(encode_json_text, str, decode=tag_decoder("S"), tags={"S"}, kind=tp,
                 exact=True)


# ---------------------------------------------------------------------------- special classes


def _encode_secret_str(v: Any) -> AttributeValue | None:
    if not isinstance(v, pydantic.SecretStr):
        raise WrongType(f"expected SecretStr, got {type(v).__name__}")
    secret = v.get_secret_value()
    try:
        return {"S": check_text(secret)}
    except EncodingError:
        raise EncodingError("the secret cannot be stored: it holds a lone surrogate, which "
                            "is not valid UTF-8") from None


def _encode_secret_bytes(v: Any) -> AttributeValue | None:
    if not isinstance(v, pydantic.SecretBytes):
        raise WrongType(f"expected SecretBytes, got {type(v).__name__}")
    return {"B": v.get_secret_value()}


def _refused(tp: Any, why: str) -> SchemaError:
    return SchemaError(f"{type_name(tp)} cannot be stored: {why}")


def special_codec(tp: type) -> Codec | None:
    """The codec of a class pydantic treats specially, or None for the generic rules."""
    if tp is pydantic.SecretStr:
        return Codec(_encode_secret_str, tp, decode=tag_decoder("S"), tags={"S"})
    if tp is pydantic.SecretBytes:
        return Codec(_encode_secret_bytes, tp, decode=tag_decoder("B"), tags={"B"})
    if tp is pydantic.Json:
        return _json_text_codec(tp, Any)
    if tp in (pydantic.AwareDatetime, pydantic.PastDatetime):
        codec = compile_codec(_dt.datetime)
        return Codec(codec.encode, tp, key_type="S", decode=codec.decode, tags={"S"})
    if tp is pydantic.PastDate:
        codec = compile_codec(_dt.date)
        return Codec(codec.encode, tp, key_type="S", decode=codec.decode, tags={"S"})
    if tp is pydantic.NaiveDatetime:
        return None  # refused by json_codec, with the advice
    if tp in (pydantic.FutureDatetime, pydantic.FutureDate):
        raise _refused(tp, "a stored future date becomes past and could no longer be read; "
                       "declare datetime/date and check it when you write")
    return None


def json_codec(tp: Any) -> Codec:
    """Types pydantic stores as a JSON string and parses back exactly (`_json_exact()`);
    any other type is refused."""
    if tp is pydantic.NaiveDatetime:
        raise _refused(tp, "a naive datetime has no instant; declare AwareDatetime (or "
                       "datetime with aware values), stored as UTC")
    if not (isinstance(tp, type) and issubclass(tp, _json_exact())):
        raise _refused(tp, "dynorm stores str, int, float, Decimal, bool, bytes, datetime, "
                       "date, time, UUID, enums, literals, sets, lists, tuples, dicts with str "
                       "keys, pydantic models and a few JSON-text types (timedelta, IP "
                       "addresses, paths, URLs); convert it to one of these (e.g. a pydantic "
                       "model instead of a dataclass or TypedDict) or declare Json[...]")
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(tp)
    except Exception as exc:  # pydantic raises several kinds for unknown types
        raise _refused(tp, str(exc)) from exc

    def encode_json(v: Any) -> AttributeValue | None:
        if not isinstance(v, tp):
            raise wrong_type(type_name(tp), v)
        try:
            text = adapter.dump_python(v, mode="json")
        except pydantic_core.PydanticSerializationError as exc:
            raise wrong_type(type_name(tp), v) from exc
        if type(text) is not str:
            raise wrong_type(type_name(tp), v)
        return {"S": check_text(text)}

    return Codec(encode_json, tp, decode=tag_decoder("S"), tags={"S"})
