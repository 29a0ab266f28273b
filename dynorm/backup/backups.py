"""On-demand backups and point-in-time recovery (PITR): DynamoDB's own, from code.

```python
info = await create_backup(User)                      # waits until AVAILABLE
await restore_backup(info.arn, "users-restored")     # waits until ACTIVE
await enable_pitr(User)
await restore_to_point_in_time(User, "users-10am", when=datetime(...))
```

These run on the server: the data never passes through this process. AWS and moto
implement them; DynamoDB Local does not (`UnsupportedOperation`). A restored table gets
the source's keys, indexes and billing mode, but not its TTL, streams, auto scaling, tags
or alarms: set those again (AWS's documented behaviour).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dynorm.backup._tables import TableRef, call, physical_name, wait_active
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import ProgressCallback, Reporter
from dynorm.connection import Connection, get_connection

__all__ = [
    "BackupInfo",
    "PitrStatus",
    "RestoredTable",
    "create_backup",
    "delete_backup",
    "describe_backup",
    "enable_pitr",
    "list_backups",
    "pitr_status",
    "restore_backup",
    "restore_to_point_in_time",
]

_BACKUP_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")


def _when(value: Any) -> datetime | None:
    """A timestamp as either transport returns it (epoch seconds or a datetime), in UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


@dataclass(frozen=True)
class BackupInfo:
    """An on-demand backup.

    Attributes:
        arn: the backup's ARN (what restore and delete take).
        name: its name.
        table: the table it is of.
        status: ``CREATING``, ``AVAILABLE`` or ``DELETED``.
        type: ``USER``, ``SYSTEM`` or ``AWS_BACKUP``.
        created: when it was made.
        size_bytes: its size, when the server says.
        item_count: items in it, when the server says.
    """

    arn: str
    name: str
    table: str
    status: str
    type: str
    created: datetime | None
    size_bytes: int | None = None
    item_count: int | None = None

    @classmethod
    def from_response(cls, details: dict[str, Any], table: str = "") -> BackupInfo:
        """From ``BackupDetails``, a ``BackupSummary`` or a ``BackupDescription``."""
        source = details.get("SourceTableDetails") or {}
        inner = details.get("BackupDetails") or details
        size = inner.get("BackupSizeBytes")
        items = source.get("ItemCount")
        return cls(
            arn=inner["BackupArn"], name=inner.get("BackupName", ""),
            table=details.get("TableName") or source.get("TableName") or table,
            status=inner.get("BackupStatus", ""), type=inner.get("BackupType", ""),
            created=_when(inner.get("BackupCreationDateTime")),
            size_bytes=int(size) if size is not None else None,
            item_count=int(items) if items is not None else None)


@dataclass(frozen=True)
class PitrStatus:
    """A table's point-in-time recovery.

    Attributes:
        table: the table.
        enabled: True when restores to a point in time are possible.
        status: ``ENABLED``, ``ENABLING`` or ``DISABLED``.
        earliest: the earliest time a restore can go back to.
        latest: the latest (about five minutes ago on AWS).
        recovery_period_days: how many days back restores can go.
    """

    table: str
    enabled: bool
    status: str
    earliest: datetime | None
    latest: datetime | None
    recovery_period_days: int | None

    @classmethod
    def from_response(cls, table: str, answer: dict[str, Any]) -> PitrStatus:
        pitr = (answer.get("ContinuousBackupsDescription") or {}).get(
            "PointInTimeRecoveryDescription") or {}
        status = pitr.get("PointInTimeRecoveryStatus", "DISABLED")
        period = pitr.get("RecoveryPeriodInDays")
        return cls(table, status == "ENABLED", status,
                   _when(pitr.get("EarliestRestorableDateTime")),
                   _when(pitr.get("LatestRestorableDateTime")),
                   int(period) if period is not None else None)


@dataclass(frozen=True)
class RestoredTable:
    """A table made by a restore.

    Attributes:
        table: its name on the server.
        arn: its ARN.
        status: ``ACTIVE`` once waited for, else ``CREATING``.
        item_count: its items, as DescribeTable says (AWS updates it every six hours).
        source: the backup ARN or source table restored from.
    """

    table: str
    arn: str
    status: str
    item_count: int
    source: str

    @classmethod
    def from_description(cls, description: dict[str, Any], source: str) -> RestoredTable:
        return cls(description.get("TableName", ""), description.get("TableArn", ""),
                   description.get("TableStatus", ""), int(description.get("ItemCount") or 0),
                   source)


def _connection() -> Connection:
    return get_connection()


async def create_backup(table: TableRef, name: str | None = None, *, wait: bool = True,
                        timeout: float = 3600.0,
                        on_progress: ProgressCallback | None = None) -> BackupInfo:
    """Make an on-demand backup of a table (``CreateBackup``).

    Args:
        table: a model class or a table name (the connection's ``table_prefix`` is added).
        name: the backup's name (3-255 of ``a-z A-Z 0-9 _ . -``); default
            ``<table>-<UTC time>``.
        wait: wait until the backup is ``AVAILABLE``.
        timeout: seconds to wait.
        on_progress: called with a `Progress` (``status``) while waiting.

    Raises:
        ValueError: a name DynamoDB would refuse.
        UnsupportedOperation: the server has no backups (DynamoDB Local).
    """
    connection = _connection()
    source = physical_name(connection, table)
    name = name or f"{source}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    if not _BACKUP_NAME.match(name):
        raise ValueError(f"backup name {name!r}: 3 to 255 of the characters a-z, A-Z, 0-9, "
                         "'_', '.' and '-'")
    answer = await call(connection, "CreateBackup", {"TableName": source, "BackupName": name})
    info = BackupInfo.from_response(answer["BackupDetails"], source)
    if not wait or info.status == "AVAILABLE":
        return info
    reporter = Reporter("backup", on_progress, interval=0.0)
    deadline = time.monotonic() + timeout
    while info.status == "CREATING":
        if time.monotonic() > deadline:
            raise TransferError(f"backup {info.arn} is still CREATING after {timeout:.0f}s")
        reporter.maybe_report(info.status)
        await asyncio.sleep(1.0)
        info = await describe_backup(info.arn)
    reporter.finish(info.status)
    return info


async def describe_backup(arn: str) -> BackupInfo:
    """A backup by its ARN (``DescribeBackup``)."""
    answer = await call(_connection(), "DescribeBackup", {"BackupArn": arn})
    return BackupInfo.from_response(answer["BackupDescription"]["BackupDetails"] | {
        "SourceTableDetails": answer["BackupDescription"].get("SourceTableDetails")})


async def list_backups(table: TableRef | None = None) -> list[BackupInfo]:
    """The backups of a table, or of every table, oldest first (``ListBackups``, every
    page)."""
    connection = _connection()
    request: dict[str, Any] = {}
    if table is not None:
        request["TableName"] = physical_name(connection, table)
    found: list[BackupInfo] = []
    while True:
        answer = await call(connection, "ListBackups", request)
        found += [BackupInfo.from_response(s) for s in answer.get("BackupSummaries") or ()]
        last = answer.get("LastEvaluatedBackupArn")
        if not last:
            return sorted(found, key=lambda b: b.created or datetime.min.replace(
                tzinfo=timezone.utc))
        request["ExclusiveStartBackupArn"] = last


async def delete_backup(arn: str) -> BackupInfo:
    """Delete a backup (``DeleteBackup``); its description as it was."""
    answer = await call(_connection(), "DeleteBackup", {"BackupArn": arn})
    description = answer["BackupDescription"]
    return BackupInfo.from_response(description["BackupDetails"] | {
        "SourceTableDetails": description.get("SourceTableDetails")})


async def restore_backup(arn: str, target: TableRef, *, wait: bool = True,
                         timeout: float = 3600.0,
                         on_progress: ProgressCallback | None = None) -> RestoredTable:
    """Restore a backup into a new table (``RestoreTableFromBackup``).

    Args:
        arn: the backup's ARN.
        target: the new table (a model class or a name; ``table_prefix`` is added); it
            must not exist.
        wait: wait until the table is ``ACTIVE``.
        timeout: seconds to wait (restores take minutes on AWS).
        on_progress: called with a `Progress` (``status``) while waiting.
    """
    connection = _connection()
    name = physical_name(connection, target)
    answer = await call(connection, "RestoreTableFromBackup",
                        {"TargetTableName": name, "BackupArn": arn})
    description = answer.get("TableDescription") or answer
    if wait:
        description = await wait_active(connection, name, timeout=timeout,
                                        on_progress=on_progress)
    return RestoredTable.from_description(description, arn)


async def enable_pitr(table: TableRef, *, enabled: bool = True,
                      recovery_period_days: int | None = None) -> PitrStatus:
    """Turn point-in-time recovery on (or off with ``enabled=False``)
    (``UpdateContinuousBackups``).

    Args:
        table: a model class or a table name.
        enabled: on or off.
        recovery_period_days: how far back restores can go (1-35; AWS's default 35).
    """
    connection = _connection()
    name = physical_name(connection, table)
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": enabled}
    if recovery_period_days is not None:
        if not 1 <= recovery_period_days <= 35:
            raise ValueError(f"recovery_period_days must be 1 to 35, not "
                             f"{recovery_period_days!r}")
        spec["RecoveryPeriodInDays"] = recovery_period_days
    answer = await call(connection, "UpdateContinuousBackups",
                        {"TableName": name, "PointInTimeRecoverySpecification": spec})
    return PitrStatus.from_response(name, answer)


async def pitr_status(table: TableRef) -> PitrStatus:
    """A table's point-in-time recovery (``DescribeContinuousBackups``)."""
    connection = _connection()
    name = physical_name(connection, table)
    answer = await call(connection, "DescribeContinuousBackups", {"TableName": name})
    return PitrStatus.from_response(name, answer)


async def restore_to_point_in_time(source: TableRef, target: TableRef, *,
                                   when: datetime | None = None, wait: bool = True,
                                   timeout: float = 3600.0,
                                   on_progress: ProgressCallback | None = None
                                   ) -> RestoredTable:
    """Restore a table as it was at ``when`` (default: the latest restorable time) into a
    new table (``RestoreTableToPointInTime``; PITR must be enabled on ``source``).

    Args:
        source: the table to go back in (a model class or a name).
        target: the new table; it must not exist.
        when: an aware datetime between `PitrStatus.earliest` and `PitrStatus.latest`.
        wait: wait until the new table is ``ACTIVE``.
        timeout: seconds to wait.
        on_progress: called with a `Progress` (``status``) while waiting.

    Raises:
        ValueError: a naive ``when`` (its time zone would be a guess).
    """
    connection = _connection()
    source_name = physical_name(connection, source)
    name = physical_name(connection, target)
    request: dict[str, Any] = {"SourceTableName": source_name, "TargetTableName": name}
    if when is None:
        request["UseLatestRestorableTime"] = True
    else:
        if when.tzinfo is None:
            raise ValueError("when must be an aware datetime (e.g. datetime.now(timezone.utc))")
        request["RestoreDateTime"] = when.timestamp()
    answer = await call(connection, "RestoreTableToPointInTime", request)
    description = answer.get("TableDescription") or answer
    if wait:
        description = await wait_active(connection, name, timeout=timeout,
                                        on_progress=on_progress)
    return RestoredTable.from_description(description, source_name)
