"""Transactional reads: up to 100 items as one consistent snapshot (TransactGetItems).

```python
user, order = await dynorm.transact_get((User, "u1"), (Order, ("u1", "o9")))
```

Keys are given as everywhere else (`dynorm.schema.keys`); a canceled read raises
[`TransactionCanceled`][dynorm.TransactionCanceled] with one reason per item, as a
write transaction does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, overload

from dynorm._types import Item
from dynorm.connection import get_connection
from dynorm.exceptions import ServiceError
from dynorm.schema import transactions as tx
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import read
from dynorm.schema.keys import key_id, wire_key
from dynorm.schema.replicas import refuse_transaction
from dynorm.security import ready_to_read

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["transact_get"]

M1 = TypeVar("M1", bound="Model")
M2 = TypeVar("M2", bound="Model")
M3 = TypeVar("M3", bound="Model")
M4 = TypeVar("M4", bound="Model")


@overload
async def transact_get(p1: tuple[type[M1], Any], /) -> tuple[M1 | None]: ...


@overload
async def transact_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any], /
                       ) -> tuple[M1 | None, M2 | None]: ...


@overload
async def transact_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any],
                       p3: tuple[type[M3], Any], /) -> tuple[M1 | None, M2 | None, M3 | None]:
    ...


@overload
async def transact_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any],
                       p3: tuple[type[M3], Any], p4: tuple[type[M4], Any], /
                       ) -> tuple[M1 | None, M2 | None, M3 | None, M4 | None]: ...


@overload
async def transact_get(*pairs: tuple[type[Model], Any]) -> tuple[Model | None, ...]: ...


async def transact_get(*pairs: tuple[type[Model], Any]) -> tuple[Model | None, ...]:
    """Read up to 100 items as one consistent snapshot (TransactGetItems).

    ```python
    user, order = await dynorm.transact_get((User, "u1"), (Order, ("u1", "o9")))
    ```

    Each argument is ``(Model, key)``, the key as every method takes it: the partition
    value, ``(partition, sort)``, or a dict of key fields.
    Returns a tuple with one entry per pair, in order (None where there is no item); with
    up to four pairs, type checkers see each entry's model type.

    Raises:
        InvalidTransaction: more than 100 pairs, or one item asked twice.
        TransactionCanceled: DynamoDB canceled the read (e.g. a conflicting write).
    """
    if len(pairs) > tx.MAX_ACTIONS:
        raise tx.InvalidTransaction(
            f"transact_get reads at most {tx.MAX_ACTIONS} items, got {len(pairs)}; "
            "use dynorm.get_many() for larger (non-transactional) reads"
        )
    conn = get_connection()
    gets: list[dict[str, Any]] = []
    seen: set[Any] = set()
    keys: list[Item] = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], type)):
            raise TypeError(f"transact_get() takes (Model, key) pairs, got {pair!r}")
        model, key = pair
        refuse_transaction(model, "transactions (TransactGetItems)")
        meta = meta_of(model)
        wkey = wire_key(meta, model.__name__, key)
        kid = key_id(meta.table_name, wkey)
        if kid in seen:
            raise tx.InvalidTransaction(
                f"{model.__name__} ({meta.describe_key(wkey)}) is asked twice; DynamoDB "
                "allows one read per item in a transaction"
            )
        seen.add(kid)
        keys.append(wkey)
        gets.append({"Get": {"TableName": conn.table_name(meta.table_name), "Key": wkey}})
    if not gets:
        return ()
    try:
        response = await conn.call("TransactGetItems", {"TransactItems": gets})
    except ServiceError as exc:
        if not tx.is_cancellation(exc):
            raise
        raw = exc.response.get("CancellationReasons") or []
        reasons = []
        for i, ((model, _), wkey) in enumerate(zip(pairs, keys, strict=True)):
            entry = raw[i] if i < len(raw) else {}
            reasons.append(tx.CancellationReason(i, "check", model, wkey,
                                                 tx.reason_code(entry), entry.get("Message")))
        summary = "; ".join(r.describe() for r in reasons if r.failed) or exc.message
        error = tx.TransactionCanceled(f"transactional read canceled: {summary}",
                                       reasons=reasons, code=exc.code,
                                       operation="TransactGetItems", response=exc.response,
                                       status=exc.status)
        raise error from exc
    results: list[Model | None] = []
    responses = response.get("Responses") or [{}] * len(pairs)
    for (model, _), entry in zip(pairs, responses, strict=True):
        meta = meta_of(model)
        if meta.loading and entry.get("Item") is not None:  # data keys (KMS)
            await ready_to_read(meta.loading, (entry["Item"],))
    for (model, _), entry in zip(pairs, responses, strict=True):
        stored = entry.get("Item")
        results.append(None if stored is None else read(model, stored))
    return tuple(results)
