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
of the rejects file at that point; it is replaced atomically whenever it moves on, at
most about once a second. A resumed import truncates the rejects file to that size and
writes again from that line. Lines after it may already have been written by the killed
run: writing them again is harmless, because each is a whole-item put of the same item,
in file order.

Through a connection that stamps writes with their origin (``connect(origin=True)``),
the items are written as the source holds them: they keep the stamps they were exported
with and get no new one (a restore is not a new write).

The parts: reading lines into items or rejects (`dynorm.backup._import_lines`),
confirming chunks in order and the checkpoint (`dynorm.backup._import_checkpoint`),
writing chunks (`dynorm.backup._import_writer`); this module joins them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dynorm.backup._import_checkpoint import Checkpoint
from dynorm.backup._import_lines import END, LineReader, file_lines
from dynorm.backup._import_writer import BATCH, Writer
from dynorm.backup._tables import TableRef, describe, physical_name, wait_active
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import ProgressCallback, RateLimit, Reporter
from dynorm.backup.sources import Source, definition_beside, find_source
from dynorm.backup.storage import LocalStorage, Storage, open_location
from dynorm.connection import Connection, get_connection
from dynorm.schema.classes import meta_of
from dynorm.transport.base import RetryPolicy
from dynorm.transport.origin import unstamped
from dynorm.write.batch import BATCH_WRITE_RETRY

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ImportResult", "import_table"]

log = logging.getLogger(__name__)



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


class _Import:
    """One import: the lines read in order, gathered into chunks for the writer."""

    def __init__(self, storage: Storage, source: Source, lines: LineReader,
                 checkpoint: Checkpoint, writer: Writer, reporter: Reporter) -> None:
        self.storage = storage
        self.source = source
        self.lines = lines
        self.checkpoint = checkpoint
        self.writer = writer
        self.reporter = reporter

    async def run(self) -> None:
        try:
            await self._read()
        except BaseException:
            await self.writer.cancel()
            raise
        await self.writer.drain()

    async def _read(self) -> None:
        writer = self.writer
        chunk = writer.new_chunk()
        async for index, line, raw in file_lines(self.storage, self.source,
                                                 self.checkpoint.position):
            if raw is END:
                chunk.end = (index, line)  # the file's end: its last chunk goes now
                chunk = await writer.dispatch(chunk)
                continue
            self.reporter.bytes += len(raw)
            found = self.lines.read(self.source.files[index], line, raw)
            if self.lines.loading and not isinstance(found, bytes):
                found = await self.lines.check_loaded(found)
            if isinstance(found, bytes):
                chunk.rejects.append(found)
            else:
                kid = found[0]
                if kid in chunk.kids:  # the same item twice: the later line wins
                    chunk.end = (index, line)
                    chunk = await writer.dispatch(chunk)
                await writer.wait_for(kid)
                chunk.items.append(found)
                chunk.kids.add(kid)
            if len(chunk.items) == BATCH or len(chunk.rejects) >= 100:
                chunk.end = (index, line + 1)
                chunk = await writer.dispatch(chunk)


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
    checkpoint_state: Checkpoint | None = None
    try:
        found = await find_source(storage, single)
        if found.definition is None:
            folder = os.fspath(path.parent) if single is not None else os.fspath(source)
            found = await definition_beside(found, folder, connection, s3_endpoint_url)
        keys = await _target_table(connection, name, found, model, create)
        reporter = Reporter("import", on_progress, total=found.item_count)
        checkpoint_state = Checkpoint(checkpoint_path, storage.url, name, found.files,
                                      Path(rejects) if rejects is not None else None,
                                      reporter)
        if resume:
            checkpoint_state.load()
        writer = Writer(connection, name, keys, checkpoint_state, reporter,
                        concurrency=concurrency,
                        retry=retry if retry is not None else BATCH_WRITE_RETRY, rate=rate)
        lines = LineReader(name, keys, model, connection.accepts_json_fragments)
        with unstamped():  # a restore: the items keep the origin stamps they hold
            await _Import(storage, found, lines, checkpoint_state, writer, reporter).run()
        checkpoint_state.finish()
        final = reporter.finish()
        return ImportResult(
            table=name, source=storage.url, items=checkpoint_state.written,
            rejected=checkpoint_state.rejected,
            rejects=str(rejects) if checkpoint_state.rejected else None,
            files=len(found.files), expected=found.item_count, elapsed=final.elapsed,
            resumed=checkpoint_state.resumed)
    finally:
        if checkpoint_state is not None:
            checkpoint_state.close()
        await storage.close()
