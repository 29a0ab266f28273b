"""TableMeta: what a model class declares, compiled once when the class is created.

Every declaration mistake is a [`SchemaError`][dynorm.SchemaError] naming the class and field,
raised from ``Model.__pydantic_init_subclass__``, so a wrong model never gets imported quietly.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import pydantic

from dynorm._types import AttributeValue, Item
from dynorm.codec.core import (
    MAX_ITEM_BYTES,
    Codec,
    compile_codec,
    item_size,
    ttl_codec,
    type_name,
)
from dynorm.codec.json import dumps
from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import EncodingError, InvalidKey, ItemTooLarge, SchemaError
from dynorm.schema.fields import TTL, FieldMarker, PartitionKey, SortKey, Version
from dynorm.schema.indexes import GlobalIndex, LocalIndex, _Index
from dynorm.schema.templates import KeyTemplate

__all__ = [
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "STR_CODEC",
    "IndexMeta",
    "KeyAttr",
    "TableMeta",
    "check_update_size",
    "checked_json",
    "compile_meta",
]

#: DynamoDB's limits on one key value (UTF-8 bytes of S, bytes of B), tables and indexes.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

STR_CODEC = compile_codec(str)
_STR_CODEC = STR_CODEC
_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


@dataclass(frozen=True)
class KeyAttr:
    """A key attribute: Python field name, wire attribute name, scalar type S/N/B.

    A key computed by a [`KeyTemplate`][dynorm.KeyTemplate] has ``template`` set; its ``field``
    is then the wire attribute name (it is not a model field) and its type is ``S``.
    """

    field: str
    attr: str
    type: str
    codec: Codec
    template: KeyTemplate | None = None

    def encode(self, value: Any, model: str) -> AttributeValue:
        """Encode a key value, refusing None, empty strings/bytes and wrong types."""
        if value is None:
            raise InvalidKey(f"{model}.{self.field}: key value is missing (None)")
        try:
            av = self.codec.encode(value)
        except EncodingError as exc:
            raise InvalidKey(f"{model}.{self.field}: invalid key value: {exc}") from None
        assert av is not None
        raw = av.get(self.type)
        if raw is None:
            raise InvalidKey(f"{model}.{self.field}: key must be {self.type}, got {av}")
        if raw == "" or raw == b"":
            raise InvalidKey(f"{model}.{self.field}: key attributes cannot be empty")
        return av

    def from_fields(self, values: Mapping[str, Any], model: str) -> AttributeValue:
        """The key value from field values (filling the template, if any)."""
        if self.template is None:
            return self.encode(values.get(self.field), model)
        missing = [f for f in self.template.fields if values.get(f) is None]
        if missing:
            raise InvalidKey(
                f"{model}: key {self.attr!r} = {self.template.template!r} needs "
                f"{', '.join(missing)}"
            )
        text = self.template.fill(values)
        assert text is not None
        return {"S": text}


@dataclass(frozen=True)
class IndexMeta:
    """A resolved secondary index."""

    name: str
    kind: str  # "global" | "local"
    partition: KeyAttr
    sort: KeyAttr | None
    projection_type: str
    projection_attrs: tuple[str, ...]
    read_capacity: int | None = None
    write_capacity: int | None = None


@dataclass(frozen=True)
class TableMeta:
    """The compiled declaration of a model with a table."""

    model_name: str
    table_name: str
    partition: KeyAttr
    sort: KeyAttr | None
    indexes: dict[str, IndexMeta]
    ttl: KeyAttr | None  # reuses KeyAttr for (field, attr); type is "N"
    version: KeyAttr | None
    codec: ObjectCodec
    entity: str | None = None
    entity_attr: str = "_type"
    #: every key computed by a template (table and index keys), filled on write
    derived: tuple[KeyAttr, ...] = ()
    #: fields read back from the table key templates instead of being stored twice
    recovered: tuple[str, ...] = ()

    @property
    def key_attrs(self) -> tuple[KeyAttr, ...]:
        return (self.partition, self.sort) if self.sort else (self.partition,)

    @property
    def templated(self) -> bool:
        return self.partition.template is not None or (
            self.sort is not None and self.sort.template is not None
        )

    def key(self, partition: Any, sort: Any = None) -> Item:
        """The wire key for the given key values, checked."""
        if self.templated:
            names = sorted({f for k in self.key_attrs if k.template for f in k.template.fields}
                           | {k.field for k in self.key_attrs if k.template is None})
            raise InvalidKey(
                f"{self.model_name}'s key is computed from fields: pass them by name "
                f"({', '.join(f'{n}=...' for n in names)})"
            )
        key = {self.partition.attr: self.partition.encode(partition, self.model_name)}
        if self.sort is not None:
            if sort is None:
                raise InvalidKey(
                    f"{self.model_name}: sort key {self.sort.field!r} is required "
                    f"(the table key is {self.partition.field!r}, {self.sort.field!r})"
                )
            key[self.sort.attr] = self.sort.encode(sort, self.model_name)
        elif sort is not None:
            raise InvalidKey(f"{self.model_name} has no sort key, but one was given: {sort!r}")
        self.check_key_sizes(key)
        return key

    def key_from_fields(self, values: Mapping[str, Any]) -> Item:
        """The wire key from field values by name (templated or plain keys)."""
        key = {k.attr: k.from_fields(values, self.model_name) for k in self.key_attrs}
        self.check_key_sizes(key)
        return key

    def check_key_sizes(self, item: Mapping[str, AttributeValue]) -> None:
        """InvalidKey for a table or index key value over DynamoDB's size limit (2048
        bytes for a partition key, 1024 for a sort key), before anything is sent."""
        for key, limit, role, where in self._key_limits:
            av = item.get(key.attr)
            if av is None:
                continue
            value = av.get("S")
            if value is not None:
                if len(value) * 4 <= limit:  # no UTF-8 text of this length can be over
                    continue
                size = len(value.encode("utf-8", "surrogatepass"))
            else:
                raw = av.get("B")
                if raw is None:
                    continue  # a number: at most 38 digits
                size = len(raw)
            if size > limit:
                raise InvalidKey(
                    f"{self.model_name}.{key.field}: the {role} key value{where} is {size} "
                    f"bytes; DynamoDB allows at most {limit} (UTF-8 bytes of a string): "
                    "shorten it, or key the item by a hash of it"
                )

    @property
    def _key_limits(self) -> list[tuple[KeyAttr, int, str, str]]:
        limits = self.__dict__.get("_limits")
        if limits is None:
            limits = [(self.partition, MAX_PARTITION_KEY_BYTES, "partition", "")]
            if self.sort is not None:
                limits.append((self.sort, MAX_SORT_KEY_BYTES, "sort", ""))
            for index in self.indexes.values():
                where = f" of index {index.name}"
                if index.partition.attr != self.partition.attr:
                    limits.append((index.partition, MAX_PARTITION_KEY_BYTES, "partition",
                                   where))
                if index.sort is not None and index.sort.attr not in (
                        self.partition.attr, self.sort.attr if self.sort else None):
                    limits.append((index.sort, MAX_SORT_KEY_BYTES, "sort", where))
            self.__dict__["_limits"] = limits
        return limits

    def key_of(self, instance: Any) -> Item:
        return self.key_from_fields(instance.__dict__)

    def encode_item(self, instance: Any, *, store_none: bool = False,
                    version: int | None = None) -> Item:
        """The full item of an instance, with keys checked and the 400 KB limit enforced.

        ``version``: the value to store in the ``Version`` attribute instead of the
        instance's own.
        """
        item = self._item(instance, store_none, version)
        checked_json(item, self.model_name)
        return item

    def encode_item_json(self, instance: Any, *, store_none: bool = False,
                         version: int | None = None) -> bytes:
        """`encode_item()` as the item's wire JSON (which the size check makes)."""
        return checked_json(self._item(instance, store_none, version), self.model_name)

    def _item(self, instance: Any, store_none: bool, version: int | None) -> Item:
        item = self.codec.encode_fields(instance, store_none=store_none)
        if self.derived or self.entity:
            values = instance.__dict__
            for name in self.recovered:
                item.pop(self.codec.fields[name].attr, None)
            for key in self.derived:
                assert key.template is not None
                text = key.template.fill(values)
                if text is not None:
                    item[key.attr] = {"S": text}
                elif key.template.role:  # a table key; index keys may be sparse
                    key.from_fields(values, self.model_name)  # raises, naming the inputs
            if self.entity:
                item[self.entity_attr] = {"S": self.entity}
        for key in self.key_attrs:
            if key.attr not in item:
                raise InvalidKey(f"{self.model_name}.{key.field}: key value is missing (None)")
            raw = item[key.attr].get(key.type)
            if raw == "" or raw == b"":
                raise InvalidKey(f"{self.model_name}.{key.field}: key attributes cannot be empty")
        self.check_key_sizes(item)
        if version is not None and self.version is not None:
            item[self.version.attr] = {"N": str(version)}
        return item

    def decode_item(self, item: Mapping[str, AttributeValue]) -> dict[str, Any]:
        """Plain values for ``model_validate``, fields recovered from key templates included."""
        out = self.codec.decode_fields(item)
        if self.recovered:
            for key in self.key_attrs:
                if key.template is None:
                    continue
                av = item.get(key.attr)
                if av is None or "S" not in av:
                    continue
                for name, raw in key.template.parse(av["S"]).items():
                    attr = self.codec.fields[name].attr
                    if attr not in item:
                        out[attr] = raw
        return out

    def describe_key(self, key: Item) -> str:
        """``user_id='u1', game='tetris'`` for messages."""
        parts = []
        for k in self.key_attrs:
            av = key.get(k.attr)
            if av is not None:
                parts.append(f"{k.field}={next(iter(av.values()))!r}")
        return ", ".join(parts)


def checked_json(item: Item, model: str) -> bytes:
    """The wire JSON of an item; ItemTooLarge when the item is over DynamoDB's 400 KB."""
    # The UTF-8 JSON text of an item is never smaller than DynamoDB's size of it (every
    # name and value appears in it, plus punctuation and base64 for bytes), and orjson
    # makes it in about a microsecond: only items near the limit pay for the exact walk.
    data = dumps(item)
    if len(data) <= MAX_ITEM_BYTES:
        return data
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"{model}: item is {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES} bytes "
            "(400 KB); store large values elsewhere (e.g. S3) and keep a reference",
            size=size,
        )
    return data


def check_update_size(model: str, request: Mapping[str, Any]) -> None:
    """ItemTooLarge for an UpdateItem whose values alone are over 400 KB (the item it
    would make certainly is); larger items are refused by DynamoDB itself."""
    values = request.get("ExpressionAttributeValues")
    if not values or len(dumps(values)) <= MAX_ITEM_BYTES:
        return
    size = item_size(values)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"{model}: the values of this update are {size} bytes, over DynamoDB's limit of "
            f"{MAX_ITEM_BYTES} bytes (400 KB) for a whole item; store large values elsewhere "
            "(e.g. S3) and keep a reference",
            size=size,
        )


def _markers(info: pydantic.fields.FieldInfo) -> list[FieldMarker]:
    return [m for m in info.metadata if isinstance(m, FieldMarker)]


def _is_ttl_type(annotation: Any) -> bool:
    args = [annotation]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
    return len(args) == 1 and args[0] in (_dt.datetime, int)


def _key_attr(cls_name: str, field: str, info: pydantic.fields.FieldInfo, codec: Codec,
              role: str) -> KeyAttr:
    # Index keys may be optional: an item without them is simply not in the index
    # (a sparse index). Table keys may not.
    if codec.nullable and not role.startswith("index"):
        raise SchemaError(f"{cls_name}.{field}: the {role} cannot be optional (None)")
    if codec.key_type is None:
        raise SchemaError(
            f"{cls_name}.{field}: the {role} must be a string, number or binary type "
            f"(str, int, Decimal, bytes, or a type stored as one such as datetime, UUID, "
            f"an Enum of str/int); {type_name(info.annotation)} cannot be a key"
        )
    return KeyAttr(field, info.alias or field, codec.key_type, codec)


def compile_meta(cls: type[pydantic.BaseModel], table: str | None,
                 indexes: Sequence[_Index], reserved: frozenset[str],
                 templates: Sequence[KeyTemplate] = (), entity: str | None = None,
                 entity_attr: str = "_type", store_key_fields: bool = False
                 ) -> TableMeta | None:
    """Check a model declaration and compile it; ``None`` for a model without a table."""
    name = cls.__name__
    fields = cls.model_fields
    clashes = sorted(reserved & fields.keys())
    if clashes:
        raise SchemaError(
            f"{name}: field name(s) {', '.join(clashes)} would hide dynorm's Model methods; "
            "rename the field and keep the attribute name with Field(alias=...)"
        )
    roles: dict[FieldMarker, list[str]] = {m: [] for m in (PartitionKey, SortKey, TTL, Version)}
    attrs: dict[str, str] = {}
    for field, info in fields.items():
        attr = info.alias or field
        if attr in attrs:
            raise SchemaError(
                f"{name}: fields {attrs[attr]!r} and {field!r} both use attribute name {attr!r}"
            )
        attrs[attr] = field
        for marker in _markers(info):
            roles[marker].append(field)
    for marker, found in roles.items():
        if len(found) > 1:
            raise SchemaError(f"{name}: more than one {marker} field: {', '.join(found)}")

    overrides: dict[str, Codec] = {}
    ttl_field = roles[TTL][0] if roles[TTL] else None
    if ttl_field is not None:
        ann = fields[ttl_field].annotation
        if not _is_ttl_type(ann):
            raise SchemaError(
                f"{name}.{ttl_field}: TTL must be a datetime or int (epoch seconds) field, "
                f"not {type_name(ann)}"
            )
        overrides[ttl_field] = ttl_codec(ann)
    try:
        codec = ObjectCodec(cls, overrides)
    except EncodingError as exc:
        raise SchemaError(str(exc)) from exc

    if table is None:  # an abstract base: its subclasses with a table are checked
        return None
    if not isinstance(table, str) or not table:
        raise SchemaError(f"{name}: table name must be a non-empty string, got {table!r}")
    if not _NAME.fullmatch(table):
        raise SchemaError(
            f"{name}: table name {table!r} is not valid in DynamoDB (3-255 characters of "
            "a-z, A-Z, 0-9, '_', '-', '.')"
        )
    types = {f: info.annotation for f, info in fields.items()}
    by_role: dict[str, KeyTemplate] = {}
    for declared in templates:
        if declared.role in by_role:
            raise SchemaError(f"{name}: more than one {declared.role} key template")
        # A template declared on a base class serves every subclass: each binds its own
        # copy (its field types and decisions), never the one object they share.
        template = copy.deepcopy(declared)
        template.bind(name, types)
        by_role[template.role] = template
    for role, marker in (("partition", PartitionKey), ("sort", SortKey)):
        if role in by_role and roles[marker]:
            raise SchemaError(
                f"{name}: the {role} key is declared twice: field {roles[marker][0]!r} and "
                f"template {by_role[role].template!r}"
            )
    if not roles[PartitionKey] and "partition" not in by_role:
        raise SchemaError(
            f"{name}: table {table!r} needs a partition key: mark one field as "
            'Annotated[str, PartitionKey], or derive one: pk = PartitionKey("USER#{user_id}")'
        )

    def key(field: str | KeyTemplate, role: str) -> KeyAttr:
        if isinstance(field, KeyTemplate):
            if not field.attribute:
                raise SchemaError(f"{name}: {field!r} as {role} needs attribute=...")
            if field.attribute in attrs:
                raise SchemaError(
                    f"{name}: key template attribute {field.attribute!r} is also a field's "
                    "attribute name"
                )
            attribute = field.attribute
            bound = copy.deepcopy(field)  # per class, as above
            bound.bind(name, types)
            return KeyAttr(attribute, attribute, "S", _STR_CODEC, bound)
        return _key_attr(name, field, fields[field], codec.fields[field].codec, role)

    partition = key(by_role.get("partition") or roles[PartitionKey][0], "partition key")
    sort_decl: str | KeyTemplate | None = by_role.get("sort") or (
        roles[SortKey][0] if roles[SortKey] else None
    )
    sort = key(sort_decl, "sort key") if sort_decl is not None else None
    if sort is not None and sort.field == partition.field:
        raise SchemaError(f"{name}.{sort.field}: cannot be both partition key and sort key")

    def special(marker: FieldMarker) -> KeyAttr | None:
        if not roles[marker]:
            return None
        field = roles[marker][0]
        if field in (partition.field, sort.field if sort else None):
            raise SchemaError(f"{name}.{field}: a key attribute cannot also be the {marker}")
        return KeyAttr(field, codec.fields[field].attr, "N", codec.fields[field].codec)

    ttl = special(TTL)
    version = special(Version)
    if version is not None:
        ann = fields[version.field].annotation
        if ann is not int:
            raise SchemaError(
                f"{name}.{version.field}: Version must be an int field, not {type_name(ann)}"
            )

    resolved: dict[str, IndexMeta] = {}
    for index in indexes:
        meta = _index_meta(name, index, partition, sort, codec, fields, key)
        if entity is not None and meta.projection_type != "ALL" and (
                entity_attr not in meta.projection_attrs):
            # A query keeps to its entity with a filter on the entity attribute, and
            # DynamoDB refuses a filter on an attribute the index does not project: the
            # index of an entity always projects it (KEYS_ONLY becomes INCLUDE).
            meta = dataclasses.replace(meta, projection_type="INCLUDE",
                                       projection_attrs=(*meta.projection_attrs, entity_attr))
        if not _NAME.fullmatch(meta.name):
            raise SchemaError(
                f"{name}: index name {meta.name!r} is not valid in DynamoDB (3-255 characters "
                "of a-z, A-Z, 0-9, '_', '-', '.')"
            )
        if meta.name in resolved:
            raise SchemaError(f"{name}: two indexes are named {meta.name!r}")
        resolved[meta.name] = meta
    if sum(1 for i in resolved.values() if i.kind == "global") > 20:
        raise SchemaError(f"{name}: DynamoDB allows at most 20 global secondary indexes")
    if sum(1 for i in resolved.values() if i.kind == "local") > 5:
        raise SchemaError(f"{name}: DynamoDB allows at most 5 local secondary indexes")

    derived = tuple(
        {k.attr: k for k in (partition, sort, *(x for i in resolved.values()
                                                  for x in (i.partition, i.sort)))
         if k is not None and k.template is not None}.values()
    )
    recovered: tuple[str, ...] = ()
    if not store_key_fields:
        recovered = tuple(
            f for k in (partition, sort) if k is not None and k.template is not None
            for f in k.template.fields if k.template.lossless(f)
        )
    if entity is not None:
        if not isinstance(entity, str) or not entity:
            raise SchemaError(f"{name}: entity must be a non-empty string, got {entity!r}")
        if entity_attr in attrs or any(k.attr == entity_attr for k in derived):
            raise SchemaError(
                f"{name}: the entity attribute {entity_attr!r} is also a field or key "
                "attribute; choose another with entity_attribute=..."
            )
    return TableMeta(name, table, partition, sort, resolved, ttl, version, codec,
                     entity, entity_attr, derived, recovered)


def _index_meta(name: str, index: _Index, partition: KeyAttr, sort: KeyAttr | None,
                codec: ObjectCodec, fields: dict[str, Any], key: Any) -> IndexMeta:
    label = f"{name}.{index.attribute or index.name} ({type(index).__name__})"
    for field in (index.partition_key, index.sort_key, *index.projection.fields):
        if field is not None and not isinstance(field, KeyTemplate) and field not in fields:
            raise SchemaError(
                f"{label}: no field named {field!r} (fields: {', '.join(fields)})"
            )
    if isinstance(index, LocalIndex):
        if sort is None:
            raise SchemaError(f"{label}: a local index needs a table with a sort key")
        assert index.sort_key is not None
        ipart, isort = partition, key(index.sort_key, "index sort key (local)")
        if isort.attr == sort.attr:
            raise SchemaError(f"{label}: its sort key is already the table's sort key")
    else:
        assert isinstance(index, GlobalIndex) and index.partition_key is not None
        ipart = key(index.partition_key, "index partition key")
        isort = key(index.sort_key, "index sort key") if index.sort_key else None
    attrs = tuple(codec.fields[f].attr for f in index.projection.fields)
    assert index.name is not None
    return IndexMeta(
        name=index.name,
        kind=index.kind,
        partition=ipart,
        sort=isort,
        projection_type=index.projection.type,
        projection_attrs=attrs,
        read_capacity=getattr(index, "read_capacity", None),
        write_capacity=getattr(index, "write_capacity", None),
    )
