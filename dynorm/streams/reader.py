"""Reading one shard: iterators, GetRecords polling, checkpoints after each batch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from dynorm._aio import wait_event
from dynorm.connection import Connection
from dynorm.exceptions import ServiceError, TableNotFound, Throttled, TransportError
from dynorm.streams.checkpoints import CheckpointStore
from dynorm.streams.dispatch import Dispatcher
from dynorm.streams.events import FailedRecord, decode_record, load_keys, pick_model
from dynorm.streams.shards import Shard

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ReadResult", "ShardReader", "StartPosition"]

log = logging.getLogger(__name__)

StartPosition = Literal["TRIM_HORIZON", "LATEST"]

ReadResult = Literal["finished", "stopped", "failed", "lost", "gone"]
"""How a reader ended: read to the end of a closed shard; asked to stop; a handler's
``"stop"`` policy; the lease lapsed; the shard no longer exists."""


class ShardReader:
    """Reads one shard from its checkpoint, in order, until stopped or the shard ends."""

    def __init__(
        self,
        connection: Connection,
        shard: Shard,
        model: type[Model] | Sequence[type[Model]],
        table: str,
        dispatcher: Dispatcher,
        checkpoints: CheckpointStore,
        *,
        start: StartPosition,
        poll_interval: float,
        batch_size: int,
    ) -> None:
        self.connection = connection
        self.shard = shard
        #: the models of this table (several in single-table design, told apart by entity)
        self.models = list(model) if isinstance(model, Sequence) else [model]
        self.model = self.models[0]
        self.table = table
        self.dispatcher = dispatcher
        self.checkpoints = checkpoints
        self.start = start
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stop_event = asyncio.Event()
        #: monotonic deadline of the lease (inf without leases); reading stops past it.
        self.valid_until = float("inf")
        self.last: str | None = None

    def __repr__(self) -> str:
        return f"<ShardReader {self.table} {self.shard.shard_id}>"

    def stop(self) -> None:
        """Finish the in-flight batch, checkpoint, return."""
        self.stop_event.set()

    def _lease_valid(self) -> bool:
        return time.monotonic() < self.valid_until

    async def _pause(self, seconds: float) -> None:
        await wait_event(self.stop_event, seconds)

    async def _iterator(self, after: str | None, kind: str | None = None) -> str | None:
        request: dict[str, Any] = {"StreamArn": self.shard.stream_arn,
                                   "ShardId": self.shard.shard_id}
        if after is not None and kind is None:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            request["ShardIteratorType"] = kind or self.start
        try:
            response = await self.connection.call("GetShardIterator", request)
        except ServiceError as exc:
            if exc.code == "TrimmedDataAccessException" and kind is None:
                log.warning("shard %s of %s: records after %s were trimmed from the stream "
                            "(older than 24 h); continuing from TRIM_HORIZON",
                            self.shard.shard_id, self.table, after)
                return await self._iterator(None, "TRIM_HORIZON")
            raise
        iterator = response.get("ShardIterator")
        return str(iterator) if iterator else None

    async def run(self) -> ReadResult:
        """Read until the shard ends, `stop()` is called or the lease lapses."""
        shard = self.shard
        saved = await self.checkpoints.load(shard.stream_arn, shard.shard_id)
        if saved is not None and saved.finished:
            return "finished"
        self.last = saved.sequence_number if saved else None
        if self.last is None and self.start == "LATEST" and shard.closed:
            return "finished"  # nothing new will ever arrive in a closed shard
        try:
            iterator = await self._iterator(self.last)
        except TableNotFound:
            log.warning("shard %s of %s no longer exists", shard.shard_id, self.table)
            return "gone"
        failures = 0
        while iterator is not None:
            if self.stop_event.is_set():
                return "stopped"
            if not self._lease_valid():
                return "lost"
            try:
                response = await self.connection.call(
                    "GetRecords", {"ShardIterator": iterator, "Limit": self.batch_size})
            except (ServiceError, TransportError) as exc:
                iterator, failures = await self._recover(exc, iterator, failures)
                continue
            failures = 0
            records = response.get("Records", [])
            with self.connection.span("dynorm.stream.batch", {
                    "dynorm.records": len(records), "dynorm.shard_id": shard.shard_id,
                    "aws.dynamodb.table_names": (self.table,)}):
                result = await self._handle(records)
            telemetry = self.connection.telemetry
            if telemetry is not None and records:
                telemetry.stream_lag(self.table, self.dispatcher.metrics.lag_seconds)
            if result is not None:
                return result
            iterator = response.get("NextShardIterator")
            if iterator is None:
                break
            if len(records) < self.batch_size:
                await self._pause(self.poll_interval)
        log.info("shard %s of %s is closed and read to its end", shard.shard_id, self.table)
        await self.checkpoints.save(shard.stream_arn, shard.shard_id, self.last, finished=True)
        return "finished"

    async def _recover(self, exc: Exception, iterator: str, failures: int
                       ) -> tuple[str | None, int]:
        code = getattr(exc, "code", "")
        if code == "ExpiredIteratorException":
            log.warning("shard %s of %s: shard iterator expired; getting a new one after %s",
                        self.shard.shard_id, self.table, self.last or self.start)
            return await self._iterator(self.last), failures
        if code == "TrimmedDataAccessException":
            log.warning("shard %s of %s: records after %s were trimmed (older than 24 h); "
                        "getting a new iterator", self.shard.shard_id, self.table, self.last)
            return await self._iterator(self.last), failures
        failures += 1
        delay = min(5.0, self.poll_interval * 2 ** failures)
        level = logging.WARNING if isinstance(exc, (Throttled, TransportError)) else logging.ERROR
        log.log(level, "shard %s of %s: GetRecords failed (%r); retrying in %.2fs",
                self.shard.shard_id, self.table, exc, delay)
        await self._pause(delay)
        return iterator, failures

    async def _handle(self, records: list[dict[str, Any]]) -> ReadResult | None:
        """Deliver a batch in order, then checkpoint the last record done."""
        done = self.last
        result: ReadResult | None = None
        for record in records:
            if not self._lease_valid():
                result = "lost"
                break
            self.dispatcher.metrics.records += 1
            failure = await self._deliver(record)
            if failure is not None:
                result = "failed"
                break
            seq = (record.get("dynamodb") or {}).get("SequenceNumber")
            if seq is not None:
                done = str(seq)
        if done != self.last:
            self.last = done
            await self.checkpoints.save(self.shard.stream_arn, self.shard.shard_id, done)
        return result

    async def _deliver(self, record: dict[str, Any]) -> FailedRecord | None:
        model = pick_model(self.models, record)
        if model is None:
            return None  # another entity's item in a shared table: not for this listener
        await load_keys(model, record)
        try:
            event = decode_record(model, record, table=self.table,
                                  shard_id=self.shard.shard_id)
        except Exception as exc:  # ValidationFailed, StreamError, codec errors: skip it
            failure = _invalid(self, record, exc)
        else:
            return await self.dispatcher.deliver(event)
        await self.dispatcher.report(failure)
        return None


def _invalid(reader: ShardReader, record: dict[str, Any], exc: BaseException) -> FailedRecord:
    data = record.get("dynamodb") or {}
    return FailedRecord(
        reason="invalid", error=exc, model=reader.model, table=reader.table,
        keys=dict(data.get("Keys") or {}), sequence_number=str(data.get("SequenceNumber")),
        shard_id=reader.shard.shard_id, record=record,
    )
