"""Batch writes: many independent puts and deletes with BatchWriteItem.

```python
async with dynorm.batch() as b:           # BatchWriteItem, 25 writes per call
    for score in scores:
        b.save(score)
    b.delete(old_score)
```

A batch is not atomic (use [`dynorm.transaction()`][dynorm.write.transaction.transaction] for
all-or-nothing): every write succeeds or fails on its own. Requests go out in chunks of 25,
several at once (``concurrency``); items DynamoDB leaves unprocessed are sent again with
exponential backoff and full jitter until done or the rounds of ``retry`` (a
[`RetryPolicy`][dynorm.RetryPolicy], `BATCH_WRITE_RETRY` by default) are spent, then
[`BatchWriteFailed`][dynorm.BatchWriteFailed] names exactly what is missing. Batch reads are in
[`dynorm.batch_get`][dynorm.read.batch_get.batch_get]; the item identities both use are
in `dynorm.schema.keys`.

Writes are encoded when they are sent, after the ``before_save``/``before_delete`` hooks
ran; ``after_save``/``after_delete`` run once that item's write succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from dynorm._types import Item
from dynorm.codec.json import Fragment
from dynorm.connection import ROUND_ERRORS, Connection, get_connection
from dynorm.exceptions import DynormError, ServerError, TransportError
from dynorm.observe.capacity import Capacity, merge_capacity
from dynorm.schema import prepare as writes
from dynorm.schema.classes import has_hook, meta_of
from dynorm.schema.keys import KeyId, key_id, wire_key
from dynorm.security import ready_to_write
from dynorm.transport.base import RetryPolicy

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "BATCH_WRITE_RETRY",
    "MAX_BATCH_WRITE",
    "BatchWriteFailed",
    "BatchWriter",
    "FailedWrite",
    "InvalidBatch",
    "batch",
]

log = logging.getLogger(__name__)

#: DynamoDB's limit of writes per BatchWriteItem call.
MAX_BATCH_WRITE = 25

#: The default rounds of a batch write (per chunk of 25): 11 in all, the first included,
#: with pauses of up to 0.05 s, doubling, at most 5 s.
BATCH_WRITE_RETRY = RetryPolicy(max_attempts=11, base_delay=0.05, max_delay=5.0)


class InvalidBatch(DynormError, ValueError):
    """A write cannot go into a batch as asked (a versioned model, a closed batch...)."""


@dataclass(frozen=True)
class FailedWrite:
    """One write of a batch that did not happen.

    Attributes:
        action: ``"put"`` or ``"delete"``.
        model: the model class.
        key: the item's key (wire form).
        instance: the instance given to ``save``/``delete`` (None for a delete by key).
        error: the error that stopped it, or None when DynamoDB still reported it
            unprocessed after every retry. A [`TransportError`][dynorm.TransportError] or
            [`ServerError`][dynorm.ServerError] here means the last attempt got no usable answer:
            DynamoDB may have made that write all the same (see `uncertain`).
    """

    action: Literal["put", "delete"]
    model: type[Model]
    key: Item
    instance: Model | None
    error: DynormError | None = None

    @property
    def uncertain(self) -> bool:
        """True when the write may have been made although no success was seen (the last
        attempt's answer was lost: a dropped connection or a 5xx)."""
        return isinstance(self.error, (TransportError, ServerError))

    def __str__(self) -> str:
        key = meta_of(self.model).describe_key(self.key)
        where = f"{self.action} {self.model.__name__} ({key})"
        if self.error is None:
            return f"{where}: still unprocessed after the last retry"
        maybe = " (the write may have been made: its answer was lost)" if self.uncertain else ""
        return f"{where}: {type(self.error).__name__}: {self.error}{maybe}"


class BatchWriteFailed(DynormError):
    """Some writes of a batch were not made; every other write was.

    Attributes:
        failed: one [`FailedWrite`][dynorm.types.FailedWrite] per write that did not
            happen (model + key).
        written: how many writes succeeded.
    """

    def __init__(self, failed: Sequence[FailedWrite], written: int) -> None:
        shown = "; ".join(str(f) for f in failed[:10])
        more = f"; ... and {len(failed) - 10} more" if len(failed) > 10 else ""
        super().__init__(
            f"batch write: {len(failed)} write(s) not made ({written} made): {shown}{more}"
        )
        self.failed = list(failed)
        self.written = written


# ---------------------------------------------------------------------------- writes


class _Write:
    """One waiting write. Slotted, and a put keeps no wire key (``key`` rebuilds it from
    the item or the instance when an error names the write): thousands of these can
    wait in a batch, and every container object they keep alive is one more for each
    garbage collection to walk."""

    __slots__ = ("_key", "action", "instance", "kid", "model", "request", "store_none",
                 "table", "version")

    def __init__(self, action: Literal["put", "delete"], model: type[Model], table: str,
                 kid: KeyId, instance: Model | None, key: Item | None, store_none: bool
                 ) -> None:
        self.action = action
        self.model = model
        self.table = table  # physical table name
        self.kid = kid  # key_id(table, key), computed once
        self.instance = instance
        self._key = key  # deletes only
        self.store_none = store_none
        self.version: int | None = None  # set when prepared (unversioned saves)
        #: the WriteRequest once prepared (its JSON, for transports that take fragments)
        self.request: dict[str, Any] | Fragment | None = None

    @property
    def key(self) -> Item:
        if self._key is not None:
            return self._key
        meta = meta_of(self.model)
        if isinstance(self.request, dict):
            item = self.request["PutRequest"]["Item"]
            return {k.attr: item[k.attr] for k in meta.key_attrs}
        return meta.key_of(self.instance)

    def failed(self, error: DynormError | None) -> FailedWrite:
        return FailedWrite(self.action, self.model, self.key, self.instance, error)


class BatchWriter:
    """Collects puts and deletes and writes them with BatchWriteItem (see
    [`batch()`][dynorm.write.batch.batch]).

    Use it as ``async with dynorm.batch() as b:``. Writes added to the batch are sent in
    chunks of 25 while the block runs (once ``flush_at`` writes are waiting and the block
    awaits something) and at the end of the block, which waits for all of them.

    Two writes to the same item in one batch: the last one wins, and only it is sent
    (DynamoDB refuses a call with two writes to one key). An item whose earlier write is
    already on its way is held back until that write finished, so the order holds.
    """

    def __init__(
        self,
        *,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        flush_at: int = 1000,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.retry = retry if retry is not None else BATCH_WRITE_RETRY
        """The rounds of sending each chunk of 25 (see [`batch()`][dynorm.batch])."""
        self.flush_at = max(flush_at, MAX_BATCH_WRITE)
        self._pending: dict[KeyId, _Write] = {}
        self._in_flight: set[KeyId] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._sem: asyncio.Semaphore | None = None
        self._conn: Connection | None = None
        self._failed: list[FailedWrite] = []
        self._abort: BaseException | None = None
        self._closed = False
        self.written = 0
        """How many writes have succeeded so far."""
        self._capacity: dict[str, Capacity] = {}

    @property
    def capacity(self) -> tuple[Capacity, ...]:
        """What the batch's calls consumed so far, one `Capacity` per table (with
        ``connect(capacity=True)``; empty without it)."""
        return tuple(self._capacity.values())

    # ------------------------------------------------------------------ adding

    def save(self, instance: Model, *, store_none: bool = False, unversioned: bool = False
             ) -> None:
        """Put the whole item (replacing any item with the same key).

        BatchWriteItem takes no conditions, so the version of a model with a ``Version``
        field cannot be checked: such models are refused unless ``unversioned=True``
        (the version is still incremented, but a concurrent change is overwritten).

        Raises:
            InvalidBatch: a versioned model without ``unversioned=True``.
            InvalidKey: the instance's key is missing or invalid.
        """
        self._add("put", type(instance), instance, None, unversioned, store_none)

    @overload
    def delete(self, target: Model, *, unversioned: bool = False) -> None: ...

    @overload
    def delete(self, target: type[Model], key: Any, *, unversioned: bool = False) -> None: ...

    def delete(self, target: Model | type[Model], key: Any = None, *,
               unversioned: bool = False) -> None:
        """Delete an item: ``b.delete(user)`` or by key, ``b.delete(User, "u1")`` (the
        partition value, ``(partition, sort)``, or a dict of key fields).

        Deleting a missing item is not an error. A versioned model needs
        ``unversioned=True`` (the stored version is not checked).
        """
        if isinstance(target, type):
            wkey = wire_key(meta_of(target), target.__name__, key)
            self._add("delete", target, None, wkey, unversioned, False)
        else:
            self._add("delete", type(target), target, None, unversioned, False)

    def _add(self, action: Literal["put", "delete"], model: type[Model], instance: Model | None,
             key: Item | None, unversioned: bool, store_none: bool) -> None:
        if self._closed:
            raise InvalidBatch("this batch is closed: start a new `async with dynorm.batch()`")
        if self._abort is not None:
            raise InvalidBatch("this batch was aborted by an earlier error") from self._abort
        meta = meta_of(model)
        if key is None:
            key = meta.key_of(instance)
        if meta.version is not None and not unversioned:
            raise InvalidBatch(
                f"{model.__name__} ({meta.describe_key(key)}) has a Version field, and "
                "BatchWriteItem cannot check versions: use a transaction or save() for a "
                f"guarded write, or pass unversioned=True to {action} it without the check"
            )
        conn = self._conn or get_connection()
        table = conn.table_name(meta.table_name)
        kid = key_id(table, key)
        self._pending.pop(kid, None)  # the last write to an item wins
        self._pending[kid] = _Write(action, model, table, kid, instance,
                                    key if action == "delete" else None, store_none)
        if (len(self._pending) >= self.flush_at and self._sem is not None
                and (self._pump is None or self._pump.done())):
            self._pump = asyncio.get_running_loop().create_task(self._dispatch(final=False))

    # ------------------------------------------------------------------ sending

    async def __aenter__(self) -> BatchWriter:
        self._conn = get_connection()
        self._sem = asyncio.Semaphore(self.concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            # Writes already sent cannot be taken back; unsent ones are dropped.
            self._pending.clear()
            await self._settle()
            self._closed = True
            return
        await self.flush()
        self._closed = True

    async def flush(self) -> None:
        """Send every write added so far and wait until all are done.

        Raises:
            BatchWriteFailed: some writes were not made (the others were).
        """
        if self._sem is None:
            raise InvalidBatch("use the batch as `async with dynorm.batch() as b:`")
        if self._pump is not None:
            await self._pump
        try:
            await self._dispatch(final=True)
        finally:
            await self._settle()
        if self._abort is not None:
            raise self._abort
        if self._failed:
            failed, self._failed = self._failed, []
            error = BatchWriteFailed(failed, self.written)
            cause = next((f.error for f in failed if f.error is not None), None)
            raise error from cause

    async def _settle(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _take(self) -> list[_Write]:
        # Oldest first; an item whose earlier write is still in flight waits its turn.
        kids: list[KeyId] = []
        for kid in self._pending:
            if kid not in self._in_flight:
                kids.append(kid)
                if len(kids) == MAX_BATCH_WRITE:
                    break
        self._in_flight.update(kids)
        return [self._pending.pop(kid) for kid in kids]

    async def _dispatch(self, *, final: bool) -> None:
        assert self._sem is not None
        while self._abort is None:
            if not final and len(self._pending) < MAX_BATCH_WRITE:
                return
            await self._sem.acquire()
            chunk = self._take()
            if chunk:
                task = asyncio.get_running_loop().create_task(self._send(chunk))
                self._tasks.add(task)
                task.add_done_callback(self._done)
                continue
            self._sem.release()
            if not self._pending or not self._tasks:
                return
            # Every waiting write is to an item whose earlier write is still in flight.
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        assert self._sem is not None
        self._sem.release()
        if not task.cancelled() and task.exception() is not None and self._abort is None:
            self._abort = task.exception()

    async def _send(self, chunk: list[_Write]) -> None:
        assert self._conn is not None
        fragments = self._conn.accepts_json_fragments
        try:
            for write in chunk:  # the hooks first: the values they set are the ones written
                instance = write.instance
                if instance is None:
                    continue
                if write.action == "put" and has_hook(write.model, "before_save"):
                    await instance.before_save()
                elif write.action != "put" and has_hook(write.model, "before_delete"):
                    await instance.before_delete()
            for model in {w.model for w in chunk if w.action == "put"}:
                meta = meta_of(model)
                if meta.loaders:  # data keys of encrypted fields (KMS), values in S3
                    await ready_to_write(meta.loaders, meta.sealed, [
                        w.instance for w in chunk if w.model is model and w.action == "put"])
            for write in chunk:
                instance = write.instance
                if write.action == "put":
                    assert instance is not None
                    if fragments:
                        # The item's JSON, made by the size check anyway, travels as it
                        # is: no tree of dicts waits in flight for the collector to walk.
                        data, write.version = writes.put_json(instance, write.store_none)
                        write.request = Fragment(b'{"PutRequest":{"Item":' + data + b"}}")
                    else:
                        op, write.version = writes.prepare_put(instance, write.table, None,
                                                               write.store_none)
                        write.request = {"PutRequest": {"Item": op.item}}
                else:
                    write.request = {"DeleteRequest": {"Key": write.key}}
            await self._write_chunk(chunk)
        finally:
            for write in chunk:
                self._in_flight.discard(write.kid)

    async def _write_chunk(self, chunk: list[_Write]) -> None:
        conn = self._conn
        assert conn is not None
        with conn.span("dynorm.batch_write.chunk", {"dynorm.writes": len(chunk)}):
            await self._write_rounds(conn, chunk)

    async def _write_rounds(self, conn: Connection, chunk: list[_Write]) -> None:
        """BatchWriteItem of ``chunk``, its unprocessed writes sent again (`retry`)."""
        by_id = {w.kid: w for w in chunk}
        key_attrs = {w.table: [k.attr for k in meta_of(w.model).key_attrs] for w in chunk}
        remaining = list(chunk)
        attempt = 0
        while True:
            request: dict[str, list[dict[str, Any] | Fragment]] = {}
            for w in remaining:
                assert w.request is not None
                request.setdefault(w.table, []).append(w.request)
            try:
                response = await conn.call("BatchWriteItem", {"RequestItems": request})
                merge_capacity(self._capacity, "BatchWriteItem",
                               response.get("ConsumedCapacity"))
            except ROUND_ERRORS as exc:
                # The transport's own retries are spent: keep going with the batch budget.
                unprocessed = remaining
                last: DynormError | None = exc
            except DynormError as exc:
                self._failed.extend(w.failed(exc) for w in remaining)
                return
            else:
                last = None
                unprocessed = []
                for table, entries in (response.get("UnprocessedItems") or {}).items():
                    attrs = key_attrs[table]
                    for wr in entries:
                        body = wr.get("PutRequest", {}).get("Item") or wr["DeleteRequest"]["Key"]
                        unprocessed.append(by_id[key_id(table, {a: body[a] for a in attrs})])
            left = {id(w) for w in unprocessed}
            for w in remaining:
                if id(w) in left:
                    continue
                self.written += 1
                instance = w.instance
                if instance is None:
                    continue
                if w.action == "put":
                    writes.written(instance, w.version)
                    if has_hook(w.model, "after_save"):
                        await instance.after_save()
                elif has_hook(w.model, "after_delete"):
                    await instance.after_delete()
            remaining = unprocessed
            if not remaining:
                return
            attempt += 1
            if attempt >= self.retry.max_attempts:
                self._failed.extend(w.failed(last) for w in remaining)
                return
            delay = self.retry.delay(attempt)
            log.debug("BatchWriteItem: %d unprocessed, retry %d in %.3fs", len(remaining),
                      attempt, delay)
            await asyncio.sleep(delay)


def batch(
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    flush_at: int = 1000,
) -> BatchWriter:
    """A batch of writes: ``async with dynorm.batch() as b: b.save(x); b.delete(y)``.

    Args:
        concurrency: BatchWriteItem calls in flight at once.
        retry: the rounds of sending each chunk of 25: ``max_attempts`` rounds in all
            (the first included), with exponential backoff and full jitter between them;
            items left unprocessed, and throttling, 5xx or lost connections that outlast
            the connection's own retries, cost a round (the writes carry no condition, so
            a repeat is harmless). Default `BATCH_WRITE_RETRY`: 11 rounds, pauses of
            0.05 s doubling up to 5 s.
        flush_at: start sending while the block runs once this many writes wait.

    Raises (on exit):
        BatchWriteFailed: naming every write that was not made.
    """
    return BatchWriter(concurrency=concurrency, retry=retry, flush_at=flush_at)
