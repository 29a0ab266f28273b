"""Value stores: where a field's value lives when not in the item (``S3Value``).

The item holds a reference, the content's SHA-256 and size; the object's key is the
hex digest, so equal values share one object and a written object never changes. The
pure write path (`dynorm.security.envelope.seal_item`) only writes references to
objects this process uploaded or found; dynorm's async writes upload first
(`upload()`), so an item never points at an object that was not written. Reads fetch
the objects of a page before decoding it (`fetch()`), eagerly and concurrently, and
check each one's digest.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["REFERENCE", "RESOLVED", "ValueStore", "reference"]

#: First byte of a stored reference: ``0x53 + sha256 (32) + size (8, big-endian)``.
REFERENCE = 0x53
#: First byte of a reference resolved by `ValueStore.fetch`: ``0x52 + sha256 + data``.
RESOLVED = 0x52


def reference(data: bytes) -> tuple[bytes, bytes]:
    """``(digest, stored reference)`` of an object's content."""
    digest = hashlib.sha256(data).digest()
    return digest, bytes([REFERENCE]) + digest + len(data).to_bytes(8, "big")


class ValueStore:
    """Base class of stores: `put` and `get` an object by key (the content's hex digest).

    Args:
        concurrency: objects moved at once.
        cache_size: digests remembered as present (uploaded or read by this process).
    """

    needs_io = True

    def __init__(self, *, concurrency: int = 16, cache_size: int = 100_000) -> None:
        self.concurrency = concurrency
        self.cache_size = cache_size
        self._present: dict[bytes, None] = {}
        #: objects written and read, for tests and the docs
        self.calls = {"put": 0, "get": 0}

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""
        raise NotImplementedError

    async def get(self, key: str) -> bytes | None:
        """The object under ``key``, or None when there is none."""
        raise NotImplementedError

    def present(self, digest: bytes) -> bool:
        """True when the object of ``digest`` was uploaded or read by this process."""
        return digest in self._present

    def _remember(self, digest: bytes) -> None:
        if len(self._present) >= self.cache_size:
            del self._present[next(iter(self._present))]
        self._present[digest] = None

    async def upload(self, contents: Iterable[bytes]) -> None:
        """Store each content not known to be stored already (idempotent: the key is the
        content's digest, so a retried or concurrent upload writes the same object)."""
        todo = {}
        for data in contents:
            digest, _ = reference(data)
            if digest not in self._present:
                todo[digest] = data
        if not todo:
            return
        gate = asyncio.Semaphore(self.concurrency)

        async def one(digest: bytes, data: bytes) -> None:
            async with gate:
                await self.put(digest.hex(), data)
            self.calls["put"] += 1
            self._remember(digest)

        await asyncio.gather(*(one(d, data) for d, data in todo.items()))

    async def fetch(self, refs: Sequence[tuple[dict[str, Any], str, bytes]]) -> None:
        """Resolve references in place: ``(item, attribute, reference)`` -> the item's
        attribute holds ``0x52 + digest + content`` (checked against the digest); one
        whose object is missing or does not match is left as it is (reading it raises
        DecryptionFailed, naming the field)."""
        gate = asyncio.Semaphore(self.concurrency)
        fetched: dict[bytes, bytes | None] = {}

        async def one(digest: bytes) -> None:
            async with gate:
                data = await self.get(digest.hex())
            self.calls["get"] += 1
            if data is not None and hashlib.sha256(data).digest() == digest:
                fetched[digest] = data
                self._remember(digest)
            else:
                fetched[digest] = None

        digests = {ref[1:33] for _, _, ref in refs}
        await asyncio.gather(*(one(d) for d in digests))
        for item, attr, ref in refs:
            data = fetched.get(ref[1:33])
            if data is not None:
                item[attr] = {"B": bytes([RESOLVED]) + ref[1:33] + data}
