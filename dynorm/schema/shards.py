"""Write-sharded index keys: one hot logical key spread over N physical keys (pure).

A global index declared with ``shards=N`` stores its partition key as the logical key's
text followed by ``#`` and a shard number: ``GlobalIndex("game", "score", shards=8)``
writes ``game_shard = "tetris#3"``. The shard is chosen from a stable hash, so it is a
storage format (docs/hot-keys.md):

* the *input* is the item's primary key as DynamoDB stores it (the table's partition
  key, then its sort key), or one field's value with ``shard_by="field"``;
* each value is encoded as its type tag (``S``, ``N`` or ``B``), its length as 4 bytes
  big-endian and its bytes: the UTF-8 text of a string, the canonical plain text of a
  number (``1.50`` and ``1.5E0`` are both ``1.5``), the raw bytes of a binary;
* ``shard = int.from_bytes(sha256(payload)[:8], "big") % N``.

Python's ``hash()`` is salted per process and never used. The key is a
[`ShardedTemplate`][dynorm.schema.shards.ShardedTemplate]: a key template whose inputs
are the logical key's fields and the hash's inputs, so every write path (save, update,
upsert, batch, transaction, move, migrations) fills it exactly as it fills any derived
key, and a partial update that changes an input rewrites it in the same request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from dynorm._types import AttributeValue
from dynorm.exceptions import InvalidKey
from dynorm.schema.templates import KeyTemplate, _plain_number

__all__ = ["MAX_SHARDS", "ShardedTemplate", "shard_of"]

#: the most shards one index may declare (each read of it sends that many queries)
MAX_SHARDS = 256


def _value_bytes(av: AttributeValue) -> tuple[str, bytes]:
    ((tag, raw),) = av.items()
    if tag == "S":
        return tag, str(raw).encode("utf-8", "surrogatepass")
    if tag == "N":
        return tag, _plain_number(Decimal(str(raw))).encode()
    if tag == "B":
        return tag, bytes(raw)
    raise InvalidKey(f"a shard is chosen from S, N or B values, not {tag}")


def shard_of(values: Sequence[AttributeValue], shards: int) -> int:
    """The shard (``0 .. shards-1``) of an item whose hash inputs are ``values``.

    ``values`` are wire values (``{"S": "ada"}``, ``{"N": "7"}``...): the item's primary
    key in key order, or the ``shard_by`` field's value. See the module doc for the exact
    format, which must never change (stored keys depend on it).
    """
    payload = bytearray()
    for av in values:
        tag, data = _value_bytes(av)
        payload += tag.encode() + len(data).to_bytes(4, "big") + data
    digest = hashlib.sha256(payload).digest()
    return int.from_bytes(digest[:8], "big") % shards


class ShardedTemplate(KeyTemplate):
    """The partition key of a sharded index: the logical key's text, ``#``, the shard.

    ``fields`` holds every input: the logical key's fields, then the fields the shard is
    hashed from (the table key's fields, or the ``shard_by`` field). ``logical_fields``
    are the ones a query gives (``Score.game == "tetris"``).

    Args:
        template: the logical key's template (``"{game}"``, ``"GAME#{game}"``,
            ``"ALL"``).
        attribute: the wire attribute of the sharded key.
        shards: how many shards items are written to.
        read_shards: how many shards a query reads (at least ``shards``; more while
            shrinking, until a backfill has moved every item: docs/hot-keys.md).
        shard_by: the field the shard is hashed from; None: the item's primary key.
        role: ``"partition"`` for a table's partition key (``shard_by`` is then an
            input of the sort key), ``""`` for an index key.
    """

    def __init__(self, template: str, *, attribute: str | None = None, shards: int,
                 read_shards: int | None = None, shard_by: str | None = None,
                 role: str = "") -> None:
        super().__init__(template, attribute=attribute, role=role)
        self.shards = shards
        self.read_shards = max(shards, read_shards or shards)
        self.declared_read_shards = read_shards  # as declared, checked when compiled
        self.shard_by = shard_by
        self.logical_fields = self.fields
        #: the table's key attributes (set by the compiler), hashed by default
        self.hash_keys: tuple[Any, ...] = ()
        self.shard_codec: Any = None

    def __repr__(self) -> str:
        return (f"ShardedTemplate({self.template!r}, attribute={self.attribute!r}, "
                f"shards={self.shards})")

    def attach(self, hash_keys: tuple[Any, ...], shard_codec: Any = None) -> None:
        """Name the hash's inputs (at class creation): the table's key attributes
        (``KeyAttr``) or, with ``shard_by``, that field's codec."""
        self.hash_keys = hash_keys
        self.shard_codec = shard_codec
        if self.shard_by is not None:
            inputs: tuple[str, ...] = (self.shard_by,)
        else:
            inputs = tuple(f for k in hash_keys
                           for f in (k.template.fields if k.template else (k.field,)))
        self.fields = tuple(dict.fromkeys((*self.logical_fields, *inputs)))

    def lossless(self, field: str) -> bool:
        """As for any template; False for a field the shard is only hashed from."""
        return field in self.logical_fields and super().lossless(field)

    def parse(self, text: str) -> dict[str, str]:
        """The logical key's placeholders in a stored key (``DEVICE#d1#3``: ``d1``).

        Raises:
            InvalidKey: the text is not a logical key, ``#`` and a shard number.
        """
        logical, sep, shard = text.rpartition("#")
        if not sep or not shard.isdigit() or str(int(shard)) != shard:
            raise InvalidKey(f"key {text!r} does not end with a shard number (#0, #1...)")
        return super().parse(logical)

    def shard(self, values: Mapping[str, Any]) -> int | None:
        """The item's shard from its field values; None when an input is None."""
        if self.shard_by is not None:
            value = values.get(self.shard_by)
            if value is None:
                return None
            av = self.shard_codec.encode(value)
            return shard_of([av], self.shards)
        avs = []
        for key in self.hash_keys:
            inputs = key.template.fields if key.template else (key.field,)
            if any(values.get(f) is None for f in inputs):
                return None
            avs.append(key.from_fields(values, self.model))
        return shard_of(avs, self.shards)

    def logical(self, values: Mapping[str, Any]) -> str | None:
        """The logical key's text (before the shard), or None when an input is None."""
        return super().fill(values)

    def fill(self, values: Mapping[str, Any]) -> str | None:
        """``logical#shard``, or None when an input is None (the item is then not in
        the index, as for any sparse index)."""
        logical = self.logical(values)
        if logical is None:
            return None
        shard = self.shard(values)
        return None if shard is None else f"{logical}#{shard}"

    def shard_keys(self, logical: str) -> list[str]:
        """The physical keys a query of the logical key reads, shard 0 first."""
        return [f"{logical}#{n}" for n in range(self.read_shards)]
