"""Whole items validated straight from their stored form, in one pass of pydantic-core.

The read path's general way (`dynorm.schema.decode.from_item`) decodes an item into plain
values field by field in Python (``ObjectCodec.decode_fields``), then validates that dict
with the model (``model_validate``). `wire_reader()` compiles, once per model class, a
pydantic-core validator that does both in Rust: each field reads its value from inside its
AttributeValue (``{"S": ...}``, ``{"N": ...}``) by a validation-alias path and validates it
with the model's own field schema. It is only a faster way to the same result:

* A field takes the fast path only where the stored value reaching the field's schema is
  the one the general way would hand it: the same object (``S``, ``BOOL``, ``B`` values),
  or a number's text where the schema parses text to the same number (``int``, ``float``,
  ``Decimal``), or containers of those (sets, lists, maps, nested models). Any other field
  is decoded by its own codec inside the same pass (a before-validator), exactly as the
  general way does.
* Whatever it cannot settle fails, and the caller then takes the general way (which
  either reads the item or raises its precise error): an attribute stored with another
  type tag (each alias has a second choice, the whole AttributeValue, which these schemas
  refuse), a missing attribute the general way fills in itself (an empty set, ``None``
  for a required nullable field, a field recovered from a key template), a nested map with
  keys its model does not declare, any exception.
* Models whose construction pydantic-core cannot repeat exactly are left to the general
  way: ``extra="allow"``, a custom ``__init__``, root models, model validators, recursive
  models (definitions), and sealed (encrypted/compressed) fields.

``DYNORM_NO_WIRE_READER=1`` (set before models are first read) turns the fast path off.
The differential test (tests/unit/test_wire_reader.py) checks over generated schemas and
mutated items that both ways give the same instance, or the fast one declines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Any

import pydantic
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from dynorm.codec.core import Codec
from dynorm.codec.decoding import decode_number
from dynorm.codec.objects import ObjectCodec, object_codec_for

__all__ = ["ENABLED", "WireReader", "declined", "wire_reader"]

#: False when ``DYNORM_NO_WIRE_READER`` is set: items are read the general way only.
ENABLED = os.environ.get("DYNORM_NO_WIRE_READER", "") in ("", "0")

#: item -> instance; raises (anything) when the item needs the general way
WireReader = Callable[[Mapping[str, Any]], Any]

_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
# Conversions of a number's text whose result these schemas also reach from the text.
_NUMBER_CONVERTS: tuple[Any, ...] = (decode_number, float, Decimal)
_NUMBER_SCHEMAS = frozenset({"int", "float", "decimal"})
# Schemas that refuse a dict (an AttributeValue of another tag): what makes the alias's
# second choice (the whole AttributeValue) fail instead of being read as a value.
_REFUSE_DICTS = frozenset({"str", "int", "float", "bool", "bytes", "decimal", "datetime",
                           "date", "time", "timedelta", "uuid", "url", "multi-host-url",
                           "json", "literal", "enum", "list", "set", "frozenset", "tuple",
                           "dict", "model"})
_KEY = "__dynorm_wire_reader__"
_lock = threading.Lock()


class _Ineligible(Exception):
    """The model (or a nested one) is left to the general way."""


def wire_reader(cls: type[pydantic.BaseModel], recovered: Iterable[str] = ()
                ) -> WireReader | None:
    """The fast reader of ``cls``'s whole items, or None when it has none.

    Args:
        cls: a table model class.
        recovered: fields the general way may recover from a key template when their
            attribute is absent: absent, they make the fast path decline.

    Compiled on first use and kept on the class (a module-level cache would keep every
    model class alive).
    """
    slot: _Slot | None = cls.__dict__.get(_KEY)
    if slot is None:
        with _lock:
            slot = cls.__dict__.get(_KEY)
            if slot is None:
                slot = _Slot(_compile(cls, frozenset(recovered)) if ENABLED else None)
                type.__setattr__(cls, _KEY, slot)
    if slot.rest > 0:  # declining most items lately: the general way for a while
        slot.rest -= 1  # (not locked: threads racing here may take it below zero)
        return None
    slot.reads += 1
    return slot.reader


def declined(cls: type[pydantic.BaseModel]) -> None:
    """Count an item ``cls``'s reader declined. A reader that declines most of a model's
    items (their attributes are of a shape it leaves to the general way) costs more than
    it saves -- a declined item pays for both ways -- so after 16 declines that are more
    than half of the reads since, the next 1,024 reads take the general way directly,
    and then the reader is tried again."""
    slot: _Slot | None = cls.__dict__.get(_KEY)
    if slot is None:
        return
    if slot.reads > 4096:  # a fresh window
        slot.reads = slot.misses = 0
    slot.misses += 1
    if slot.misses >= 16 and slot.misses * 2 > slot.reads:
        slot.reads = slot.misses = 0
        slot.rest = 1024


class _Slot:
    """A model class's reader and how it has fared lately (see `declined`)."""

    __slots__ = ("misses", "reader", "reads", "rest")

    def __init__(self, reader: WireReader | None) -> None:
        self.reader = reader
        self.reads = 0
        self.misses = 0
        self.rest = 0


def _compile(cls: type[pydantic.BaseModel], recovered: frozenset[str]) -> WireReader | None:
    core = cls.__pydantic_core_schema__
    definitions = list(core["definitions"]) if core.get("type") == "definitions" else []
    build = _Builder({d["ref"]: d for d in definitions if "ref" in d},
                     fill=not _own_post_init(cls))
    try:
        schema = build.model(build.resolve(core.get("schema", core)) if definitions else core,
                             object_codec_for(cls), recovered, top=True)
        if definitions:  # the fields read the general way may refer to them
            schema = cs.definitions_schema(schema, definitions)
        # pydantic-core reuses a complete model class's own validator for any schema of
        # that class ("prebuilt"), which would validate the stored form as plain values:
        # while this one is built, the classes it constructs are marked incomplete.
        before = {model: model.__dict__.get("__pydantic_complete__")
                  for model in build.flipped}
        for model in before:
            type.__setattr__(model, "__pydantic_complete__", False)
        try:
            validator = SchemaValidator(schema)
        finally:
            for model, complete in before.items():
                if complete is None:
                    type.__delattr__(model, "__pydantic_complete__")
                else:
                    type.__setattr__(model, "__pydantic_complete__", complete)
    except Exception:  # any schema it cannot build: read the general way
        return None
    validate: WireReader = validator.validate_python
    filled = tuple(build.filled)
    if not filled:
        return validate

    def read(item: Mapping[str, Any]) -> Any:
        instance = validate(item)
        for name, attr in filled:  # the general way passes these values: they are "set"
            if attr not in item:
                instance.__pydantic_fields_set__.add(name)
        return instance

    return read


class _Builder:
    """Turns a model's core schema into one that reads its stored form."""

    def __init__(self, definitions: dict[str, Any], *, fill: bool = True) -> None:
        self.definitions = definitions
        #: whether absent attributes the general way fills in may be filled in here
        self.fill = fill
        #: the model classes the schema constructs (see _compile)
        self.flipped: list[type] = []
        self._open: list[str] = []  # definitions being expanded (recursive models)
        #: (field, attribute) of top-level fields filled in when absent (filled_in)
        self.filled: list[tuple[str, str]] = []

    def resolve(self, schema: Any) -> Any:
        """A definition reference's target (a model used twice, an enum...), else
        ``schema``; _Ineligible for a reference it is already inside (recursion)."""
        if schema.get("type") != "definition-ref":
            return schema
        ref = schema["schema_ref"]
        if ref in self._open or ref not in self.definitions:
            raise _Ineligible
        target = self.definitions[ref]
        return {k: v for k, v in target.items() if k != "ref"}

    def model(self, schema: Any, codec: ObjectCodec, recovered: frozenset[str], *,
              top: bool) -> Any:
        """The model's schema reading its stored form (a top-level item, a nested map)."""
        if (schema.get("type") != "model" or schema.get("custom_init")
                or schema.get("root_model")
                or schema["schema"].get("type") != "model-fields"):
            raise _Ineligible
        config = dict(schema.get("config") or {})
        if (config.get("extra_fields_behavior") == "allow"
                or config.get("validate_by_alias") is False):  # (it reads by alias)
            raise _Ineligible
        fields_schema = schema["schema"]
        fields: dict[str, Any] = {}
        for name, field in fields_schema["fields"].items():
            fc = codec.fields.get(name)
            if fc is None or field.get("validation_alias", fc.attr) != fc.attr:
                raise _Ineligible
            if not top and fc.attr in _TAGS:  # an AttributeValue could pass for this map
                raise _Ineligible
            wire = self.field(fc.attr, fc.codec, field["schema"], name in recovered)
            if fc.absent is not None:  # absent, the general way passes a value of its own
                wire = (self.filled_in(name, fc.attr, fc.absent, wire) if top
                        else _required(wire))
            fields[name] = {**field, **wire}
        config.update(validate_by_name=False, validate_by_alias=True)
        self.flipped.append(schema["cls"])
        return cs.model_schema(
            schema["cls"],
            cs.model_fields_schema(fields, model_name=fields_schema.get("model_name"),
                                   extra_behavior="ignore" if top else "forbid"),
            post_init=schema.get("post_init"), config=config)  # type: ignore[arg-type]

    def field(self, attr: str, codec: Codec, schema: Any, required: bool) -> dict[str, Any]:
        """The model field's schema and alias reading it from the stored item."""
        wrapper = None
        if schema.get("type") == "default":
            wrapper, schema = schema, schema["schema"]
        wire = self.value(codec, schema)
        if wire is not None and self.refuses_dicts(wire[1]):
            tag, out = wire
            alias: Any = [[attr, tag], [attr]]
            if out.get("type") == "nullable":  # NULL reads as None
                out = cs.union_schema([_NULL, out], mode="left_to_right")
        else:  # its own codec decodes it, then the field's schema: the general way exactly
            out = cs.no_info_before_validator_function(codec.decode, schema)
            alias = attr
        if wrapper is not None and not required:
            out = {**wrapper, "schema": out}
        return {"schema": out, "validation_alias": alias}

    def value(self, codec: Codec, schema: Any) -> tuple[str, Any] | None:
        """``(tag, schema)``: a schema that validates the content of an AttributeValue
        under ``tag`` as the general way validates what ``codec`` decodes from it, or
        None."""
        tag = getattr(codec.decode, "tag", None)
        if tag is None:
            return None
        convert = getattr(codec.decode, "convert", None)
        kind = schema.get("type")
        if kind == "nullable":  # an optional field's codec is its value's, NULL aside
            inner = self.value(codec, schema["schema"])
            return None if inner is None else (inner[0], {**schema, "schema": inner[1]})
        if convert is None:
            return tag, schema  # the very object the general way passes on
        if convert in _NUMBER_CONVERTS and kind in _NUMBER_SCHEMAS:
            return tag, schema
        if kind == "definition-ref":
            ref = schema["schema_ref"]
            try:
                target = self.resolve(schema)
            except _Ineligible:
                return None
            self._open.append(ref)
            try:
                return self.value(codec, target)
            finally:
                self._open.pop()
        item = codec.item_codec
        if codec.is_set and kind in ("set", "frozenset"):
            # A number set's texts are read with int() first by the general way (``"-0"``
            # is 0): only an int schema reads every text to the same number.
            if tag != "NS" or schema["items_schema"].get("type") == "int":
                return tag, schema
            return None
        if tag == "L" and kind == "list" and item is not None:
            inner = self.element(item, schema["items_schema"])
            return None if inner is None else (tag, {**schema, "items_schema": inner})
        if tag == "M" and kind == "dict" and item is not None:
            inner = self.element(item, schema["values_schema"])
            return None if inner is None else (tag, {**schema, "values_schema": inner})
        if tag == "M" and kind == "model" and codec.object_codec is not None:
            try:
                return tag, self.model(schema, codec.object_codec, frozenset(), top=False)
            except _Ineligible:
                return None
        return None

    def filled_in(self, name: str, attr: str, absent: Callable[[], Any],
                  wire: dict[str, Any]) -> dict[str, Any]:
        """A top-level field whose absent attribute the general way fills in (an empty
        set, None for a required nullable field): the same value, validated the same way,
        and counted as set (``read`` in _compile); else required (declined when absent)."""
        schema = wire["schema"]
        if schema.get("type") == "default":
            schema = schema["schema"]
        kind = schema.get("type")
        if not self.fill or isinstance(wire["validation_alias"], str):
            return _required(wire)  # decoded by its codec, or model_post_init: declined
        if absent() is None and kind in ("nullable", "union") and _nullable(schema):
            default: dict[str, Any] = {"default": None}
        elif absent() == set() and _holds_set(schema):
            default = {"default_factory": list}  # a set: no elements stored
        else:
            return _required(wire)
        self.filled.append((name, attr))
        return {**wire, "schema": cs.with_default_schema(schema, validate_default=True,
                                                         **default)}

    def refuses_dicts(self, schema: Any) -> bool:
        """Whether ``schema`` refuses a dict (an AttributeValue of another tag)."""
        kind = schema.get("type")
        if kind == "nullable":
            return self.refuses_dicts(schema["schema"])
        if kind == "definition-ref":
            target = self.definitions.get(schema["schema_ref"])
            return target is not None and target.get("type") in _REFUSE_DICTS - {"model"}
        return kind in _REFUSE_DICTS

    def element(self, codec: Codec, schema: Any) -> Any:
        """A list element's or map value's schema: its AttributeValue unwrapped, then
        read."""
        wire = self.value(codec, schema)
        if wire is None or not self.refuses_dicts(wire[1]):
            return None
        tag, inner = wire
        # itemgetter raises on another tag (KeyError) or a non-map (TypeError): declined
        return cs.chain_schema([cs.no_info_plain_validator_function(itemgetter(tag)),
                                inner])


def _own_post_init(cls: type[pydantic.BaseModel]) -> bool:
    """Whether ``cls`` has a ``model_post_init`` of its own (not only pydantic's set-up of
    private attributes): it runs inside the validator, before `_compile`'s ``read`` counts
    the filled-in fields as set, so it would see another ``model_fields_set`` than the
    general way shows it."""
    hook = cls.model_post_init
    return (hook is not pydantic.BaseModel.model_post_init
            and getattr(hook, "__name__", None) != "init_private_attributes")


def _none(_: Any) -> None:
    return None


# {"NULL": true} -> None (the second alias choice hands over the whole AttributeValue)
_NULL = cs.chain_schema([
    cs.typed_dict_schema({"NULL": cs.typed_dict_field(cs.literal_schema([True]))},
                         extra_behavior="forbid"),
    cs.no_info_plain_validator_function(_none),
])


def _required(wire: dict[str, Any]) -> dict[str, Any]:
    """``wire`` without its default: an absent attribute makes the read decline."""
    schema = wire["schema"]
    if schema.get("type") == "default":
        return {**wire, "schema": schema["schema"]}
    return wire


def _nullable(schema: Any) -> bool:
    kind = schema.get("type")
    if kind == "nullable":
        return True
    return kind == "union" and any(
        _nullable(c[0] if isinstance(c, tuple) else c) for c in schema["choices"])


def _holds_set(schema: Any) -> bool:
    """A set schema, maybe nullable, maybe in the NULL union (a list reads as a set)."""
    kind = schema.get("type")
    if kind in ("set", "frozenset"):
        return True
    if kind == "nullable":
        return _holds_set(schema["schema"])
    return kind == "union" and _holds_set(schema["choices"][-1])
