"""Import, writing: chunks of 25 items sent with BatchWriteItem, ``concurrency`` at
once, unprocessed items sent again with backoff, and a batch DynamoDB refuses put item
by item to find the item at fault (it goes to the rejects file).

Two lines with the same key are written in file order: `Writer.wait_for` holds a line
back while an earlier write of its key is on its way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dynorm.backup._import_checkpoint import Checkpoint, Chunk
from dynorm.backup._import_lines import Entry, reject_record
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import RateLimit, Reporter
from dynorm.codec.json import dumps
from dynorm.connection import ROUND_ERRORS, Connection
from dynorm.exceptions import RequestRejected
from dynorm.transport.base import RetryPolicy

__all__ = ["BATCH", "Writer"]

#: Items per BatchWriteItem call.
BATCH = 25


class Writer:
    """Sends chunks; each written chunk is handed to the checkpoint to confirm."""

    def __init__(self, connection: Connection, table: str, key_names: list[str],
                 checkpoint: Checkpoint, reporter: Reporter, *, concurrency: int,
                 retry: RetryPolicy, rate: RateLimit | None) -> None:
        self.conn = connection
        self.table = table
        self.key_names = key_names
        self.checkpoint = checkpoint
        self.reporter = reporter
        self.retry = retry
        self.rate = rate
        self.sem = asyncio.Semaphore(concurrency)
        self.inflight: dict[bytes, Chunk] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.next_seq = 0
        #: the first error of a write: raised by the next `dispatch` and by `drain`
        self.abort: BaseException | None = None

    def new_chunk(self) -> Chunk:
        chunk = Chunk(self.next_seq)
        self.next_seq += 1
        return chunk

    async def wait_for(self, kid: bytes) -> None:
        """Wait while a write of the item with key identity ``kid`` is on its way."""
        waiting = self.inflight.get(kid)
        if waiting is not None:
            await waiting.done.wait()

    async def dispatch(self, chunk: Chunk) -> Chunk:
        """Send ``chunk`` (waiting for a free slot) and return the next, empty one."""
        if self.abort is not None:
            raise self.abort
        if not chunk.items:
            self.checkpoint.confirmed(chunk)
            return self.new_chunk()
        await self.sem.acquire()
        if self.abort is not None:
            self.sem.release()
            raise self.abort
        for kid in chunk.kids:
            self.inflight[kid] = chunk
        task = asyncio.ensure_future(self._send(chunk))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return self.new_chunk()

    async def drain(self) -> None:
        """Wait for every write on its way; raise the first error of any."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.abort is not None:
            raise self.abort

    async def cancel(self) -> None:
        """Cancel the writes on their way (the import failed or was cancelled)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _send(self, chunk: Chunk) -> None:
        try:
            await self._write(chunk)
            chunk.items = []
            self.checkpoint.confirmed(chunk)
        except BaseException as exc:
            if self.abort is None:
                self.abort = exc
        finally:
            for kid in chunk.kids:
                if self.inflight.get(kid) is chunk:
                    del self.inflight[kid]
            chunk.done.set()
            self.sem.release()

    async def _write(self, chunk: Chunk) -> None:
        remaining = chunk.items
        attempt = 0
        while remaining:
            if self.rate is not None:
                await self.rate.take(len(remaining))
            request = {"RequestItems": {self.table: [{"PutRequest": {"Item": entry[4]}}
                                                     for entry in remaining]}}
            last: Exception | None = None
            try:
                answer = await self.conn.call("BatchWriteItem", request)
            except RequestRejected:
                await self._one_by_one(chunk, remaining)
                return
            except ROUND_ERRORS as exc:
                unprocessed = remaining
                last = exc
            else:
                left = {dumps([wr["PutRequest"]["Item"][k] for k in self.key_names])
                        for wr in (answer.get("UnprocessedItems") or {}).get(self.table, ())}
                unprocessed = [entry for entry in remaining if entry[0] in left]
            done = len(remaining) - len(unprocessed)
            chunk.written += done
            self.reporter.add(done)
            remaining = unprocessed
            if remaining:
                attempt += 1
                if attempt >= self.retry.max_attempts:
                    raise TransferError(
                        f"import into {self.table!r}: {len(remaining)} item(s) still unwritten "
                        f"after {attempt} rounds ({last or 'UnprocessedItems'}): "
                        "resume later, or lower concurrency= / rate_limit=") from last
                await asyncio.sleep(self.retry.delay(attempt))

    async def _one_by_one(self, chunk: Chunk, entries: list[Entry]) -> None:
        """DynamoDB refused the batch: put each item alone to find the one(s) at fault."""
        for _, item, key, line, payload in entries:
            request: dict[str, Any] = {"TableName": self.table, "Item": payload}
            try:
                await self.conn.call("PutItem", request)
            except RequestRejected as exc:
                chunk.rejects.append(reject_record(
                    key, line, f"DynamoDB refused the item: {exc.code}: {exc.message}", item))
            else:
                chunk.written += 1
                self.reporter.add(1)
