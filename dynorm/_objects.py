"""The codec of a pydantic model class: one compiled codec per field, and the
generated functions that encode an instance into an item and decode an item back.

:class:`ObjectCodec` serves both a table model's items and nested models stored as maps
(``M``); :func:`object_codec_for` caches one per class, and a recursive model finds its
own codec while it is being built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from dynorm._codec import INT_FAST_LIMIT, PASS_THROUGH, Codec, compile_codec, wrong_type
from dynorm._codegen import generate_decoder, generate_encoder
from dynorm._types import AttributeValue, Item
from dynorm.exceptions import EncodingError

__all__ = ["FieldCodec", "ObjectCodec", "object_codec_for"]


class FieldCodec:
    """One field of a pydantic model: Python name, attribute name, codec."""

    __slots__ = ("absent", "attr", "codec", "name")

    def __init__(self, name: str, attr: str, codec: Codec, absent: Callable[[], Any] | None
                 ) -> None:
        self.name = name
        self.attr = attr
        self.codec = codec
        #: what a missing attribute means: None for required nullable fields (None is
        #: omitted on write), an empty set for set fields (DynamoDB has no empty sets).
        self.absent = absent


class ObjectCodec:
    """The per-field codec of a pydantic model class (a document or a nested map).

    Args:
        cls: the pydantic model class.
        overrides: field name -> codec to use instead of the annotation's (TTL fields).
    """

    def __init__(
        self, cls: type[pydantic.BaseModel], overrides: Mapping[str, Codec] | None = None
    ) -> None:
        self.cls = cls
        self.fields: dict[str, FieldCodec] = {}
        self.by_attr: dict[str, FieldCodec] = {}
        _object_codecs.setdefault(cls, self)  # recursive models find themselves
        for name, info in cls.model_fields.items():
            attr = info.alias or name
            try:
                codec = (overrides or {}).get(name) or compile_codec(info.annotation)
            except EncodingError as exc:
                raise EncodingError(f"{cls.__name__}.{name}: {exc}") from exc
            absent: Callable[[], Any] | None = None
            if (codec.nullable or info.annotation is Any) and info.is_required():
                absent = _none
            elif codec.is_set and not codec.nullable:
                absent = set
            fc = FieldCodec(name, attr, codec, absent)
            self.fields[name] = fc
            self.by_attr[attr] = fc
        fields = list(self.fields.values())
        #: ``encode_fields(obj, store_none=False) -> item``: the item of a model instance
        #: (None fields omitted unless ``store_none``); raises EncodingError naming the
        #: class and field whose value cannot be stored. Generated per class (see
        #: dynorm/_codegen.py): exact str/bool/small-int values inlined (PASS_THROUGH).
        self.encode_fields: Callable[..., Item] = generate_encoder(
            [(fc.name, fc.attr, fc.codec.encode,
              *PASS_THROUGH.get(fc.codec.encode, (None, ""))) for fc in fields],
            INT_FAST_LIMIT, cls.__qualname__, self._encode_fields_loop,
        )
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
            )
        )

    def _encode_fields_loop(self, obj: Any, store_none: bool = False) -> Item:
        """``encode_fields`` as a plain loop over the fields' encoders: the generated
        function's error path, which names the field that cannot be stored."""
        values = obj.__dict__
        out: Item = {}
        for fc in self.fields.values():
            v = values.get(fc.name)
            if v is None:
                if store_none and fc.name in values:
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


_object_codecs: dict[type[pydantic.BaseModel], ObjectCodec] = {}


def object_codec_for(cls: type[pydantic.BaseModel]) -> ObjectCodec:
    codec = _object_codecs.get(cls)
    if codec is None:
        codec = ObjectCodec(cls)
    return codec
