"""The read path: how a stored item becomes an instance (pure: no I/O).

Every read that builds a model goes through here, so each applies the same checks:

* `read()` -- a whole item: ``None`` for an item of another entity sharing the table
  (single-table design), else the validated model;
* `from_projection()` -- part of an item (a projection, an index that does not
  project every attribute): a *partial copy* holding only what was read, never a default
  for what was not (see docs/integrity.md);
* `item_not_found()` -- the error for a key with no item (of this entity);
* `validation_failed()` -- the error that names the table, key and fields that do
  not fit the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pydantic

from dynorm._types import Item
from dynorm.codec.wire import declined, wire_reader
from dynorm.exceptions import ItemNotFound, ValidationFailed
from dynorm.schema.classes import meta_of
from dynorm.schema.meta import TableMeta
from dynorm.schema.partial import construct_partial, mark_incomplete, partial_value
from dynorm.schema.upgrade import stored_version, upgraded
from dynorm.security.errors import DecryptionFailed, KeyringError

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["another_entity", "decode_stored", "from_item", "from_projection", "is_own",
           "item_not_found", "read", "reader", "validation_failed"]


def is_own(meta: TableMeta, item: Mapping[str, Any]) -> bool:
    """False for an item of another entity sharing the table (single-table design)."""
    if meta.entity is None:
        return True
    return item.get(meta.entity_attr) == {"S": meta.entity}


def from_item(cls: type[Model], item: Mapping[str, Any]) -> Any:
    """The validated instance of a whole item (``ValidationFailed`` if it does not fit;
    an item of an older schema version is upgraded first, `dynorm.schema.upgrade`)."""
    meta = meta_of(cls)
    opened = False
    if meta.schema_version is not None:
        if meta.sealed and stored_version(item) != meta.schema_version:
            # upgrades see (and may rename) plain values, not ciphertext bound to its name
            item, opened = meta.open_sealed(item), True
        item = upgraded(cls, meta, item)
    return _whole(cls, meta, item, opened)


def _whole(cls: type[Model], meta: TableMeta, item: Mapping[str, Any], opened: bool
           ) -> Any:
    """An item at the model's version as an instance: the model's wire reader where it has
    one (not for sealed values), else -- or where it declines -- the general way, the
    item decoded into plain values, then validated."""
    if not meta.sealed:
        fast = wire_reader(cls, meta.recovered)
        if fast is not None:
            try:
                return fast(item)
            except Exception:  # declined (dynorm.codec.wire): the general way decides
                declined(cls)
    try:
        return cls.model_validate(meta.decode_item(item, opened=opened))
    except pydantic.ValidationError as exc:
        raise validation_failed(cls, item, exc) from _cause(meta, exc)


def read(cls: type[Model], item: Mapping[str, Any]) -> Any:
    """The one way a whole stored item becomes an instance: None for an item of another
    entity sharing the table, else the validated model."""
    if not is_own(meta_of(cls), item):
        return None
    return from_item(cls, item)


def reader(cls: type[Model]) -> Callable[[Mapping[str, Any]], Any]:
    """`read(cls, item)` for many items of one class (a batch get's): the same instances,
    checks and errors, with the class's declaration looked up once rather than per item
    (items of upgraded or sealed models take `read()` itself)."""
    meta = meta_of(cls)
    if meta.schema_version is not None or meta.sealed:
        return lambda item: read(cls, item)
    marker = None if meta.entity is None else {"S": meta.entity}
    marker_attr = meta.entity_attr

    def plain(item: Mapping[str, Any]) -> Any:
        if marker is not None and item.get(marker_attr) != marker:
            return None  # another entity's item (`is_own`)
        return _whole(cls, meta, item, False)

    return plain


def from_projection(cls: type[Model], item: Mapping[str, Any],
                    covered: frozenset[str] = frozenset(),
                    incomplete: frozenset[str] = frozenset()) -> Any:
    """A partial instance holding only the fields the read returned.

    Args:
        cls: the model class.
        item: the item as read.
        covered: top-level attributes the read would have returned if stored: one the
            item lacks is absent from the item itself, and its field reads as a full
            read would give it (None, an empty set, the default).
        incomplete: fields the read fetched only in part (a nested path was projected):
            they hold what was fetched, and the copy can never be saved.

    Fetched fields are validated one by one; fields that were not fetched are absent from
    the instance (reading them raises AttributeError) -- never defaulted. Part of an
    item of an older schema version cannot be upgraded: `UpgradeFailed`.
    """
    meta = meta_of(cls)
    if meta.schema_version is not None:
        item = upgraded(cls, meta, item, whole=False)
    decoded = meta.decode_item(item)
    recovered = {meta.codec.fields[n].attr for n in meta.recovered}
    values: dict[str, Any] = {}
    for attr, raw in decoded.items():
        if attr not in item and attr not in recovered and attr not in covered:
            continue  # an absent nullable field: not fetched, so not known to be None
        fc = meta.codec.by_attr[attr]
        try:
            values[fc.name] = partial_value(cls, fc.name, raw, part=fc.name in incomplete)
        except pydantic.ValidationError as exc:
            raise validation_failed(cls, item, exc) from _cause(meta, exc)
    for attr in covered:  # returned by the read, yet not stored: what from_item says
        field = meta.codec.by_attr.get(attr)
        if field is not None and field.name not in values:
            info = cls.model_fields[field.name]
            if not info.is_required():
                values[field.name] = info.get_default(call_default_factory=True)
    partial = construct_partial(cls, values)
    mark_incomplete(partial, incomplete & values.keys())
    return partial


def decode_stored(cls: type[Model], raw: Mapping[str, Any] | None) -> Any:
    """An item DynamoDB returned with an error: the model where it fits (this entity's,
    valid), else the raw item."""
    if raw is None:
        return None
    try:
        return read(cls, raw) or raw
    except (ValidationFailed, DecryptionFailed, KeyringError):
        return raw


def _cause(meta: TableMeta, exc: pydantic.ValidationError) -> BaseException | None:
    """The ``__cause__`` of a ValidationFailed: pydantic's error, which shows the input
    values, except for a model with encrypted fields (their decrypted values)."""
    return None if any(s.keyring is not None for s in meta.sealed) else exc


def another_entity(cls: type[Model], item: Mapping[str, Any]) -> ValidationFailed:
    """The error for an item of another entity sharing ``cls``'s table, read as ``cls``
    where no read path would (`is_own`)."""
    meta = meta_of(cls)
    key = {k.attr: item[k.attr] for k in meta.key_attrs if k.attr in item}
    marker = item.get(meta.entity_attr)
    what = (f"of entity {next(iter(marker.values()))!r}" if isinstance(marker, Mapping)
            and len(marker) == 1 else f"without the entity attribute {meta.entity_attr!r}")
    return ValidationFailed(
        f"item in table {meta.table_name!r} with key ({meta.describe_key(key)}) is an item "
        f"{what}, not a {cls.__name__} (entity {meta.entity!r}); read it with its own model",
        model=cls.__name__, table=meta.table_name, key=key, fields=[meta.entity_attr],
    )


def validation_failed(cls: type[Model], item: Mapping[str, Any],
                      exc: pydantic.ValidationError) -> ValidationFailed:
    """The error for a stored item that does not fit ``cls``: table, key and fields."""
    meta = meta_of(cls)
    key = {k.attr: item[k.attr] for k in meta.key_attrs if k.attr in item}
    by_attr = meta.codec.by_attr

    def location(loc: tuple[Any, ...]) -> str:
        head = by_attr[loc[0]].name if loc and loc[0] in by_attr else loc[0]
        return ".".join(str(p) for p in (head, *loc[1:]))

    fields = [location(err["loc"]) for err in exc.errors()]
    details = "; ".join(f"{location(err['loc'])}: {err['msg']}" for err in exc.errors())
    return ValidationFailed(
        f"item in table {meta.table_name!r} with key ({meta.describe_key(key)}) does not "
        f"fit {cls.__name__}: {details}",
        model=cls.__name__,
        table=meta.table_name,
        key=key,
        fields=fields,
    )


def item_not_found(cls: type[Model], key: Item, hint: str = "") -> ItemNotFound:
    """The error for a key with no item of ``cls``: the model, key and table, and
    ``hint`` (what to do instead) after them."""
    meta = meta_of(cls)
    return ItemNotFound(
        f"{cls.__name__} ({meta.describe_key(key)}) not found in table "
        f"{meta.table_name!r}{hint}",
        model=cls.__name__,
        key=key,
    )
