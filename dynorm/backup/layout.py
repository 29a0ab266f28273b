"""The layout of DynamoDB's native export to S3, written and read by dynorm (pure: no I/O).

An export of table ``T`` to ``<prefix>`` is the set of objects AWS's
``ExportTableToPointInTime`` writes (``DYNAMODB_JSON`` format)::

    <prefix>/AWSDynamoDB/<export-id>/_started                  empty: the export began
    <prefix>/AWSDynamoDB/<export-id>/data/<name>.json.gz       the items, gzip
    <prefix>/AWSDynamoDB/<export-id>/manifest-files.json       one line per data file
    <prefix>/AWSDynamoDB/<export-id>/manifest-files.checksum   its MD5 (hex)
    <prefix>/AWSDynamoDB/<export-id>/manifest-summary.json     written last: the export is complete
    <prefix>/AWSDynamoDB/<export-id>/manifest-summary.checksum its MD5 (hex)

A data file holds one item per line, ``{"Item":{...}}``, in DynamoDB JSON (the
AttributeValue wire form: ``{"S": "x"}``, ``{"N": "1.5"}``, binary as base64). A line of
``manifest-files.json`` reads ``{"itemCount": 8, "md5Checksum": "<base64 MD5>", "etag":
"<hex MD5>", "dataFileS3Key": "<prefix>/AWSDynamoDB/<id>/data/<name>.json.gz"}``.

dynorm adds ``_dynorm/`` beside the manifests: ``export.json`` (the table's key schema and
indexes, what ``import_table(create=True)`` creates the table from) and one checkpoint per
scan segment (what ``resume=True`` continues from). AWS's ``ImportTable`` reads only the
``data/`` folder it is pointed at, so it never sees them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import orjson

from dynorm.codec.json import dumps, loads

__all__ = [
    "DATA_SUFFIXES",
    "EXPORT_ROOT",
    "MANIFEST_VERSION",
    "GzipWriter",
    "checksum_hex",
    "data_file_key",
    "encode_line",
    "export_folder",
    "file_checksums",
    "is_data_file",
    "iso_time",
    "manifest_files",
    "manifest_summary",
    "new_export_id",
    "parse_line",
    "read_lines",
    "split_lines",
]

#: The folder every export of a prefix lives in.
EXPORT_ROOT = "AWSDynamoDB"
#: The ``version`` of ``manifest-summary.json`` AWS writes.
MANIFEST_VERSION = "2020-06-30"
#: Names an import reads as data files (gzip or not is told from the content).
DATA_SUFFIXES = (".json.gz", ".gz", ".json", ".jsonl", ".ndjson")

_EXPORT_ID = re.compile(r"^\d{14}-[0-9a-f]{8}$")


def new_export_id(now: float | None = None) -> str:
    """An export id in AWS's form: milliseconds since the epoch (14 digits), ``-``, 8 hex
    digits (``01693685827463-2d8752fd``); ids of later exports sort later."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:014d}-{secrets.token_hex(4)}"


def is_export_id(text: str) -> bool:
    """True for an id `new_export_id` could have made."""
    return bool(_EXPORT_ID.match(text))


def export_folder(export_id: str) -> str:
    """The folder of one export, relative to the location's prefix (ends in ``/``)."""
    return f"{EXPORT_ROOT}/{export_id}/"


def data_file_key(export_id: str, segment: int, sequence: int) -> str:
    """The data file ``sequence`` of scan segment ``segment``: the same name every time,
    so a resumed export overwrites a file its killed run left unrecorded."""
    return f"{export_folder(export_id)}data/seg{segment:04d}-{sequence:05d}.json.gz"


def is_data_file(key: str) -> bool:
    """True for a key an import reads items from (not a manifest, checksum or checkpoint)."""
    name = key.rsplit("/", 1)[-1]
    if name.startswith(("manifest-", "_", ".")) or "/_dynorm/" in f"/{key}":
        return False
    return name.endswith(DATA_SUFFIXES)


def iso_time(epoch: float) -> str:
    """``2020-11-04T07:28:34.028Z``: the timestamps of AWS's manifests."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------- lines


def encode_line(item: dict[str, Any]) -> bytes:
    """One line of a data file: ``{"Item":{...}}`` and a newline (binary as base64)."""
    return b'{"Item":' + dumps(item) + b"}\n"


def parse_line(line: bytes) -> dict[str, Any]:
    """The item of one line (see `split_line`)."""
    return split_line(line)[0]


def split_line(line: bytes) -> tuple[dict[str, Any], bytes | None]:
    """The item of one line: an export line (``{"Item": {...}}``) or a plain item in
    DynamoDB JSON, and the item's own JSON text within the line when it can be cut out
    (an export line holding nothing else), else None. Binary values stay base64
    strings, as in the file.

    A line with an ``Item`` object and nothing else that is an object (a line of
    dynorm's rejects file carries ``file``, ``line`` and ``error`` beside it) is read as
    an export line: a plain item whose only attribute is a map named ``Item`` cannot be
    told from one.

    Raises:
        ValueError: the line is not JSON, or not an object of AttributeValues.
    """
    value = loads(line)
    if not isinstance(value, dict):
        raise ValueError(f"a line must hold a JSON object, not {type(value).__name__}")
    inner = value.get("Item")
    text: bytes | None = None
    if isinstance(inner, dict) and all(
            not isinstance(v, dict) for k, v in value.items() if k != "Item"):
        if len(value) == 1 and line.startswith(b'{"Item":') and line.endswith(b"}"):
            text = line[8:-1]
        value = inner
    elif line.startswith(b"{") and line.endswith(b"}"):
        text = line
    for name, attribute in value.items():
        if not (isinstance(attribute, dict) and len(attribute) == 1):
            raise ValueError(
                f"attribute {name!r} is not an AttributeValue (one type tag such as "
                f'{{"S": "text"}} or {{"N": "1"}}): {orjson.dumps(attribute)[:80]!r}')
    return value, text


def split_lines(buffer: bytearray, data: bytes) -> list[bytes]:
    """Append ``data`` to ``buffer`` and take the complete lines out of it."""
    buffer += data
    end = buffer.rfind(b"\n")
    if end < 0:
        return []
    lines = bytes(buffer[:end]).split(b"\n")
    del buffer[:end + 1]
    return lines


#: Bytes of a file decompressed and split at a time (a gzip piece of this size holds
#: several times as much JSON).
_PIECE = 1 << 17


class _Gunzip:
    """Streaming gzip decompression across concatenated members."""

    def __init__(self) -> None:
        self._member = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            try:
                out.append(self._member.decompress(data))
            except zlib.error as exc:
                raise ValueError(f"damaged gzip data: {exc}") from exc
            data = b""
            if self._member.eof:
                data = self._member.unused_data
                if data:  # another member follows
                    self._member = zlib.decompressobj(wbits=31)
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._member.eof:
            raise ValueError("the gzip stream ends early (a truncated file)")
        return b""


async def read_lines(chunks: AsyncIterator[bytes], checksum: Any = None
                     ) -> AsyncIterator[bytes]:
    """The lines of a data file given as a stream of byte chunks: gzip (one member or
    several) is told from its magic bytes and decompressed on the fly; memory holds one
    chunk. ``checksum`` (a ``hashlib`` object) is fed the raw bytes. Line endings and
    blank lines are dropped.

    Raises:
        ValueError: a gzip stream that ends early (a truncated file) or is damaged.
    """
    buffer = bytearray()
    gunzip: _Gunzip | None = None
    head: bytes | None = b""  # the first bytes, until there are two to tell gzip by
    async for chunk in chunks:
        if checksum is not None:
            checksum.update(chunk)
        if head is not None:
            head += chunk
            if len(head) < 2:
                continue
            chunk, head = head, None
            if chunk[:2] == b"\x1f\x8b":
                gunzip = _Gunzip()
        for start in range(0, len(chunk), _PIECE):  # bounded memory for large chunks
            piece = chunk[start:start + _PIECE]
            for line in split_lines(buffer, gunzip.feed(piece) if gunzip else piece):
                line = line.strip()
                if line:
                    yield line
    if head:  # a one-byte file
        buffer += head
    if gunzip is not None:
        buffer += gunzip.finish()
    for line in bytes(buffer).split(b"\n"):
        line = line.strip()
        if line:
            yield line


class GzipWriter:
    """A gzip file built in memory, line by line (compressed as it grows: memory holds
    the compressed bytes only)."""

    def __init__(self, level: int = 6) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._parts: list[bytes] = []
        self.items = 0
        self.raw_bytes = 0

    def write(self, data: bytes, items: int) -> None:
        self.items += items
        self.raw_bytes += len(data)
        out = self._deflate.compress(data)
        if out:
            self._parts.append(out)

    def finish(self) -> bytes:
        self._parts.append(self._deflate.flush())
        data = b"".join(self._parts)
        self._parts = []
        return data


# ---------------------------------------------------------------------------- manifests


def checksum_hex(data: bytes) -> str:
    """The hex MD5 of ``data`` (what ``*.checksum`` files and S3 ETags hold)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_checksums(data: bytes) -> tuple[str, str]:
    """``(md5Checksum, etag)`` of a data file: its MD5 in base64 and in hex."""
    digest = hashlib.md5(data, usedforsecurity=False)
    return base64.b64encode(digest.digest()).decode("ascii"), digest.hexdigest()


def manifest_files(entries: list[dict[str, Any]]) -> bytes:
    """``manifest-files.json``: one JSON line per data file, in AWS's key order."""
    lines = [
        orjson.dumps({"itemCount": e["itemCount"], "md5Checksum": e["md5Checksum"],
                      "etag": e["etag"], "dataFileS3Key": e["dataFileS3Key"]})
        for e in entries
    ]
    return b"".join(line + b"\n" for line in lines)


def manifest_summary(*, export_arn: str, start_time: float, end_time: float, table_arn: str,
                     table_id: str | None, s3_bucket: str | None, s3_prefix: str | None,
                     manifest_files_key: str, billed_size_bytes: int, item_count: int
                     ) -> bytes:
    """``manifest-summary.json`` with AWS's fields. ``exportTime`` is the start of the
    scan: a client-side export reads the table over time, not at one instant."""
    return orjson.dumps({
        "version": MANIFEST_VERSION,
        "exportArn": export_arn,
        "startTime": iso_time(start_time),
        "endTime": iso_time(end_time),
        "tableArn": table_arn,
        "tableId": table_id,
        "exportTime": iso_time(start_time),
        "s3Bucket": s3_bucket,
        "s3Prefix": s3_prefix,
        "s3SseAlgorithm": "AES256" if s3_bucket else None,
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": manifest_files_key,
        "billedSizeBytes": billed_size_bytes,
        "itemCount": item_count,
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }, option=orjson.OPT_INDENT_2)


def manifest_entries(text: bytes) -> Iterator[dict[str, Any]]:
    """The entries of a ``manifest-files.json``."""
    for line in text.splitlines():
        if line.strip():
            entry = loads(line)
            if not isinstance(entry, dict) or "dataFileS3Key" not in entry:
                raise ValueError(f"not a manifest-files.json line: {line[:120]!r}")
            yield entry


def relative_data_key(folder: str, data_file_s3_key: str) -> str:
    """Where a manifest's ``dataFileS3Key`` is inside the export ``folder``: keys are
    written with the bucket's full prefix, so only the part from ``data/`` on is kept."""
    marker = data_file_s3_key.rfind("/data/")
    tail = data_file_s3_key[marker + 1:] if marker >= 0 else data_file_s3_key
    return folder + tail


def binary_to_bytes(item: dict[str, Any]) -> dict[str, Any]:
    """Turn the base64 text of ``B``/``BS`` AttributeValues into bytes, in place, anywhere
    in an item or key as read from JSON (maps and lists included); returns ``item``."""
    for value in item.values():
        _binary_value(value)
    return item


def _binary_value(value: Any) -> None:
    if not isinstance(value, dict):
        return
    if "B" in value:
        inner = value["B"]
        if isinstance(inner, str):
            value["B"] = base64.b64decode(inner)
    elif "BS" in value:
        inner = value["BS"]
        if isinstance(inner, list):
            value["BS"] = [base64.b64decode(v) if isinstance(v, str) else v for v in inner]
    elif "M" in value:
        inner = value["M"]
        if isinstance(inner, dict):
            for child in inner.values():
                _binary_value(child)
    elif "L" in value:
        inner = value["L"]
        if isinstance(inner, list):
            for child in inner:
                _binary_value(child)


def has_binary(line: bytes) -> bool:
    """Cheap pre-check: a line without a ``"B"``/``"BS"`` token holds no binary value."""
    return b'"B"' in line or b'"BS"' in line


def table_definition(description: dict[str, Any]) -> dict[str, Any]:
    """What re-creates a table like the one ``DescribeTable`` described: key schema,
    attribute definitions, billing, indexes (``CreateTable``'s names, without the
    table name). Streams, TTL, tags and encryption settings are not carried."""
    definition: dict[str, Any] = {
        "AttributeDefinitions": description["AttributeDefinitions"],
        "KeySchema": description["KeySchema"],
    }
    billing = (description.get("BillingModeSummary") or {}).get("BillingMode")
    throughput = description.get("ProvisionedThroughput") or {}
    provisioned = billing == "PROVISIONED" or (
        billing is None and throughput.get("ReadCapacityUnits", 0) > 0)

    def capacity(source: dict[str, Any]) -> dict[str, int]:
        return {"ReadCapacityUnits": max(1, int(source.get("ReadCapacityUnits") or 1)),
                "WriteCapacityUnits": max(1, int(source.get("WriteCapacityUnits") or 1))}

    definition["BillingMode"] = "PROVISIONED" if provisioned else "PAY_PER_REQUEST"
    if provisioned:
        definition["ProvisionedThroughput"] = capacity(throughput)
    for field in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = []
        for index in description.get(field) or ():
            spec = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"]}
            if field == "GlobalSecondaryIndexes" and provisioned:
                spec["ProvisionedThroughput"] = capacity(index.get("ProvisionedThroughput")
                                                         or throughput)
            indexes.append(spec)
        if indexes:
            definition[field] = indexes
    return definition
