"""Single-item reads (GetItem): an item by key, and an instance reloaded.

The bodies of ``Model.find_one``, ``Model.get`` and ``instance.refresh()``. A key is
given as everywhere else (`dynorm.schema.keys`); the item goes through the one read
path (`dynorm.schema.decode.read`): an item of another entity under the key is not the
model's, as if there were none.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from dynorm._types import Item
from dynorm.connection import get_connection
from dynorm.exceptions import DynormError
from dynorm.expressions.get_item import GetItem
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import item_not_found, read
from dynorm.schema.keys import wire_key
from dynorm.schema.partial import mark_complete
from dynorm.security import ready_to_read

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["find_one", "get", "refresh", "reload_quietly"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound="Model")


async def _get_item(model: type[Model], key: Item, consistent: bool) -> Item | None:
    """The stored item under the wire key ``key``, or None."""
    conn = get_connection()
    meta = meta_of(model)
    request = GetItem(conn.table_name(meta.table_name), key, consistent)
    response = await conn.call("GetItem", request.to_request(), model=model)
    item: Item | None = response.get("Item")
    if item is not None and meta.loading:
        await ready_to_read(meta.loading, (item,))
    return item


async def find_one(model: type[M], key: Any, *, consistent: bool = False) -> M | None:
    """The item of ``model`` under ``key`` (as `dynorm.schema.keys.wire_key` takes it),
    or None."""
    item = await _get_item(model, wire_key(meta_of(model), model.__name__, key), consistent)
    found: M | None = None if item is None else read(model, item)
    return found


async def get(model: type[M], key: Any, *, consistent: bool = False) -> M:
    """The item of ``model`` under ``key``; ItemNotFound when there is none."""
    wkey = wire_key(meta_of(model), model.__name__, key)
    item = await _get_item(model, wkey, consistent)
    found: M | None = None if item is None else read(model, item)
    if found is None:
        raise item_not_found(model, wkey)
    return found


async def refresh(instance: M, *, consistent: bool = True) -> M:
    """Reload ``instance``'s fields from the table; ItemNotFound when it is gone."""
    model = type(instance)
    key = meta_of(model).key_of(instance)
    item = await _get_item(model, key, consistent)
    fresh = None if item is None else read(model, item)
    if fresh is None:
        raise item_not_found(model, key)
    instance.__dict__.update(fresh.__dict__)
    mark_complete(instance)
    return instance


async def reload_quietly(instance: Model) -> None:
    """`refresh()` after overlapping unversioned updates (see ``Model.update``): the
    updates were made, so a failed read leaves the newest answer applied and is logged,
    not raised."""
    try:
        await refresh(instance)
    except DynormError as exc:
        log.warning("%s: could not re-read the item after overlapping updates (%s); "
                    "the instance may be older than the stored item", type(instance).__name__,
                    exc)
