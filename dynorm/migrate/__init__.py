"""Data migrations: a function applied to every item of a table, once, resumably.

* [`Migration`][dynorm.migrate.migration.Migration] — an id, a model and a change
  function; ``await migration.run()`` scans the table in parallel segments, changes each
  item with a conditional write that also marks it, and saves each segment's progress
  after every page in [`MigrationCheckpoints`][dynorm.migrate.checkpoints.MigrationCheckpoints]
  (a DynamoDB table). Killed and run again with ``resume=True``, it continues where it
  stopped; an item is changed at most once (its marker says so), and none is missed.
* [`MigrationResult`][dynorm.migrate.migration.MigrationResult],
  [`MigrationProgress`][dynorm.migrate.migration.MigrationProgress] — the counts (seen,
  changed, skipped, failed, with reasons).

``dynorm migrate MODULE:NAME`` runs one from the command line (docs/tables.md).
"""

from dynorm.migrate.checkpoints import MigrationCheckpoints
from dynorm.migrate.item import MARKER
from dynorm.migrate.migration import (
    FailedItem,
    Migration,
    MigrationError,
    MigrationProgress,
    MigrationResult,
)

__all__ = [
    "MARKER",
    "FailedItem",
    "Migration",
    "MigrationCheckpoints",
    "MigrationError",
    "MigrationProgress",
    "MigrationResult",
]
