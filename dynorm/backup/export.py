"""Client-side export: a parallel scan written in the layout of DynamoDB's export to S3.

```python
result = await export_table(User, "s3://backups/prod", segments=8)
result = await export_table("orders", "/var/backups", resume=True,
                            on_progress=print)
```

Each scan segment writes its own data files (``data/seg0003-00012.json.gz``) of about
``file_size`` bytes of DynamoDB JSON, whole pages at a time. After each file is stored the
segment's checkpoint (``_dynorm/segment-0003.json``: the files so far and the scan's
``LastEvaluatedKey`` after the last page in them) is stored too, atomically. A run killed
at any point resumes (``resume=True``) from each segment's checkpoint: a file written after
the last checkpoint is written again under the same name (or deleted, if the scan no
longer reaches it), so no item is exported twice or missed. The manifests are written
last; ``manifest-summary.json`` marks a complete export.

Memory holds, per segment, one scan page and the compressed bytes of one data file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from dynorm.backup import layout
from dynorm.backup._tables import TableRef, describe, physical_name
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import ProgressCallback, RateLimit, Reporter
from dynorm.backup.storage import Storage, open_location
from dynorm.codec.json import dumps, loads
from dynorm.connection import Connection, get_connection

__all__ = ["ExportResult", "export_table", "find_exports"]

log = logging.getLogger(__name__)

STATE_FORMAT = 1


@dataclass(frozen=True)
class ExportResult:
    """A finished export.

    Attributes:
        export_id: the export's id (``01693685827463-2d8752fd``).
        table: the table exported (its name on the server).
        location: the location it was written to (``s3://bucket/prefix`` or a folder).
        folder: the export's folder, ``<location>/AWSDynamoDB/<export_id>``.
        manifest: ``manifest-summary.json`` in full.
        data: the ``data/`` folder in full: what AWS's ``ImportTable`` is pointed at
            (its ``S3KeyPrefix``).
        item_count: items exported.
        bytes: bytes of DynamoDB JSON (uncompressed).
        files: data files written.
        elapsed: seconds this run took.
        resumed: True when this run continued an earlier, unfinished one.
    """

    export_id: str
    table: str
    location: str
    folder: str
    manifest: str
    data: str
    item_count: int
    bytes: int
    files: int
    elapsed: float
    resumed: bool


def _checkpoint_key(folder: str, segment: int) -> str:
    return f"{folder}_dynorm/segment-{segment:04d}.json"


async def _read_json(storage: Storage, key: str) -> Any:
    data = await storage.get(key)
    return None if data is None else loads(data)


async def find_exports(storage: Storage) -> dict[str, dict[str, Any]]:
    """The exports at a location: export id -> ``{"complete": bool, "dynorm": bool}``."""
    found: dict[str, dict[str, Any]] = {}
    for key in await storage.list(layout.EXPORT_ROOT + "/"):
        parts = key.split("/")
        if len(parts) < 3:
            continue
        entry = found.setdefault(parts[1], {"complete": False, "dynorm": False})
        if parts[2] == "manifest-summary.json":
            entry["complete"] = True
        elif parts[2:] == ["_dynorm", "export.json"]:
            entry["dynorm"] = True
    return found


class _Export:
    def __init__(self, connection: Connection, storage: Storage, table: str, *,
                 segments: int, consistent: bool, file_size: int, page_size: int | None,
                 rate: RateLimit | None, on_progress: ProgressCallback | None) -> None:
        self.conn = connection
        self.storage = storage
        self.table = table
        self.segments = segments
        self.consistent = consistent
        self.file_size = file_size
        self.page_size = page_size
        self.rate = rate
        self.reporter = Reporter("export", on_progress)
        self.state: dict[str, Any] = {}
        self.checkpoints: list[dict[str, Any]] = []
        self.resumed = False

    @property
    def folder(self) -> str:
        return layout.export_folder(self.state["exportId"])

    def _url(self, key: str) -> str:
        return f"{self.storage.url.rstrip('/')}/{key}"

    def _full_key(self, key: str) -> str:
        return f"{self.storage.prefix}/{key}" if self.storage.prefix else key

    async def start(self, export_id: str | None) -> None:
        description = await describe(self.conn, self.table)
        if description is None:
            raise TransferError(f"export: table {self.table!r} does not exist at "
                                f"{self.conn.endpoint_url or self.conn.region or 'AWS'}")
        export_id = export_id or layout.new_export_id()
        self.state = {
            "format": STATE_FORMAT, "exportId": export_id, "table": self.table,
            "tableArn": description.get("TableArn") or f"arn:aws:dynamodb:::table/{self.table}",
            "tableId": description.get("TableId"), "segments": self.segments,
            "consistent": self.consistent, "fileSize": self.file_size,
            "startTime": time.time(), "itemCountEstimate": description.get("ItemCount"),
            "definition": layout.table_definition(description),
        }
        await self.storage.put(self.folder + "_started", b"")
        await self.storage.put(self.folder + "_dynorm/export.json", dumps(self.state))
        self.checkpoints = [{"segment": i, "done": False, "lastKey": None, "files": [],
                             "items": 0, "bytes": 0} for i in range(self.segments)]

    async def resume(self, export_id: str) -> None:
        state = await _read_json(self.storage, f"{layout.export_folder(export_id)}_dynorm/"
                                 "export.json")
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise TransferError(f"export {export_id} at {self.storage.url} has no dynorm state "
                                "(_dynorm/export.json): it cannot be resumed")
        if state["table"] != self.table:
            raise TransferError(f"export {export_id} at {self.storage.url} is of table "
                                f"{state['table']!r}, not {self.table!r}")
        self.state = state
        self.resumed = True
        if state["segments"] != self.segments:
            log.info("export %s: resuming with its own %d segments", export_id,
                     state["segments"])
        self.segments = state["segments"]
        self.consistent = state["consistent"]
        self.file_size = state["fileSize"]
        self.checkpoints = []
        for i in range(self.segments):
            checkpoint = await _read_json(self.storage, _checkpoint_key(self.folder, i))
            if checkpoint is None:
                checkpoint = {"segment": i, "done": False, "lastKey": None, "files": [],
                              "items": 0, "bytes": 0}
            elif checkpoint["lastKey"] is not None:
                layout.binary_to_bytes(checkpoint["lastKey"])
            self.checkpoints.append(checkpoint)
            self.reporter.items += checkpoint["items"]
            self.reporter.bytes += checkpoint["bytes"]
        self.reporter.resumed_items = self.reporter.items
        # A killed run's half-written files (a local folder's temporary files; S3 PUTs
        # are whole or absent) must not stay where AWS's ImportTable would read them.
        remove_partial = getattr(self.storage, "remove_partial", None)
        if remove_partial is not None:
            for key in await remove_partial(self.folder):
                log.info("export %s: removed %s, left by a killed run", export_id, key)
        # Data files a killed run wrote after its last checkpoint: the scan writes them
        # again under the same names, or (if it no longer reaches them) nothing must.
        for key in await self.storage.list(self.folder + "data/"):
            name = key.rsplit("/", 1)[-1]
            if name.startswith("seg") and name[3:7].isdigit() and name[8:13].isdigit():
                segment, sequence = int(name[3:7]), int(name[8:13])
                if segment < self.segments and sequence >= len(
                        self.checkpoints[segment]["files"]):
                    await self.storage.delete(key)

    async def run(self) -> ExportResult:
        self.reporter.total = self.state.get("itemCountEstimate")
        tasks = [asyncio.ensure_future(self._segment(c)) for c in self.checkpoints]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return await self._finish()

    async def _segment(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint["done"]:
            return
        request: dict[str, Any] = {"TableName": self.table}
        if self.segments > 1:
            request["Segment"] = checkpoint["segment"]
            request["TotalSegments"] = self.segments
        if self.consistent:
            request["ConsistentRead"] = True
        if self.page_size:
            request["Limit"] = self.page_size
        start = checkpoint["lastKey"]
        writer = layout.GzipWriter()
        while True:
            if start is not None:
                request["ExclusiveStartKey"] = start
            answer = await self.conn.call("Scan", request)
            start = answer.get("LastEvaluatedKey")
            items = answer.pop("Items", None) or []
            del answer
            count = len(items)
            if count:
                data = b"".join([layout.encode_line(item) for item in items])
                del items  # the page's objects go before the next page comes
                size = len(data)
                if size > 65536:  # zlib lets go of the GIL: compress beside the loop
                    await asyncio.to_thread(writer.write, data, count)
                else:
                    writer.write(data, count)
                del data
                self.reporter.add(count, size)
                if self.rate is not None:
                    await self.rate.take(count)
            else:
                del items
            if start is None or writer.raw_bytes >= self.file_size:
                await self._store(checkpoint, writer, start)
                writer = layout.GzipWriter()
            if start is None:
                return

    async def _store(self, checkpoint: dict[str, Any], writer: layout.GzipWriter,
                     last_key: dict[str, Any] | None) -> None:
        """Store the data file (if it holds items), then the segment's checkpoint."""
        if writer.items:
            body = writer.finish()
            key = layout.data_file_key(self.state["exportId"], checkpoint["segment"],
                                       len(checkpoint["files"]))
            await self.storage.put(key, body)
            md5, etag = layout.file_checksums(body)
            checkpoint["files"].append({"key": key, "itemCount": writer.items,
                                        "md5Checksum": md5, "etag": etag,
                                        "bytes": writer.raw_bytes})
            checkpoint["items"] += writer.items
            checkpoint["bytes"] += writer.raw_bytes
        checkpoint["lastKey"] = last_key
        checkpoint["done"] = last_key is None
        await self.storage.put(_checkpoint_key(self.folder, checkpoint["segment"]),
                               dumps(checkpoint))

    async def _finish(self) -> ExportResult:
        entries = [{**f, "dataFileS3Key": self._full_key(f["key"])}
                   for c in self.checkpoints for f in c["files"]]
        items = sum(e["itemCount"] for e in entries)
        size = sum(e["bytes"] for e in entries)
        files_key = self.folder + "manifest-files.json"
        files_body = layout.manifest_files(entries)
        await self.storage.put(files_key, files_body)
        await self.storage.put(self.folder + "manifest-files.checksum",
                               layout.checksum_hex(files_body).encode())
        summary = layout.manifest_summary(
            export_arn=f"{self.state['tableArn']}/export/{self.state['exportId']}",
            start_time=self.state["startTime"], end_time=time.time(),
            table_arn=self.state["tableArn"], table_id=self.state["tableId"],
            s3_bucket=self.storage.bucket, s3_prefix=self.storage.prefix or None,
            manifest_files_key=self._full_key(files_key), billed_size_bytes=size,
            item_count=items)
        await self.storage.put(self.folder + "manifest-summary.json", summary)
        await self.storage.put(self.folder + "manifest-summary.checksum",
                               layout.checksum_hex(summary).encode())
        final = self.reporter.finish()
        folder = self._url(self.folder.rstrip("/"))
        return ExportResult(
            export_id=self.state["exportId"], table=self.table, location=self.storage.url,
            folder=folder, manifest=f"{folder}/manifest-summary.json", data=f"{folder}/data/",
            item_count=items, bytes=size, files=len(entries), elapsed=final.elapsed,
            resumed=self.resumed)


async def export_table(
    table: TableRef,
    to: str | os.PathLike[str],
    *,
    segments: int = 4,
    consistent: bool = False,
    resume: bool = False,
    export_id: str | None = None,
    file_size: int = 4 << 20,
    page_size: int | None = None,
    rate_limit: float | None = None,
    on_progress: ProgressCallback | None = None,
    s3_endpoint_url: str | None = None,
) -> ExportResult:
    """Export a table to a folder or ``s3://bucket/prefix`` in AWS's export layout.

    The items are read with a parallel scan of ``segments`` segments and written as
    DynamoDB JSON, the format AWS's ``ImportTable`` loads and `import_table` reads (see
    the module docstring and docs/backup.md). The scan is not a snapshot: items changed
    while it runs may be exported before or after the change.

    Args:
        table: a model class (its table) or a table name (the connection's
            ``table_prefix`` is added).
        to: a folder (created if missing) or ``s3://bucket/prefix``.
        segments: scan segments read at once (1 to 1,000,000).
        consistent: strongly consistent reads (twice the read capacity).
        resume: continue the unfinished export of this table at ``to`` (the latest one,
            or ``export_id``); with none there, start a new one.
        export_id: the id of the export to resume (or to give a new export).
        file_size: bytes of DynamoDB JSON per data file, about (whole pages are kept
            together; 4 MiB by default); a killed run redoes at most one file per
            segment, and memory holds one file's compressed bytes per segment.
        page_size: items per Scan call (default: DynamoDB's 1 MB pages).
        rate_limit: at most this many items read per second, on average.
        on_progress: called with a `Progress` about twice a second and at the end.
        s3_endpoint_url: the S3 endpoint for an ``s3://`` location (see `open_location`).

    Returns:
        `ExportResult`: where the export is and what it holds.

    Raises:
        ValueError: a bad argument.
        TransferError: the table does not exist, the export to resume is of another
            table or has no dynorm state.
        S3Error: S3 refused a request.
    """
    if not 1 <= segments <= 1_000_000:
        raise ValueError(f"segments must be between 1 and 1,000,000, not {segments!r}")
    if file_size < 1:
        raise ValueError(f"file_size must be positive, not {file_size!r}")
    if page_size is not None and page_size < 1:
        raise ValueError(f"page_size must be positive, not {page_size!r}")
    if export_id is not None and not layout.is_export_id(export_id):
        raise ValueError(f"export_id {export_id!r} is not an export id such as "
                         "'01693685827463-2d8752fd'")
    connection = get_connection()
    name = physical_name(connection, table)
    storage = open_location(to, connection, s3_endpoint_url=s3_endpoint_url)
    rate = RateLimit(rate_limit) if rate_limit is not None else None
    job = _Export(connection, storage, name, segments=segments, consistent=consistent,
                  file_size=file_size, page_size=page_size, rate=rate,
                  on_progress=on_progress)
    try:
        target = await _export_to_resume(storage, name, export_id) if resume else None
        if target is not None:
            await job.resume(target)
        else:
            await job.start(export_id)
        return await job.run()
    finally:
        await storage.close()


async def _export_to_resume(storage: Storage, table: str, export_id: str | None) -> str | None:
    """The unfinished export of ``table`` to resume (``export_id``'s, or the latest)."""
    exports = await find_exports(storage)
    if export_id is not None:
        entry = exports.get(export_id)
        if entry is None:
            return None
        if entry["complete"]:
            raise TransferError(f"export {export_id} at {storage.url} is already complete "
                                "(manifest-summary.json exists): nothing to resume")
        return export_id
    for candidate in sorted(exports, reverse=True):
        entry = exports[candidate]
        if entry["complete"] or not entry["dynorm"]:
            continue
        state = await _read_json(storage, f"{layout.export_folder(candidate)}_dynorm/"
                                 "export.json")
        if isinstance(state, dict) and state.get("table") == table:
            return candidate
    return None
