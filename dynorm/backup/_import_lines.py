"""Import, reading: the lines of the data files in order, each turned into the item to
write or into a record for the rejects file (pure but for the storage it reads)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from dynorm.backup import layout
from dynorm.backup.errors import TransferError
from dynorm.backup.sources import Source
from dynorm.backup.storage import Storage
from dynorm.codec.json import Fragment, dumps
from dynorm.schema.classes import meta_of
from dynorm.security import ready_to_read
from dynorm.security.envelope import SealedAttr

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["END", "Entry", "LineReader", "file_lines", "reject_record"]

#: What `file_lines` yields for the end of a file (instead of a line's bytes).
END = b""

#: One item to write: (key identity, item, file, line, what to send).
Entry = tuple[bytes, dict[str, Any], str, int, Any]


def reject_record(key: str, line: int, error: str, item: dict[str, Any] | None,
                  raw: bytes = b"") -> bytes:
    """A line of the rejects file: file, line (from 1), error, and the item (or the raw
    text of a line that holds none)."""
    record: dict[str, Any] = {"file": key, "line": line + 1, "error": error}
    if item is not None:
        record["Item"] = item
    else:
        record["raw"] = raw[:2000].decode("utf-8", "replace")
    return dumps(record) + b"\n"


class LineReader:
    """Turns the lines of data files into items to write.

    Args:
        table: the table written (for messages).
        key_names: the table's key attribute names.
        model: validate each item against this model (None: no validation).
        raw_json: the transport takes the item's JSON as it is in the file (dynorm's
            fast transport); otherwise the item is sent as parsed, with bytes for binary
            values.
    """

    def __init__(self, table: str, key_names: list[str], model: type[Model] | None,
                 raw_json: bool) -> None:
        self.table = table
        self.key_names = key_names
        self.model = model
        self.raw_json = raw_json
        #: the model's sealed fields whose values need I/O before an item can be read
        #: (KMS data keys, values in S3): `read()` leaves their items' check to
        #: `check_loaded()`, which loads them first, as every read path does
        self.loading: tuple[SealedAttr, ...] = ()
        if model is not None:
            self.loading = meta_of(model).loading

    def key_identity(self, item: dict[str, Any]) -> bytes:
        """What tells two items of the table apart: their key values, as JSON."""
        return dumps([item[k] for k in self.key_names])

    def read(self, key: str, index: int, raw: bytes) -> Entry | bytes:
        """The entry of line ``index`` of file ``key``, or its rejects record when it is
        not DynamoDB JSON, lacks a key attribute or does not fit the model."""
        try:
            item, text = layout.split_line(raw)
        except ValueError as exc:
            return reject_record(key, index, f"not DynamoDB JSON: {exc}", None, raw)
        # dynorm's JSON (the fast transport) sends base64 text as it is; botocore and the
        # model's codec want bytes
        if layout.has_binary(raw) and (self.model is not None or not self.raw_json):
            layout.binary_to_bytes(item)
        missing = [k for k in self.key_names if k not in item]
        if missing:
            return reject_record(key, index, f"the item lacks the key attribute(s) "
                                 f"{', '.join(missing)} of table {self.table!r}", item)
        if self.model is not None and not self.loading:
            failed = self._check(key, index, item, item)
            if failed is not None:
                return failed
        payload: Any = Fragment(text) if self.raw_json and text is not None else item
        return self.key_identity(item), item, key, index, payload

    async def check_loaded(self, entry: Entry) -> Entry | bytes:
        """The check `read()` left to this (`loading`): the data keys and stored values
        of the item's sealed fields loaded, on a copy (the item written keeps its
        references to stored values), then the model's check."""
        _, item, key, index, _ = entry
        readable = dict(item)
        await ready_to_read(self.loading, (readable,))
        failed = self._check(key, index, readable, item)
        return entry if failed is None else failed

    def _check(self, key: str, index: int, readable: dict[str, Any],
               item: dict[str, Any]) -> bytes | None:
        assert self.model is not None
        try:
            self.model.from_item(readable)
        except Exception as exc:  # ValidationFailed, or a value the codec refuses
            return reject_record(key, index, f"{type(exc).__name__}: {exc}", item)
        return None


async def file_lines(storage: Storage, source: Source, start: tuple[int, int]
                     ) -> AsyncIterator[tuple[int, int, bytes]]:
    """``(file index, line index, line)`` of every line from ``start`` on, and
    ``(file index, lines in the file, END)`` after each file; a file whose manifest
    entry gives its MD5 and item count is checked against them first.

    Raises:
        TransferError: a file that differs from its manifest entry.
        ValueError: a damaged or truncated gzip file.
    """
    start_file, start_line = start
    for index, key in enumerate(source.files):
        if index < start_file:
            continue
        expected = source.expected[index]
        checksum = hashlib.md5(usedforsecurity=False) if expected else None
        line = -1
        async for raw in layout.read_lines(storage.chunks(key), checksum):
            line += 1
            if index == start_file and line < start_line:
                continue
            yield index, line, raw
        if expected is not None:
            check_file(f"{storage.url}/{key}", expected, line + 1, checksum)
        yield index, line + 1, END


def check_file(url: str, expected: tuple[int, str], lines: int, checksum: Any) -> None:
    """A data file's MD5 and line count against its manifest entry."""
    count, md5 = expected
    actual = base64.b64encode(checksum.digest()).decode() if checksum else ""
    if md5 and actual != md5:
        raise TransferError(f"{url}: its MD5 ({actual}) differs from the manifest's "
                            f"({md5}): the file was changed or damaged")
    if lines != count:
        raise TransferError(f"{url}: {lines} items, the manifest says {count}: the file "
                            "was changed or damaged")
