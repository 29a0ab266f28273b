"""Large values in S3: ``Annotated[bytes, S3Value("bucket")]``.

```python
blobs = S3Value("my-app-values", prefix="documents")

class Document(Model, table="documents"):
    doc_id: Annotated[str, PartitionKey]
    title: str
    body: Annotated[bytes, blobs]                   # any size: the item holds 41 bytes
    text: Annotated[str, Compressed(), blobs] = ""  # compressed, then stored
```

The value is stored as an S3 object whose key is the SHA-256 of its content (under
``prefix``), written *before* the item (every write path: save, batch, transaction,
``move()``, migrations), so an item never points at an object that was not written;
the item holds the digest and size. Reads (get, query, scan, batch and transactional
gets, the answer of ``update()``, stream events) fetch the objects of what they read
eagerly, concurrently, and check each against its digest: a missing or altered object
is a `DecryptionFailed` naming the field. See docs/large-values.md.

Objects are never deleted by dynorm: equal values share one object (the key is the
content's digest), so deleting one item's object could break another item. Orphans
(values replaced or items deleted, writes that failed after the upload) stay until a
sweep you run removes objects no item references, or forever: see the docs for the
choice and its costs.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from dynorm.connection import get_connection
from dynorm.security.stores import ValueStore

if TYPE_CHECKING:
    from dynorm.backup.s3 import S3Storage

__all__ = ["S3Value"]


class S3Value(ValueStore):
    """A field stored as an S3 object (a marker in ``Annotated[...]``).

    Args:
        bucket: the bucket (it must exist; ``create_bucket()`` makes it on local servers).
        prefix: the key prefix of the objects (``prefix/<sha256 hex>``).
        endpoint_url: an S3 endpoint (default: ``AWS_ENDPOINT_URL_S3``, else a local
            server's, else AWS's for the connection's Region).
        concurrency: objects moved at once per read or write.
    """

    def __init__(self, bucket: str, prefix: str = "dynorm-values", *,
                 endpoint_url: str | None = None, concurrency: int = 16) -> None:
        super().__init__(concurrency=concurrency)
        if not bucket:
            raise ValueError("S3Value needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._storages: weakref.WeakKeyDictionary[Any, S3Storage] = (
            weakref.WeakKeyDictionary())

    def __repr__(self) -> str:
        return f"S3Value('s3://{self.bucket}/{self.prefix}')"

    def _storage(self) -> S3Storage:
        from dynorm.backup.s3 import S3Storage

        conn = get_connection()
        storage = self._storages.get(conn)
        if storage is None:
            storage = self._storages[conn] = S3Storage(
                self.bucket, self.prefix, connection=conn, endpoint_url=self.endpoint_url)
        return storage

    async def put(self, key: str, data: bytes) -> None:
        await self._storage().put(key, data)

    async def get(self, key: str) -> bytes | None:
        return await self._storage().get(key)

    async def create_bucket(self) -> None:
        """Create the bucket (for tests and local servers; an existing one is fine)."""
        await self._storage().create_bucket()

    async def close(self) -> None:
        """Close the HTTP connections of every connection's client."""
        for storage in self._storages.values():
            await storage.close()
        self._storages.clear()
