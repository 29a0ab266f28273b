"""Values in S3 through every write and read path, on moto's S3."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import Compressed, Connection, DecryptionFailed, Model, PartitionKey, SortKey
from dynorm.s3values import S3Value
from dynorm.schema.classes import meta_of
from dynorm.streams import ChangeEvent, StreamListener

pytestmark = pytest.mark.only_on("moto", reason="S3: moto's server serves it, DynamoDB "
                                                "Local not")

BIG = os.urandom(600_000)  # over DynamoDB's 400 KB item limit
TEXT = "a long text that compresses well. " * 20_000


def model(store: S3Value, table: str) -> type[Model]:
    class Doc(Model, table=table):
        doc_id: Annotated[str, PartitionKey]
        part: Annotated[int, SortKey]
        body: Annotated[bytes, store]
        text: Annotated[str, Compressed(), store] = ""
        title: str = ""

    return Doc


async def test_every_path_round_trips_large_values(dynorm_connection: Connection) -> None:
    store = S3Value("dynorm-values", prefix="docs")
    await store.create_bucket()
    Doc = model(store, "s3_docs")
    await Doc.create_table()
    await Doc(doc_id="d", part=1, body=BIG, text=TEXT).save()
    async with dynorm.batch() as b:
        for i in range(2, 5):
            b.save(Doc(doc_id="d", part=i, body=BIG + bytes([i]), text=TEXT))
    async with dynorm.transaction() as tx:
        tx.save(Doc(doc_id="e", part=1, body=BIG, text=TEXT))  # the same object as d/1
    assert store.calls["put"] == 5  # BIG, TEXT, and three distinct bodies

    conn = dynorm.get_connection()
    raw = (await conn.call("GetItem", {"TableName": conn.table_name("s3_docs"), "Key": {
        "doc_id": {"S": "d"}, "part": {"N": "1"}}}))["Item"]
    assert len(raw["body"]["B"]) == 41 and len(raw["text"]["B"]) == 41  # references

    def check(doc: Any, tail: bytes = b"") -> None:
        assert doc.body == BIG + tail and doc.text == TEXT

    fresh = S3Value("dynorm-values", prefix="docs")  # another process: nothing cached
    Doc2 = model(fresh, "s3_docs")
    check(await Doc2.get("d", 1))
    before = fresh.calls["get"]
    got = await Doc2.query(Doc2.doc_id == "d").to_list()
    for doc in got[1:]:
        check(doc, bytes([doc.part]))
    # one GET per distinct object of the page: 4 bodies and the text all four share
    assert fresh.calls["get"] - before == 5
    many = await dynorm.get_many(Doc2, [("d", 2), ("e", 1)])
    check(many[0], b"\x02")
    check(many[1])
    (tx_read,) = await dynorm.transact_get((Doc2, ("e", 1)))
    check(tx_read)
    doc = await Doc2.get("d", 3)
    await doc.update(Doc2.title.set("t"))  # the ALL_NEW answer holds references
    check(doc, b"\x03")
    assert doc.title == "t"

    # a missing object: DecryptionFailed naming the field, not a wrong value
    await fresh.put(raw["body"]["B"][1:33].hex(), b"altered")
    other = S3Value("dynorm-values", prefix="docs")
    with pytest.raises(DecryptionFailed, match=r"Doc\.body.*d.*missing") as caught:
        await model(other, "s3_docs").get("d", 1)
    assert caught.value.field == "body"
    # a synchronous decode has nothing fetched: a clear error too
    with pytest.raises(DecryptionFailed, match="not fetched"):
        model(S3Value("dynorm-values", prefix="docs"), "s3_docs").from_item(raw)
    await store.close()
    await fresh.close()
    await other.close()


async def test_stream_events_fetch_their_values(dynorm_connection: Connection) -> None:
    store = S3Value("dynorm-values-stream")
    await store.create_bucket()
    Doc = model(store, "s3_stream_docs")
    await Doc.create_table(stream="NEW_AND_OLD_IMAGES")
    listener = StreamListener(Doc, poll_interval=0.05, describe_interval=0.2)
    seen: list[ChangeEvent[Any]] = []

    @listener.on(Doc)
    async def changed(event: ChangeEvent[Any]) -> None:
        seen.append(event)

    doc = await Doc(doc_id="s", part=1, body=b"first" * 100_000).save()
    doc.body = b"second" * 100_000
    await doc.save()
    task = asyncio.create_task(listener.run())
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.02)
    listener.stop()
    await task
    assert [e.kind for e in seen] == ["insert", "modify"]
    assert seen[1].old is not None and seen[1].old.body == b"first" * 100_000
    assert seen[1].new is not None and seen[1].new.body == b"second" * 100_000
    await store.close()


def test_encrypted_values_in_s3_are_refused() -> None:
    from dynorm import Encrypted, LocalKeyring, SchemaError

    keys = LocalKeyring({"k": os.urandom(32)})
    with pytest.raises(SchemaError, match=r"Encrypted and S3Value.*not supported"):
        class Both(Model, table="s3_both"):
            k: Annotated[str, PartitionKey]
            v: Annotated[bytes, Encrypted(keys), S3Value("b")]
    assert meta_of(model(S3Value("b"), "s3_x")).loaders  # stores need I/O
