"""Keys as users give them, and item identities (pure).

A key is given the same way everywhere (``get``, ``find_one``, ``update_item``,
``get_many``, ``batch_get``, ``transact_get``, ``tx.check``, ``b.delete``): the partition
value, ``(partition, sort)`` for a table with a sort key, or a dict of key fields
(required for keys computed by templates). `wire_key()` is the one normaliser: every API
sends what it makes, and a key of another shape is an ``InvalidKey`` naming the model and
the shape it expects. `key_arg()` turns ``get()``'s shorthands (``get("u1", "tetris")``,
``get(user_id="u1", game="tetris")``) into such a key. ``key_id`` is the hashable identity
of an item that batches and transactions de-duplicate by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

from dynorm._types import Item
from dynorm.exceptions import InvalidKey
from dynorm.schema.meta import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, TableMeta

__all__ = ["KeyId", "key_arg", "key_fields", "key_id", "key_ider", "key_maker", "wire_key"]

KeyId = tuple[Any, ...]
"""A hashable identity of an item: (table, attr, type, value, attr, type, value),
attributes in name order, numbers normalised. One flat tuple of atoms: the garbage
collector stops tracking it at its first pass (thousands wait in a batch)."""


#: Numbers are normalised exactly: in the caller's decimal context (28 digits by default,
#: fewer if the application says so) ``normalize()`` rounds, which made two keys that
#: differ past the 28th digit one key, and a key written with trailing zeros
#: (``"…901.0"``) another key than the item the server answers for it (``"…901"``).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _norm(tag: str, raw: Any) -> Any:
    if tag == "N":
        if raw.isdigit():  # the common case, a non-negative integer: no Decimal needed
            return int(raw)  # equal (and hash-equal) to the Decimal of the same number
        try:
            return Decimal(raw).normalize(_EXACT)
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


def key_ider(table: str, attrs: Iterable[str]) -> Callable[[Item], KeyId]:
    """``item -> key_id(table, <item's key attributes>)`` for a table keyed by ``attrs``
    (one or two names): the same identity, read straight from a whole item or a key
    without building the key first (a batch get takes it of every key and every item)."""
    order = tuple(sorted(attrs))
    norm = _norm
    if len(order) == 1:
        (a,) = order

        def one(item: Item) -> KeyId:
            ((ta, ra),) = item[a].items()
            return (table, a, ta, ra if ta == "S" else norm(ta, ra))

        return one
    a, b = order

    def two(item: Item) -> KeyId:  # (a string is its own identity: no call for it)
        ((ta, ra),) = item[a].items()
        ((tb, rb),) = item[b].items()
        return (table, a, ta, ra if ta == "S" else norm(ta, ra),
                b, tb, rb if tb == "S" else norm(tb, rb))

    return two


def _parts(meta: TableMeta, model: str, key: Any) -> tuple[Any, ...]:
    """The key values of a key given by position: InvalidKey naming the model and the
    shape it expects when the key has another."""
    if meta.templated:
        meta.key(key)  # raises: a computed key is given by its fields, named
    parts = key if isinstance(key, tuple) else (key,)
    if len(parts) == (2 if meta.sort is not None else 1):
        return parts
    fields = f"dict of key fields ({', '.join(f'{k.field}=...' for k in meta.key_attrs)})"
    if meta.sort is None:
        shape = f"the {meta.partition.field} value or a {fields}"
    else:
        shape = f"({meta.partition.field}, {meta.sort.field}) or a {fields}"
        if len(parts) == 1:
            raise InvalidKey(
                f"{model}: sort key {meta.sort.field!r} is required (the table key is "
                f"{meta.partition.field!r}, {meta.sort.field!r}): a key is {shape}, "
                f"got {key!r}"
            )
    raise InvalidKey(f"{model}: a key is {shape}, got {key!r}")


def wire_key(meta: TableMeta, model: str, key: Any) -> Item:
    """The wire key for ``key``: the partition value, ``(partition, sort)``, or a dict of
    field values (keys computed by templates). ``model`` names the class in errors."""
    if isinstance(key, Mapping):  # no copy of the fields: only the wire key is wanted
        return meta.key_from_fields(key)
    return meta.key(*_parts(meta, model, key))


def key_maker(meta: TableMeta, model: str) -> Callable[[Any], Item]:
    """`wire_key()` for many keys of one model (a batch get's): the same wire keys, the
    same checks and errors, with the model's key attributes looked up once. A key value
    its codec writes as a non-empty string short enough for any key (the common case) is
    taken as written; any other (None, of another type, empty, binary, long enough to
    need counting its bytes) goes the whole way (`KeyAttr.encode`, `check_key_sizes`),
    which refuses it or takes it with the same errors and checks. Keys of other shapes,
    and computed keys, go through `wire_key()` itself."""
    if meta.templated:
        return lambda key: wire_key(meta, model, key)
    part = meta.partition
    pa, pe, pc, pt = part.attr, part.encode, part.codec.encode, part.type
    check = meta.check_key_sizes
    # no string of at most this many characters is over the table's limit (4 UTF-8 bytes
    # at most per character), the one `check_key_sizes` applies to these attributes
    plong = MAX_PARTITION_KEY_BYTES // 4
    if meta.sort is None:

        def one(key: Any) -> Item:
            if isinstance(key, (tuple, Mapping)):
                return wire_key(meta, model, key)
            if key is not None:
                try:
                    pv = pc(key)
                except Exception:  # (refused the whole way below, with its error)
                    pv = None
                if pv is not None:
                    raw = pv.get(pt)
                    if type(raw) is str and 0 < len(raw) <= plong:
                        return {pa: pv}
            made = {pa: pe(key, model)}
            check(made)
            return made

        return one
    sort = meta.sort
    sa, se, sc, st = sort.attr, sort.encode, sort.codec.encode, sort.type
    slong = MAX_SORT_KEY_BYTES // 4

    def two(key: Any) -> Item:
        if type(key) is not tuple or len(key) != 2 or key[1] is None:
            return wire_key(meta, model, key)
        p, s = key
        if p is not None:
            try:
                pv, sv = pc(p), sc(s)
            except Exception:  # (refused the whole way below, with its error)
                pv = sv = None
            if pv is not None and sv is not None:
                praw, sraw = pv.get(pt), sv.get(st)
                if (type(praw) is str and type(sraw) is str and 0 < len(praw) <= plong
                        and 0 < len(sraw) <= slong):
                    return {pa: pv, sa: sv}
        made = {pa: pe(p, model), sa: se(s, model)}
        check(made)
        return made

    return two


def key_fields(meta: TableMeta, model: str, key: Any) -> tuple[Item, dict[str, Any]]:
    """The wire key and the key fields it was given as (``{field: value}``)."""
    if isinstance(key, Mapping):
        fields = dict(key)
        return meta.key_from_fields(fields), fields
    parts = _parts(meta, model, key)
    return meta.key(*parts), {k.field: v for k, v in zip(meta.key_attrs, parts, strict=False)}


def key_arg(model: str, partition: Any = None, sort: Any = None,
            fields: Mapping[str, Any] | None = None) -> Any:
    """The key given as ``get()``'s arguments, as one key for `wire_key()`.

    ``get(key)`` takes any key; ``get(partition, sort)`` is the shorthand for
    ``get((partition, sort))``; ``get(user_id="u1", order_id="o9")`` for
    ``get({"user_id": "u1", "order_id": "o9"})``.
    """
    if fields:
        if partition is not None or sort is not None:
            raise InvalidKey(f"{model}: give the key by position or by name, not both")
        return dict(fields)
    if sort is None:
        return partition
    if isinstance(partition, (tuple, Mapping)):
        raise InvalidKey(f"{model}: a sort value was given after a whole key {partition!r}")
    return (partition, sort)
