"""Batch writes and reads against the moto server, with faults injected by a proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import LocalServer, Model, PartitionKey, SortKey, Version
from dynorm.read.batch_get import BatchGetFailed, batch_get, get_many
from dynorm.write.batch import BatchWriteFailed, InvalidBatch, batch
from tests.support.fault_proxy import FaultConfig, FaultProxy

saved: list[str] = []


class Reading(Model, table="b_readings"):
    sensor: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    value: Decimal = Decimal(0)
    tags: set[str] = set()

    async def after_save(self) -> None:
        saved.append(f"{self.sensor}/{self.seq}")


class Sensor(Model, table="b_sensors"):
    sensor: Annotated[str, PartitionKey]
    name: str = ""


class Doc(Model, table="b_docs"):
    doc_id: Annotated[str, PartitionKey]
    body: str = ""
    version: Annotated[int, Version] = 0


class Blob(Model, table="b_blobs"):
    blob_id: Annotated[str, PartitionKey]
    data: bytes
    parts: set[bytes] = set()


TABLES = pytest.mark.dynorm_tables([Reading, Sensor, Doc, Blob])


@pytest.fixture(autouse=True)
def _clear() -> None:
    saved.clear()


@asynccontextmanager
async def proxied(server: LocalServer, config: FaultConfig, like: dynorm.Connection
                  ) -> AsyncIterator[FaultProxy]:
    """A connection through a fault proxy, on the same transport as ``like``."""
    from dynorm.transport.fast import FastTransport

    kind = "fast" if isinstance(like.transport, FastTransport) else "aioboto3"
    retry = dynorm.RetryPolicy(max_attempts=3, base_delay=0.001)
    async with FaultProxy(server.endpoint_url, config) as proxy, dynorm.connect(
            endpoint_url=proxy.url, region="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local", retry=retry, transport=kind):
        yield proxy


def readings(n: int, sensors: int = 30) -> list[Reading]:
    return [Reading(sensor=f"s{i % sensors}", seq=i, value=Decimal(i) / 4,
                    tags={f"t{i % 3}"} if i % 2 else set()) for i in range(n)]


@TABLES
async def test_3000_items_round_trip(dynorm_connection: Any) -> None:
    items = readings(3000)
    async with batch() as b:
        for r in items:
            b.save(r)
    assert b.written == 3000
    assert len(saved) == 3000
    found = await get_many(Reading, [(r.sensor, r.seq) for r in items])
    assert found == items  # every item, in the order of the keys, exactly as given


@TABLES
async def test_get_many_order_missing_and_duplicates(dynorm_connection: Any) -> None:
    async with batch() as b:
        for i in range(5):
            b.save(Sensor(sensor=f"s{i}", name=f"n{i}"))
    keys = ["s3", "nope", "s1", "s3", "s0"]
    found = await get_many(Sensor, keys)
    assert [s.name if s else None for s in found] == ["n3", None, "n1", "n3", "n0"]
    assert await get_many(Sensor, []) == []
    sensor, reading, other = await batch_get((Sensor, "s2"), (Reading, ("s2", 1)), (Sensor, "s4"))
    assert sensor is not None and sensor.name == "n2"
    assert reading is None
    assert other is not None and other.sensor == "s4"


@TABLES
async def test_last_write_to_a_key_wins(dynorm_connection: Any) -> None:
    async with batch() as b:
        b.save(Sensor(sensor="s1", name="first"))
        b.save(Sensor(sensor="s2", name="kept"))
        b.save(Sensor(sensor="s1", name="second"))
        b.delete(Sensor, "s2")
        b.save(Sensor(sensor="s2", name="third"))
    assert b.written == 2
    one, two = await batch_get((Sensor, "s1"), (Sensor, "s2"))
    assert one is not None and one.name == "second"
    assert two is not None and two.name == "third"


@TABLES
async def test_deletes(dynorm_connection: Any) -> None:
    items = readings(60)
    async with batch() as b:
        for r in items:
            b.save(r)
    async with batch() as b:
        for r in items[:50]:
            b.delete(r)
        b.delete(Reading, (items[55].sensor, items[55].seq))
    left = await get_many(Reading, [(r.sensor, r.seq) for r in items])
    assert [r is not None for r in left] == [False] * 50 + [True] * 5 + [False] + [True] * 4


@TABLES
async def test_binary_values_round_trip(dynorm_connection: Any) -> None:
    # The fast transport sends batch items as pre-encoded JSON: bytes must be base64 there.
    blobs = [Blob(blob_id=f"b{i}", data=bytes(range(i, i + 40)), parts={b"\x00", bytes([i])})
             for i in range(1, 60)]
    async with batch() as b:
        for blob in blobs:
            b.save(blob)
    assert await get_many(Blob, [blob.blob_id for blob in blobs]) == blobs


@TABLES
async def test_versioned_models_are_refused_unless_unversioned(dynorm_connection: Any) -> None:
    doc = Doc(doc_id="d1", body="hi")
    async with batch() as b:
        with pytest.raises(InvalidBatch, match=r"Doc \(doc_id='d1'\) has a Version field"):
            b.save(doc)
        b.save(doc, unversioned=True)
    assert doc.version == 1
    assert (await Doc.get("d1")).version == 1
    async with batch() as b:
        with pytest.raises(InvalidBatch):
            b.delete(doc)
        b.delete(doc, unversioned=True)
    assert await Doc.find_one("d1") is None


@TABLES
async def test_streams_while_the_block_runs(dynorm_connection: Any) -> None:
    async with batch(flush_at=100, concurrency=2) as b:
        for r in readings(600):
            b.save(r)
            if r.seq % 50 == 0:
                await asyncio.sleep(0.01)
        assert b.written > 0  # sent before the block ended
    assert b.written == 600


@TABLES
async def test_unprocessed_items_and_keys_are_retried(dynorm_server: LocalServer,
                                                     dynorm_connection: Any) -> None:
    items = readings(400)
    config = FaultConfig(seed=7, unprocessed_rate=0.3, throttle_rate=0.1)
    async with proxied(dynorm_server, config, dynorm_connection) as proxy:
        patient = dynorm.RetryPolicy(max_attempts=31, base_delay=0.001, max_delay=0.01)
        async with batch(retry=patient) as b:
            for r in items:
                b.save(r)
        assert proxy.stats.unprocessed_writes > 50
        assert proxy.stats.throttled > 0
        found = await get_many(Reading, [(r.sensor, r.seq) for r in items], retry=patient)
        assert proxy.stats.unprocessed_keys > 50
    assert found == items
    assert sorted(saved) == sorted(f"{r.sensor}/{r.seq}" for r in items)  # once each
    # And directly against the server, without the proxy.
    assert await get_many(Reading, [(r.sensor, r.seq) for r in items]) == items


@TABLES
async def test_spent_budget_names_exactly_the_unwritten_items(dynorm_server: LocalServer,
                                                             dynorm_connection: Any) -> None:
    items = readings(100, sensors=10)
    stuck = {("s3", 13), ("s3", 53), ("s7", 97)}

    def is_stuck(table: str, item: dict[str, Any]) -> bool:
        return (item["sensor"]["S"], int(item["seq"]["N"])) in stuck

    # Others are unprocessed at random too (they must get through within the budget).
    config = FaultConfig(seed=1, unprocessed=is_stuck, unprocessed_rate=0.1)
    async with proxied(dynorm_server, config, dynorm_connection) as proxy:
        with pytest.raises(BatchWriteFailed) as info:
            brief = dynorm.RetryPolicy(max_attempts=9, base_delay=0.001, max_delay=0.002)
            async with batch(retry=brief) as b:
                for r in items:
                    b.save(r)
        error = info.value
        failed = {(f.key["sensor"]["S"], int(f.key["seq"]["N"])) for f in error.failed}
        assert failed == stuck
        assert all(f.model is Reading and f.action == "put" and f.error is None
                   for f in error.failed)
        assert error.written == 97
        assert "3 write(s) not made (97 made)" in str(error)
        assert "put Reading (sensor='s3', seq='13')" in str(error)

        proxy.config.unprocessed_rate = 0
        with pytest.raises(BatchGetFailed) as get_info:
            await get_many(Reading, [(r.sensor, r.seq) for r in items],
                           retry=dynorm.RetryPolicy(max_attempts=3, base_delay=0.001))
        assert {(k["sensor"]["S"], int(k["seq"]["N"])) for _, k in get_info.value.missing} \
            == stuck
    stored = await get_many(Reading, [(r.sensor, r.seq) for r in items])
    absent = {(r.sensor, r.seq) for r, s in zip(items, stored, strict=True) if s is None}
    assert absent == stuck
    assert len(saved) == 97


@TABLES
async def test_request_errors_fail_the_chunk(dynorm_connection: Any) -> None:
    class Missing(Model, table="b_missing_table"):
        key: Annotated[str, PartitionKey]

    with pytest.raises(BatchWriteFailed) as info:
        async with batch() as b:
            b.save(Sensor(sensor="ok"))
            b.save(Missing(key="k"))
    assert isinstance(info.value.failed[0].error, dynorm.ServiceError)
    assert isinstance(info.value.__cause__, dynorm.ServiceError)


@TABLES
async def test_block_error_drops_unsent_writes(dynorm_connection: Any) -> None:
    with pytest.raises(RuntimeError):
        async with batch() as b:
            b.save(Sensor(sensor="s1"))
            raise RuntimeError("stop")
    assert await Sensor.find_one("s1") is None
    with pytest.raises(InvalidBatch, match="closed"):
        b.save(Sensor(sensor="s2"))
