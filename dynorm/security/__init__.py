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
from dynorm.security.stores import REFERENCE, ValueStore

__all__ = [
    "Compressed",
    "DataKey",
    "DecryptionFailed",
    "Encrypted",
    "Keyring",
    "KeyringError",
    "LocalKeyring",
    "SealedPath",
    "ValueStore",
    "ready_to_read",
    "ready_to_write",
]


async def ready_to_write(loaders: Iterable[Keyring | ValueStore],
                         sealed: tuple[SealedAttr, ...] = (),
                         instances: Iterable[Any] = ()) -> None:
    """Before the pure encode of ``instances``: load a fresh data key into each keyring
    that needs I/O (``meta.loaders``), and upload the values stored in a value store."""
    for loader in loaders:
        if isinstance(loader, Keyring):
            await loader.ready_to_write()
    stores: dict[ValueStore, list[bytes]] = {}
    for spec in sealed:
        if spec.store is None:
            continue
        for instance in instances:
            value = instance.__dict__.get(spec.field) if instance is not None else None
            if value is None and spec.field not in getattr(instance, "__dict__", {}):
                continue
            av = spec.codec.encode(value)
            if av is not None:
                stores.setdefault(spec.store, []).append(spec.content(av))
    for store, contents in stores.items():
        await store.upload(contents)


async def ready_to_read(sealed: tuple[SealedAttr, ...],
                        items: Iterable[Mapping[str, Any]]) -> None:
    """Before the pure decode of ``items``: load the data keys their encrypted values
    need, and fetch their values held in a value store (resolved in the items)."""
    items = list(items)
    for keyring, wrapped in wrapped_keys(sealed, items).items():
        await keyring.ready_to_read(wrapped)
    refs: dict[ValueStore, list[tuple[dict[str, Any], str, bytes]]] = {}
    for spec in sealed:
        if spec.store is None:
            continue
        for item in items:
            if spec.applies is not None and not spec.applies(item):
                continue  # an older schema version's attribute, in an item of another
            av = item.get(spec.attr)
            data = av.get("B") if isinstance(av, dict) else None
            if isinstance(data, (bytes, bytearray)) and data[:1] == bytes([REFERENCE]):
                target: Any = item  # resolved in place
                refs.setdefault(spec.store, []).append((target, spec.attr, bytes(data)))
    for store, found in refs.items():
        await store.fetch(found)
