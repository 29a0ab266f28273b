"""Client-side export and import (dynorm.backup) against the servers: round trips of a model
with every stored type, sources of every kind, model validation and rejects, the S3 target,
and interoperability with the server-side ExportTableToPointInTime / ImportTable (moto)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from dynorm import Connection, LocalServer
from dynorm.backup import (
    Progress,
    TransferError,
    export_table,
    import_table,
    layout,
)
from dynorm.backup.s3 import S3Storage
from dynorm.codec.json import dumps
from dynorm.testing import fresh_connection
from tests.support.backup_data import (
    ITEMS,
    Everything,
    by_key,
    everything,
    fill,
    scan_all,
)

EVERYTHING = pytest.mark.dynorm_tables([Everything])
KEYS = ("shard", "seq")


async def holds_items(connection: Connection, table: str, count: int) -> None:
    """``table`` holds exactly items 0 .. count - 1 as `fill` saved them."""
    copy = by_key(await scan_all(connection, table), *KEYS)
    assert copy == by_key([everything(i).to_item() for i in range(count)], *KEYS)


@pytest_asyncio.fixture
async def conn(dynorm_server: LocalServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[Connection]:
    """One transport, for tests whose subject is not the transport (S3, errors)."""
    async with fresh_connection(dynorm_server, request, transport="fast") as connection:
        yield connection


@EVERYTHING
async def test_round_trip_of_every_type_into_a_new_table(dynorm_connection: Connection,
                                                         tmp_path: Path) -> None:
    count = ITEMS if dynorm_connection._transport_kind == "fast" else ITEMS // 10
    await fill(count)
    reports: list[Progress] = []
    # small pages and files: each segment reads several pages and writes several files
    # (about 870 bytes of DynamoDB JSON an item), as a big table would
    result = await export_table(Everything, tmp_path, segments=4,
                                file_size=max(30_000, count * 10),
                                page_size=25 if count <= 5000 else None,
                                on_progress=reports.append)
    assert result.item_count == count
    assert result.files >= (8 if count >= 300 else 1)
    assert reports[-1].done and reports[-1].items == count
    assert reports[-1].total == count  # the table's ItemCount
    summary = orjson.loads(Path(result.manifest).read_bytes())
    assert summary["itemCount"] == count and summary["outputFormat"] == "DYNAMODB_JSON"

    imported = await import_table(result.folder, "bk_copy", create=True, model=Everything)
    assert (imported.items, imported.rejected, imported.expected) == (count, 0, count)
    # item by item: the copy holds exactly the items saved (wire form, canonical), and
    # each reads back as the very model instance that was saved
    copy = await scan_all(dynorm_connection, "bk_copy")
    saved = by_key([everything(i).to_item() for i in range(count)], *KEYS)
    assert by_key(copy, *KEYS) == saved
    for item in copy:
        back = Everything.from_item(item)
        assert back == everything(back.seq)


@EVERYTHING
async def test_data_files_are_aws_export_layout(conn: Connection,
                                                tmp_path: Path) -> None:
    await fill(40)
    result = await export_table("bk_everything", tmp_path, segments=2)
    folder = Path(result.folder)
    assert folder.parent.name == "AWSDynamoDB" and folder.name == result.export_id
    assert (folder / "_started").exists()
    entries = [orjson.loads(line) for line in
               (folder / "manifest-files.json").read_bytes().splitlines()]
    lines = []
    for entry in entries:
        assert list(entry) == ["itemCount", "md5Checksum", "etag", "dataFileS3Key"]
        data = (tmp_path / entry["dataFileS3Key"]).read_bytes()
        text = gzip.decompress(data).splitlines()
        assert len(text) == entry["itemCount"]
        lines += text
    assert len(lines) == 40
    item = orjson.loads(lines[0])
    assert list(item) == ["Item"] and item["Item"]["blob"]["B"]  # base64 text
    assert Everything.from_item(layout.binary_to_bytes(item["Item"])).blob.endswith(b"\x00\xff")


@EVERYTHING
async def test_import_reads_every_kind_of_source(conn: Connection,
                                                 tmp_path: Path) -> None:
    await fill(30)
    result = await export_table(Everything, tmp_path / "out", segments=3)
    data = Path(result.folder) / "data"
    # the location holding one export, the bare data folder, one file, plain JSON lines
    for n, source in enumerate([tmp_path / "out", data, next(data.iterdir())]):
        done = await import_table(source, f"bk_copy{n}", create=True)
        assert done.items == (30 if n < 2 else
                              len(gzip.decompress(next(data.iterdir()).read_bytes())
                                  .splitlines()))
    plain = tmp_path / "plain.jsonl"
    items = await scan_all(conn, "bk_everything")
    plain.write_bytes(b"\n".join(dumps(i) for i in items) + b"\n")
    with pytest.raises(TransferError, match=r"does not exist.*create"):
        await import_table(plain, "bk_plain")
    done = await import_table(plain, Everything)
    assert done.items == 30 and done.expected is None


@EVERYTHING
async def test_invalid_items_go_to_the_rejects_file(dynorm_connection: Connection,
                                                    tmp_path: Path) -> None:
    good = [everything(i).to_item() for i in range(5)]
    lines = [dumps(i) for i in good[:2]]
    lines.append(b'{"shard": {"S": "s1"}, "seq": {"N": "99"}, "text": {"N": "1"}}')  # model
    lines.append(b"{not json")
    lines.append(dumps({**good[2], "seq": {"S": "not a number"}}))  # the table refuses it
    lines.append(dumps({"text": {"S": "no key"}}))
    lines += [dumps(i) for i in good[2:]]
    source = tmp_path / "items.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(TransferError, match="rejected and no rejects file"):
        await import_table(source, model=Everything)
    rejects = tmp_path / "rejects.jsonl"
    done = await import_table(source, model=Everything, rejects=rejects)
    assert (done.items, done.rejected) == (5, 4)
    records = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [r["line"] for r in records] == [3, 4, 5, 6]
    assert "ValidationFailed" in records[0]["error"] and "text" in records[0]["error"]
    assert "not DynamoDB JSON" in records[1]["error"] and records[1]["raw"] == "{not json"
    assert "key" in records[2]["error"]  # wrong key type: refused by the model's validation
    assert "lacks the key" in records[3]["error"]
    # without a model, DynamoDB itself refuses the wrongly typed key: found one by one
    (tmp_path / "r2.jsonl").unlink(missing_ok=True)
    done = await import_table(source, "bk_everything", rejects=tmp_path / "r2.jsonl")
    second = [orjson.loads(x) for x in (tmp_path / "r2.jsonl").read_bytes().splitlines()]
    errors = {r["line"]: r["error"] for r in second}
    assert set(errors) == {4, 5, 6}
    assert "DynamoDB refused the item" in errors[5]
    assert done.items == 6  # the item the model refused fits the table
    # a fixed rejects file imports again as it is
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(rejects.read_bytes().splitlines()[0] + b"\n")
    assert (await import_table(fixed, "bk_everything")).items == 1


@EVERYTHING
async def test_the_later_line_of_one_key_wins(dynorm_connection: Connection,
                                              tmp_path: Path) -> None:
    lines = []
    for version in range(30):
        for i in range(10):
            item = everything(i).to_item()
            item["text"] = {"S": f"v{version}"}
            lines.append(dumps(item))
    (tmp_path / "x.jsonl").write_bytes(b"\n".join(lines))
    done = await import_table(tmp_path / "x.jsonl", Everything, concurrency=16)
    assert done.items == 300
    items = await scan_all(dynorm_connection, "bk_everything", ConsistentRead=True)
    assert sorted(i["text"]["S"] for i in items) == ["v29"] * 10


@EVERYTHING
async def test_errors_name_the_fix(conn: Connection, tmp_path: Path) -> None:
    with pytest.raises(TransferError, match="'bk_missing' does not exist"):
        await export_table("bk_missing", tmp_path)
    with pytest.raises(ValueError, match="segments"):
        await export_table(Everything, tmp_path, segments=0)
    await fill(3)
    result = await export_table(Everything, tmp_path / "e")
    checkpoint = tmp_path / "ckpt.json"
    checkpoint.write_text("{}")
    with pytest.raises(TransferError, match="resume"):
        await import_table(result.folder, "bk_x", checkpoint=checkpoint)
    checkpoint.unlink()
    # a damaged data file is found by its manifest checksum
    data = next((Path(result.folder) / "data").iterdir())
    data.write_bytes(gzip.compress(gzip.decompress(data.read_bytes()) + b"\n"))
    with pytest.raises(TransferError, match="MD5"):
        await import_table(result.folder, Everything)
    # the definition of a dynorm export is found even from one of its data files ...
    assert (await import_table(data, "bk_y", create=True)).items >= 1
    # ... but plain JSON lines carry none
    lines = tmp_path / "lines.jsonl"
    lines.write_bytes(dumps(everything(1).to_item()))
    with pytest.raises(TransferError, match="no table definition"):
        await import_table(lines, "bk_z", create=True)


@EVERYTHING
async def test_rate_limit_and_resume_of_a_finished_export(conn: Connection,
                                                          tmp_path: Path) -> None:
    await fill(60)
    started = asyncio.get_running_loop().time()
    result = await export_table(Everything, tmp_path, segments=2, page_size=10,
                                rate_limit=30)
    assert result.item_count == 60
    # A burst of one second's worth (30 items), then 30 more at 30/s: at least ~1 s
    # however fast the server is (with a rate of more than half the items, the burst
    # alone covered them, and only a slow server made the export take long).
    assert asyncio.get_running_loop().time() - started > 0.8
    again = await export_table(Everything, tmp_path, resume=True)  # nothing unfinished
    assert again.export_id != result.export_id and not again.resumed
    with pytest.raises(TransferError, match="already complete"):
        await export_table(Everything, tmp_path, resume=True, export_id=result.export_id)


@EVERYTHING
async def test_resume_removes_what_a_killed_run_left(conn: Connection, tmp_path: Path) -> None:
    """A half-written temporary file and a data file written after the last checkpoint
    would be read by AWS's ImportTable (pointed at data/): a resumed export removes both."""
    await fill(30)
    result = await export_table(Everything, tmp_path, segments=2)
    folder = Path(result.folder)
    (folder / "manifest-summary.json").unlink()  # as if killed before the manifests
    partial = folder / "data" / ".seg0000-00001.json.gz.4242.tmp"
    partial.write_bytes(b"\x1f\x8b half")
    orphan = folder / "data" / "seg0001-00007.json.gz"
    orphan.write_bytes(gzip.compress(layout.encode_line(everything(99).to_item())))
    again = await export_table(Everything, tmp_path, resume=True)
    assert again.resumed and again.export_id == result.export_id
    assert again.item_count == 30
    assert not partial.exists() and not orphan.exists()
    assert sorted(p.name for p in (folder / "data").iterdir()) == sorted(
        Path(e["dataFileS3Key"]).name for e in map(
            orjson.loads, (folder / "manifest-files.json").read_bytes().splitlines()))


# ---------------------------------------------------------------------------- S3 (moto)


async def _bucket(connection: Connection, name: str) -> None:
    storage = S3Storage(name, connection=connection)
    try:
        await storage.create_bucket()
    finally:
        await storage.close()


@pytest.mark.only_on("moto", reason="moto serves S3 on its DynamoDB port; DynamoDB Local "
                     "has no S3")
@EVERYTHING
async def test_export_to_and_import_from_s3(conn: Connection) -> None:
    await fill(100)
    await _bucket(conn, "bk-bucket")
    result = await export_table(Everything, "s3://bk-bucket/nightly/prod", segments=3,
                                file_size=20_000)
    assert result.folder.startswith("s3://bk-bucket/nightly/prod/AWSDynamoDB/")
    done = await import_table("s3://bk-bucket/nightly/prod", "bk_copy", create=True)
    assert done.items == 100 and done.files == result.files
    await holds_items(conn, "bk_copy", 100)


@pytest.mark.only_on("moto", reason="ExportTableToPointInTime and S3: moto implements "
                     "them, DynamoDB Local does not")
@EVERYTHING
async def test_moto_server_export_imports_into_an_identical_table(
        conn: Connection) -> None:
    await fill(150)
    await _bucket(conn, "bk-native")
    await conn.call("UpdateContinuousBackups", {
        "TableName": "bk_everything",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
    arn = (await conn.call("DescribeTable", {"TableName": "bk_everything"})
           )["Table"]["TableArn"]
    started = await conn.call("ExportTableToPointInTime", {
        "TableArn": arn, "S3Bucket": "bk-native", "S3Prefix": "native",
        "ExportFormat": "DYNAMODB_JSON"})
    export_arn = started["ExportDescription"]["ExportArn"]
    for _ in range(100):
        described = await conn.call("DescribeExport", {"ExportArn": export_arn})
        if described["ExportDescription"]["ExportStatus"] != "IN_PROGRESS":
            break
        await asyncio.sleep(0.05)
    assert described["ExportDescription"]["ExportStatus"] == "COMPLETED"
    # moto writes AWSDynamoDB/<id>/data/<id>.gz without manifests: a bare data folder
    with pytest.raises(TransferError, match="no table definition"):
        await import_table("s3://bk-native/native", "bk_copy", create=True)
    await conn.call("CreateTable", {
        "TableName": "bk_copy", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                      {"AttributeName": "seq", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "shard", "AttributeType": "S"},
                                 {"AttributeName": "seq", "AttributeType": "N"}]})
    done = await import_table("s3://bk-native/native", "bk_copy", model=Everything)
    assert (done.items, done.rejected) == (150, 0)
    await holds_items(conn, "bk_copy", 150)


@pytest.mark.only_on("moto", reason="ImportTable and S3: moto implements them, DynamoDB "
                     "Local does not")
@EVERYTHING
async def test_dynorm_export_loads_with_the_servers_import_table(
        conn: Connection) -> None:
    await fill(120)
    await _bucket(conn, "bk-for-aws")
    result = await export_table(Everything, "s3://bk-for-aws/x", segments=2)
    data_prefix = result.data.removeprefix("s3://bk-for-aws/")
    definition: dict[str, Any] = {
        "TableName": "bk_imported", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "shard", "KeyType": "HASH"},
                      {"AttributeName": "seq", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "shard", "AttributeType": "S"},
                                 {"AttributeName": "seq", "AttributeType": "N"}]}
    started = await conn.call("ImportTable", {
        "S3BucketSource": {"S3Bucket": "bk-for-aws", "S3KeyPrefix": data_prefix},
        "InputFormat": "DYNAMODB_JSON", "InputCompressionType": "GZIP",
        "TableCreationParameters": definition})
    arn = started["ImportTableDescription"]["ImportArn"]
    for _ in range(100):
        described = (await conn.call("DescribeImport", {"ImportArn": arn})
                     )["ImportTableDescription"]
        if described["ImportStatus"] != "IN_PROGRESS":
            break
        await asyncio.sleep(0.05)
    assert described["ImportStatus"] == "COMPLETED", described
    assert described["ImportedItemCount"] == 120
    await holds_items(conn, "bk_imported", 120)


async def test_export_from_one_server_into_another(dynorm_server: LocalServer,
                                                   tmp_path: Path) -> None:
    """Moving a table between environments: two connections with different prefixes."""
    dynorm_server.reset()
    async with dynorm_server.connect(table_prefix="prod-"):
        await Everything.create_table()
        await fill(25)
        result = await export_table(Everything, tmp_path)
    async with dynorm_server.connect(table_prefix="staging-") as staging:
        done = await import_table(result.folder, Everything, create=True)
        assert done.table == "staging-bk_everything" and done.items == 25
        await holds_items(staging, "staging-bk_everything", 25)
