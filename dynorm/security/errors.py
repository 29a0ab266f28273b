"""The errors of client-side encryption: a value that does not decrypt, a keyring that
cannot give a key.

Neither ever carries a decrypted value: messages name the model, table, key and field.
"""

from __future__ import annotations

from typing import Any

from dynorm.exceptions import DynormError

__all__ = ["DecryptionFailed", "KeyringError"]


class DecryptionFailed(DynormError, ValueError):
    """A stored encrypted (or compressed) value cannot be read back: it was altered,
    copied from another item or attribute, or sealed with a key this keyring lacks.

    Attributes:
        model: the model class name.
        table: the table name the model declares.
        key: the item's key (wire form).
        field: the field whose value does not open.
    """

    def __init__(self, message: str, *, model: str, table: str, key: dict[str, Any],
                 field: str) -> None:
        super().__init__(message)
        self.model = model
        self.table = table
        self.key = key
        self.field = field


class KeyringError(DynormError, RuntimeError):
    """A keyring cannot give a data key: KMS refused or did not answer, no master key,
    the ``cryptography`` package is missing, or a read or write path did not load its
    keys first (a KMS keyring works only through dynorm's async reads and writes)."""
