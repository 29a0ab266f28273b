"""TableMeta: what a model class declares, compiled once when the class is created
(by `dynorm.schema.compile.compile_meta`).

Every declaration mistake is a [`SchemaError`][dynorm.SchemaError] naming the class and field,
raised from ``Model.__pydantic_init_subclass__``, so a wrong model never gets imported quietly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dynorm._types import AttributeValue, Item
from dynorm.codec.core import (
    MAX_ITEM_BYTES,
    Codec,
    compile_codec,
)
from dynorm.codec.dynamic import item_size
from dynorm.codec.json import dumps
from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import EncodingError, InvalidKey, ItemTooLarge
from dynorm.schema.templates import KeyTemplate
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE, stored_version
from dynorm.security.envelope import SealedAttr, open_for_upgrade, open_item, seal_item
from dynorm.security.keyring import Keyring
from dynorm.security.stores import ValueStore

__all__ = [
    "INT_CODEC",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "STR_CODEC",
    "IndexMeta",
    "KeyAttr",
    "TableMeta",
    "check_update_size",
    "checked_json",
]

#: DynamoDB's limits on one key value (UTF-8 bytes of S, bytes of B), tables and indexes.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

STR_CODEC = compile_codec(str)
INT_CODEC = compile_codec(int)


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
    #: attributes stored encrypted and/or compressed (``Encrypted``, ``Compressed``)
    sealed: tuple[SealedAttr, ...] = ()
    #: what needs I/O around the pure encode and decode: keyrings whose data keys come
    #: from a service (KMS), value stores (S3); the async reads and writes call
    #: ``dynorm.security.ready_to_write`` before encoding, ``ready_to_read`` before decoding
    #: (with `loading`)
    loaders: tuple[Keyring | ValueStore, ...] = ()
    #: the declared ``schema_version`` (stored in every item; see dynorm.schema.upgrade)
    schema_version: int | None = None
    #: how older schema versions stored attributes (``@upgrade(stored=)``): version ->
    #: attribute -> how it was sealed (None: plain); filled as upgrades are declared
    stored_before: dict[int, dict[str, SealedAttr | None]] = field(default_factory=dict)

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
        if self.schema_version is not None:
            item[SCHEMA_ATTRIBUTE] = {"N": str(self.schema_version)}
        if self.sealed:
            seal_item(self.model_name, self.table_name, self._key_names, self.sealed, item)
        return item

    @property
    def _key_names(self) -> tuple[str, ...]:
        return tuple(k.attr for k in self.key_attrs)

    def open_sealed(self, item: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
        """``item`` (of an older schema version, to upgrade) with its sealed values opened:
        the model's sealed fields, and the encrypted values of attributes it no longer
        declares sealed that its keyrings open (`open_for_upgrade`); not the attributes
        the upgrade declares stored otherwise (``@upgrade(stored=)``: it opens them)."""
        declared = self.stored_before.get(stored_version(item) or 0, {})
        return open_for_upgrade(self.model_name, self.table_name, self._key_names,
                                self.sealed, item, declared)

    @property
    def loading(self) -> tuple[SealedAttr, ...]:
        """What the async reads load before the pure decode (`ready_to_read`): the
        sealed attributes, the model's and its older schema versions'
        (``@upgrade(stored=)``), when one of them needs I/O (a KMS keyring, a value
        store); empty when none does."""
        found: tuple[SealedAttr, ...] | None = self.__dict__.get("_loading")
        if found is None:
            older = tuple(spec for specs in self.stored_before.values()
                          for spec in specs.values() if spec is not None)
            io = any(x is not None and x.needs_io
                     for spec in older for x in (spec.keyring, spec.store))
            found = self.sealed + older if self.loaders or io else ()
            self.__dict__["_loading"] = found
        return found

    def decode_item(self, item: Mapping[str, AttributeValue], *,
                    opened: bool = False) -> dict[str, Any]:
        """Plain values for ``model_validate``, fields recovered from key templates included.

        Sealed (encrypted, compressed) values are opened first (unless ``opened``):
        `DecryptionFailed` naming the field when one does not open.
        """
        if self.sealed and not opened:
            item = open_item(self.model_name, self.table_name, self._key_names, self.sealed,
                             item)
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
