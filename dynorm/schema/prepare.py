"""The write path: what every write of an instance is built from (pure: no I/O).

``save``, ``update``, ``delete``, batches and transactions all prepare their requests
here, so each builds the item, its derived keys, the entity marker and the version guard
the same way, and refuses the same things: a partial copy's ``save()``
(`refuse_partial()`), a write that could not be checked (`version_guard()`), an
update into another entity's item (`presence_guard()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynorm._types import Item
from dynorm.exceptions import ConditionFailed, ExpressionError, PartialCopy, VersionConflict
from dynorm.expressions import Condition, Path, UpdateAction
from dynorm.expressions.operations import DeleteItem, PutItem, UpdateItem
from dynorm.schema.classes import key_path, meta_of
from dynorm.schema.decode import decode_stored, is_own
from dynorm.schema.integrity import derived_key_actions
from dynorm.schema.meta import INT_CODEC, STR_CODEC, TableMeta
from dynorm.schema.partial import incomplete_fields
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE, stored_version

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "both",
    "check_actions",
    "condition_failed",
    "missing_fields",
    "prepare_delete",
    "prepare_put",
    "prepare_update",
    "presence_guard",
    "put_guard",
    "put_json",
    "refuse_partial",
    "update_operation",
    "version_guard",
    "written",
]


def both(a: Condition | None, b: Condition | None) -> Condition | None:
    """``a & b``, either of which may be missing."""
    if a is None:
        return b
    if b is None:
        return a
    return a & b


# ---------------------------------------------------------------------------- guards


def missing_fields(instance: Model) -> list[str]:
    """Fields this copy does not hold in full: absent ones, then ones read in part."""
    fields = type(instance).__pydantic_fields__
    if len(instance.__dict__) >= len(fields) and not instance.__pydantic_private__:
        return []  # the common case: a complete instance
    missing = [name for name in fields if name not in instance.__dict__]
    return missing + sorted(incomplete_fields(instance) - set(missing))


def refuse_partial(instance: Model, action: str) -> None:
    """PartialCopy when ``instance`` holds less than the whole item (see docs/integrity)."""
    missing = missing_fields(instance)
    if missing:
        name = type(instance).__name__
        raise PartialCopy(
            f"{name} is a partial copy (read through a projection or an index that does not "
            f"hold every attribute): it lacks {', '.join(missing)} in full, and {action} "
            "would replace the stored values with what it does not know; use update(), or "
            "read the whole item (refresh(), or .full() on the query)",
            model=name, fields=missing,
        )


def version_guard(instance: Model, meta: TableMeta) -> tuple[Condition | None, int | None]:
    """The condition on the stored version and the version this copy was read with (None
    for an unversioned model); PartialCopy for a copy that never read its version."""
    if meta.version is None:
        return None, None
    if meta.version.field not in instance.__dict__:
        name = type(instance).__name__
        raise PartialCopy(
            f"{name} is a partial copy without its version {meta.version.field!r} (an index "
            "that does not project it): a write through it could not be checked; refresh() "
            "it, or read the whole item (.full() on the query)",
            model=name, fields=[meta.version.field],
        )
    current = instance.__dict__.get(meta.version.field) or 0
    path = type(instance).__dynorm_paths__[meta.version.field]
    guard = path.not_exists() if current == 0 else path == current
    return guard, current


def put_guard(instance: Model, meta: TableMeta) -> tuple[Condition | None, int | None]:
    """What a whole-item put of ``instance`` needs: a complete copy, and its version."""
    refuse_partial(instance, "saving it")
    return version_guard(instance, meta)


def presence_guard(cls: type[Model], meta: TableMeta, must_exist: bool) -> Condition | None:
    """What an update requires of the stored item: that it exists (``must_exist``), and
    for an entity of a shared table, that it is this entity's (or, for an upsert, absent):
    an update never writes into another entity's item."""
    key = key_path(cls, meta.partition)
    own: Condition | None = None
    if meta.entity is not None:
        own = Path((meta.entity_attr,), STR_CODEC) == meta.entity
    if meta.schema_version is not None:  # an update never mixes two schema versions
        own = both(own, Path((SCHEMA_ATTRIBUTE,), INT_CODEC) == meta.schema_version)
    if own is None:
        return key.exists() if must_exist else None
    return own if must_exist else key.not_exists() | own


# ---------------------------------------------------------------------------- requests


def prepare_put(instance: Model, table: str, condition: Condition | None,
                store_none: bool = False) -> tuple[PutItem, int | None]:
    """The PutItem for ``instance`` and the version it was read with (None: unversioned)."""
    meta = meta_of(type(instance))
    guard, current = put_guard(instance, meta)
    item = meta.encode_item(instance, store_none=store_none,
                            version=None if current is None else current + 1)
    return PutItem(table, item, both(guard, condition)), current


def put_json(instance: Model, store_none: bool = False) -> tuple[bytes, int | None]:
    """`prepare_put()` without a condition, as the item's wire JSON (for batches, whose
    puts carry no condition), and the version it was read with."""
    meta = meta_of(type(instance))
    _, current = put_guard(instance, meta)
    data = meta.encode_item_json(instance, store_none=store_none,
                                 version=None if current is None else current + 1)
    return data, current


def written(instance: Model, version: int | None) -> None:
    """Record a successful put or update: the version this copy now carries."""
    meta = meta_of(type(instance))
    if version is not None and meta.version is not None:
        instance.__dict__[meta.version.field] = version + 1


def prepare_delete(instance: Model, table: str, condition: Condition | None
                   ) -> tuple[DeleteItem, int | None]:
    """The DeleteItem for ``instance`` (version-checked) and the version it was read with."""
    meta = meta_of(type(instance))
    guard, current = version_guard(instance, meta)
    if current == 0:
        guard = None  # never saved through dynorm: nothing to compare
    return DeleteItem(table, meta.key_of(instance), both(guard, condition)), current


def prepare_update(instance: Model, table: str, actions: tuple[UpdateAction, ...],
                   condition: Condition | None) -> tuple[UpdateItem, int | None]:
    """The UpdateItem for ``instance``: the item must exist, be this entity's and carry
    the copy's version."""
    cls = type(instance)
    meta = meta_of(type(instance))
    guard, current = version_guard(instance, meta)
    if current == 0:
        guard = None
    exists = presence_guard(cls, meta, must_exist=True)
    known: Mapping[str, Any] = instance.__dict__
    incomplete = incomplete_fields(instance)
    if incomplete:  # a map read in part cannot feed an index key
        known = {k: v for k, v in known.items() if k not in incomplete}
    op = update_operation(cls, table, meta.key_of(instance), actions,
                          both(both(exists, guard), condition), "ALL_NEW",
                          bump=meta.version is not None, known=known, loaded=True)
    return op, current


def check_actions(cls: type[Model], meta: TableMeta, actions: tuple[UpdateAction, ...]) -> None:
    """ExpressionError for an update that would move the item or touch the version."""
    if not actions:
        raise ExpressionError(f"{cls.__name__}: an update needs at least one action")
    keys = {k.attr: k.field for k in meta.key_attrs}
    table_inputs = {f for k in meta.key_attrs if k.template for f in k.template.fields}
    for action in actions:
        if not isinstance(action, UpdateAction):
            raise ExpressionError(f"update() takes update actions, got {action!r}")
        path = action.path
        if path.owner is not None and not issubclass(cls, path.owner):
            raise ExpressionError(f"{path!r} does not belong to {cls.__name__}")
        if path.name in keys or path.field in table_inputs:
            raise ExpressionError(
                f"{cls.__name__}.{path.field or keys[path.name]} is (part of) the table key "
                "and cannot be updated: the item would move; delete it and save it under "
                "the new key (in one transaction)"
            )
        if meta.version is not None and path.name == meta.version.attr:
            raise ExpressionError(
                f"{cls.__name__}.{meta.version.field} is the version attribute; dynorm "
                "increments it on every write"
            )


def update_operation(cls: type[Model], table: str, key: Item,
                     actions: tuple[UpdateAction, ...], condition: Condition | None,
                     return_values: Any, *, bump: bool,
                     known: Mapping[str, Any] | None = None, loaded: bool = False,
                     creating: bool = False) -> UpdateItem:
    """Check the actions and build the UpdateItem (version increment, derived index keys
    and, for an upsert, the entity marker included).

    Args:
        cls: the model class.
        table: the physical table name.
        key: the wire key.
        actions: the update actions.
        condition: the condition, guards included.
        return_values: ``ReturnValues``.
        bump: increment the version.
        known: field values known without reading (the key's fields, or a loaded
            instance's values) to recompute index key templates from.
        loaded: ``known`` comes from a loaded instance: guard the values it relies on.
        creating: the update may create the item (an upsert): it writes what ``save()``
            would have written besides the actions' fields -- the entity marker and every
            index key computable from ``known``.
    """
    meta = meta_of(cls)
    check_actions(cls, meta, actions)
    derived, race_guard = derived_key_actions(cls, meta, actions, known or {}, loaded,
                                              creating=creating)
    actions = (*actions, *derived)
    if creating and meta.entity is not None:
        actions = (*actions, Path((meta.entity_attr,), STR_CODEC).set(meta.entity))
    if creating and meta.schema_version is not None:
        actions = (*actions, Path((SCHEMA_ATTRIBUTE,), INT_CODEC).set(meta.schema_version))
    condition = both(condition, race_guard)
    if bump and meta.version is not None:
        path = cls.__dynorm_paths__[meta.version.field]
        actions = (*actions, path.set(path.if_not_exists(0) + 1))
    return UpdateItem(table, key, actions, condition, return_values)


# ---------------------------------------------------------------------------- failures


def condition_failed(cls: type[Model], exc: ConditionFailed, meta: TableMeta,
                     request: dict[str, Any], version: int | None) -> ConditionFailed:
    """The error for a write whose condition failed: a VersionConflict where the stored
    version differs, else a ConditionFailed naming the model, key and stored item."""
    raw = exc.response.get("Item")
    item = decode_stored(cls, raw)
    key = request.get("Key") or {k.attr: request["Item"][k.attr] for k in meta.key_attrs}
    where = f"{cls.__name__} ({meta.describe_key(key)})"
    # A retried write can fail its condition because its own first attempt applied.
    suffix = (
        "; an earlier attempt of this write got no answer and may have applied it: "
        "reload and check before retrying" if exc.ambiguous else ""
    )
    common: dict[str, Any] = {"code": exc.code, "operation": exc.operation, "item": item,
                              "response": exc.response, "ambiguous": exc.ambiguous,
                              "status": exc.status}
    if version is not None and meta.version is not None:
        stored: int | None = None
        if raw is not None and meta.version.attr in raw:
            stored = int(raw[meta.version.attr]["N"])
        if stored != (version or None):
            return VersionConflict(
                f"{where}: version conflict: this copy has version {version}, the table "
                f"has {'no item' if raw is None else stored}; reload and retry{suffix}",
                expected=version, actual=stored, **common,
            )
    what = "condition failed"
    stored_schema = None if raw is None else stored_version(raw)
    if raw is not None and meta.schema_version is not None and (
            stored_schema != meta.schema_version and is_own(meta, raw)):
        what = (f"the stored item is at schema version {stored_schema}, {cls.__name__} at "
                f"{meta.schema_version}: an update never mixes two versions in one item; "
                "save() the upgraded copy first (or backfill the table, docs/tables.md); "
                "nothing was written")
    elif raw is not None and not is_own(meta, raw):
        what = (f"the item stored under this key is not a {cls.__name__} "
                f"({meta.entity_attr}={raw.get(meta.entity_attr)!r}); nothing was written")
    return ConditionFailed(f"{where}: {what}{suffix}", **common)
