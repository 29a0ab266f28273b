"""Keyrings: where the data keys that encrypt values come from, and their cache.

Envelope encryption: each value is encrypted with a *data key* (AES-256-GCM), stored
beside it wrapped by a *master key* the keyring holds (a local key, or a KMS key). A data
key is reused for a bounded time and number of values (``max_age``, ``max_uses``), so a
KMS keyring calls ``GenerateDataKey`` once per data key, not per item; unwrapped keys are
cached (``max_age`` too) so reading a page calls ``Decrypt`` once per data key in it.

The cipher runs synchronously inside the one write path and the one read path (pure);
a keyring whose keys need I/O (KMS) is made ready first by dynorm's async reads and
writes (`Keyring.ready_to_write`, `Keyring.ready_to_read`). A `LocalKeyring` needs none.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from dynorm.security.envelope import header
from dynorm.security.errors import DecryptionFailed, KeyringError

__all__ = ["DataKey", "Keyring", "LocalKeyring", "aesgcm"]


def aesgcm(key: bytes) -> Any:
    """``cryptography``'s AESGCM for ``key`` (imported on first use)."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:  # pragma: no cover - the crypto extra installs it
        raise KeyringError("encrypted fields need the cryptography package: "
                           "pip install 'dynorm[crypto]'") from exc
    return AESGCM(key)


class DataKey:
    """A data key ready to encrypt: its cipher, wrapped form and header, age and uses."""

    __slots__ = ("aead", "created", "header", "uses", "wrapped")

    def __init__(self, plaintext: bytes, wrapped: bytes) -> None:
        self.aead = aesgcm(plaintext)
        self.wrapped = wrapped
        self.header = header(wrapped)
        self.created = time.monotonic()
        self.uses = 0

    def __repr__(self) -> str:  # never the key
        return f"DataKey(wrapped={len(self.wrapped)} bytes, uses={self.uses})"


class Keyring:
    """Base class: a master key that wraps and unwraps data keys, and the cache.

    Subclasses implement `_generate` and `_unwrap` (async, may call a service), and may
    implement `_generate_now` / `_unwrap_now` when they need no I/O.

    Args:
        max_age: seconds a data key encrypts new values, and an unwrapped one is kept.
        max_uses: values one data key encrypts before the next write makes a new one
            (a write in flight may exceed it by the values of one request).
        cache_size: unwrapped data keys kept for reads.
    """

    #: One byte at the start of every wrapped key: which kind of keyring wrapped it.
    kind = b"?"

    def __init__(self, *, max_age: float = 300.0, max_uses: int = 100_000,
                 cache_size: int = 1000) -> None:
        if max_age <= 0 or max_uses < 1 or cache_size < 1:
            raise ValueError("max_age, max_uses and cache_size must be positive")
        self.max_age = max_age
        self.max_uses = max_uses
        self.cache_size = cache_size
        self._current: DataKey | None = None
        self._opened: dict[bytes, tuple[Any, float]] = {}
        self._refused: dict[bytes, str] = {}
        #: one lock per event loop (blocking callers may run several)
        self._locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
        #: service calls made (generate, unwrap): for tests and the benchmark
        self.calls = {"generate": 0, "unwrap": 0}

    # ------------------------------------------------------------------ subclasses

    async def _generate(self) -> tuple[bytes, bytes]:
        """A new data key: ``(plaintext, wrapped)`` (wrapped starts with `kind`)."""
        raise NotImplementedError

    def _generate_now(self) -> tuple[bytes, bytes] | None:
        """`_generate` without I/O, or None when it needs I/O."""
        return None

    async def _unwrap(self, wrapped: bytes) -> bytes:
        """The plaintext of a wrapped data key; DecryptionFailed if this keyring cannot."""
        raise NotImplementedError

    def _unwrap_now(self, wrapped: bytes) -> bytes | None:
        """`_unwrap` without I/O, or None when it needs I/O."""
        return None

    # ------------------------------------------------------------------ writing

    def _fresh(self, key: DataKey | None) -> bool:
        return key is not None and key.uses < self.max_uses and (
            time.monotonic() - key.created < self.max_age)

    def encryption_key(self) -> DataKey:
        """The data key to encrypt the next value with (counts one use)."""
        key = self._current
        if not self._fresh(key):
            made = self._generate_now()
            if made is not None:
                self.calls["generate"] += 1
                key = self._current = self._remember(DataKey(*made))
            elif key is None:
                raise KeyringError(
                    f"{self!r} has no data key loaded: it needs I/O, so only dynorm's "
                    "async writes can use it (they load it first); "
                    "await keyring.ready_to_write() before a synchronous encode")
        assert key is not None
        key.uses += 1
        return key

    async def ready_to_write(self) -> None:
        """Make sure a fresh data key is loaded (calls the service when it is not)."""
        if self._fresh(self._current):
            return
        async with self._guard():
            if not self._fresh(self._current):
                made = await self._generate()
                self.calls["generate"] += 1
                self._current = self._remember(DataKey(*made))

    def _remember(self, key: DataKey) -> DataKey:
        self._store(key.wrapped, key.aead)
        return key

    # ------------------------------------------------------------------ reading

    def has_key(self, wrapped: bytes) -> bool:
        """True when reading values under ``wrapped`` needs no service call."""
        entry = self._opened.get(wrapped)
        if entry is not None and time.monotonic() < entry[1]:
            return True
        return wrapped in self._refused or wrapped[:1] != self.kind or not self.needs_io

    @property
    def needs_io(self) -> bool:
        """True when data keys need a service call (KMS): dynorm's async reads and writes
        load them before the synchronous encode and decode."""
        return type(self)._unwrap_now is Keyring._unwrap_now

    def decryption_key(self, wrapped: bytes) -> Any:
        """The cipher of the data key ``wrapped``; DecryptionFailed if it cannot be had."""
        entry = self._opened.get(wrapped)
        if entry is not None and time.monotonic() < entry[1]:
            return entry[0]
        if wrapped[:1] != self.kind:
            raise DecryptionFailed(
                f"it was encrypted by another kind of keyring than {self!r}",
                model="", table="", key={}, field="")
        reason = self._refused.get(wrapped)
        if reason is not None:
            raise DecryptionFailed(reason, model="", table="", key={}, field="")
        plain = self._unwrap_now(wrapped)
        if plain is None:
            raise KeyringError(
                f"{self!r}: the data key of this value is not loaded; only dynorm's async "
                "reads can load it (await keyring.ready_to_read(...) before a "
                "synchronous decode)")
        self.calls["unwrap"] += 1
        return self._store(wrapped, aesgcm(plain))

    async def ready_to_read(self, wrapped: Iterable[bytes]) -> None:
        """Unwrap (concurrently) the data keys in ``wrapped`` this keyring lacks; one that
        cannot be unwrapped is remembered, and reading its values raises DecryptionFailed."""
        missing = [w for w in set(wrapped) if not self.has_key(w)]
        if not missing:
            return

        async def one(w: bytes) -> None:
            try:
                plain = await self._unwrap(w)
            except DecryptionFailed as exc:
                self._refuse(w, str(exc))
                return
            self.calls["unwrap"] += 1
            self._store(w, aesgcm(plain))

        await asyncio.gather(*(one(w) for w in missing))

    def _store(self, wrapped: bytes, aead: Any) -> Any:
        opened = self._opened
        if len(opened) >= self.cache_size:
            del opened[next(iter(opened))]  # the oldest
        opened[wrapped] = (aead, time.monotonic() + self.max_age)
        return aead

    def _refuse(self, wrapped: bytes, reason: str) -> None:
        if len(self._refused) >= self.cache_size:
            del self._refused[next(iter(self._refused))]
        self._refused[wrapped] = reason

    def _guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def forget(self) -> None:
        """Drop every cached data key (the next write makes a new one)."""
        self._current = None
        self._opened.clear()
        self._refused.clear()


class LocalKeyring(Keyring):
    """Master keys held by the program: 32-byte AES keys with ids.

    Data keys are wrapped with AES-256-GCM under the current master key; the wrapped key
    names the master key's id, so values written under an older key still read after
    ``current`` moves on (key rotation: keep the old keys in ``keys``).

    ```python
    keys = LocalKeyring({"2026-01": key_2026_01, "2026-07": key_2026_07},
                        current="2026-07")
    ```

    Args:
        keys: master key id -> 32 random bytes (``os.urandom(32)``; keep them in a
            secret store, never in code).
        current: the id that wraps new data keys (default: the only one).
        max_age: see `Keyring`.
        max_uses: see `Keyring`.
    """

    kind = b"L"

    def __init__(self, keys: Mapping[str, bytes], current: str | None = None, *,
                 max_age: float = 300.0, max_uses: int = 100_000) -> None:
        super().__init__(max_age=max_age, max_uses=max_uses)
        if not keys:
            raise ValueError("LocalKeyring needs at least one master key")
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not 0 < len(key_id.encode()) < 256:
                raise ValueError(f"master key id {key_id!r}: a non-empty str under 256 bytes")
            if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes (AES-256)")
        if current is None:
            if len(keys) > 1:
                raise ValueError("LocalKeyring with several keys: name the current one "
                                 "(current=...)")
            current = next(iter(keys))
        if current not in keys:
            raise ValueError(f"current={current!r} is not one of the keys")
        self.current = current
        self._keys = {k: bytes(v) for k, v in keys.items()}
        self._wrappers: dict[str, Any] = {}

    def __repr__(self) -> str:  # never the keys
        return f"LocalKeyring(current={self.current!r}, keys={sorted(self._keys)})"

    def _wrapper(self, key_id: str) -> Any:
        wrapper = self._wrappers.get(key_id)
        if wrapper is None:
            wrapper = self._wrappers[key_id] = aesgcm(self._keys[key_id])
        return wrapper

    def _generate_now(self) -> tuple[bytes, bytes]:
        plain = os.urandom(32)
        key_id = self.current.encode()
        nonce = os.urandom(12)
        sealed = self._wrapper(self.current).encrypt(nonce, plain, b"dynorm-data-key:" + key_id)
        return plain, self.kind + bytes([len(key_id)]) + key_id + nonce + sealed

    async def _generate(self) -> tuple[bytes, bytes]:
        return self._generate_now()

    def _unwrap_now(self, wrapped: bytes) -> bytes:
        size = wrapped[1] if len(wrapped) > 1 else 0
        key_id = wrapped[2:2 + size]
        nonce, sealed = wrapped[2 + size:14 + size], wrapped[14 + size:]
        name = key_id.decode("utf-8", "replace")
        if name not in self._keys:
            raise DecryptionFailed(
                f"it was encrypted under master key {name!r}, which {self!r} does not hold",
                model="", table="", key={}, field="")
        try:
            plain: bytes = self._wrapper(name).decrypt(nonce, sealed,
                                                       b"dynorm-data-key:" + key_id)
        except Exception as exc:
            if type(exc).__name__ != "InvalidTag":
                raise
            raise DecryptionFailed(
                f"its data key does not unwrap under master key {name!r} (altered, or "
                "another key with the same id)", model="", table="", key={}, field="",
            ) from None
        return plain

    async def _unwrap(self, wrapped: bytes) -> bytes:
        return self._unwrap_now(wrapped)
