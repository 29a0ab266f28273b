"""Today's features combined with each other and with the older ones, on the servers:
each test is a path where one feature could skip another's checks (encryption and value
stores, schema upgrades, shard keys, origin stamps) and lose, invent or alter data."""

from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import (
    Connection,
    GlobalIndex,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    Version,
    upgrade,
)
from dynorm.backup import export_table, import_table
from dynorm.codec.json import dumps
from dynorm.kms import KmsKeyring
from dynorm.migrate import Migration
from dynorm.s3values import S3Value
from dynorm.security import Compressed, DecryptionFailed, Encrypted, LocalKeyring
from dynorm.streams import ChangeEvent, StreamListener

#: drawn cases of the every-path property test (more with DYNORM_CROSS_EXAMPLES=200)
CROSS_EXAMPLES = int(os.environ.get("DYNORM_CROSS_EXAMPLES", "14"))


async def raw_items(table: str) -> list[dict[str, Any]]:
    """The table's items as stored, in key order."""
    conn = dynorm.get_connection()
    answer = await conn.call("Scan", {"TableName": conn.table_name(table),
                                      "ConsistentRead": True})
    return sorted(answer["Items"], key=lambda item: dumps(
        [item[k] for k in sorted(item) if k in ("vault_id", "n", "blob_id", "entry_id")]))


def kms_model(keys: KmsKeyring, table: str) -> type[Model]:
    class Vault(Model, table=table):
        vault_id: Annotated[str, PartitionKey]
        n: Annotated[int, SortKey]
        secret: Annotated[str, Encrypted(keys)]

    return Vault


@pytest.mark.only_on("moto", reason="KMS (GenerateDataKey, Decrypt) is moto's")
async def test_import_validates_kms_encrypted_items_with_a_cold_keyring(
        dynorm_connection: Connection, tmp_path: Path) -> None:
    """import_table(model=) checks each item with the model: the data keys of its
    encrypted values must be loaded first, as every read path loads them (a fresh
    process's keyring has none), else every item is rejected as unreadable."""
    creator = KmsKeyring("unused")
    key_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]
    keys = KmsKeyring(key_id)
    Vault = kms_model(keys, "x_vault")
    await Vault.create_table()
    for i in range(3):
        await Vault(vault_id="v", n=i, secret=f"s{i}").save()
    result = await export_table(Vault, tmp_path)
    keys.forget()  # another process imports: nothing cached
    done = await import_table(result.folder, "x_vault_copy", create=True, model=Vault,
                              rejects=tmp_path / "rejects.jsonl")
    assert (done.items, done.rejected) == (3, 0)
    assert await raw_items("x_vault_copy") == await raw_items("x_vault")


@pytest.mark.only_on("moto", reason="S3: moto's server serves it, DynamoDB Local not")
async def test_import_validates_items_whose_values_are_in_s3(
        dynorm_connection: Connection, tmp_path: Path) -> None:
    """The same for S3Value fields: the item holds a reference; validating it needs the
    object fetched, as every read path fetches it."""
    store = S3Value("dynorm-cross", prefix="imp")
    await store.create_bucket()

    class Blob(Model, table="x_blobs"):
        blob_id: Annotated[str, PartitionKey]
        body: Annotated[bytes, store]

    await Blob.create_table()
    await Blob(blob_id="b1", body=b"x" * 1000).save()
    result = await export_table(Blob, tmp_path)
    done = await import_table(result.folder, "x_blobs_copy", create=True, model=Blob,
                              rejects=tmp_path / "rejects.jsonl")
    assert (done.items, done.rejected) == (1, 0)
    copy = await raw_items("x_blobs_copy")  # the reference, not the value it was read as
    assert copy == await raw_items("x_blobs") and len(copy[0]["body"]["B"]) == 41


class Entry(Model, table="x_entries"):
    entry_id: Annotated[str, PartitionKey]
    n: int = 0


async def test_an_import_keeps_the_origin_stamps_it_restores(
        dynorm_server: LocalServer, tmp_path: Path) -> None:
    async with dynorm_server.connect(region="us-west-2", origin=True,
                                     table_prefix="xo_"):
        await Entry.create_table()
        await Entry(entry_id="e1", n=1).save()
        result = await export_table(Entry, tmp_path)
        before = await raw_items("x_entries")
    async with dynorm_server.connect(region="eu-west-1", origin=True,
                                     table_prefix="xo_"):
        await import_table(result.folder, "x_entries_copy", create=True)
        after = await raw_items("x_entries_copy")
    assert after == before


# ------------------------------------------------------------------ every path at once

LOCAL = LocalKeyring({"k1": bytes(range(32))})


class Cross(Model, table="x_cross", entity="cross", schema_version=2):
    """Every feature of the day on one model: a templated key, encrypted and compressed
    fields, a schema version, a version, a sharded index projecting an encrypted field
    (and the entity marker and schema version, which dynorm adds)."""

    pk = PartitionKey("C#{cid}")
    n: Annotated[int, SortKey]
    cid: str
    secret: Annotated[str, Encrypted(LOCAL)] = ""
    amount: Annotated[Decimal | None, Encrypted(LOCAL)] = None
    blob: Annotated[bytes, Compressed()] = b""
    group: str = "g"
    version: Annotated[int, Version] = 0

    by_group = GlobalIndex("group", "n", shards=3, projection=["secret"])


@upgrade(Cross, from_version=1)
def same_shape(item: dict[str, Any]) -> None:
    """Version 1 items have the shape of version 2 (what a backfill stores is tested)."""


class CrossCase(NamedTuple):
    secret: str
    amount: Decimal | None
    blob: bytes
    write: str
    read: str


def cross_cases(count: int) -> list[CrossCase]:
    out: list[CrossCase] = []
    text = st.text(st.characters(codec="utf-8"), max_size=30)
    amounts = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                      min_value=-10**6, max_value=10**6)

    @settings(max_examples=count, deadline=None, derandomize=True, database=None)
    @given(st.builds(CrossCase, text, amounts, st.binary(max_size=200),
                     st.sampled_from(["save", "batch", "transaction", "move",
                                      "migration"]),
                     st.sampled_from(["get", "query", "scan", "get_many", "transact_get",
                                      "index", "index_full"])))
    def collect(case: CrossCase) -> None:
        out.append(case)

    collect()
    return out


async def write_cross(case: CrossCase, n: int) -> None:
    item = Cross(cid="c", n=n, secret=case.secret, amount=case.amount, blob=case.blob,
                 group=f"g{n}")
    if case.write == "save":
        await item.save()
    elif case.write == "batch":
        async with dynorm.batch() as b:
            b.save(item, unversioned=True)
    elif case.write == "transaction":
        async with dynorm.transaction() as tx:
            tx.save(item)
    elif case.write == "migration":  # stored by the previous release, then backfilled
        await item.save()
        await dynorm.get_connection().call("UpdateItem", {
            "TableName": dynorm.get_connection().table_name("x_cross"),
            "Key": {"pk": {"S": "C#c"}, "n": {"N": str(n)}},
            "UpdateExpression": "SET #s = :one, #v = :zero",
            "ExpressionAttributeNames": {"#s": "_schema", "#v": "version"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}}})
        done = await Migration(f"backfill-{n}", Cross, lambda x: x).run(segments=1)
        assert done.failed == 0, done
    else:
        await Cross(cid="c", n=n + 10_000, secret=case.secret, amount=case.amount,
                    blob=case.blob, group=f"g{n}").save()
        old = await Cross.get(cid="c", n=n + 10_000, consistent=True)
        await old.move(n=n)


async def read_cross(case: CrossCase, n: int) -> Any:
    if case.read == "get":
        return await Cross.get(cid="c", n=n, consistent=True)
    if case.read == "query":
        return await Cross.query(Cross.cid == "c", Cross.n == n).first()
    if case.read == "scan":
        return next(x for x in await Cross.scan().to_list() if x.n == n)
    if case.read == "get_many":
        return (await dynorm.get_many(Cross, [{"cid": "c", "n": n}], consistent=True))[0]
    if case.read == "transact_get":
        return next(iter(await dynorm.transact_get((Cross, {"cid": "c", "n": n}))))
    query = Cross.by_group.query(Cross.group == f"g{n}")
    if case.read == "index_full":
        query = query.full()
    return await query.first()


async def test_every_write_and_read_path_round_trips_every_feature(
        dynorm_server: LocalServer) -> None:
    """Any value of the encrypted and compressed fields, written by any write path
    through an origin-stamping connection, reads back equal through any read path: an
    index page as a partial copy holding the projected fields (the encrypted one
    decrypted), the rest absent."""
    async with dynorm_server.connect(region="eu-west-1", origin=True,
                                     table_prefix="xc_", max_attempts=3):
        await Cross.create_table()
        for n, case in enumerate(cross_cases(CROSS_EXAMPLES)):
            await write_cross(case, n)
            found = await read_cross(case, n)
            where = f"case {n}: {case}"
            assert found is not None, where
            assert (found.cid, found.n, found.secret) == ("c", n, case.secret), where
            if case.read == "index":
                assert {"amount", "blob", "version"}.isdisjoint(found.__dict__), where
                continue
            assert (found.amount, found.blob) == (case.amount, case.blob), where
            assert found.version == 1, where
        await Cross.delete_table()


class Safe(Model, table="x_safe"):
    safe_id: Annotated[str, PartitionKey]
    code: Annotated[str, Encrypted(LOCAL)]


async def test_a_restored_copy_of_encrypted_values_reads_under_a_prefix_only(
        dynorm_server: LocalServer, tmp_path: Path) -> None:
    """An encrypted value is bound to its table's (model's) name, so a copy of the
    table made under another name -- an import, or a restore, which always makes a new
    table -- reads back through a connection whose table_prefix maps the model's name
    onto the copy (docs/backup.md); read as a table of another name, every value fails
    to authenticate instead of being read."""
    async with dynorm_server.connect(table_prefix="xr_"):
        await Safe.create_table()
        await Safe(safe_id="s1", code="1234").save()
        result = await export_table(Safe, tmp_path)
    async with dynorm_server.connect(table_prefix="xr_restored-"):
        await import_table(result.folder, Safe, create=True)
        assert (await Safe.get("s1", consistent=True)).code == "1234"

    class Renamed(Model, table="xr_x_safe_copy"):  # the same values under another name
        safe_id: Annotated[str, PartitionKey]
        code: Annotated[str, Encrypted(LOCAL)]

    async with dynorm_server.connect():
        await import_table(result.folder, "xr_x_safe_copy", create=True)
        with pytest.raises(DecryptionFailed, match="does not authenticate"):
            await Renamed.get("s1", consistent=True)


class Badge(Model, table="x_badges", schema_version=2):
    badge_id: Annotated[str, PartitionKey]
    holder: str
    pin: Annotated[str, Encrypted(LOCAL)] = ""
    version: Annotated[int, Version] = 0


@upgrade(Badge, from_version=1)
def holder_from_name(item: dict[str, Any]) -> None:
    item["holder"] = item.pop("name")


async def test_stream_events_read_old_items_upgraded(dynorm_server: LocalServer) -> None:
    """A change event's images go through the read path every read takes: an image of
    an older schema version is upgraded (an item written by the first release, changed
    by it, then saved by the current model), with its encrypted field decrypted."""
    async with dynorm_server.connect(table_prefix="xs_", origin=True) as conn:
        await Badge.create_table(stream="NEW_AND_OLD_IMAGES")
        table = conn.table_name("x_badges")
        await conn.call("PutItem", {"TableName": table, "Item": {
            "badge_id": {"S": "b1"}, "name": {"S": "Ada"}}})
        await conn.call("UpdateItem", {"TableName": table, "Key": {"badge_id": {"S": "b1"}},
                                       "UpdateExpression": "SET #n = :n",
                                       "ExpressionAttributeNames": {"#n": "name"},
                                       "ExpressionAttributeValues": {":n": {"S": "Ada L"}}})
        badge = await Badge.get("b1", consistent=True)
        badge.pin = "0042"
        await badge.save()
        listener = StreamListener(Badge, poll_interval=0.05, describe_interval=0.2)
        seen: list[ChangeEvent[Any]] = []

        @listener.on(Badge)
        async def changed(event: ChangeEvent[Any]) -> None:
            seen.append(event)

        task = asyncio.create_task(listener.run())
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.02)
        listener.stop()
        await task
    images = [(e.kind, e.old and (e.old.holder, e.old.pin), e.new and (e.new.holder,
                                                                       e.new.pin))
              for e in seen]
    assert images == [("insert", None, ("Ada", "")),
                      ("modify", ("Ada", ""), ("Ada L", "")),
                      ("modify", ("Ada L", ""), ("Ada L", "0042"))]


class Person(Model, table="x_people", schema_version=2):
    person_id: Annotated[str, PartitionKey]
    first: str
    last: str = ""


@upgrade(Person, from_version=1)
def split_name(item: dict[str, Any]) -> dict[str, Any]:
    first, _, last = item.pop("name").partition(" ")
    return {**item, "first": first, "last": last}


async def test_a_backfill_never_stores_an_upgrade_of_a_stale_read(
        dynorm_server: LocalServer) -> None:
    """The previous release keeps writing during a backfill (a rolling deploy): a write
    of an attribute the upgrade reads, between the migration's read and its write, makes
    the migration read the item again instead of storing the upgrade of what it read
    (which would hide the write from every reader of the new version for good)."""
    async with dynorm_server.connect(table_prefix="xm_") as conn:
        await Person.create_table()
        table = conn.table_name("x_people")
        key = {"person_id": {"S": "p1"}}
        await conn.call("PutItem", {"TableName": table,
                                    "Item": {**key, "name": {"S": "Ada Lovelace"}}})
        calls = 0

        async def change(person: Person) -> Person:
            nonlocal calls
            calls += 1
            if calls == 1:  # the previous release renames her meanwhile
                await conn.call("UpdateItem", {
                    "TableName": table, "Key": key, "UpdateExpression": "SET #n = :n",
                    "ExpressionAttributeNames": {"#n": "name"},
                    "ExpressionAttributeValues": {":n": {"S": "Grace Hopper"}}})
            return person

        done = await Migration("x-people-v2", Person, change).run(segments=1)
        assert (done.changed, done.failed, calls) == (1, 0, 2)
        assert await Person.get("p1", consistent=True) == Person(
            person_id="p1", first="Grace", last="Hopper")
