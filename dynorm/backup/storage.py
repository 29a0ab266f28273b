"""Where exports are written and imports read from: a local folder or ``s3://bucket/prefix``.

Both kinds answer the same few calls with keys relative to the location (``/`` as the
separator): `Storage.put` (whole object, atomically), `Storage.get`,
`Storage.chunks` (a large object as a stream), `Storage.list` and
`Storage.delete`. A local folder writes each file to a temporary name, flushes it to
disk (``fsync``) and renames it into place (``os.replace``), so a process killed at any
point leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dynorm.backup.errors import TransferError

if TYPE_CHECKING:
    from dynorm.connection import Connection

__all__ = ["CHUNK", "LocalStorage", "Storage", "open_location", "write_atomically"]

#: Bytes read at a time when an object is streamed.
CHUNK = 1 << 20


@runtime_checkable
class Storage(Protocol):
    """An export location: a local folder or an S3 bucket and prefix."""

    #: The location as a user names it (``/backups/x`` or ``s3://bucket/prefix``).
    url: str
    #: The S3 bucket (None for a local folder).
    bucket: str | None
    #: The S3 prefix, without a trailing ``/`` (``""`` for a local folder).
    prefix: str

    async def put(self, key: str, data: bytes) -> None:
        """Write the object whole (replacing any), atomically."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The object, or None when there is none."""
        ...

    def chunks(self, key: str, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The object in pieces of at most ``size`` bytes (memory holds one)."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (relative to the location), sorted."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object (a missing one is fine)."""
        ...

    async def close(self) -> None: ...


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``path`` so that a crash leaves the old content or the new, never a mix:
    a temporary file beside it, flushed to disk, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


class LocalStorage:
    """A folder on this machine (created on the first write)."""

    bucket: str | None = None
    prefix: str = ""

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self.durable = durable

    def __repr__(self) -> str:
        return f"LocalStorage({self.url!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path != self.root and self.root not in path.parents:
            raise TransferError(f"key {key!r} points outside {self.root}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(write_atomically, self._path(key), data, durable=self.durable)

    async def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def chunks(self, key: str, size: int = CHUNK) -> AsyncIterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise TransferError(f"{self._path(key)}: no such file") from exc
        with handle:
            while True:
                data = handle.read(size)
                if not data:
                    return
                yield data

    async def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        keys = []
        for folder, _, files in os.walk(base):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # a write a killed process left half done
                keys.append((Path(folder) / name).relative_to(self.root).as_posix())
        return sorted(keys)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    async def remove_partial(self, prefix: str) -> builtins.list[str]:
        """Delete the temporary files a killed process left under ``prefix`` (a write
        that never reached its rename); their keys."""
        base = self._path(prefix)
        removed: builtins.list[str] = []
        for folder, _, files in os.walk(base) if base.is_dir() else ():
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    path = Path(folder) / name
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    removed.append(path.relative_to(self.root).as_posix())
        return removed

    async def close(self) -> None:
        return None


def open_location(location: str | os.PathLike[str], connection: Connection | None = None, *,
                  s3_endpoint_url: str | None = None) -> Storage:
    """The `Storage` a location names: ``s3://bucket/prefix`` or a local folder.

    Args:
        location: ``s3://bucket[/prefix]`` or a path.
        connection: for S3, the connection whose region (and, for a local server, whose
            endpoint) S3 requests use.
        s3_endpoint_url: the S3 endpoint; default ``AWS_ENDPOINT_URL_S3``, else the
            connection's endpoint when it has one (moto serves S3 on its DynamoDB port),
            else AWS's.
    """
    text = os.fspath(location)
    if text.startswith("s3://"):
        from dynorm.backup.s3 import S3Storage

        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise TransferError(f"{text!r}: an S3 location is s3://bucket[/prefix]")
        return S3Storage(bucket, prefix.strip("/"), connection=connection,
                         endpoint_url=s3_endpoint_url)
    if "://" in text:
        raise TransferError(f"{text!r}: a location is a folder or s3://bucket/prefix")
    return LocalStorage(text)
