"""Client-side protection of attribute values: encrypted and compressed fields.

* `Encrypted` (a field marker) with a `Keyring`: `LocalKeyring` (master keys the
  program holds) or ``KmsKeyring`` (AWS KMS, `dynorm.kms`);
* `Compressed` (a field marker): zstd or zlib;
* `DecryptionFailed`, `KeyringError`.

See docs/security.md for what each protects against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dynorm.security.envelope import SealedAttr, wrapped_keys
from dynorm.security.errors import DecryptionFailed, KeyringError
from dynorm.security.keyring import DataKey, Keyring, LocalKeyring
from dynorm.security.markers import Compressed, Encrypted, SealedPath

__all__ = [
    "Compressed",
    "DataKey",
    "DecryptionFailed",
    "Encrypted",
    "Keyring",
    "KeyringError",
    "LocalKeyring",
    "SealedPath",
    "ready_to_read",
    "ready_to_write",
]


async def ready_to_write(keyrings: Iterable[Keyring]) -> None:
    """Load a fresh data key into each keyring that needs I/O for one (``meta.keyrings``)."""
    for keyring in keyrings:
        await keyring.ready_to_write()


async def ready_to_read(sealed: tuple[SealedAttr, ...],
                        items: Iterable[Mapping[str, Any]]) -> None:
    """Load the data keys the encrypted values of ``items`` need (``meta.sealed``)."""
    for keyring, wrapped in wrapped_keys(sealed, items).items():
        await keyring.ready_to_read(wrapped)
