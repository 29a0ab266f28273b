"""DynamoDB's server-side export to S3 and import from S3, started and waited for.

```python
done = await server_export(User, "s3://backups/prod")       # ExportTableToPointInTime
done = await server_import("s3://backups/prod", "users-copy", model=User)   # ImportTable
```

The server reads and writes S3 itself; nothing passes through this process. Both need
AWS or moto (DynamoDB Local implements neither: `UnsupportedOperation`). An export needs
point-in-time recovery on the table; an import always creates a new table, from a model
or the table definition of a dynorm export at the source.
"""

from __future__ import annotations

import asyncio
import importlib
import posixpath
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dynorm.backup import layout
from dynorm.backup._tables import TableRef, call, describe, physical_name
from dynorm.backup.backups import _when
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import ProgressCallback, Reporter
from dynorm.backup.storage import Storage, open_location
from dynorm.codec.json import loads
from dynorm.connection import get_connection
from dynorm.schema.classes import meta_of

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ServerExport", "ServerImport", "server_export", "server_import"]

#: What ImportTable's TableCreationParameters take of a CreateTable request.
_CREATION = ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
             "ProvisionedThroughput", "OnDemandThroughput", "SSESpecification",
             "GlobalSecondaryIndexes")


@dataclass(frozen=True)
class ServerExport:
    """An ``ExportTableToPointInTime`` job.

    Attributes:
        arn: the export's ARN.
        status: ``IN_PROGRESS``, ``COMPLETED`` or ``FAILED``.
        table_arn: the table exported.
        location: ``s3://bucket/prefix``.
        manifest: the key of ``manifest-summary.json`` (when the server says).
        item_count: items exported (when done).
        billed_bytes: bytes billed.
        failure: the failure code and message, when it failed.
        started: when it started.
    """

    arn: str
    status: str
    table_arn: str
    location: str
    manifest: str | None
    item_count: int | None
    billed_bytes: int | None
    failure: str | None
    started: datetime | None

    @classmethod
    def from_response(cls, d: dict[str, Any]) -> ServerExport:
        prefix = d.get("S3Prefix") or ""
        failure = (f"{d.get('FailureCode')}: {d.get('FailureMessage')}"
                   if d.get("FailureCode") or d.get("FailureMessage") else None)
        return cls(d["ExportArn"], d.get("ExportStatus", ""), d.get("TableArn", ""),
                   f"s3://{d.get('S3Bucket', '')}/{prefix}".rstrip("/"),
                   d.get("ExportManifest"), d.get("ItemCount"), d.get("BilledSizeBytes"),
                   failure, _when(d.get("StartTime")))


@dataclass(frozen=True)
class ServerImport:
    """An ``ImportTable`` job.

    Attributes:
        arn: the import's ARN.
        status: ``IN_PROGRESS``, ``COMPLETED``, ``FAILED``, ``CANCELLED``...
        table: the table it creates.
        table_arn: its ARN.
        processed: items read.
        imported: items written.
        errors: items that could not be parsed or written (AWS logs them to CloudWatch).
        failure: the failure code and message, when it failed.
    """

    arn: str
    status: str
    table: str
    table_arn: str
    processed: int
    imported: int
    errors: int
    failure: str | None

    @classmethod
    def from_response(cls, d: dict[str, Any], table: str) -> ServerImport:
        failure = (f"{d.get('FailureCode')}: {d.get('FailureMessage')}"
                   if d.get("FailureCode") or d.get("FailureMessage") else None)
        return cls(d["ImportArn"], d.get("ImportStatus", ""), table, d.get("TableArn", ""),
                   int(d.get("ProcessedItemCount") or 0), int(d.get("ImportedItemCount") or 0),
                   int(d.get("ErrorCount") or 0), failure)


async def _poll(describe_job: Any, status_of: Any, *, timeout: float, operation: str,
                on_progress: ProgressCallback | None, items_of: Any) -> Any:
    reporter = Reporter(operation, on_progress, interval=0.0)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        job = await describe_job()
        status = status_of(job)
        reporter.items = items_of(job) or 0
        if status not in ("IN_PROGRESS", "IMPORTING", "CREATING"):
            reporter.finish(status)
            return job
        if time.monotonic() > deadline:
            raise TransferError(f"{operation}: still {status} after {timeout:.0f}s: "
                                "look at it later (DescribeExport / DescribeImport)")
        reporter.maybe_report(status)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def server_export(table: TableRef, to: str, *, when: datetime | None = None,
                        wait: bool = True, timeout: float = 7200.0,
                        on_progress: ProgressCallback | None = None) -> ServerExport:
    """Start DynamoDB's own export of a table to S3 (``ExportTableToPointInTime``,
    ``DYNAMODB_JSON``, full export) and wait for it.

    Args:
        table: a model class or a table name.
        to: ``s3://bucket/prefix``.
        when: the point in time to export (default: now).
        wait: wait until it is ``COMPLETED`` or ``FAILED``.
        timeout: seconds to wait.
        on_progress: called with a `Progress` (``status``) while waiting.

    Raises:
        TransferError: the table does not exist, or the job failed (with its reason).
        UnsupportedOperation: the server has no exports (DynamoDB Local).
    """
    if not to.startswith("s3://"):
        raise ValueError(f"a server-side export goes to S3 (s3://bucket/prefix), not {to!r}")
    bucket, _, prefix = to[5:].partition("/")
    connection = get_connection()
    name = physical_name(connection, table)
    description = await describe(connection, name)
    if description is None:
        raise TransferError(f"export: table {name!r} does not exist")
    request: dict[str, Any] = {"TableArn": description["TableArn"], "S3Bucket": bucket,
                               "ExportFormat": "DYNAMODB_JSON"}
    if prefix.strip("/"):
        request["S3Prefix"] = prefix.strip("/")
    if when is not None:
        request["ExportTime"] = when.timestamp()
    answer = await call(connection, "ExportTableToPointInTime", request)
    job = ServerExport.from_response(answer["ExportDescription"])
    if wait:
        async def again() -> ServerExport:
            found = await call(connection, "DescribeExport", {"ExportArn": job.arn})
            return ServerExport.from_response(found["ExportDescription"])

        job = await _poll(again, lambda j: j.status, timeout=timeout,
                          operation="server-export", on_progress=on_progress,
                          items_of=lambda j: j.item_count)
        if job.status == "FAILED":
            raise TransferError(f"server export of {name!r} failed: {job.failure}")
    return job


def _model_definition(model: type[Model], name: str) -> dict[str, Any]:
    """The CreateTable request of a model's table (dynorm's tables layer)."""
    try:
        module = importlib.import_module("dynorm.tables")
        build = module.create_table_request
    except (ImportError, AttributeError):
        build = importlib.import_module("dynorm.tables.create").create_table_request
    request: dict[str, Any] = build(meta_of(model), name)
    return request


async def _data_prefix(storage: Storage) -> tuple[str, dict[str, Any] | None, bool]:
    """``(S3KeyPrefix, table definition, gzip)`` for a location: an export's ``data/``
    folder when the location holds one export (AWS's ImportTable must not be given the
    manifests), else the location itself."""
    keys = await storage.list("")
    folder = ""
    if "manifest-summary.json" not in keys:
        exports = sorted({k.split("/")[1] for k in keys if k.startswith("AWSDynamoDB/")
                          and k.count("/") >= 3 and "/data/" in k})
        if len(exports) > 1:
            raise TransferError(f"{storage.url} holds {len(exports)} exports: name one")
        if exports:
            folder = layout.export_folder(exports[0])
    data = [k for k in keys if k.startswith(folder) and layout.is_data_file(k)]
    if not data:
        raise TransferError(f"{storage.url}: no data files to import")
    state = await storage.get(folder + "_dynorm/export.json")
    definition = loads(state).get("definition") if state else None
    prefix = storage.prefix + "/" if storage.prefix else ""
    folders = [k.rsplit("/", 1)[0] if "/" in k else "" for k in data]
    common = posixpath.commonpath(folders) + "/" if all(folders) else ""
    return prefix + common, definition, all(k.endswith(".gz") for k in data)


async def server_import(source: str, table: TableRef, *, model: type[Model] | None = None,
                        definition: dict[str, Any] | None = None, wait: bool = True,
                        timeout: float = 7200.0, on_progress: ProgressCallback | None = None,
                        s3_endpoint_url: str | None = None) -> ServerImport:
    """Start DynamoDB's own import from S3 into a new table (``ImportTable``,
    ``DYNAMODB_JSON``) and wait for it.

    Args:
        source: ``s3://bucket/prefix``: an export (dynorm's or AWS's; its ``data/``
            folder is what the server is given) or a prefix of data files.
        table: the new table (a model class or a name); it must not exist.
        model: the model whose key schema and indexes the table gets.
        definition: CreateTable parameters instead (default: the model's, else the
            definition a dynorm export carries).
        wait: wait until it is ``COMPLETED`` or ``FAILED``.
        timeout: seconds to wait.
        on_progress: called with a `Progress` (``status``) while waiting.
        s3_endpoint_url: the S3 endpoint, to find the export's data folder.

    Raises:
        TransferError: no definition to create the table from, or the job failed.
        UnsupportedOperation: the server has no imports (DynamoDB Local).
    """
    if not source.startswith("s3://"):
        raise ValueError(f"a server-side import reads S3 (s3://bucket/prefix), not {source!r}")
    connection = get_connection()
    name = physical_name(connection, table)
    storage = open_location(source, connection, s3_endpoint_url=s3_endpoint_url)
    try:
        key_prefix, carried, gzipped = await _data_prefix(storage)
    finally:
        await storage.close()
    if definition is None:
        definition = _model_definition(model, name) if model is not None else carried
    if definition is None:
        raise TransferError(f"import into {name!r}: pass model= or definition= (the source "
                            "carries no table definition)")
    creation = {k: v for k, v in {**definition, "TableName": name}.items() if k in _CREATION}
    answer = await call(connection, "ImportTable", {
        "S3BucketSource": {"S3Bucket": source[5:].partition("/")[0],
                           "S3KeyPrefix": key_prefix},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP" if gzipped else "NONE",
        "TableCreationParameters": creation})
    job = ServerImport.from_response(answer["ImportTableDescription"], name)
    if wait:
        async def again() -> ServerImport:
            found = await call(connection, "DescribeImport", {"ImportArn": job.arn})
            return ServerImport.from_response(found["ImportTableDescription"], name)

        job = await _poll(again, lambda j: j.status, timeout=timeout,
                          operation="server-import", on_progress=on_progress,
                          items_of=lambda j: j.imported)
        if job.status == "FAILED":
            raise TransferError(f"server import into {name!r} failed: {job.failure} "
                                f"({job.errors} errors)")
    return job
