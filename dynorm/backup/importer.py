"""Import: DynamoDB JSON from an export (dynorm's or AWS's) or from plain JSON lines.

```python
result = await import_table("s3://backups/prod", "users", create=True)
result = await import_table("/var/backups/x", model=User, rejects="rejects.jsonl",
                            checkpoint="import.ckpt", resume=True, on_progress=print)
```

What a source can be (`find_source`): an export folder (``.../AWSDynamoDB/<id>``,
read through its manifests, each file's MD5 and item count checked), a location holding
one export, a bare ``data/`` folder (AWS's or moto's export without manifests), a folder
of ``.json``/``.jsonl``/``.json.gz`` files, or one such file. A line is ``{"Item": {...}}``
or a plain item in DynamoDB JSON.

Items are written with BatchWriteItem (25 a call, ``concurrency`` calls at once;
unprocessed items sent again with backoff). Two lines with the same key are written in
file order: a line waits while an earlier write of its key is on its way. With
``model=``, every item is validated against the model first (`Model.from_item`); an
item that does not fit, a line that is not DynamoDB JSON, or an item DynamoDB refuses
(``ValidationException``: a wrong key type, over 400 KB) goes to the ``rejects`` file
with its error instead of the table (without ``rejects``, the import stops at it).

Resuming (``checkpoint=`` and ``resume=True``): the checkpoint records the first line
not known to be written (every line before it was written or rejected) and the size
of the rejects file at that point; it is replaced atomically about once a second. A
resumed import truncates the rejects file to that size and writes again from that
line. Lines after it may already have been written by the killed run: writing them
again is harmless, because each is a whole-item put of the same item, in file order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dynorm.backup import layout
from dynorm.backup._tables import TableRef, describe, physical_name, wait_active
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import ProgressCallback, RateLimit, Reporter
from dynorm.backup.sources import Source, definition_beside, find_source
from dynorm.backup.storage import LocalStorage, Storage, open_location, write_atomically
from dynorm.codec.json import Fragment, dumps, loads
from dynorm.connection import ROUND_ERRORS, Connection, get_connection
from dynorm.exceptions import RequestRejected
from dynorm.schema.classes import meta_of
from dynorm.transport.base import RetryPolicy
from dynorm.write.batch import BATCH_WRITE_RETRY

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ImportResult", "import_table"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
_BATCH = 25


@dataclass(frozen=True)
class ImportResult:
    """A finished import.

    Attributes:
        table: the table written (its name on the server).
        source: the location read.
        items: items written (earlier runs of a resumed import included).
        rejected: items written to the rejects file instead.
        rejects: the rejects file (None when nothing was rejected).
        files: data files read.
        expected: the items the export's manifest promised (None without a manifest).
        elapsed: seconds this run took.
        resumed: True when this run continued from a checkpoint.
    """

    table: str
    source: str
    items: int
    rejected: int
    rejects: str | None
    files: int
    expected: int | None
    elapsed: float
    resumed: bool


class _Chunk:
    """Up to 25 items (and the lines rejected before them), written as one call."""

    __slots__ = ("done", "end", "items", "kids", "rejects", "seq", "size", "written")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        #: (key identity, item, file, line, what to send) of each item
        self.items: list[tuple[bytes, dict[str, Any], str, int, Any]] = []
        self.kids: set[bytes] = set()
        self.rejects: list[bytes] = []
        self.end = (0, 0)
        self.size = 0
        self.written = 0
        self.done = asyncio.Event()


class _Import:
    def __init__(self, connection: Connection, storage: Storage, source: Source, table: str,
                 key_names: list[str], *, model: type[Model] | None,
                 checkpoint: Path | None, rejects: Path | None, concurrency: int,
                 retry: RetryPolicy, rate: RateLimit | None,
                 on_progress: ProgressCallback | None) -> None:
        self.conn = connection
        self.storage = storage
        self.source = source
        self.table = table
        self.key_names = key_names
        self.model = model
        self.checkpoint = checkpoint
        self.rejects_path = rejects
        self.rejects: IO[bytes] | None = None
        self.rejects_size = 0
        self.reporter = Reporter("import", on_progress, total=source.item_count)
        self.retry = retry
        self.rate = rate
        self.sem = asyncio.Semaphore(concurrency)
        self.inflight: dict[bytes, _Chunk] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.finished: dict[int, _Chunk] = {}
        self.next_seq = 0
        self.confirm = 0
        self.position = (0, 0)
        self.written = 0
        self.rejected = 0
        self.abort: BaseException | None = None
        self.saved_at = 0.0
        self.resumed = False
        #: the transport writes dynorm's JSON: items go as the file has them
        self.raw_json = connection.accepts_json_fragments

    # ------------------------------------------------------------------ checkpoints

    def load(self) -> None:
        if self.checkpoint is None or not self.checkpoint.exists():
            return
        state = loads(self.checkpoint.read_bytes())
        if state.get("format") != CHECKPOINT_FORMAT or state.get("table") != self.table or (
                state.get("source") != self.storage.url
                or tuple(state.get("files") or ()) != self.source.files):
            raise TransferError(
                f"checkpoint {self.checkpoint} belongs to another import (of "
                f"{state.get('source')!r} into {state.get('table')!r}): delete it or pass "
                "another checkpoint path")
        self.position = (state["file"], state["line"])
        self.written = state["written"]
        self.rejected = state["rejected"]
        self.rejects_size = state["rejectsSize"]
        self.reporter.items = self.written
        self.reporter.rejected = self.rejected
        self.reporter.resumed_items = self.written + self.rejected
        self.resumed = True
        if self.rejects_path is not None and self.rejects_path.exists():
            with open(self.rejects_path, "r+b") as handle:
                handle.truncate(self.rejects_size)

    def save(self) -> None:
        self.saved_at = time.monotonic()
        if self.checkpoint is None:
            return
        if self.rejects is not None:
            self.rejects.flush()
            os.fsync(self.rejects.fileno())
        write_atomically(self.checkpoint, dumps({
            "format": CHECKPOINT_FORMAT, "source": self.storage.url, "table": self.table,
            "files": list(self.source.files), "file": self.position[0],
            "line": self.position[1], "written": self.written, "rejected": self.rejected,
            "rejectsSize": self.rejects_size}))

    def _confirmed(self, chunk: _Chunk) -> None:
        """A chunk is written: confirm it and every finished chunk after it, in order."""
        self.finished[chunk.seq] = chunk
        while self.confirm in self.finished:
            done = self.finished.pop(self.confirm)
            self.confirm += 1
            if done.rejects:
                if self.rejects_path is None:
                    raise TransferError(
                        "import: an item was rejected and no rejects file was given "
                        f"(rejects=, --rejects): {done.rejects[0][:500].decode(errors='replace')}")
                if self.rejects is None:
                    self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
                    self.rejects = open(self.rejects_path, "ab")  # noqa: SIM115
                for record in done.rejects:
                    self.rejects.write(record)
                    self.rejects_size += len(record)
                self.rejected += len(done.rejects)
                self.reporter.rejected += len(done.rejects)
            self.written += done.written
            self.position = done.end
        if time.monotonic() - self.saved_at >= 1.0:
            self.save()

    # ------------------------------------------------------------------ reading

    def _reject(self, chunk: _Chunk, key: str, line: int, error: str,
                item: dict[str, Any] | None, raw: bytes) -> None:
        record: dict[str, Any] = {"file": key, "line": line + 1, "error": error}
        if item is not None:
            record["Item"] = item
        else:
            record["raw"] = raw[:2000].decode("utf-8", "replace")
        chunk.rejects.append(dumps(record) + b"\n")

    def _item(self, chunk: _Chunk, key: str, index: int, raw: bytes
              ) -> tuple[bytes, dict[str, Any], Any] | None:
        """The key identity, item and what to send of a line (the item's JSON as it is in
        the file, when the transport takes it so), or None when it went to the rejects."""
        try:
            item, text = layout.split_line(raw)
        except ValueError as exc:
            self._reject(chunk, key, index, f"not DynamoDB JSON: {exc}", None, raw)
            return None
        # dynorm's JSON (the fast transport) sends base64 text as it is; botocore and the
        # model's codec want bytes
        if layout.has_binary(raw) and (self.model is not None or not self.raw_json):
            layout.binary_to_bytes(item)
        missing = [k for k in self.key_names if k not in item]
        if missing:
            self._reject(chunk, key, index, f"the item lacks the key attribute(s) "
                         f"{', '.join(missing)} of table {self.table!r}", item, raw)
            return None
        if self.model is not None:
            try:
                self.model.from_item(item)
            except Exception as exc:  # ValidationFailed, or a value the codec refuses
                self._reject(chunk, key, index, f"{type(exc).__name__}: {exc}", item, raw)
                return None
        payload: Any = Fragment(text) if self.raw_json and text is not None else item
        return dumps([item[k] for k in self.key_names]), item, payload

    async def run(self) -> None:
        try:
            await self._read()
        except BaseException:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
            raise
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.abort is not None:
            raise self.abort

    async def _read(self) -> None:
        start_file, start_line = self.position
        chunk = self._new_chunk()
        for index, key in enumerate(self.source.files):
            if index < start_file:
                continue
            expected = self.source.expected[index]
            checksum = hashlib.md5(usedforsecurity=False) if expected else None
            line = -1
            async for raw in layout.read_lines(self.storage.chunks(key), checksum):
                line += 1
                if index == start_file and line < start_line:
                    continue
                self.reporter.bytes += len(raw)
                found = self._item(chunk, key, line, raw)
                if found is not None:
                    kid, item, payload = found
                    if kid in chunk.kids:  # the same item twice: the later line wins
                        chunk.end = (index, line)
                        chunk = await self._dispatch(chunk)
                    waiting = self.inflight.get(kid)
                    if waiting is not None:
                        await waiting.done.wait()
                    chunk.items.append((kid, item, key, line, payload))
                    chunk.kids.add(kid)
                if len(chunk.items) == _BATCH or len(chunk.rejects) >= 100:
                    chunk.end = (index, line + 1)
                    chunk = await self._dispatch(chunk)
            if expected is not None:
                self._check(key, expected, line + 1, checksum)
            chunk.end = (index, line + 1)
            chunk = await self._dispatch(chunk)

    def _check(self, key: str, expected: tuple[int, str], lines: int, checksum: Any) -> None:
        count, md5 = expected
        actual = base64.b64encode(checksum.digest()).decode() if checksum else ""
        if md5 and actual != md5:
            raise TransferError(f"{self.storage.url}/{key}: its MD5 ({actual}) differs from "
                                f"the manifest's ({md5}): the file was changed or damaged")
        if lines != count:
            raise TransferError(f"{self.storage.url}/{key}: {lines} items, the manifest says "
                                f"{count}: the file was changed or damaged")

    # ------------------------------------------------------------------ writing

    def _new_chunk(self) -> _Chunk:
        chunk = _Chunk(self.next_seq)
        self.next_seq += 1
        return chunk

    async def _dispatch(self, chunk: _Chunk) -> _Chunk:
        if self.abort is not None:
            raise self.abort
        if not chunk.items:
            self._confirmed(chunk)
            return self._new_chunk()
        await self.sem.acquire()
        if self.abort is not None:
            self.sem.release()
            raise self.abort
        for kid in chunk.kids:
            self.inflight[kid] = chunk
        task = asyncio.ensure_future(self._send(chunk))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return self._new_chunk()

    async def _send(self, chunk: _Chunk) -> None:
        try:
            await self._write(chunk)
            chunk.items = []
            self._confirmed(chunk)
        except BaseException as exc:
            if self.abort is None:
                self.abort = exc
        finally:
            for kid in chunk.kids:
                if self.inflight.get(kid) is chunk:
                    del self.inflight[kid]
            chunk.done.set()
            self.sem.release()

    async def _write(self, chunk: _Chunk) -> None:
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

    async def _one_by_one(self, chunk: _Chunk,
                          items: list[tuple[bytes, dict[str, Any], str, int, Any]]) -> None:
        """DynamoDB refused the batch: put each item alone to find the one(s) at fault."""
        for _, item, key, line, payload in items:
            try:
                await self.conn.call("PutItem", {"TableName": self.table, "Item": payload})
            except RequestRejected as exc:
                record = {"file": key, "line": line + 1,
                          "error": f"DynamoDB refused the item: {exc.code}: {exc.message}",
                          "Item": item}
                chunk.rejects.append(dumps(record) + b"\n")
            else:
                chunk.written += 1
                self.reporter.add(1)

    def close(self) -> None:
        if self.rejects is not None:
            self.rejects.close()
            self.rejects = None


async def _target_table(connection: Connection, name: str, source: Source,
                        model: type[Model] | None, create: bool) -> list[str]:
    """The key attribute names of the target table, created first if asked."""
    description = await describe(connection, name)
    if description is None:
        if not create:
            raise TransferError(f"import: table {name!r} does not exist: create it first, or "
                                "pass create=True (--create)")
        if model is not None and connection.table_name(meta_of(model).table_name) == name:
            await model.create_table()
        elif source.definition is not None:
            await connection.call("CreateTable", {"TableName": name, **source.definition})
        else:
            raise TransferError(
                f"import: table {name!r} does not exist and the source carries no table "
                "definition (only dynorm's exports do): pass the model whose table it is "
                "(model=, --model) or create the table first")
        description = await wait_active(connection, name, operation="create")
    return [k["AttributeName"] for k in description["KeySchema"]]


async def import_table(
    source: str | os.PathLike[str],
    table: TableRef | None = None,
    *,
    model: type[Model] | None = None,
    create: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    rejects: str | os.PathLike[str] | None = None,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
    rate_limit: float | None = None,
    on_progress: ProgressCallback | None = None,
    s3_endpoint_url: str | None = None,
) -> ImportResult:
    """Write the items of an export or of DynamoDB JSON lines into a table.

    Args:
        source: a folder, a file or ``s3://bucket/prefix`` (see `find_source`).
        table: a model class or a table name (the connection's ``table_prefix`` is
            added); default: ``model``'s table.
        model: validate every item against this model (``Model.from_item``).
        create: create a missing table, from ``model`` (when it is the model's table) or
            from the table definition a dynorm export carries.
        checkpoint: a local file recording how far the import got.
        resume: continue from ``checkpoint`` if it exists (without ``resume``, an
            existing checkpoint is an error: it belongs to an unfinished import).
        rejects: a local JSON-lines file for the items not written, each with its file,
            line and error (``{"file":..., "line":..., "error":..., "Item": {...}}``; the
            file can be imported again once fixed). Without it, a rejected item stops
            the import.
        concurrency: BatchWriteItem calls in flight.
        retry: the rounds of sending each chunk of 25 (``max_attempts`` in all) and the
            pauses between them, as for `dynorm.batch()`; default `BATCH_WRITE_RETRY`.
        rate_limit: at most this many items written per second, on average.
        on_progress: called with a `Progress` about twice a second and at the end.
        s3_endpoint_url: the S3 endpoint for an ``s3://`` source.

    Raises:
        ValueError: a bad argument.
        TransferError: no such table (without ``create``), a file that differs from its
            manifest, a checkpoint of another import, a rejected item without
            ``rejects``, writes still unprocessed after ``retry.max_attempts`` rounds.
    """
    if table is None and model is None:
        raise ValueError("import_table() needs table= or model=")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency!r}")
    connection = get_connection()
    name = physical_name(connection, table if table is not None else model)  # type: ignore[arg-type]
    single: str | None = None
    path = Path(os.fspath(source)).expanduser()
    if not os.fspath(source).startswith("s3://") and path.is_file():
        storage: Storage = LocalStorage(path.parent)
        single = path.name
    else:
        storage = open_location(source, connection, s3_endpoint_url=s3_endpoint_url)
    rate = RateLimit(rate_limit) if rate_limit is not None else None
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    if checkpoint_path is not None and checkpoint_path.exists() and not resume:
        raise TransferError(f"checkpoint {checkpoint_path} exists: an import did not finish; "
                            "pass resume=True (--resume) to continue it, or delete the file")
    job: _Import | None = None
    try:
        found = await find_source(storage, single)
        if found.definition is None:
            folder = os.fspath(path.parent) if single is not None else os.fspath(source)
            found = await definition_beside(found, folder, connection, s3_endpoint_url)
        keys = await _target_table(connection, name, found, model, create)
        job = _Import(connection, storage, found, name, keys, model=model,
                      checkpoint=checkpoint_path,
                      rejects=Path(rejects) if rejects is not None else None,
                      concurrency=concurrency,
                      retry=retry if retry is not None else BATCH_WRITE_RETRY, rate=rate,
                      on_progress=on_progress)
        if resume:
            job.load()
        await job.run()
        job.close()
        if checkpoint_path is not None:
            with contextlib.suppress(FileNotFoundError):
                checkpoint_path.unlink()
        final = job.reporter.finish()
        return ImportResult(
            table=name, source=storage.url, items=job.written, rejected=job.rejected,
            rejects=str(rejects) if job.rejected else None, files=len(found.files),
            expected=found.item_count, elapsed=final.elapsed, resumed=job.resumed)
    finally:
        if job is not None:
            job.close()
        await storage.close()
