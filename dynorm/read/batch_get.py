"""Batch reads: many items by key with BatchGetItem.

```python
users = await dynorm.get_many(User, ["u1", "u2", "u3"])          # [User | None, ...]
user, order = await dynorm.batch_get((User, "u1"), (Order, ("u1", "o9")))
```

Keys go out 100 per call, several calls at once (``concurrency``); each distinct key is
read once. Pipelined: each call's answer is decoded as soon as it is in, while the other
calls are in flight (a finished call's slot goes to the next chunk of keys first, and
the decoding yields to the event loop every few items); an
error, or the caller's cancellation, cancels the calls still in flight and waits for
them. Keys DynamoDB leaves unprocessed, and calls that meet throttling, 5xx or no
answer after the connection's own retries, are asked again with exponential backoff and
full jitter until done or the rounds of ``retry`` (a [`RetryPolicy`][dynorm.RetryPolicy],
`BATCH_GET_RETRY` by default) are spent; then
[`BatchGetFailed`][dynorm.BatchGetFailed] names exactly the keys that were not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dynorm._gc import paused
from dynorm._types import Item, Request, Response
from dynorm.connection import ROUND_ERRORS, get_connection
from dynorm.exceptions import DynormError
from dynorm.read.answers import split_items
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import is_own, reader
from dynorm.schema.keys import KeyId, key_id, key_ider, key_maker
from dynorm.security import ready_to_read
from dynorm.transport.base import RetryPolicy, answers_read_by

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["BATCH_GET_RETRY", "MAX_BATCH_GET", "BatchGetFailed", "batch_get", "get_many"]

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound="Model")
M1 = TypeVar("M1", bound="Model")
M2 = TypeVar("M2", bound="Model")
M3 = TypeVar("M3", bound="Model")
M4 = TypeVar("M4", bound="Model")

#: Items decoded between two turns of the event loop while other calls are in flight.
_SLICE = 20

#: DynamoDB's limit of keys per BatchGetItem call.
MAX_BATCH_GET = 100

#: The default rounds of a batch read (per call of 100 keys): 11 in all, the first
#: included, with pauses of up to 0.05 s, doubling, at most 5 s.
BATCH_GET_RETRY = RetryPolicy(max_attempts=11, base_delay=0.05, max_delay=5.0)


class BatchGetFailed(DynormError):
    """Some keys of a batch read were still unprocessed after every retry.

    Attributes:
        missing: ``(model, key)`` for each key that was not read (wire-form keys).
    """

    def __init__(self, missing: Sequence[tuple[type[Model], Item]]) -> None:
        shown = "; ".join(f"{m.__name__} ({meta_of(m).describe_key(k)})" for m, k in missing[:10])
        more = f"; ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(
            f"batch get: {len(missing)} key(s) still unprocessed after the last retry "
            f"(throttled?): {shown}{more}"
        )
        self.missing = list(missing)


async def _read(pairs: Sequence[tuple[type[Model], Any]], *, consistent: bool,
                concurrency: int = 8, retry: RetryPolicy | None = None, wire: bool = False,
                raw: bool = False) -> list[Any]:
    """One result per pair (model or None), reading each distinct key once.

    An item of another entity sharing the table is not the model's: None, as for a
    missing item. ``wire``: the keys are wire-form keys already. ``raw``: return the
    stored items undecoded (the caller decodes them).

    Pipelined: each chunk's answer is decoded as soon as it is in, while the other
    chunks' calls are in flight (the slot of a finished call is handed to the next chunk
    before the decoding starts, and the decoding yields to the event loop every
    ``_SLICE`` items, so answers that come in meanwhile hand over their slots too). Keys
    of one model: each chunk's call goes out as soon as its 100 keys are built, while the
    later keys are built (the server starts ~4 µs per key sooner on 1,000 keys), and each
    key's item is its model's alone (no record of the models asking for it); keys of
    several models are all built first, so no answer is read before every model asking
    for its key is known.
    Models whose values need data keys or value stores
    (``meta.loading``) are decoded at the end, once those are loaded for every item at
    once. An error (a call's, a decoding's, the caller's cancellation) cancels the chunks
    still in flight and waits for them: nothing is left running.
    """
    conn = get_connection()
    policy = retry if retry is not None else BATCH_GET_RETRY
    ids: list[KeyId] = []
    unique: dict[KeyId, Item] = {}  # each distinct key's wire key (its table: kid[0])
    # per model: its key identity (see key_ider) and key maker
    seen: dict[type[Model], tuple[Callable[[Item], KeyId], Callable[[Any], Item]]] = {}
    iders: dict[str, Callable[[Item], KeyId]] = {}
    models = {model for model, _ in pairs}
    # Keys of one model: every item read is that model's (decoded by key id alone), and a
    # full chunk's call can go out while the later keys are still being built.
    one = next(iter(models)) if len(models) == 1 else None
    # several models: the models asking for each key, and their items by (model, key id)
    wants: dict[KeyId, dict[type[Model], None]] = {}
    reads = {model: _row_reader(model, raw) for model in models}
    at_end = any(meta_of(m).loading for m in models)  # data keys of encrypted values (KMS)
    found: dict[KeyId, Item] = {}
    decoded: dict[Any, Any] = {}  # absent: no item
    missing: list[tuple[type[Model], Item]] = []
    chunks: list[list[KeyId]] = []
    sem = asyncio.Semaphore(concurrency)
    several = len(pairs) > MAX_BATCH_GET  # final once every key is built
    tasks: list[asyncio.Future[None]] = []

    def decode(rows: Iterable[tuple[KeyId, Item]]) -> None:
        """Each row read for every model that asked for its key (None where it is another
        entity's item: one key, several models), into ``decoded``."""
        if one is not None:
            read = reads[one]
            for kid, row in rows:
                if kid not in unique:
                    raise _unasked(kid[0], kid[1:])
                decoded[kid] = read(row)
            return
        for kid, row in rows:
            asking = wants.get(kid)
            if asking is None:
                raise _unasked(kid[0], kid[1:])
            for model in asking:
                decoded[model, kid] = reads[model](row)

    def read_answer(payload: Request, body: bytes, parse: Callable[[bytes], Response]
                    ) -> Response:
        """The answer's items decoded into ``decoded`` as it is read, with the garbage
        collector paused (`dynorm.transport.base.answers_read_by`): the items of one
        table's answer parsed and decoded one at a time (`split_items`), else the answer
        parsed whole and then decoded; then taken out of the answer. An item that does
        not read leaves the answer to ``rounds``, which decodes it again and raises where
        it always did."""
        tables = payload.get("RequestItems", {}).keys()
        if not tables <= iders.keys():
            return parse(body)
        whole = None
        if len(tables) == 1:
            (table,) = tables
            split = split_items(body, ("Responses", table), count=False)
            if split is not None:
                slices, response = split
                try:
                    ider = iders[table]
                    decode((ider(row), row) for row in slices.items())
                except Exception:
                    return parse(body)
                if slices.whole is None:
                    response["Responses"] = {}
                    return response
                # A slice did not parse: the split may have run on past the table's
                # list (`split_items`), so its rest is not the answer's. The general
                # way instead, from the whole parse (this table's items decoded again).
                whole = slices.whole
        response = parse(body) if whole is None else whole
        try:
            answered = response.get("Responses") or {}
            decode(_draining([(ider(row), row) for table, rows in answered.items()
                              for ider in (iders[table],) for row in rows]))
        except Exception:
            return response
        response["Responses"] = {}
        return response

    async def rounds(chunk: list[KeyId]) -> list[tuple[KeyId, Item]]:
        """The items of one chunk's keys, with retries; keys never read go to missing."""
        rows: list[tuple[KeyId, Item]] = []
        remaining = chunk
        attempt = 0
        while True:
            keys: dict[str, list[Item]] = {}
            for kid in remaining:
                listed = keys.get(kid[0])
                if listed is None:
                    listed = keys[kid[0]] = []
                listed.append(unique[kid])
            request = {"RequestItems": {
                table: {"Keys": listed, "ConsistentRead": True} if consistent
                else {"Keys": listed} for table, listed in keys.items()}}
            try:
                if at_end or raw:
                    response = await conn.call("BatchGetItem", request)
                else:  # the items read into models as the answer is parsed
                    with answers_read_by("BatchGetItem", read_answer):
                        response = await conn.call("BatchGetItem", request)
            except ROUND_ERRORS:
                # Throttling, 5xx or no answer after the transport's retries: reads are
                # safe to repeat, so this costs a round of the batch's budget.
                left = remaining
            else:
                for table, answered in (response.get("Responses") or {}).items():
                    ider = iders.get(table)
                    if ider is None:
                        raise _unasked(table)
                    rows.extend((ider(row), row) for row in answered)
                left = []
                for table, entry in (response.get("UnprocessedKeys") or {}).items():
                    left.extend(key_id(table, k) for k in entry["Keys"])
            if not left:
                return rows
            attempt += 1
            if attempt >= policy.max_attempts:
                missing.extend((one or next(iter(wants[k])), unique[k]) for k in left)
                return rows
            delay = policy.delay(attempt)
            log.debug("BatchGetItem: %d unprocessed, retry %d in %.3fs", len(left),
                      attempt, delay)
            remaining = left
            await asyncio.sleep(delay)

    async def fetch(chunk: list[KeyId]) -> None:
        # the parent span of the chunk's rounds (with telemetry on)
        with conn.span("dynorm.batch_get.chunk", {"dynorm.keys": len(chunk)}):
            async with sem:
                rows = await rounds(chunk)
        if at_end:
            found.update(rows)
            return
        if not several:
            paused(decode, _draining(rows))
            return
        # In slices, yielding between them: other calls' answers that came in meanwhile
        # hand their slots to the next chunks before more decoding holds the loop.
        while rows:
            await asyncio.sleep(0)
            cut = rows[-_SLICE:]
            del rows[-_SLICE:]
            paused(decode, cut)

    def describe(model: type[Model]) -> tuple[Callable[[Item], KeyId], Callable[[Any], Item]]:
        meta = meta_of(model)
        table = conn.table_name(meta.table_name)
        ider = iders[table] = key_ider(table, [k.attr for k in meta.key_attrs])
        known = seen[model] = (ider, key_maker(meta, model.__name__))
        return known

    try:
        chunk: list[KeyId] = []
        for model, key in pairs:
            ider, make_key = seen.get(model) or describe(model)
            wkey = key if wire else make_key(key)
            kid = ider(wkey)
            ids.append(kid)
            if kid not in unique:
                unique[kid] = wkey
                if one is None:
                    wants[kid] = {}
                chunk.append(kid)
                if len(chunk) == MAX_BATCH_GET:
                    chunks.append(chunk)
                    chunk = []
                    if one is not None and len(tasks) < concurrency:
                        # sent now: the server works on it while the next keys are built
                        tasks.append(asyncio.ensure_future(fetch(chunks[-1])))
                        await asyncio.sleep(0)
            if one is None:
                wants[kid][model] = None
        if chunk:
            chunks.append(chunk)
        several = len(chunks) > 1
        if len(chunks) == 1 and not tasks:
            await fetch(chunks[0])
        elif chunks:
            tasks.extend(asyncio.ensure_future(fetch(c)) for c in chunks[len(tasks):])
            await asyncio.gather(*tasks)
    finally:  # after an error or a cancellation: stop the other chunks, wait for them
        if tasks:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if missing:
        raise BatchGetFailed(missing)
    if at_end:
        for model in models:
            meta = meta_of(model)
            if meta.loading:  # data keys of encrypted values (KMS), also for raw reads
                await ready_to_read(meta.loading, [
                    row for kid, row in found.items() if one is not None or model in wants[kid]])
        paused(decode, _draining(list(found.items())))
    if one is not None:
        return [decoded.get(kid) for kid in ids]
    return [decoded.get((model, kid)) for (model, _), kid in zip(pairs, ids, strict=True)]


def _unasked(table: str, key: KeyId | None = None) -> DynormError:
    """The error for an answered item whose key is none of those asked for, or for items
    of a table no key of the batch is in: never dropped (a key's would be answered None,
    as if it had no item)."""
    what = (f"items of table {table!r}, in which no key was asked for" if key is None
            else f"an item of table {table!r} whose key {key!r} matches no key asked for")
    return DynormError(f"batch get: the server answered {what}; nothing was dropped: "
                       "report this with the keys given")


def _row_reader(model: type[Model], raw: bool) -> Callable[[Item], Any]:
    """``row -> what a batch read answers for it``: the model's instance (`reader`), or
    with ``raw`` the row itself; None where it is another entity's item."""
    if not raw:
        return reader(model)
    meta = meta_of(model)
    return lambda row: row if is_own(meta, row) else None


def _draining(rows: list[T]) -> Iterator[T]:
    """The rows of a list in order, the list emptied as they go: a raw tree is dropped
    once decoded, as in `dynorm.read.answers.each_model`."""
    rows.reverse()
    pop = rows.pop
    return (pop() for _ in range(len(rows)))


async def get_many(
    model: type[M],
    keys: Iterable[Any],
    *,
    consistent: bool = False,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
) -> list[M | None]:
    """Read many items of one model by key (BatchGetItem, 100 keys per call).

    ```python
    users = await dynorm.get_many(User, ["u1", "u2"])              # [User | None, ...]
    scores = await dynorm.get_many(Score, [("u1", "tetris"), ("u2", "chess")])
    ```

    Args:
        model: the model class.
        keys: each the partition value, ``(partition, sort)`` for a table with a sort
            key, or a dict of key fields (as every method takes a key).
        consistent: strongly consistent reads.
        concurrency: BatchGetItem calls in flight at once.
        retry: the rounds of each call of 100 keys: ``max_attempts`` rounds in all (the
            first included), with exponential backoff and full jitter between them; keys
            left unprocessed, and throttling, 5xx or lost answers that outlast the
            connection's own retries, cost a round. Default `BATCH_GET_RETRY`: 11
            rounds, pauses of 0.05 s doubling up to 5 s.

    Returns:
        One entry per key, in the order given: the item, or None where there is none.
        A key given twice is read once and answered at both places.

    Raises:
        BatchGetFailed: keys still unprocessed after the last round.
        InvalidKey: a key does not fit the model.
    """
    results = await _read([(model, k) for k in keys], consistent=consistent,
                          concurrency=concurrency, retry=retry)
    return results


async def read_items(model: type[Model], keys: Sequence[Item], *, consistent: bool = False
                     ) -> list[Item | None]:
    """The stored items (undecoded) behind wire-form keys, in order; None where there is
    none (or it is another entity's). For queries that complete index pages."""
    return await _read([(model, k) for k in keys], consistent=consistent, wire=True, raw=True)


@overload
async def batch_get(p1: tuple[type[M1], Any], /, *, consistent: bool = ...,
                    retry: RetryPolicy | None = ...) -> tuple[M1 | None]: ...


@overload
async def batch_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any], /, *,
                    consistent: bool = ..., retry: RetryPolicy | None = ...
                    ) -> tuple[M1 | None, M2 | None]: ...


@overload
async def batch_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any],
                    p3: tuple[type[M3], Any], /, *, consistent: bool = ...,
                    retry: RetryPolicy | None = ...
                    ) -> tuple[M1 | None, M2 | None, M3 | None]: ...


@overload
async def batch_get(p1: tuple[type[M1], Any], p2: tuple[type[M2], Any],
                    p3: tuple[type[M3], Any], p4: tuple[type[M4], Any], /, *,
                    consistent: bool = ..., retry: RetryPolicy | None = ...
                    ) -> tuple[M1 | None, M2 | None, M3 | None, M4 | None]: ...


@overload
async def batch_get(*pairs: tuple[type[Model], Any], consistent: bool = ...,
                    retry: RetryPolicy | None = ...) -> tuple[Model | None, ...]: ...


async def batch_get(*pairs: tuple[type[Model], Any], consistent: bool = False,
                    retry: RetryPolicy | None = None) -> tuple[Model | None, ...]:
    """Read items of several models at once (BatchGetItem, 100 keys per call).

    ```python
    user, order = await dynorm.batch_get((User, "u1"), (Order, ("u1", "o9")))
    ```

    Each argument is ``(Model, key)``, the key as every method takes it: the partition
    value, ``(partition, sort)``, or a dict of key fields. ``retry`` is as for
    [`get_many()`][dynorm.get_many]. Returns a tuple with one entry per pair, in order
    (None where there is no item); with up to four pairs, type checkers see each entry's
    model type.

    Raises:
        BatchGetFailed: keys still unprocessed after the last round.
    """
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], type)):
            raise TypeError(f"batch_get() takes (Model, key) pairs, got {pair!r}")
    results = await _read(pairs, consistent=consistent, retry=retry)
    return tuple(results)

