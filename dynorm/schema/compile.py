"""Compiling a model's declaration (fields, keys, indexes, templates) into `TableMeta`.

Every declaration mistake is a [`SchemaError`][dynorm.SchemaError] naming the class and
field, raised when the model class is compiled, so a wrong model never gets imported
quietly.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import re
import types
import typing
from collections.abc import Sequence
from typing import Any, get_args, get_origin

import pydantic

from dynorm.codec.core import Codec, ttl_codec, type_name
from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import EncodingError, SchemaError
from dynorm.schema.fields import TTL, FieldMarker, PartitionKey, SortKey, Version
from dynorm.schema.indexes import GlobalIndex, LocalIndex, _Index
from dynorm.schema.meta import STR_CODEC, IndexMeta, KeyAttr, TableMeta
from dynorm.schema.shards import MAX_SHARDS, ShardedTemplate
from dynorm.schema.templates import KeyTemplate
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE, check_schema_version, stored_of
from dynorm.security.envelope import SealedAttr
from dynorm.security.markers import sealing_of

__all__ = ["compile_meta"]

#: the names DynamoDB accepts for tables and indexes
_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


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
                 entity_attr: str = "_type", store_key_fields: bool = False,
                 schema_version: int | None = None) -> TableMeta | None:
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
            return KeyAttr(attribute, attribute, "S", STR_CODEC, bound)
        return _key_attr(name, field, fields[field], codec.fields[field].codec, role)

    partition = key(by_role.get("partition") or roles[PartitionKey][0], "partition key")
    sort_decl: str | KeyTemplate | None = by_role.get("sort") or (
        roles[SortKey][0] if roles[SortKey] else None
    )
    sort = key(sort_decl, "sort key") if sort_decl is not None else None
    if sort is not None and sort.field == partition.field:
        raise SchemaError(f"{name}.{sort.field}: cannot be both partition key and sort key")
    if isinstance(partition.template, ShardedTemplate):
        _sharded_table_key(name, partition.template, sort, codec, fields)
    if sort is not None and isinstance(sort.template, ShardedTemplate):
        raise SchemaError(f"{name}: only a partition key can be sharded, not the sort key")

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
    if schema_version is not None:
        schema_version = check_schema_version(name, schema_version)
        if SCHEMA_ATTRIBUTE in attrs or any(k.attr == SCHEMA_ATTRIBUTE for k in derived):
            raise SchemaError(f"{name}: {SCHEMA_ATTRIBUTE!r} holds the schema version; "
                              "store the field under another name with Field(alias=...)")
        # An index read must say which version its items are (an old item read in part
        # is refused, not upgraded from what the index holds): KEYS_ONLY becomes INCLUDE.
        resolved = {n: ix if ix.projection_type == "ALL" else dataclasses.replace(
            ix, projection_type="INCLUDE",
            projection_attrs=(*ix.projection_attrs, SCHEMA_ATTRIBUTE))
            for n, ix in resolved.items()}
    sealed = _sealed(name, cls, codec, partition, sort, resolved, ttl, version)
    loaders = tuple({id(x): x for s in sealed for x in (s.keyring, s.store)
                     if x is not None and x.needs_io}.values())
    return TableMeta(name, table, partition, sort, resolved, ttl, version, codec,
                     entity, entity_attr, derived, recovered, sealed, loaders,
                     schema_version, stored_of(cls))


def _sealed(name: str, cls: type[pydantic.BaseModel], codec: ObjectCodec, partition: KeyAttr,
            sort: KeyAttr | None, indexes: dict[str, IndexMeta], ttl: KeyAttr | None,
            version: KeyAttr | None) -> tuple[SealedAttr, ...]:
    """The encrypted and compressed fields, checked: none is a key, an index key, a key
    template's input, the TTL or the version, and no nested model declares one."""
    sealed: list[SealedAttr] = []
    for field, info in cls.model_fields.items():
        try:
            encrypted, compressed, store = sealing_of(info.metadata)
        except TypeError as exc:
            raise SchemaError(f"{name}.{field}: {exc}") from None
        inner = _sealed_inside(info.annotation, set())
        if inner is not None:
            raise SchemaError(
                f"{name}.{field}: {inner} is marked Encrypted, Compressed or S3Value inside a "
                "nested value; only a model's own fields can be (mark the whole field instead)"
            )
        if encrypted is None and compressed is None and store is None:
            continue
        if encrypted is not None and store is not None:
            raise SchemaError(
                f"{name}.{field}: Encrypted and {store!r} together are not supported: encrypt "
                "the bucket instead (S3 server-side encryption with a KMS key)")
        what = ("Encrypted" if encrypted is not None else "Compressed" if store is None
                else "stored in S3")
        uses: list[str] = []
        for role, key in (("the table's partition key", partition),
                          ("the table's sort key", sort), ("the TTL", ttl),
                          ("the version", version),
                          *((f"index {i.name}'s partition key", i.partition)
                            for i in indexes.values()),
                          *((f"index {i.name}'s sort key", i.sort) for i in indexes.values())):
            if key is None:
                continue
            inputs = key.template.fields if key.template is not None else (key.field,)
            if field in inputs:
                uses.append(role)
        if uses:
            raise SchemaError(
                f"{name}.{field} is {what}: it is stored as bytes DynamoDB cannot compare, so "
                f"it cannot be (part of) {uses[0]}; keep keys in plain fields (a hash of the "
                "value, if it must be looked up)"
            )
        if encrypted is not None:
            info.repr = False  # reprs of the model never show the decrypted value
        plain_ok = bool((encrypted is not None and encrypted.accept_plaintext) or (
            compressed is not None and compressed.accept_plaintext))
        field_codec = codec.fields[field].codec
        if plain_ok and (field_codec.tags is None or "B" in field_codec.tags
                         or "BS" in field_codec.tags):
            raise SchemaError(
                f"{name}.{field}: accept_plaintext cannot be used on a field stored as "
                "bytes (or as any type): a plain value could not be told from an altered "
                "sealed one")
        sealed.append(SealedAttr(
            field, codec.fields[field].attr,
            encrypted.keyring if encrypted is not None else None,
            compressed.algorithm if compressed is not None else None,
            compressed.level if compressed is not None else None,
            store, field_codec, plain_ok,
        ))
    return tuple(sealed)


def _sealed_inside(tp: Any, seen: set[int]) -> str | None:
    """``Model.field`` of a sealed field reachable inside the type ``tp``, else None."""
    if id(tp) in seen:
        return None
    seen.add(id(tp))
    if get_origin(tp) is typing.Annotated:
        base, *metadata = get_args(tp)
        try:
            if any(sealing_of(metadata)):
                return "an element"
        except TypeError:
            return "an element"
        return _sealed_inside(base, seen)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        for field, info in tp.model_fields.items():
            try:
                found = any(sealing_of(info.metadata))
            except TypeError:
                found = True
            if found:
                return f"{tp.__name__}.{field}"
            inner = _sealed_inside(info.annotation, seen)
            if inner is not None:
                return inner
        return None
    for arg in get_args(tp):
        inner = _sealed_inside(arg, seen)
        if inner is not None:
            return inner
    return None


def _sharded_table_key(name: str, template: ShardedTemplate, sort: KeyAttr | None,
                       codec: ObjectCodec, fields: dict[str, Any]) -> None:
    """Check a sharded table partition key: its shard comes from a sort key field, so a
    key given by its fields names its shard (get, update_item, delete, batches)."""
    label = f"{name}.{template.attribute} = PartitionKey({template.template!r})"
    _check_counts(label, template.shards, template.declared_read_shards)
    inputs = () if sort is None else (
        sort.template.fields if sort.template is not None else (sort.field,))
    if template.shard_by is None or template.shard_by not in inputs:
        raise SchemaError(
            f"{label}: a sharded partition key needs shard_by= a field of the sort key "
            f"({', '.join(inputs) or 'the table has none'}): the shard must follow from "
            "the item's key, which holds it"
        )
    field = template.shard_by
    shard_codec = _key_attr(name, field, fields[field], codec.fields[field].codec,
                            "shard_by field").codec
    template.attach((), shard_codec)


def _check_counts(label: str, n: Any, read: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SHARDS:
        raise SchemaError(f"{label}: shards must be an int from 1 to {MAX_SHARDS}, not {n!r}")
    if read is not None and (isinstance(read, bool) or not isinstance(read, int)
                             or not n <= read <= MAX_SHARDS):
        raise SchemaError(
            f"{label}: read_shards (the shards a query reads while shrinking) must be an "
            f"int from shards={n} to {MAX_SHARDS}, not {read!r}"
        )


def _no_shard_options(label: str, index: GlobalIndex) -> None:
    given = [o for o in ("shard_by", "shard_attribute", "read_shards")
             if getattr(index, o) is not None]
    if given:
        raise SchemaError(f"{label}: {', '.join(given)} needs shards=N")


def _sharded(label: str, index: GlobalIndex, fields: dict[str, Any]) -> ShardedTemplate:
    """The sharded partition key of a global index declared with ``shards=N``."""
    n, read = index.shards, index.read_shards
    _check_counts(label, n, read)
    assert n is not None
    if index.shard_by is not None and index.shard_by not in fields:
        raise SchemaError(
            f"{label}: shard_by names {index.shard_by!r}, which is not a field "
            f"(fields: {', '.join(fields)})"
        )
    declared = index.partition_key
    if isinstance(declared, KeyTemplate):
        if index.shard_attribute not in (None, declared.attribute):
            raise SchemaError(
                f"{label}: a key template names its attribute ({declared.attribute!r}): "
                "leave shard_attribute out"
            )
        template, attribute = declared.template, declared.attribute
    else:
        assert declared is not None
        template = "{" + declared + "}"
        attribute = index.shard_attribute or f"{declared}_shard"
    return ShardedTemplate(template, attribute=attribute, shards=n, read_shards=read,
                           shard_by=index.shard_by)


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
        if index.shards is None:
            _no_shard_options(label, index)
            ipart = key(index.partition_key, "index partition key")
        else:
            ipart = key(_sharded(label, index, fields), "index partition key")
            assert isinstance(ipart.template, ShardedTemplate)
            keys = tuple(k for k in (partition, sort) if k is not None)
            shard_codec = None
            if index.shard_by is not None:
                shard_codec = _key_attr(name, index.shard_by, fields[index.shard_by],
                                        codec.fields[index.shard_by].codec,
                                        "index shard_by field").codec
            ipart.template.attach(keys, shard_codec)
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
