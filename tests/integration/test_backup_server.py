"""On-demand backups, point-in-time recovery, and the server-side export and import.

moto implements all of them (a restore to a point in time copies the table as it is
now: moto keeps no history); DynamoDB Local implements none, and each function says so
with `UnsupportedOperation`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

from dynorm import Connection, LocalServer, ServiceError
from dynorm.backup import (
    Progress,
    TransferError,
    UnsupportedOperation,
    create_backup,
    delete_backup,
    describe_backup,
    enable_pitr,
    export_table,
    list_backups,
    pitr_status,
    restore_backup,
    restore_to_point_in_time,
    server_export,
    server_import,
)
from dynorm.backup.s3 import S3Storage
from dynorm.testing import fresh_connection
from tests.support.backup_data import Everything, by_key, everything, fill, scan_all

MOTO = pytest.mark.only_on("moto", reason="backups, PITR, ExportTableToPointInTime, "
                           "ImportTable and S3: moto implements them, DynamoDB Local does not")
KEYS = ("shard", "seq")


@pytest_asyncio.fixture(params=["fast", "aioboto3"])
async def conn(dynorm_server: LocalServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[Connection]:
    async with fresh_connection(dynorm_server, request, transport=request.param) as c:
        yield c


async def holds_items(connection: Connection, table: str, count: int) -> None:
    copy = by_key(await scan_all(connection, table), *KEYS)
    assert copy == by_key([everything(i).to_item() for i in range(count)], *KEYS)


@MOTO
@pytest.mark.dynorm_tables([Everything])
async def test_backup_create_list_restore_delete(conn: Connection) -> None:
    await fill(20)
    made = await create_backup(Everything, "nightly-1")
    assert (made.name, made.table, made.status) == ("nightly-1", "bk_everything", "AVAILABLE")
    assert made.created is not None and made.created.tzinfo is not None
    listed = await list_backups(Everything)
    assert [b.arn for b in listed] == [made.arn]
    assert (await describe_backup(made.arn)).name == "nightly-1"
    waits: list[Progress] = []
    restored = await restore_backup(made.arn, "bk_restored", on_progress=waits.append)
    assert (restored.table, restored.status, restored.source) == (
        "bk_restored", "ACTIVE", made.arn)
    assert waits and waits[-1].done and waits[-1].status == "ACTIVE"
    await holds_items(conn, "bk_restored", 20)
    deleted = await delete_backup(made.arn)
    assert deleted.arn == made.arn
    assert await list_backups(Everything) == []
    with pytest.raises(ValueError, match="backup name"):
        await create_backup(Everything, "x")


@MOTO
@pytest.mark.dynorm_tables([Everything])
async def test_pitr_enable_status_restore(conn: Connection) -> None:
    await fill(10)
    assert not (await pitr_status(Everything)).enabled
    status = await enable_pitr(Everything, recovery_period_days=7)
    assert status.enabled and status.status == "ENABLED"
    status = await pitr_status("bk_everything")
    assert (status.enabled, status.recovery_period_days) == (True, 7)
    assert status.earliest is not None and status.latest is not None
    restored = await restore_to_point_in_time(Everything, "bk_pitr")
    assert restored.status == "ACTIVE"
    await holds_items(conn, "bk_pitr", 10)
    when = datetime.now(timezone.utc) - timedelta(seconds=1)
    await restore_to_point_in_time(Everything, "bk_pitr2", when=when)
    await holds_items(conn, "bk_pitr2", 10)  # moto copies the table as it is now
    with pytest.raises(ValueError, match="aware"):
        await restore_to_point_in_time(Everything, "bk_x", when=datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="1 to 35"):
        await enable_pitr(Everything, recovery_period_days=99)


async def _bucket(connection: Connection, name: str) -> None:
    storage = S3Storage(name, connection=connection)
    try:
        await storage.create_bucket()
    finally:
        await storage.close()


@MOTO
@pytest.mark.dynorm_tables([Everything])
async def test_server_export_then_server_import(conn: Connection) -> None:
    await fill(30)
    await _bucket(conn, "bk-server")
    with pytest.raises(ServiceError, match=r"(?i)point in time"):
        await server_export(Everything, "s3://bk-server/nightly")
    await enable_pitr(Everything)
    reports: list[Progress] = []
    job = await server_export(Everything, "s3://bk-server/nightly", on_progress=reports.append)
    assert (job.status, job.item_count) == ("COMPLETED", 30)
    assert job.location == "s3://bk-server/nightly" and reports[-1].done
    # moto's export has no manifests or table definition: the model gives the keys
    with pytest.raises(TransferError, match="model= or definition="):
        await server_import("s3://bk-server/nightly", "bk_server_copy")
    done = await server_import("s3://bk-server/nightly", "bk_server_copy", model=Everything)
    assert (done.status, done.imported, done.errors) == ("COMPLETED", 30, 0)
    # moto's own export writes "✓" as the escape \u2713, which its ImportTable leaves
    # undecoded: only that text differs (dynorm's import reads moto's export exactly,
    # see test_export_import.py)
    copy = by_key([{k: v for k, v in i.items() if k != "text"}
                   for i in await scan_all(conn, "bk_server_copy")], *KEYS)
    assert copy == by_key([{k: v for k, v in everything(i).to_item().items() if k != "text"}
                           for i in range(30)], *KEYS)


@MOTO
@pytest.mark.dynorm_tables([Everything])
async def test_server_import_of_a_dynorm_export_uses_its_definition(conn: Connection) -> None:
    await fill(25)
    await _bucket(conn, "bk-defs")
    await export_table(Everything, "s3://bk-defs/x", segments=2)
    done = await server_import("s3://bk-defs/x", "bk_from_dynorm")
    assert (done.status, done.imported) == ("COMPLETED", 25)
    await holds_items(conn, "bk_from_dynorm", 25)


@pytest.mark.only_on("dynamodb-local", reason="DynamoDB Local answers "
                     "UnknownOperationException to backups, PITR, exports and imports")
@pytest.mark.dynorm_tables([Everything])
async def test_dynamodb_local_lacks_server_side_operations(conn: Connection) -> None:
    for attempt in (create_backup(Everything), list_backups(), pitr_status(Everything),
                    enable_pitr(Everything), restore_to_point_in_time(Everything, "bk_x"),
                    server_export(Everything, "s3://b/p")):
        with pytest.raises(UnsupportedOperation, match="does not implement") as caught:
            await attempt
        assert caught.value.endpoint == conn.endpoint_url
