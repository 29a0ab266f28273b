"""Runs a `Migration`: a parallel scan, items changed concurrently, progress per segment."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from dynorm._types import Item
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import ConditionFailed, DynormError, ValidationFailed
from dynorm.migrate.checkpoints import MigrationCheckpoints, SegmentState
from dynorm.migrate.item import MARKER, KeyChanged, item_change
from dynorm.migrate.migration import (
    FailedItem,
    MigrationError,
    MigrationProgress,
    MigrationResult,
    Outcome,
)
from dynorm.observe.limits import TokenBucket
from dynorm.schema.classes import meta_of
from dynorm.schema.upgrade import UpgradeFailed, stored_version
from dynorm.security import DecryptionFailed, ready_to_read, ready_to_write

if TYPE_CHECKING:
    from collections.abc import Callable

    from dynorm.migrate.migration import Migration

__all__ = ["RateLimit", "Runner"]

log = logging.getLogger("dynorm.migrate")

#: Attempts per item when a concurrent write keeps making the condition fail.
_ATTEMPTS = 3
_MAX_FAILURES = 100


class RateLimit:
    """At most ``rate`` capacity units per second on average (shared by every segment):
    the token bucket of connection-level rate limits (`dynorm.observe.limits`)."""

    def __init__(self, rate: float | None) -> None:
        self.bucket = TokenBucket(rate) if rate is not None else None
        self.spent = 0.0

    async def spend(self, units: float) -> None:
        """Count ``units`` consumed, then wait while the bucket is in debt."""
        self.spent += units
        if self.bucket is not None:
            self.bucket.spend(units)
            await self.bucket.acquire()


def _units(answer: dict[str, Any]) -> float:
    consumed = answer.get("ConsumedCapacity") or {}
    return float(consumed.get("CapacityUnits") or 0.0)


class Runner:
    """One run of a migration (see ``Migration.run`` for the arguments)."""

    def __init__(self, migration: Migration[Any], *, segments: int, concurrency: int,
                 page_size: int | None, rate: float | None, dry_run: bool, resume: bool,
                 checkpoints: MigrationCheckpoints | None,
                 progress: Callable[[MigrationProgress], object] | None) -> None:
        self.migration = migration
        self.meta = meta_of(migration.model)
        self.segments = segments
        self.page_size = page_size
        self.dry_run = dry_run
        self.resume = resume
        self.store = checkpoints or MigrationCheckpoints()
        self.progress = progress
        self.limit = RateLimit(rate)
        self.slots = asyncio.Semaphore(concurrency)
        self.failures: list[FailedItem] = []
        self.states: list[SegmentState] = []
        self.started = time.monotonic()
        self.seen_now = 0
        self.estimate: int | None = None
        self.table = ""
        self.conn: Connection | None = None

    # ------------------------------------------------------------------ the run

    async def run(self) -> MigrationResult:
        conn = self.conn = get_connection()
        self.table = conn.table_name(self.meta.table_name)
        desc = (await conn.call("DescribeTable", {"TableName": self.table}))["Table"]
        self.estimate = desc.get("ItemCount")
        mid = self.migration.id
        saved = [] if self.dry_run else await self.store.load(mid)
        if saved and not self.resume:
            if all(s.done for s in saved):
                return self.result(saved, complete=True)
            done = sum(s.done for s in saved)
            raise MigrationError(
                f"migration {mid} has saved progress ({done} of {saved[0].segments} "
                "segments done): resume=True (dynorm migrate --resume) continues it")
        if saved:
            self.segments = saved[0].segments
            log.info("resuming migration %s: %d of %d segments done", mid,
                     sum(s.done for s in saved), self.segments)
        by_segment = {s.segment: s for s in saved}
        self.states = [by_segment.get(i) or SegmentState(i, self.segments)
                       for i in range(self.segments)]
        tasks = [asyncio.create_task(self.segment(s)) for s in self.states if not s.done]
        try:
            await asyncio.gather(*tasks)
        finally:  # one segment failed (or the run was cancelled): stop the others
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.result(self.states, complete=all(s.done for s in self.states))

    def result(self, states: list[SegmentState], *, complete: bool) -> MigrationResult:
        counts = {k: sum(s.counts.get(k, 0) for s in states)
                  for k in ("seen", "changed", "skipped", "failed")}
        reasons: dict[str, int] = {}
        for state in states:
            for reason, n in state.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        elapsed = time.monotonic() - self.started
        return MigrationResult(
            self.migration.id, counts["seen"], counts["changed"], counts["skipped"],
            counts["failed"], reasons, tuple(self.failures), complete, self.dry_run,
            elapsed, self.seen_now / elapsed if elapsed > 0 else 0.0)

    def report(self) -> None:
        if self.progress is None:
            return
        total = self.result(self.states, complete=False)
        elapsed = time.monotonic() - self.started
        self.progress(MigrationProgress(
            self.migration.id, total.seen, total.changed, total.skipped, total.failed,
            sum(s.done for s in self.states), self.segments, self.estimate, elapsed,
            self.limit.spent / elapsed if elapsed > 0 else 0.0))

    # ------------------------------------------------------------------ one segment

    async def segment(self, state: SegmentState) -> None:
        assert self.conn is not None
        request: dict[str, Any] = {"TableName": self.table, "Segment": state.segment,
                                   "TotalSegments": state.segments,
                                   "ReturnConsumedCapacity": "TOTAL"}
        if self.page_size:
            request["Limit"] = self.page_size
        if self.meta.entity:
            request["FilterExpression"] = "#e = :e"
            request["ExpressionAttributeNames"] = {"#e": self.meta.entity_attr}
            request["ExpressionAttributeValues"] = {":e": {"S": self.meta.entity}}
        while not state.done:
            if state.position is not None:
                request["ExclusiveStartKey"] = state.position
            answer = await self.conn.call("Scan", request)
            await self.limit.spend(_units(answer))
            items = answer.get("Items") or []
            outcomes = await asyncio.gather(*(self.item(raw) for raw in items))
            for outcome, reason in outcomes:
                state.counts["seen"] += 1
                state.counts[outcome] += 1
                if reason:
                    state.reasons[reason] = state.reasons.get(reason, 0) + 1
            self.seen_now += len(items)
            state.position = answer.get("LastEvaluatedKey")
            state.done = state.position is None
            if not self.dry_run:
                await self.store.save(self.migration.id, state)
            self.report()

    # ------------------------------------------------------------------ one item

    async def item(self, raw: Item) -> tuple[Outcome, str]:
        async with self.slots:
            for _ in range(_ATTEMPTS):
                try:
                    return await self.attempt(raw)
                except ConditionFailed:
                    fresh = await self.reread(raw)
                    if fresh is None:
                        return "skipped", "deleted meanwhile"
                    raw = fresh
            return self.failed(raw, f"changed concurrently {_ATTEMPTS} times in a row",
                               "its attributes kept changing between read and write")

    async def attempt(self, raw: Item) -> tuple[Outcome, str]:
        meta, mid = self.meta, self.migration.id
        if mid in (raw.get(MARKER) or {}).get("SS", ()):
            return "skipped", "already migrated"
        readable = raw
        if meta.loading:  # data keys (KMS), values in S3: on a copy, raw stays as stored
            readable = dict(raw)
            await ready_to_read(meta.loading, (readable,))
        try:
            instance = self.migration.model.from_item(readable)
        except UpgradeFailed as exc:  # before ValidationFailed, its base
            return self.failed(raw, "cannot be upgraded", str(exc))
        except (ValidationFailed, DecryptionFailed) as exc:
            return self.failed(raw, "does not fit the model", str(exc))
        try:
            result = await self.migration.apply_to(instance)
        except Exception as exc:  # the user's function: every failure is reported
            # (not its message when the instance holds decrypted values: it may repeat one)
            detail = "its message is not shown: the item holds decrypted values" if any(
                spec.keyring is not None for spec in meta.sealed) else str(exc)
            return self.failed(raw, f"the change raised {type(exc).__name__}", detail)
        if result is None:
            return "skipped", "no change"
        if not isinstance(result, self.migration.model):
            return self.failed(raw, f"the change returned a {type(result).__name__}",
                               f"not a {self.migration.model.__name__} or None")
        if meta.loaders:  # a data key to re-encrypt with, values uploaded to S3
            await ready_to_write(meta.loaders, meta.sealed, (result,))
        try:
            upgraded = (meta.schema_version is not None
                        and stored_version(raw) != meta.schema_version)
            change = item_change(meta, raw, meta.encode_item(result), upgraded=upgraded)
            if change.empty:
                return "skipped", "no change"
            if meta.version is not None:
                stored = raw.get(meta.version.attr, {}).get("N")
                bumped = int(stored) + 1 if stored is not None else 1
                change = item_change(meta, raw, meta.encode_item(result, version=bumped),
                                     upgraded=upgraded)
        except KeyChanged as exc:
            return self.failed(raw, "the change changed the key", str(exc))
        except DynormError as exc:
            return self.failed(raw, f"cannot be written: {type(exc).__name__}", str(exc))
        if self.dry_run:
            return "changed", ""
        assert self.conn is not None
        request = change.request(self.table, mid)
        request["ReturnConsumedCapacity"] = "TOTAL"
        try:
            answer = await self.conn.call("UpdateItem", request)
        except ConditionFailed:
            raise
        except DynormError as exc:
            return self.failed(raw, f"write refused: {type(exc).__name__}", str(exc))
        await self.limit.spend(_units(answer) or 1.0)
        return "changed", ""

    async def reread(self, raw: Item) -> Item | None:
        assert self.conn is not None
        key = {k.attr: raw[k.attr] for k in self.meta.key_attrs}
        answer = await self.conn.call("GetItem", {"TableName": self.table, "Key": key,
                                                  "ConsistentRead": True,
                                                  "ReturnConsumedCapacity": "TOTAL"})
        await self.limit.spend(_units(answer))
        item: Item | None = answer.get("Item")
        return item

    def failed(self, raw: Item, kind: str, detail: str) -> tuple[Outcome, str]:
        """A failed item: counted under ``kind``, listed with the detail."""
        key = {k.attr: raw.get(k.attr) for k in self.meta.key_attrs}
        reason = f"{kind}: {detail}"
        if len(self.failures) < _MAX_FAILURES:
            self.failures.append(FailedItem(key, reason))
        log.warning("migration %s: item %s failed: %s", self.migration.id, key, reason)
        return "failed", kind
