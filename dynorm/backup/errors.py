"""The errors of backups, exports and imports.

::

    DynormError
    └── TransferError            an export or import cannot go on (names file, line, fix)
        ├── S3Error              S3 answered with an error (``.code``, ``.status``, ``.key``)
        └── UnsupportedOperation the server does not implement the operation (DynamoDB Local
                                 has no backups, PITR, ExportTableToPointInTime, ImportTable)
"""

from __future__ import annotations

from dynorm.exceptions import DynormError

__all__ = ["S3Error", "TransferError", "UnsupportedOperation"]


class TransferError(DynormError):
    """An export, import, backup or restore cannot go on; the message names the file, line
    or table involved and the fix."""


class S3Error(TransferError):
    """S3 (or an S3-compatible server) answered with an error.

    Attributes:
        code: S3's error code (``NoSuchBucket``, ``AccessDenied``...) or the HTTP status.
        status: the HTTP status (0 when no answer came).
        key: the object key (or bucket) the request named.
    """

    def __init__(self, message: str, *, code: str = "", status: int = 0, key: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.key = key


class UnsupportedOperation(TransferError):
    """The server does not implement this operation (e.g. DynamoDB Local has no backups,
    point-in-time recovery, ``ExportTableToPointInTime`` or ``ImportTable``; AWS and moto
    do).

    Attributes:
        operation: the DynamoDB operation (``"CreateBackup"``).
        endpoint: the endpoint that refused it.
    """

    def __init__(self, operation: str, endpoint: str | None) -> None:
        where = endpoint or "this endpoint"
        super().__init__(
            f"{operation}: {where} does not implement this operation (DynamoDB Local has no "
            "backups, point-in-time recovery, ExportTableToPointInTime or ImportTable): run "
            "it against AWS or moto, or use dynorm's client-side export_table()/"
            "import_table(), which work on every server"
        )
        self.operation = operation
        self.endpoint = endpoint
