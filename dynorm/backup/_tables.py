"""Tables named by a model or a name, described, created and waited for."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Union

from dynorm.backup.errors import TransferError, UnsupportedOperation
from dynorm.backup.progress import ProgressCallback, Reporter
from dynorm.connection import Connection
from dynorm.exceptions import ServiceError, TableNotFound
from dynorm.schema.classes import meta_of

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["TableRef", "call", "describe", "physical_name", "wait_active"]

#: A table as the functions of `dynorm.backup` take it: a model class, or the table's
#: name as models name it (the connection's ``table_prefix`` is added).
TableRef = Union["type[Model]", str]


def physical_name(connection: Connection, table: TableRef) -> str:
    """The table's name on the server: the model's table or ``table``, with the
    connection's ``table_prefix``."""
    if isinstance(table, str):
        if not table:
            raise ValueError("the table name is empty")
        return connection.table_name(table)
    if isinstance(table, type) and hasattr(table, "_meta"):
        return connection.table_name(meta_of(table).table_name)
    raise ValueError(f"a table is a Model class or a table name, not {table!r}")


async def call(connection: Connection, operation: str, payload: dict[str, Any]
               ) -> dict[str, Any]:
    """``connection.call``, with a server that lacks the operation reported as
    `UnsupportedOperation` (DynamoDB Local answers ``UnknownOperationException``)."""
    try:
        return await connection.call(operation, payload)
    except ServiceError as exc:
        if exc.code == "UnknownOperationException":
            raise UnsupportedOperation(operation, connection.endpoint_url) from exc
        raise


async def describe(connection: Connection, name: str) -> dict[str, Any] | None:
    """DescribeTable's ``Table``, or None when there is no such table."""
    try:
        answer = await connection.call("DescribeTable", {"TableName": name})
    except TableNotFound:
        return None
    table: dict[str, Any] = answer["Table"]
    return table


async def wait_active(connection: Connection, name: str, *, timeout: float = 600.0,
                      on_progress: ProgressCallback | None = None,
                      operation: str = "restore") -> dict[str, Any]:
    """Wait until the table and its indexes are ACTIVE; its description.

    Raises:
        TransferError: not ACTIVE after ``timeout`` seconds.
    """
    reporter = Reporter(operation, on_progress, interval=0.0)
    deadline = time.monotonic() + timeout
    delay = 0.1
    status = "MISSING"
    while True:
        table = await describe(connection, name)
        if table is not None:
            status = table.get("TableStatus", "")
            if status == "ACTIVE" and all(
                    g.get("IndexStatus", "ACTIVE") == "ACTIVE"
                    for g in table.get("GlobalSecondaryIndexes") or ()):
                reporter.items = int(table.get("ItemCount") or 0)
                reporter.finish(status)
                return table
        reporter.maybe_report(status)
        if time.monotonic() > deadline:
            raise TransferError(f"table {name!r} is not ACTIVE after {timeout:.0f}s "
                                f"(status {status}): wait longer (timeout=) and look at it "
                                "in the console")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 5.0)
