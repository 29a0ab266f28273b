"""Where an import's items come from: an export (dynorm's or AWS's), a bare ``data/``
folder, JSON-lines files, and the table definition a dynorm export carries (pure
decisions over a `dynorm.backup.storage.Storage`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dynorm.backup import layout
from dynorm.backup.errors import TransferError
from dynorm.backup.storage import Storage, open_location
from dynorm.codec.json import loads
from dynorm.connection import Connection

__all__ = ["Source", "definition_beside", "find_source"]


@dataclass(frozen=True)
class Source:
    """What an import reads: data files in order, and what the export says of them.

    Attributes:
        files: keys of the data files, relative to the location, in reading order.
        expected: per file, ``(itemCount, md5Checksum)`` from the manifest (or None).
        item_count: the items the manifest promises (None without a manifest).
        definition: the exported table's key schema and indexes (dynorm exports only).
        kind: ``"export"`` (with manifests), ``"data"`` (data files without manifests).
    """

    files: tuple[str, ...]
    expected: tuple[tuple[int, str] | None, ...]
    item_count: int | None
    definition: dict[str, Any] | None
    kind: str


async def find_source(storage: Storage, single_file: str | None = None) -> Source:
    """What to read at a location (see the module docstring)."""
    if single_file is not None:
        return Source((single_file,), (None,), None, None, "data")
    keys = await storage.list("")
    folder: str | None = None
    if "manifest-summary.json" in keys:
        folder = ""
    else:
        exports = sorted({k.split("/")[1] for k in keys if k.startswith("AWSDynamoDB/")
                          and k.count("/") == 2 and k.endswith("/manifest-summary.json")})
        if len(exports) > 1:
            raise TransferError(
                f"{storage.url} holds {len(exports)} exports ({', '.join(exports)}): name one, "
                f"e.g. {storage.url.rstrip('/')}/AWSDynamoDB/{exports[-1]}")
        if exports:
            folder = layout.export_folder(exports[0])
    if folder is not None:
        return await _from_manifest(storage, folder)
    data = [k for k in keys if layout.is_data_file(k)]
    if not data:
        raise TransferError(f"{storage.url}: no data files (*.json.gz, *.json, *.jsonl) and no "
                            "manifest-summary.json")
    folders = {k.split("/")[1] for k in data if k.startswith("AWSDynamoDB/")}
    if len(folders) > 1:
        raise TransferError(f"{storage.url} holds the data of {len(folders)} exports "
                            f"({', '.join(sorted(folders))}) without manifests: name one "
                            "folder")
    definition = None
    if len(folders) == 1:
        state = await storage.get(f"AWSDynamoDB/{folders.pop()}/_dynorm/export.json")
        definition = loads(state).get("definition") if state else None
    return Source(tuple(data), (None,) * len(data), None, definition, "data")


async def _from_manifest(storage: Storage, folder: str) -> Source:
    summary_raw = await storage.get(folder + "manifest-summary.json")
    assert summary_raw is not None
    summary = loads(summary_raw)
    if summary.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise TransferError(f"{storage.url}/{folder}: the export is in "
                            f"{summary.get('outputFormat')} format; dynorm reads DYNAMODB_JSON")
    if summary.get("exportType", "FULL_EXPORT") != "FULL_EXPORT":
        raise TransferError(f"{storage.url}/{folder}: an {summary.get('exportType')} holds "
                            "changes, not items; import a full export")
    files_raw = await storage.get(folder + "manifest-files.json")
    if files_raw is None:
        raise TransferError(f"{storage.url}/{folder}: manifest-files.json is missing")
    entries = list(layout.manifest_entries(files_raw))
    state = await storage.get(folder + "_dynorm/export.json")
    definition = loads(state).get("definition") if state else None
    return Source(
        tuple(layout.relative_data_key(folder, e["dataFileS3Key"]) for e in entries),
        tuple((int(e["itemCount"]), str(e.get("md5Checksum") or "")) for e in entries),
        int(summary["itemCount"]) if summary.get("itemCount") is not None else None,
        definition, "export")


async def definition_beside(found: Source, location: str, connection: Connection,
                             s3_endpoint_url: str | None) -> Source:
    """For a bare ``data/`` folder of a dynorm export: the table definition in the
    ``_dynorm/`` folder beside it."""
    trimmed = location.rstrip("/")
    if not trimmed.endswith("/data") and trimmed != "data":
        return found
    parent = open_location(trimmed[: -len("data")] or ".", connection,
                           s3_endpoint_url=s3_endpoint_url)
    try:
        state = await parent.get("_dynorm/export.json")
    finally:
        await parent.close()
    if state is None:
        return found
    definition = loads(state).get("definition")
    return Source(found.files, found.expected, found.item_count, definition, found.kind)
