"""Field markers that seal a value: ``Encrypted(keyring)`` and ``Compressed()``.

```python
keys = LocalKeyring({"k1": master_key})

class Patient(Model, table="patients"):
    patient_id: Annotated[str, PartitionKey]
    ssn: Annotated[SecretStr, Encrypted(keys)]
    notes: Annotated[str, Compressed(), Encrypted(keys)] = ""
```

A sealed field is stored as bytes (``B``) that only dynorm can read back: DynamoDB cannot
compare, filter on or update into it, so it cannot be a key, an index key or a key
template's input, and conditions, filters and update expressions on it are refused when
they are built (`SealedPath`). ``exists()``, ``not_exists()``, ``remove()`` and
projections work.
"""

from __future__ import annotations

from typing import Any, NoReturn

from dynorm.exceptions import ExpressionError
from dynorm.expressions import Path
from dynorm.security.keyring import Keyring
from dynorm.security.stores import ValueStore

__all__ = ["Compressed", "Encrypted", "SealedPath", "sealing_of"]


class Encrypted:
    """Stores the field encrypted (AES-256-GCM) with data keys from ``keyring``.

    The ciphertext is bound to the table, the item's key and the attribute name: a
    value moved elsewhere, or altered, raises `DecryptionFailed` when read. Reprs of
    the model hide the field.

    Args:
        keyring: a `LocalKeyring` or `KmsKeyring` (any `Keyring`).
        accept_plaintext: while existing items are being encrypted (a migration), read a
            value stored before the field was marked as it is; writes always encrypt.
            Anyone who can write the table can then plant a value: turn it off once the
            migration is done. Not for fields stored as bytes (a plain value could not
            be told from an altered ciphertext).
    """

    __slots__ = ("accept_plaintext", "keyring")

    def __init__(self, keyring: Keyring, *, accept_plaintext: bool = False) -> None:
        if not isinstance(keyring, Keyring):
            raise TypeError(f"Encrypted() takes a keyring (LocalKeyring, KmsKeyring), got "
                            f"{type(keyring).__name__}")
        self.keyring = keyring
        self.accept_plaintext = accept_plaintext

    def __repr__(self) -> str:
        return f"Encrypted({self.keyring!r})"


class Compressed:
    """Stores the field compressed: zstd when the ``zstandard`` package is installed
    (``dynorm[zstd]``), else zlib. The stored value records which, so either reads back.

    Args:
        algorithm: ``"zstd"``, ``"zlib"``, or None for the best available.
        level: the compression level (default: the algorithm's).
        accept_plaintext: read a value stored before the field was marked as it is
            (while a migration compresses existing items); writes always compress. Not
            for fields stored as bytes.
    """

    __slots__ = ("accept_plaintext", "algorithm", "level")

    def __init__(self, algorithm: str | None = None, level: int | None = None, *,
                 accept_plaintext: bool = False) -> None:
        from dynorm.security.envelope import zstd_available

        if algorithm is None:
            algorithm = "zstd" if zstd_available() else "zlib"
        if algorithm not in ("zstd", "zlib"):
            raise ValueError(f"Compressed(algorithm={algorithm!r}): 'zstd' or 'zlib'")
        if algorithm == "zstd" and not zstd_available():
            raise ValueError("Compressed(algorithm='zstd') needs the zstandard package "
                             "(pip install 'dynorm[zstd]')")
        self.algorithm = algorithm
        self.level = level
        self.accept_plaintext = accept_plaintext

    def __repr__(self) -> str:
        return f"Compressed({self.algorithm!r})"


def sealing_of(metadata: list[Any]
               ) -> tuple[Encrypted | None, Compressed | None, ValueStore | None]:
    """The ``Encrypted``, ``Compressed`` and value store (``S3Value``) markers in a
    field's ``Annotated`` metadata (``Compressed`` given as the class itself counts as
    ``Compressed()``)."""
    encrypted = compressed = None
    store: ValueStore | None = None
    for m in metadata:
        if isinstance(m, ValueStore):
            store = m
            continue
        if isinstance(m, Encrypted):
            encrypted = m
        elif m is Encrypted:
            raise TypeError("Encrypted needs a keyring: Annotated[str, Encrypted(keyring)]")
        elif isinstance(m, Compressed):
            compressed = m
        elif m is Compressed:
            compressed = Compressed()
    return encrypted, compressed, store


class SealedPath(Path):
    """The path of a sealed field: it exists, can be removed and projected, and nothing
    else -- DynamoDB holds only bytes it cannot compare."""

    __slots__ = ("sealed",)

    def __init__(self, path: Path, sealed: str) -> None:
        super().__init__(path.elements, path.codec, path.owner, path.field)
        self.sealed = sealed

    def _refuse(self, what: str) -> NoReturn:
        raise ExpressionError(
            f"{self.label} is {self.sealed}: DynamoDB stores it as bytes only dynorm can "
            f"read, so it cannot be used in {what}; filter in Python after reading, or "
            "change it with save()"
        )

    # comparisons (==, <, between, is_in) and values in updates, on either side
    def _as_operand(self) -> NoReturn:
        self._refuse("a comparison, condition or update as the other operand")

    def _operand(self, value: Any) -> NoReturn:
        self._refuse("a comparison or condition")

    def _value_codec(self) -> NoReturn:
        self._refuse("a comparison or condition")

    def _encode(self, value: Any) -> NoReturn:
        self._refuse("an update expression")

    def _arith(self, op: str, other: Any, reflected: bool) -> NoReturn:
        self._refuse("arithmetic")

    def _child(self, name: str, error: type[Exception]) -> NoReturn:
        self._refuse(f"a nested path (.{name})")

    def __getitem__(self, key: int | str) -> NoReturn:
        self._refuse(f"a nested path ([{key!r}])")

    def begins_with(self, prefix: Any) -> NoReturn:
        self._refuse("begins_with()")

    def contains(self, value: Any) -> NoReturn:
        self._refuse("contains()")

    def is_type(self, type_tag: str) -> NoReturn:
        self._refuse("is_type()")

    def size(self) -> NoReturn:
        self._refuse("size()")

    def set(self, value: Any) -> NoReturn:
        self._refuse("an update expression (set)")

    def add(self, value: Any) -> NoReturn:
        self._refuse("an update expression (add)")

    def delete(self, value: Any) -> NoReturn:
        self._refuse("an update expression (delete)")

    def append(self, values: Any) -> NoReturn:
        self._refuse("an update expression (append)")

    def prepend(self, values: Any) -> NoReturn:
        self._refuse("an update expression (prepend)")

    def if_not_exists(self, default: Any) -> NoReturn:
        self._refuse("if_not_exists()")
