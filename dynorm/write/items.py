"""Single-item writes: PutItem, DeleteItem, UpdateItem, and a move of an item's key.

The bodies of ``instance.save()``, ``delete()``, ``update()``, ``move()`` and
``Model.update_item()``. Each request is prepared by the one write path
(`dynorm.schema.prepare`), as batches and transactions prepare theirs: the same item,
derived keys, entity marker and version guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dynorm._types import Response
from dynorm.codec.core import MAX_ITEM_BYTES
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import ConditionFailed, ExpressionError, ItemTooLarge, RequestRejected
from dynorm.expressions import Condition, UpdateAction
from dynorm.expressions.operations import UpdateItem
from dynorm.schema import prepare as writes
from dynorm.schema.classes import key_path, meta_of
from dynorm.schema.decode import from_item, is_own, item_not_found
from dynorm.schema.keys import key_fields
from dynorm.schema.meta import TableMeta, check_update_size
from dynorm.schema.partial import mark_complete
from dynorm.security import ready_to_read, ready_to_write

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["delete", "move", "save", "update", "update_item"]

M = TypeVar("M", bound="Model")


async def _write(conn: Connection, operation: str, request: dict[str, Any], model: type[Model],
                 version: int | None) -> Response:
    """Send a put or delete; a failed condition as the error that names the item."""
    try:
        return await conn.call(operation, request, model=model)
    except ConditionFailed as exc:
        raise writes.condition_failed(model, exc, meta_of(model), request, version) from exc


async def save(instance: M, *, condition: Condition | None = None,
               store_none: bool = False) -> M:
    """PutItem of the whole instance (version-guarded), between its save hooks."""
    await instance.before_save()
    model = type(instance)
    conn = get_connection()
    meta = meta_of(model)
    if meta.loaders:  # data keys of encrypted fields (KMS), values stored in S3
        await ready_to_write(meta.loaders, meta.sealed, (instance,))
    op, current = writes.prepare_put(instance, conn.table_name(meta.table_name),
                                     condition, store_none)
    await _write(conn, "PutItem", op.to_request(), model, current)
    writes.written(instance, current)
    await instance.after_save()
    return instance


async def delete(instance: Model, *, condition: Condition | None = None) -> None:
    """DeleteItem of the instance's item (version-guarded), between its delete hooks."""
    await instance.before_delete()
    model = type(instance)
    conn = get_connection()
    op, current = writes.prepare_delete(instance, conn.table_name(meta_of(model).table_name),
                                        condition)
    await _write(conn, "DeleteItem", op.to_request(), model, current)
    await instance.after_delete()


async def move(instance: M, changes: dict[str, Any]) -> M:
    """Delete the item and save it under its new key in one transaction."""
    model = type(instance)
    meta = meta_of(model)
    writes.refuse_partial(instance, "move()")
    moved = instance.model_copy(update=changes)
    moved = model.model_validate(moved.model_dump(by_alias=True))
    if meta.key_of(moved) == meta.key_of(instance):
        raise ExpressionError(f"{model.__name__}.move(): the key does not change")
    if meta.version is not None:
        moved.__dict__[meta.version.field] = 0  # a new item under the new key
    partition = key_path(model, meta.partition)
    from dynorm.write.transaction import transaction  # loaded on first use (issue 18)

    async with transaction() as tx:
        tx.delete(instance, condition=partition.exists())
        tx.save(moved, condition=partition.not_exists())
    return moved


# ---------------------------------------------------------------------------- updates


class _Flight:
    """The ``update()`` calls of one instance now running (see ``Model.update``)."""

    __slots__ = ("overlapped", "running")

    def __init__(self) -> None:
        self.running = 0
        self.overlapped = False


#: id(instance) -> its running updates; an entry lives only while one runs.
_UPDATES_IN_FLIGHT: dict[int, _Flight] = {}


async def update(instance: M, actions: tuple[UpdateAction, ...], condition: Condition | None,
                 reload: Callable[[M], Awaitable[None]]) -> M:
    """UpdateItem of a loaded instance, which then holds the item as stored (ALL_NEW).

    Overlapping updates of one instance: a versioned one keeps the answer with the
    highest version; for an unversioned one, ``reload(instance)`` runs once the last of
    them returned (the answers may have come out of order).
    """
    model = type(instance)
    meta = meta_of(model)
    conn = get_connection()
    op, current = writes.prepare_update(instance, conn.table_name(meta.table_name), actions,
                                        condition)
    flight = _UPDATES_IN_FLIGHT.setdefault(id(instance), _Flight())
    flight.running += 1
    flight.overlapped = flight.overlapped or flight.running > 1
    cancelled = False
    try:
        response = await _send_update(conn, model, op, current, guarded=True)
        if meta.loading:
            await ready_to_read(meta.loading, (response["Attributes"],))
        fresh = from_item(model, response["Attributes"])  # ALL_NEW: the whole item
        version = meta.version.field if meta.version is not None else None
        if version is None or getattr(fresh, version) >= (getattr(instance, version, 0) or 0):
            instance.__dict__.update(fresh.__dict__)
            mark_complete(instance)
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        flight.running -= 1
        if flight.running == 0:
            del _UPDATES_IN_FLIGHT[id(instance)]
            if flight.overlapped and meta.version is None and not cancelled:
                await reload(instance)
    return instance


async def update_item(model: type[M], key: Any, actions: tuple[UpdateAction, ...], *,
                      condition: Condition | None, upsert: bool,
                      return_values: Literal["ALL_NEW", "ALL_OLD", "NONE"]) -> M | None:
    """UpdateItem by key without loading the item (see ``Model.update_item``)."""
    meta = meta_of(model)
    wire_key, known = key_fields(meta, model.__name__, key)
    presence = writes.presence_guard(model, meta, must_exist=not upsert)
    conn = get_connection()
    op = writes.update_operation(model, conn.table_name(meta.table_name), wire_key, actions,
                                 writes.both(presence, condition), return_values,
                                 bump=meta.version is not None, known=known,
                                 creating=upsert)
    response = await _send_update(conn, model, op, None, guarded=not upsert)
    attributes = response.get("Attributes")
    if attributes and meta.loading:
        await ready_to_read(meta.loading, (attributes,))
    found: M | None = from_item(model, attributes) if attributes else None
    return found


async def _send_update(conn: Connection, model: type[Model], op: UpdateItem,
                       version: int | None, *, guarded: bool) -> Response:
    """Send an UpdateItem: an item grown past 400 KB is ItemTooLarge; a missing item
    (``guarded``: the update requires it) is ItemNotFound; another failed condition
    names the item."""
    meta: TableMeta = meta_of(model)
    request = op.to_request()
    check_update_size(model.__name__, request)
    try:
        return await conn.call("UpdateItem", request, model=model)
    except RequestRejected as exc:
        if "maximum allowed size" not in exc.message:
            raise
        raise ItemTooLarge(
            f"{model.__name__} ({meta.describe_key(op.key)}): this update would make the "
            f"item larger than DynamoDB's {MAX_ITEM_BYTES} bytes (400 KB); nothing was "
            "written; store large values elsewhere (e.g. S3) and keep a reference",
            size=None,
        ) from exc
    except ConditionFailed as exc:
        stored = exc.response.get("Item")
        if guarded and (stored is None or not is_own(meta, stored)):
            hint = "; update_item(..., upsert=True) creates missing items"
            raise item_not_found(model, op.key, hint) from exc
        raise writes.condition_failed(model, exc, meta, request, version) from exc
