"""Keys as users give them, and item identities (pure).

A key is given the same way everywhere (``update_item``, ``get_many``, ``batch_get``,
``tx.check``, ``b.delete``...): the partition value, ``(partition, sort)`` for a table
with a sort key, or a dict of field values (required for keys computed by templates).
``key_id`` is the hashable identity of an item that batches and transactions
de-duplicate by.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dynorm._types import Item
from dynorm.exceptions import InvalidKey
from dynorm.schema.meta import TableMeta

__all__ = ["KeyId", "key_fields", "key_id", "wire_key"]

KeyId = tuple[Any, ...]
"""A hashable identity of an item: (table, attr, type, value, attr, type, value),
attributes in name order, numbers normalised. One flat tuple of atoms: the garbage
collector stops tracking it at its first pass (thousands wait in a batch)."""


def _norm(tag: str, raw: Any) -> Any:
    if tag == "N":
        if raw.isdigit():  # the common case, a non-negative integer: no Decimal needed
            return int(raw)  # equal (and hash-equal) to the Decimal of the same number
        try:
            return Decimal(raw).normalize()
        except InvalidOperation:  # pragma: no cover - keys were encoded by dynorm
            return raw
    return raw


def key_id(table: str, key: Item) -> KeyId:
    """The identity of an item for de-duplication (``"1"`` and ``"1.0"`` are one number)."""
    parts: list[Any] = [table]
    for attr in sorted(key):
        ((tag, raw),) = key[attr].items()
        parts += (attr, tag, _norm(tag, raw))
    return tuple(parts)


def _parts(meta: TableMeta, model: str, key: Any) -> tuple[Any, ...]:
    parts = key if isinstance(key, tuple) else (key,)
    if len(parts) != (2 if meta.sort is not None else 1):
        raise InvalidKey(
            f"{model}: a key is "
            + ("(partition, sort)" if meta.sort is not None else "the partition value")
            + f" or a dict of key fields, got {key!r}"
        )
    return parts


def wire_key(meta: TableMeta, model: str, key: Any) -> Item:
    """The wire key for ``key``: the partition value, ``(partition, sort)``, or a dict of
    field values (keys computed by templates). ``model`` names the class in errors."""
    if isinstance(key, Mapping):
        return meta.key_from_fields(key)
    return meta.key(*_parts(meta, model, key))


def key_fields(meta: TableMeta, model: str, key: Any) -> tuple[Item, dict[str, Any]]:
    """The wire key and the key fields it was given as (``{field: value}``)."""
    if isinstance(key, Mapping):
        fields = dict(key)
        return meta.key_from_fields(fields), fields
    parts = _parts(meta, model, key)
    return meta.key(*parts), {k.field: v for k, v in zip(meta.key_attrs, parts, strict=False)}
