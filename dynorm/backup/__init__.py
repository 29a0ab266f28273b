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

The command line (``dynorm export``, ``dynorm import``...) is in `dynorm.backup.cli`.
"""

from dynorm.backup.errors import S3Error, TransferError, UnsupportedOperation
from dynorm.backup.export import ExportResult, export_table
from dynorm.backup.importer import ImportResult, Source, find_source, import_table
from dynorm.backup.progress import Progress, ProgressCallback, RateLimit
from dynorm.backup.storage import LocalStorage, Storage, open_location

__all__ = [
    "ExportResult",
    "ImportResult",
    "LocalStorage",
    "Progress",
    "ProgressCallback",
    "RateLimit",
    "S3Error",
    "Source",
    "Storage",
    "TransferError",
    "UnsupportedOperation",
    "export_table",
    "find_source",
    "import_table",
    "open_location",
]
