"""Transactions: all-or-nothing writes (TransactWriteItems) and reads (TransactGetItems).

```python
async with dynorm.transaction() as tx:
    tx.save(order)                                      # Put (version-guarded)
    tx.update(account, Account.balance.add(-10), condition=Account.balance >= 10)
    tx.delete(cart_item)
    tx.check(User, "u1", User.status == "active")       # ConditionCheck
# one TransactWriteItems on exit; nothing is sent if the block raises

user, order = await dynorm.transact_get((User, "u1"), (Order, ("u1", "o9")))
```

Adding an action checks what can be checked at once (the key, the update actions, the
limit of 100 actions, one action per item). At commit the ``before_save``/
``before_delete`` hooks run (a raising hook aborts the commit, nothing is sent), then
the items are encoded, the 4 MB limit checked and the request sent. After success the
instances carry their new versions and the ``after_*`` hooks run.

A canceled transaction raises [`TransactionCanceled`][dynorm.TransactionCanceled] with one
[`CancellationReason`][dynorm.CancellationReason] per action. Transaction conflicts are retried with
exponential backoff and full jitter under the same client request token, so a retry
can never apply the transaction twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from dynorm._types import Item, Request
from dynorm.codec.dynamic import item_size
from dynorm.connection import get_connection
from dynorm.exceptions import (
    ConditionFailed,
    DynormError,
    ItemNotFound,
    ServiceError,
    VersionConflict,
)
from dynorm.expressions import Condition, Placeholders, UpdateAction
from dynorm.schema.keys import key_id, wire_key
from dynorm.transport.base import RetryPolicy

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "CancellationReason",
    "InvalidTransaction",
    "Transaction",
    "TransactionCanceled",
    "transact_get",
    "transaction",
]

log = logging.getLogger(__name__)

M1 = TypeVar("M1", bound="Model")
M2 = TypeVar("M2", bound="Model")
M3 = TypeVar("M3", bound="Model")
M4 = TypeVar("M4", bound="Model")

#: DynamoDB's limits for one transaction.
MAX_ACTIONS = 100
MAX_BYTES = 4 * 1024 * 1024

ActionKind = Literal["put", "delete", "update", "check"]
_WIRE = {"put": "Put", "delete": "Delete", "update": "Update", "check": "ConditionCheck"}


class InvalidTransaction(DynormError, ValueError):
    """A transaction cannot be sent as built (nothing was sent).

    More than 100 actions, over 4 MB, two actions on one item, an empty ``check``, or a
    transaction used again after its commit.
    """


@dataclass(frozen=True)
class CancellationReason:
    """Why DynamoDB canceled one action of a transaction (one per action, in order).

    Attributes:
        index: the action's position in the transaction (0-based).
        action: ``"put"``, ``"delete"``, ``"update"`` or ``"check"``.
        model: the action's model class.
        key: the item's key (wire form); ``describe()`` shows it readably.
        code: DynamoDB's code: ``"ConditionalCheckFailed"``, ``"TransactionConflict"``,
            ``"ThrottlingError"``, ``"ValidationError"``...; None for an action that did
            not fail (DynamoDB's ``"None"``).
        message: DynamoDB's message, if any.
        item: the stored item when DynamoDB returned it (a model instance, or the raw
            wire item if it does not fit the model).
        error: for a failed condition, the error the same write would raise on its own:
            [`VersionConflict`][dynorm.VersionConflict] (with ``.expected``/``.actual``),
            [`ItemNotFound`][dynorm.ItemNotFound] (an update of a missing item) or
            [`ConditionFailed`][dynorm.ConditionFailed].
    """

    index: int
    action: ActionKind
    model: type[Model]
    key: Item
    code: str | None
    message: str | None = None
    item: Any = None
    error: DynormError | None = None

    @property
    def failed(self) -> bool:
        """True when this action is one of those that canceled the transaction."""
        return self.code is not None

    @property
    def version_conflict(self) -> bool:
        """True when this action failed on its version check (optimistic locking)."""
        return isinstance(self.error, VersionConflict)

    def describe(self) -> str:
        """``update Account (account_id='a1'): ConditionalCheckFailed: ...``."""
        meta = self.model._meta()
        where = f"{self.action} {self.model.__name__} ({meta.describe_key(self.key)})"
        if self.code is None:
            return f"{where}: ok"
        if isinstance(self.error, VersionConflict):
            return (f"{where}: version conflict: this copy has version {self.error.expected}, "
                    f"the table has {_stored(self.error.actual)}")
        if isinstance(self.error, ItemNotFound):
            return f"{where}: {self.code}: the item does not exist"
        return f"{where}: {self.code}" + (f" ({self.message})" if self.message else "")


def _stored(version: int | None) -> str:
    return "no version (no item)" if version is None else f"version {version}"


class TransactionCanceled(ServiceError):
    """DynamoDB canceled the transaction; nothing was written.

    Attributes:
        reasons: one [`CancellationReason`][dynorm.CancellationReason] per action, in the order
            added.
        failed: the reasons of the actions that failed.
    """

    def __init__(self, message: str, *, reasons: list[CancellationReason],
                 operation: str = "TransactWriteItems", **fields: Any) -> None:
        super().__init__(message, operation=operation, **fields)
        self.reasons = reasons

    @property
    def failed(self) -> list[CancellationReason]:
        return [r for r in self.reasons if r.failed]

    @property
    def conflict(self) -> bool:
        """True when the cancellation is only due to conflicting concurrent transactions."""
        codes = {r.code for r in self.failed}
        return "TransactionConflict" in codes and codes <= {"TransactionConflict", None}


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
        max_retries: how often a transaction canceled only by conflicts with other
            transactions is sent again (same token).
        base_delay: the backoff between those attempts (exponential, full
            jitter), in seconds.
        max_delay: the longest single pause, in seconds.
        token: the client request token; a random one by default.
    """

    def __init__(self, *, max_retries: int = 3, base_delay: float = 0.05,
                 max_delay: float = 1.0, token: str | None = None) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self._policy = RetryPolicy(max_attempts=max_retries + 1, base_delay=base_delay,
                                   max_delay=max_delay)
        self.token = token or str(uuid.uuid4())
        """The ClientRequestToken sent with every attempt of this transaction."""
        self._actions: list[_Action] = []
        self._keys: dict[Any, _Action] = {}
        self._state: Literal["open", "committed", "aborted"] = "open"

    def __len__(self) -> int:
        return len(self._actions)

    # ------------------------------------------------------------------ adding

    def save(self, instance: Model, *, condition: Condition | None = None,
             store_none: bool = False) -> None:
        """Put the whole item, like ``instance.save()`` (version guard included).

        Raises:
            InvalidTransaction: the 101st action, or a second action on this item.
        """
        self._add(_Action("put", type(instance), type(instance)._meta().key_of(instance),
                          instance, condition, store_none=store_none))

    def delete(self, instance: Model, *, condition: Condition | None = None) -> None:
        """Delete the item, like ``instance.delete()`` (version guard included)."""
        self._add(_Action("delete", type(instance), type(instance)._meta().key_of(instance),
                          instance, condition))

    def update(self, instance: Model, *actions: UpdateAction,
               condition: Condition | None = None) -> None:
        """Apply update actions, like ``instance.update()``: the item must exist.

        TransactWriteItems returns no attributes, so the instance is not refreshed; only
        its version goes up by one after the commit.
        """
        cls = type(instance)
        meta = cls._meta()
        cls._check_actions(meta, actions)
        self._add(_Action("update", cls, meta.key_of(instance), instance, condition,
                          actions=actions))

    @overload
    def check(self, target: Model, condition: Condition | None = None, /) -> None: ...

    @overload
    def check(self, target: type[Model], key: Any, condition: Condition, /) -> None: ...

    def check(self, target: Model | type[Model], *args: Any) -> None:
        """A condition on an item the transaction does not write (ConditionCheck).

        ``tx.check(User, "u1", User.status == "active")`` checks the item with that key
        (``(partition, sort)`` for tables with a sort key). ``tx.check(account, cond)``
        checks the instance's item; for a model with a ``Version`` field it also checks
        that the stored version is still this copy's, so ``tx.check(account)`` alone
        means "unchanged since I read it".

        Raises:
            InvalidTransaction: no condition to check.
        """
        if isinstance(target, type):
            if len(args) != 2:
                raise TypeError("check(Model, key, condition) takes a key and a condition")
            key, condition = args
            if condition is None:
                raise InvalidTransaction(f"check({target.__name__}, ...) needs a condition")
            wkey = wire_key(target._meta(), target.__name__, key)
            self._add(_Action("check", target, wkey, None, condition))
            return
        if len(args) > 1:
            raise TypeError("check(instance, condition) takes one condition")
        condition = args[0] if args else None
        cls = type(target)
        meta = cls._meta()
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
        meta = action.model._meta()
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
        items = [self._prepare(a, conn.table_name(a.model._meta().table_name))
                 for a in self._actions]
        size = sum(_size(a.request or {}) for a in self._actions)
        if size > MAX_BYTES:
            raise InvalidTransaction(
                f"this transaction is {size} bytes, over DynamoDB's {MAX_BYTES} (4 MB); "
                "split it"
            )
        request = {"TransactItems": items, "ClientRequestToken": self.token}
        attempt = 0
        while True:
            try:
                await conn.call("TransactWriteItems", request)
                break
            except ServiceError as exc:
                error = self._canceled(exc) if _is_cancellation(exc) else exc
                conflict = (isinstance(error, TransactionCanceled) and error.conflict) or (
                    exc.code == "TransactionConflictException")
                attempt += 1
                if not conflict or attempt > self.max_retries:
                    if error is exc:
                        raise
                    raise error from exc
                delay = self._policy.delay(attempt)
                log.debug("TransactWriteItems: conflict, retry %d in %.3fs (token %s)",
                          attempt, delay, self.token)
                await asyncio.sleep(delay)
        for action in self._actions:
            instance = action.instance
            if instance is None:
                continue
            if action.kind in ("put", "update"):
                instance._written(action.version)
            if action.kind == "put":
                await instance.after_save()
            elif action.kind == "delete":
                await instance.after_delete()

    def _prepare(self, action: _Action, table: str) -> dict[str, Any]:
        instance = action.instance
        kind = action.kind
        if kind == "put":
            assert instance is not None
            put, action.version = instance._prepare_put(table, action.condition,
                                                        action.store_none)
            action.guarded = action.version is not None
            action.request = put.to_request()
        elif kind == "delete":
            assert instance is not None
            delete, action.version = instance._prepare_delete(table, action.condition)
            action.guarded = bool(action.version)
            action.request = delete.to_request()
        elif kind == "update":
            assert instance is not None
            update, action.version = instance._prepare_update(table, action.actions,
                                                              action.condition)
            action.guarded = bool(action.version)
            action.request = update.to_request()
        else:
            condition = action.condition
            if instance is not None:
                guard, action.version = instance._version_guard(action.model._meta())
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
        code = raw.get("Code")
        code = None if code in (None, "None") else code
        model = action.model
        stored = raw.get("Item")
        item = model._decode_stored(stored)
        error: DynormError | None = None
        if code == "ConditionalCheckFailed" and action.request is not None:
            meta = model._meta()
            if action.kind == "update" and stored is None:
                error = ItemNotFound(
                    f"{model.__name__} ({meta.describe_key(action.key)}) not found in table "
                    f"{meta.table_name!r}", model=model.__name__, key=action.key)
            else:
                failure = ConditionFailed(
                    raw.get("Message", "") or "condition failed", code=code,
                    operation="TransactWriteItems",
                    response={"Item": stored} if stored is not None else {})
                error = model._condition_failed(
                    failure, meta, action.request,
                    action.version if action.guarded else None)
        return CancellationReason(index, action.kind, model, action.key, code,
                                  raw.get("Message"), item, error)


def _is_cancellation(exc: ServiceError) -> bool:
    return exc.code == "TransactionCanceledException"


def transaction(*, max_retries: int = 3, base_delay: float = 0.05, max_delay: float = 1.0,
                token: str | None = None) -> Transaction:
    """A write transaction: ``async with dynorm.transaction() as tx: tx.save(a) ...``.

    Up to 100 actions over any models and tables, one per item; all succeed or none.

    Args:
        max_retries: re-sends of a transaction canceled by conflicting transactions.
        base_delay: the backoff between them (exponential, full jitter).
        max_delay: the longest single pause, in seconds.
        token: the ClientRequestToken (idempotency); random by default, kept on retries.

    Raises (on exit):
        TransactionCanceled: with one reason per action.
    """
    return Transaction(max_retries=max_retries, base_delay=base_delay, max_delay=max_delay,
                       token=token)


# ---------------------------------------------------------------------------- reads


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

    Each argument is ``(Model, key)``: the partition value, or ``(partition, sort)``.
    Returns a tuple with one entry per pair, in order (None where there is no item); with
    up to four pairs, type checkers see each entry's model type.

    Raises:
        InvalidTransaction: more than 100 pairs, or one item asked twice.
        TransactionCanceled: DynamoDB canceled the read (e.g. a conflicting write).
    """
    if len(pairs) > MAX_ACTIONS:
        raise InvalidTransaction(
            f"transact_get reads at most {MAX_ACTIONS} items, got {len(pairs)}; "
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
        meta = model._meta()
        wkey = wire_key(model._meta(), model.__name__, key)
        kid = key_id(meta.table_name, wkey)
        if kid in seen:
            raise InvalidTransaction(
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
        if not _is_cancellation(exc):
            raise
        raw = exc.response.get("CancellationReasons") or []
        reasons = []
        for i, ((model, _), wkey) in enumerate(zip(pairs, keys, strict=True)):
            entry = raw[i] if i < len(raw) else {}
            code = entry.get("Code")
            reasons.append(CancellationReason(i, "check", model, wkey,
                                              None if code in (None, "None") else code,
                                              entry.get("Message")))
        summary = "; ".join(r.describe() for r in reasons if r.failed) or exc.message
        error = TransactionCanceled(f"transactional read canceled: {summary}", reasons=reasons,
                                    code=exc.code, operation="TransactGetItems",
                                    response=exc.response, status=exc.status)
        raise error from exc
    results: list[Model | None] = []
    responses = response.get("Responses") or [{}] * len(pairs)
    for (model, _), entry in zip(pairs, responses, strict=True):
        stored = entry.get("Item")
        results.append(None if stored is None else model._read(stored))
    return tuple(results)
