"""Transactions: all-or-nothing writes (TransactWriteItems).

```python
async with dynorm.transaction() as tx:
    tx.save(order)                                      # Put (version-guarded)
    tx.update(account, Account.balance.add(-10), condition=Account.balance >= 10)
    tx.delete(cart_item)
    tx.check(User, "u1", User.status == "active")       # ConditionCheck
# one TransactWriteItems on exit; nothing is sent if the block raises
```

Adding an action checks what can be checked at once (the key, the update actions, the
limit of 100 actions, one action per item). At commit the ``before_save``/
``before_delete`` hooks run (a raising hook aborts the commit, nothing is sent), then
the items are encoded, the 4 MB limit checked and the request sent. After success the
instances carry their new versions and the ``after_*`` hooks run.

A canceled transaction raises [`TransactionCanceled`][dynorm.TransactionCanceled] with one
[`CancellationReason`][dynorm.types.CancellationReason] per action. Transaction conflicts
are retried with exponential backoff and full jitter (``retry=``, a `RetryPolicy`) under
the same client request token, so a retry can never apply the transaction twice.
Transactional reads are [`transact_get()`][dynorm.read.transact_get.transact_get].
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from dynorm._types import Item, Request
from dynorm.codec.dynamic import item_size
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import ConditionFailed, DynormError, ServiceError
from dynorm.expressions import Condition, Placeholders, UpdateAction
from dynorm.observe.capacity import Capacity, merge_capacity
from dynorm.schema import prepare as writes
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import decode_stored, item_not_found
from dynorm.schema.keys import key_id, wire_key
from dynorm.schema.replicas import refuse_transaction
from dynorm.schema.transactions import (
    MAX_ACTIONS,
    MAX_BYTES,
    ActionKind,
    CancellationReason,
    InvalidTransaction,
    TransactionCanceled,
    is_cancellation,
    reason_code,
)
from dynorm.security import ready_to_write
from dynorm.transport.base import RetryPolicy

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "TRANSACTION_RETRY",
    "CancellationReason",
    "InvalidTransaction",
    "Transaction",
    "TransactionCanceled",
    "transaction",
]

log = logging.getLogger(__name__)

#: The default retries of a transaction canceled only by conflicts with other
#: transactions: 4 attempts in all, with pauses of up to 0.05, 0.1 and 0.2 s.
TRANSACTION_RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=1.0)

_WIRE = {"put": "Put", "delete": "Delete", "update": "Update", "check": "ConditionCheck"}


# ---------------------------------------------------------------------------- actions


@dataclass
class _Action:
    kind: ActionKind
    model: type[Model]
    key: Item
    instance: Model | None
    condition: Condition | None = None
    actions: tuple[UpdateAction, ...] = ()
    store_none: bool = False
    version: int | None = None  # the version the write was prepared with
    guarded: bool = False  # whether a version guard went into the condition
    request: Request | None = None  # the single-item request it was built from


def _condition_check(table: str, key: Item, condition: Condition) -> Request:
    ph = Placeholders()
    req: Request = {"TableName": table, "Key": key,
                    "ConditionExpression": condition.compile(ph),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    req.update(ph.to_request())
    return req


def _transact_item(kind: ActionKind, request: Request) -> dict[str, Any]:
    """A PutItem/DeleteItem/UpdateItem request as one TransactWriteItems entry."""
    body = {k: v for k, v in request.items() if k != "ReturnValues"}
    return {_WIRE[kind]: body}


def _size(request: Request) -> int:
    size = item_size(request.get("Item") or request.get("Key") or {})
    size += item_size(request.get("ExpressionAttributeValues", {}))
    for name in ("ConditionExpression", "UpdateExpression"):
        size += len(request.get(name, "").encode())
    size += sum(len(k) + len(v) for k, v in request.get("ExpressionAttributeNames", {}).items())
    return size


class Transaction:
    """Collects actions and commits them in one TransactWriteItems (see
    [`transaction()`][dynorm.write.transaction.transaction]).

    Args:
        retry: the attempts of a transaction canceled only by conflicts with other
            transactions (each sent with the same token); `TRANSACTION_RETRY` by default.
        token: the client request token; a random one by default.
    """

    def __init__(self, *, retry: RetryPolicy | None = None, token: str | None = None
                 ) -> None:
        self.retry = retry if retry is not None else TRANSACTION_RETRY
        """The attempts of a transaction canceled by conflicting transactions."""
        self.token = token or str(uuid.uuid4())
        """The ClientRequestToken sent with every attempt of this transaction."""
        self._actions: list[_Action] = []
        self._keys: dict[Any, _Action] = {}
        self._state: Literal["open", "committed", "aborted"] = "open"
        self._capacity: dict[str, Capacity] = {}

    def __len__(self) -> int:
        return len(self._actions)

    # ------------------------------------------------------------------ adding

    def save(self, instance: Model, *, condition: Condition | None = None,
             store_none: bool = False) -> None:
        """Put the whole item, like ``instance.save()`` (version guard included).

        Raises:
            InvalidTransaction: the 101st action, or a second action on this item.
        """
        self._add(_Action("put", type(instance), meta_of(type(instance)).key_of(instance),
                          instance, condition, store_none=store_none))

    def delete(self, instance: Model, *, condition: Condition | None = None) -> None:
        """Delete the item, like ``instance.delete()`` (version guard included)."""
        self._add(_Action("delete", type(instance), meta_of(type(instance)).key_of(instance),
                          instance, condition))

    def update(self, instance: Model, *actions: UpdateAction,
               condition: Condition | None = None) -> None:
        """Apply update actions, like ``instance.update()``: the item must exist.

        TransactWriteItems returns no attributes, so the instance is not refreshed; only
        its version goes up by one after the commit.
        """
        cls = type(instance)
        meta = meta_of(cls)
        writes.check_actions(cls, meta, actions)
        self._add(_Action("update", cls, meta.key_of(instance), instance, condition,
                          actions=actions))

    @overload
    def check(self, target: Model, condition: Condition | None = None, /) -> None: ...

    @overload
    def check(self, target: type[Model], key: Any, condition: Condition, /) -> None: ...

    def check(self, target: Model | type[Model], *args: Any) -> None:
        """A condition on an item the transaction does not write (ConditionCheck).

        ``tx.check(User, "u1", User.status == "active")`` checks the item with that key
        (the partition value, ``(partition, sort)``, or a dict of key fields).
        ``tx.check(account, cond)`` checks the instance's item; for a model with a
        ``Version`` field it also checks that the stored version is still this copy's, so
        ``tx.check(account)`` alone means "unchanged since I read it".

        Raises:
            InvalidTransaction: no condition to check.
        """
        if isinstance(target, type):
            if len(args) != 2:
                raise TypeError("check(Model, key, condition) takes a key and a condition")
            key, condition = args
            if condition is None:
                raise InvalidTransaction(f"check({target.__name__}, ...) needs a condition")
            wkey = wire_key(meta_of(target), target.__name__, key)
            self._add(_Action("check", target, wkey, None, condition))
            return
        if len(args) > 1:
            raise TypeError("check(instance, condition) takes one condition")
        condition = args[0] if args else None
        cls = type(target)
        meta = meta_of(cls)
        if condition is None and (meta.version is None or not target.__dict__.get(
                meta.version.field)):
            raise InvalidTransaction(
                f"check({cls.__name__} ({meta.describe_key(meta.key_of(target))})) needs a "
                "condition (or a saved copy of a model with a Version field)"
            )
        self._add(_Action("check", cls, meta.key_of(target), target, condition))

    def _add(self, action: _Action) -> None:
        if self._state != "open":
            raise InvalidTransaction(f"this transaction is {self._state}: start a new one")
        refuse_transaction(action.model, "transactions (TransactWriteItems)")
        meta = meta_of(action.model)
        kid = key_id(meta.table_name, action.key)
        other = self._keys.get(kid)
        if other is not None:
            raise InvalidTransaction(
                f"{action.model.__name__} ({meta.describe_key(action.key)}) in table "
                f"{meta.table_name!r} is already in this transaction (a {other.kind}); "
                "DynamoDB allows one action per item in a transaction"
            )
        if len(self._actions) >= MAX_ACTIONS:
            raise InvalidTransaction(
                f"a transaction holds at most {MAX_ACTIONS} actions; adding "
                f"{action.kind} {action.model.__name__} ({meta.describe_key(action.key)}) "
                "would be one more"
            )
        self._keys[kid] = action
        self._actions.append(action)

    # ------------------------------------------------------------------ commit

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._state = "aborted"
            return
        await self.commit()

    async def _send(self, conn: Connection, request: Request) -> None:
        """TransactWriteItems, sent again (same token) while only conflicts cancel it."""
        attempt = 0
        while True:
            try:
                response = await conn.call("TransactWriteItems", request)
                merge_capacity(self._capacity, "TransactWriteItems",
                               response.get("ConsumedCapacity"))
                break
            except ServiceError as exc:
                error = self._canceled(exc) if is_cancellation(exc) else exc
                conflict = (isinstance(error, TransactionCanceled) and error.conflict) or (
                    exc.code == "TransactionConflictException")
                attempt += 1
                if not conflict or attempt >= self.retry.max_attempts:
                    if error is exc:
                        raise
                    raise error from exc
                delay = self.retry.delay(attempt)
                log.debug("TransactWriteItems: conflict, retry %d in %.3fs (token %s)",
                          attempt, delay, self.token)
                await asyncio.sleep(delay)

    @property
    def capacity(self) -> tuple[Capacity, ...]:
        """What the commit consumed, one `Capacity` per table (with
        ``connect(capacity=True)``; empty before the commit or without it)."""
        return tuple(self._capacity.values())

    async def commit(self) -> None:
        """Run the ``before_*`` hooks, send the transaction, then the ``after_*`` hooks.

        Called by ``async with`` on a clean exit; an empty transaction sends nothing.

        Raises:
            TransactionCanceled: DynamoDB canceled it (nothing was written).
            InvalidTransaction: over 4 MB, or committed twice.
        """
        if self._state != "open":
            raise InvalidTransaction(f"this transaction is {self._state}: start a new one")
        self._state = "committed"
        if not self._actions:
            return
        for action in self._actions:
            if action.instance is not None and action.kind == "put":
                await action.instance.before_save()
            elif action.instance is not None and action.kind == "delete":
                await action.instance.before_delete()
        conn = get_connection()
        for model in {a.model for a in self._actions if a.kind == "put"}:
            meta = meta_of(model)
            if meta.loaders:  # data keys of encrypted fields (KMS), values in S3
                await ready_to_write(meta.loaders, meta.sealed, [
                    a.instance for a in self._actions if a.model is model and a.kind == "put"])
        items = [self._prepare(a, conn.table_name(meta_of(a.model).table_name))
                 for a in self._actions]
        size = sum(_size(a.request or {}) for a in self._actions)
        if size > MAX_BYTES:
            raise InvalidTransaction(
                f"this transaction is {size} bytes, over DynamoDB's {MAX_BYTES} (4 MB); "
                "split it"
            )
        request = {"TransactItems": items, "ClientRequestToken": self.token}
        with conn.span("dynorm.transaction", {"dynorm.actions": len(items)}):
            await self._send(conn, request)
        for action in self._actions:
            instance = action.instance
            if instance is None:
                continue
            if action.kind in ("put", "update"):
                writes.written(instance, action.version)
            if action.kind == "put":
                await instance.after_save()
            elif action.kind == "delete":
                await instance.after_delete()

    def _prepare(self, action: _Action, table: str) -> dict[str, Any]:
        instance = action.instance
        kind = action.kind
        if kind == "put":
            assert instance is not None
            put, action.version = writes.prepare_put(instance, table, action.condition,
                                                     action.store_none)
            action.guarded = action.version is not None
            action.request = put.to_request()
        elif kind == "delete":
            assert instance is not None
            delete, action.version = writes.prepare_delete(instance, table, action.condition)
            action.guarded = bool(action.version)
            action.request = delete.to_request()
        elif kind == "update":
            assert instance is not None
            update, action.version = writes.prepare_update(instance, table, action.actions,
                                                           action.condition)
            action.guarded = bool(action.version)
            action.request = update.to_request()
        else:
            condition = action.condition
            if instance is not None:
                guard, action.version = writes.version_guard(instance, meta_of(action.model))
                if action.version and guard is not None:
                    action.guarded = True
                    condition = guard if condition is None else guard & condition
            assert condition is not None
            action.request = _condition_check(table, action.key, condition)
        return _transact_item(kind, action.request)

    def _canceled(self, exc: ServiceError) -> TransactionCanceled:
        raw = exc.response.get("CancellationReasons") or []
        reasons = [self._reason(i, action, raw[i] if i < len(raw) else {})
                   for i, action in enumerate(self._actions)]
        failed = [r for r in reasons if r.failed]
        summary = "; ".join(r.describe() for r in failed) or exc.message
        error = TransactionCanceled(
            f"transaction canceled, nothing was written: {len(failed)} of {len(reasons)} "
            f"action(s) failed: {summary}",
            reasons=reasons, code=exc.code, operation=exc.operation or "TransactWriteItems",
            response=exc.response, ambiguous=exc.ambiguous, status=exc.status,
        )
        return error

    def _reason(self, index: int, action: _Action, raw: dict[str, Any]) -> CancellationReason:
        code = reason_code(raw)
        model = action.model
        stored = raw.get("Item")
        item = decode_stored(model, stored)
        error: DynormError | None = None
        if code == "ConditionalCheckFailed" and action.request is not None:
            if action.kind == "update" and stored is None:
                error = item_not_found(model, action.key)
            else:
                failure = ConditionFailed(
                    raw.get("Message", "") or "condition failed", code=code,
                    operation="TransactWriteItems",
                    response={"Item": stored} if stored is not None else {})
                error = writes.condition_failed(
                    model, failure, meta_of(model), action.request,
                    action.version if action.guarded else None)
        return CancellationReason(index, action.kind, model, action.key, code,
                                  raw.get("Message"), item, error)


def transaction(*, retry: RetryPolicy | None = None, token: str | None = None
                ) -> Transaction:
    """A write transaction: ``async with dynorm.transaction() as tx: tx.save(a) ...``.

    Up to 100 actions over any models and tables, one per item; all succeed or none.

    Args:
        retry: the attempts of a transaction canceled only by conflicts with other
            transactions: ``max_attempts`` in all (the first included), with exponential
            backoff and full jitter between them. Default `TRANSACTION_RETRY`: 4
            attempts, pauses of 0.05 s doubling up to 1 s. Throttling, 5xx and lost
            answers are retried by the connection (its own ``retry``).
        token: the ClientRequestToken (idempotency); random by default, kept on retries.

    Raises (on exit):
        TransactionCanceled: with one reason per action.
    """
    return Transaction(retry=retry, token=token)
