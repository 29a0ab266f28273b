"""The codec of a pydantic model class: one compiled codec per field, and the
generated functions that encode an instance into an item and decode an item back.

`ObjectCodec` serves both a table model's items and nested models stored as maps
(``M``); `object_codec_for()` caches one per class, and a recursive model finds its
own codec while it is being built.

``None`` and absent attributes, the same rule for items and nested maps:

* an absent attribute reads back as the field's default; as ``None`` for a required
  nullable field; as an empty set for a set field (DynamoDB has no empty sets, so an
  empty set is never written);
* a ``None`` value is left out when leaving it out reads back as ``None`` (the default
  is ``None``, or the field is required); otherwise (``x: int | None = 5``, a nullable
  set) it is always written as ``NULL``, even without ``store_none``, so it never comes
  back as the default. ``store_none=True`` writes every ``None`` of the item's own
  fields as ``NULL``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
from pydantic.fields import FieldInfo

from dynorm._types import AttributeValue, Item
from dynorm.codec import codegen
from dynorm.codec.codegen import generate_decoder, generate_encoder
from dynorm.codec.core import INT_FAST_LIMIT, PASS_THROUGH, Codec, compile_codec, wrong_type
from dynorm.codec.scalars import strict_error
from dynorm.exceptions import EncodingError, SchemaError

__all__ = ["FieldCodec", "ObjectCodec", "object_codec_for"]


class FieldCodec:
    """One field of a pydantic model: Python name, attribute name, codec."""

    __slots__ = ("absent", "attr", "codec", "name", "null_always")

    def __init__(self, name: str, attr: str, codec: Codec, absent: Callable[[], Any] | None,
                 null_always: bool = False) -> None:
        self.name = name
        self.attr = attr
        self.codec = codec
        #: what a missing attribute means: None for required nullable fields (None is
        #: omitted on write), an empty set for set fields (DynamoDB has no empty sets).
        self.absent = absent
        #: write None as NULL even without store_none: left out, it would read back as
        #: something else (the default, or an empty set)
        self.null_always = null_always


class ObjectCodec:
    """The per-field codec of a pydantic model class (a document or a nested map).

    Args:
        cls: the pydantic model class.
        overrides: field name -> codec to use instead of the annotation's (TTL fields).

    Raises:
        SchemaError: a field's type cannot be stored exactly, naming class, field and fix.
    """

    def __init__(
        self, cls: type[pydantic.BaseModel], overrides: Mapping[str, Codec] | None = None
    ) -> None:
        self.cls = cls
        self.fields: dict[str, FieldCodec] = {}
        self.by_attr: dict[str, FieldCodec] = {}
        if "__dynorm_object_codec__" not in cls.__dict__:  # recursive models find themselves
            type.__setattr__(cls, "__dynorm_object_codec__", self)
        strict = bool(cls.model_config.get("strict"))
        for name, info in cls.model_fields.items():
            attr = info.alias or name
            try:
                codec = (overrides or {}).get(name) or compile_codec(_declared(info))
                if strict and not codec.exact and name not in (overrides or {}):
                    raise strict_error(info.annotation)
            except (EncodingError, SchemaError) as exc:
                raise SchemaError(f"{cls.__name__}.{name}: {exc}") from exc
            fc = _field_codec(name, attr, codec, info)
            self.fields[name] = fc
            self.by_attr[attr] = fc
        fields = list(self.fields.values())
        #: ``encode_fields(obj, store_none=False) -> item``: the item of a model instance
        #: (None fields omitted unless ``store_none``); raises EncodingError naming the
        #: class and field whose value cannot be stored. Generated per class (see
        #: dynorm/codec/codegen.py): exact str/bool/small-int values inlined (PASS_THROUGH).
        self.encode_fields: Callable[..., Item] = generate_encoder(
            [(fc.name, fc.attr, fc.codec.encode,
              *PASS_THROUGH.get(fc.codec.encode, (None, "")), fc.null_always) for fc in fields],
            INT_FAST_LIMIT, cls.__qualname__, self._encode_fields_loop,
        ) if codegen.ENABLED else self._encode_fields_loop
        #: ``decode_fields(item) -> dict``: attribute-name keyed plain values, ready for
        #: ``model_validate``. Attributes the model does not declare are skipped; absent
        #: attributes of required nullable fields come back as None and of set fields as
        #: an empty set (both are omitted on write). Generated per class: each field's
        #: expected tag is read inline.
        self.decode_fields: Callable[[Mapping[str, AttributeValue]], dict[str, Any]] = (
            generate_decoder(
                [(fc.attr, getattr(fc.codec.decode, "tag", None),
                  getattr(fc.codec.decode, "convert", None), fc.codec.decode, fc.absent)
                 for fc in fields],
                cls.__qualname__,
            ) if codegen.ENABLED else self._decode_fields_loop
        )

    def _decode_fields_loop(self, item: Mapping[str, AttributeValue]) -> dict[str, Any]:
        """``decode_fields`` as a plain loop (``DYNORM_NO_CODEGEN``)."""
        out: dict[str, Any] = {}
        for fc in self.fields.values():
            av = item.get(fc.attr)
            if av is not None:
                out[fc.attr] = fc.codec.decode(av)
            elif fc.absent is not None:
                out[fc.attr] = fc.absent()
        return out

    def _encode_fields_loop(self, obj: Any, store_none: bool = False) -> Item:
        """``encode_fields`` as a plain loop over the fields' encoders: the generated
        function's error path, which names the field that cannot be stored."""
        values = obj.__dict__
        out: Item = {}
        for fc in self.fields.values():
            v = values.get(fc.name)
            if v is None:
                if (store_none or fc.null_always) and fc.name in values:
                    out[fc.attr] = {"NULL": True}
                continue
            try:
                av = fc.codec.encode(v)
            except EncodingError as exc:
                raise type(exc)(f"{self.cls.__name__}.{fc.name}: {exc}") from exc.__cause__
            if av is not None:
                out[fc.attr] = av
        return out

    def encode_map(self, obj: Any) -> AttributeValue:
        if not isinstance(obj, self.cls):
            if isinstance(obj, Mapping):
                obj = self.cls.model_validate(obj)
            else:
                raise wrong_type(self.cls.__name__, obj)
        return {"M": self.encode_fields(obj)}


def _none() -> None:
    return None


def _declared(info: FieldInfo) -> Any:
    """The field's annotation with the metadata pydantic moved out of it (``Json``,
    ``Strict``, constraints), which the codec needs to see."""
    if info.metadata:
        args = (info.annotation, *info.metadata)
        return typing.cast(Any, typing.Annotated)[args]
    return info.annotation


def _field_codec(name: str, attr: str, codec: Codec, info: FieldInfo) -> FieldCodec:
    """The field's codec with the rule for absent attributes and None (see the module)."""
    may_be_none = (codec.nullable or codec.python_type in (Any, object)
                   or (codec.tags is not None and "NULL" in codec.tags))
    absent: Callable[[], Any] | None = None
    if codec.can_omit:
        absent = set
    elif may_be_none and info.is_required():
        absent = _none
    absent_is_none = absent is _none or (
        absent is None and not info.is_required() and info.default_factory is None
        and info.default is None
    )
    return FieldCodec(name, attr, codec, absent, null_always=may_be_none and not absent_is_none)


def object_codec_for(cls: type[pydantic.BaseModel]) -> ObjectCodec:
    """The class's codec, made once and kept on the class itself (a module-level cache
    would keep every model class alive)."""
    codec: ObjectCodec | None = cls.__dict__.get("__dynorm_object_codec__")
    if codec is None:
        codec = ObjectCodec(cls)
    return codec
