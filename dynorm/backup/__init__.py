"""Backups, restores, exports and imports: moving DynamoDB data safely.

```python
from dynorm import backup

result = await backup.export_table(User, "s3://backups/prod", segments=8)
await backup.import_table(result.folder, "users", create=True)
```

* Client-side export and import (`export_table`, `import_table`): a parallel scan
  written in the layout of DynamoDB's own export to S3 (DynamoDB JSON, gzip, manifests),
  to a folder or ``s3://bucket/prefix``, and its reverse. Both resume after a kill with no
  item lost or written twice, report progress, and work on every server.
* On-demand backups and point-in-time recovery (`create_backup`, `restore_backup`,
  `enable_pitr`, `restore_to_point_in_time`...) and DynamoDB's server-side export and
  import (`server_export`, `server_import`): run by the server, on AWS and moto
  (DynamoDB Local has none of them: `UnsupportedOperation`).

The command line (``dynorm export``, ``dynorm import``...) is in `dynorm.backup.cli`.
"""

from dynorm.backup.backups import (
    BackupInfo,
    PitrStatus,
    RestoredTable,
    create_backup,
    delete_backup,
    describe_backup,
    enable_pitr,
    list_backups,
    pitr_status,
    restore_backup,
    restore_to_point_in_time,
)
from dynorm.backup.errors import S3Error, TransferError, UnsupportedOperation
from dynorm.backup.export import ExportResult, export_table
from dynorm.backup.importer import ImportResult, import_table
from dynorm.backup.progress import Progress, ProgressCallback, RateLimit
from dynorm.backup.server import ServerExport, ServerImport, server_export, server_import
from dynorm.backup.sources import Source, find_source
from dynorm.backup.storage import LocalStorage, Storage, open_location

__all__ = [
    "BackupInfo",
    "ExportResult",
    "ImportResult",
    "LocalStorage",
    "PitrStatus",
    "Progress",
    "ProgressCallback",
    "RateLimit",
    "RestoredTable",
    "S3Error",
    "ServerExport",
    "ServerImport",
    "Source",
    "Storage",
    "TransferError",
    "UnsupportedOperation",
    "create_backup",
    "delete_backup",
    "describe_backup",
    "enable_pitr",
    "export_table",
    "find_source",
    "import_table",
    "list_backups",
    "open_location",
    "pitr_status",
    "restore_backup",
    "restore_to_point_in_time",
    "server_export",
    "server_import",
]
