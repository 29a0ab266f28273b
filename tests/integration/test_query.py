"""Query, scan, pagination, cursors, projections and updates against the moto server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

import pytest
from pydantic import BaseModel

import dynorm
from dynorm import (
    ConditionFailed,
    Connection,
    ExpressionError,
    GlobalIndex,
    ItemNotFound,
    LocalIndex,
    Model,
    PartitionKey,
    SortKey,
    Version,
)
from dynorm.read.pagination import InvalidCursor

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


class Address(BaseModel):
    city: str
    zip: str


class Reading(Model, table="readings"):
    device: Annotated[str, PartitionKey]
    at: Annotated[datetime, SortKey]
    value: int
    status: str = "ok"  # a reserved word
    tags: set[str] = set()
    log: list[str] = []
    place: Address | None = None
    by_status = GlobalIndex("status", "at")
    by_value = LocalIndex("value")


async def seed(n: int = 30, device: str = "d1") -> list[Reading]:
    items = []
    for i in range(n):
        r = Reading(device=device, at=T0 + timedelta(minutes=i), value=i,
                    status="bad" if i % 3 == 0 else "ok", tags={f"t{i % 4}"},
                    place=Address(city="Lyon" if i % 2 else "Nice", zip=f"{i:05d}"))
        await r.save()
        items.append(r)
    return items


@pytest.mark.dynorm_tables([Reading])
async def test_query_key_conditions_and_order(dynorm_connection: Connection) -> None:
    await seed(12)
    await seed(3, device="d2")
    got = await Reading.query(Reading.device == "d1").to_list()
    assert [r.value for r in got] == list(range(12))
    rev = await Reading.query(Reading.device == "d1").reverse().limit(3).to_list()
    assert [r.value for r in rev] == [11, 10, 9]
    lo, hi = T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)
    window = await Reading.query(Reading.device == "d1", Reading.at.between(lo, hi)).to_list()
    assert [r.value for r in window] == [2, 3, 4]
    late = T0 + timedelta(minutes=10)
    after = await Reading.query(Reading.device == "d1", Reading.at >= late).to_list()
    assert [r.value for r in after] == [10, 11]
    early = Reading.at.begins_with("2026-11-01T00:0")
    prefix = await Reading.query(Reading.device == "d1", early).to_list()
    assert [r.value for r in prefix] == list(range(10))


@pytest.mark.dynorm_tables([Reading])
async def test_filter_limit_across_pages(dynorm_connection: Connection) -> None:
    await seed(30)
    q = Reading.query(Reading.device == "d1").filter(Reading.status == "ok").page_size(4)
    got = await q.limit(7).to_list()
    # 2 of every 3 pass; with pages of 4 the filter drops items inside pages
    assert [r.value for r in got] == [1, 2, 4, 5, 7, 8, 10]
    assert await q.count() == 20
    assert await Reading.query(Reading.device == "d1").count() == 30
    first = await Reading.query(Reading.device == "d1").filter(Reading.value > 25).first()
    assert first is not None and first.value == 26
    assert await Reading.query(Reading.device == "nobody").first() is None


@pytest.mark.dynorm_tables([Reading])
async def test_async_iteration_and_pages(dynorm_connection: Connection) -> None:
    await seed(10)
    seen = [r.value async for r in Reading.query(Reading.device == "d1").page_size(3)]
    assert seen == list(range(10))
    sizes = [len(p.items) async for p in Reading.query(Reading.device == "d1").page_size(4).pages()]
    assert sizes[:3] == [4, 4, 2]


@pytest.mark.dynorm_tables([Reading])
async def test_cursor_pages_with_filter(dynorm_connection: Connection) -> None:
    await seed(30)
    q = Reading.query(Reading.device == "d1").filter(Reading.status == "ok")
    values, cursor, pages = [], None, 0
    while True:
        page = await q.page(size=6, cursor=cursor)
        pages += 1
        values += [r.value for r in page.items]
        assert len(page.items) == 6 or page.cursor is None or pages > 3
        cursor = page.cursor
        if cursor is None:
            break
    assert values == [i for i in range(30) if i % 3]
    assert pages <= 5


@pytest.mark.dynorm_tables([Reading])
async def test_cursor_tampering_and_scope(dynorm_connection: Connection) -> None:
    await seed(5)
    page = await Reading.query(Reading.device == "d1").page(size=2)
    assert page.cursor is not None
    forged = page.cursor[:-2] + ("AA" if not page.cursor.endswith("AA") else "BB")
    with pytest.raises(InvalidCursor, match="altered or forged"):
        await Reading.query(Reading.device == "d1").page(size=2, cursor=forged)
    with pytest.raises(InvalidCursor, match=r"not a dynorm cursor|altered"):
        await Reading.query(Reading.device == "d1").page(size=2, cursor="garbage")
    with pytest.raises(InvalidCursor, match="only continue the query they came from"):
        await Reading.by_status.query(Reading.status == "ok").page(size=2, cursor=page.cursor)
    nxt = await Reading.query(Reading.device == "d1").page(size=2, cursor=page.cursor)
    assert [r.value for r in nxt.items] == [2, 3]


async def test_cursor_from_another_secret_is_refused(dynorm_server: object) -> None:
    server = dynorm_server
    server.reset()  # type: ignore[attr-defined]
    async with server.connect(cursor_secret="one"):  # type: ignore[attr-defined]
        await Reading.create_table()
        await seed(3)
        cursor = (await Reading.query(Reading.device == "d1").page(size=1)).cursor
    async with server.connect(cursor_secret="two"):  # type: ignore[attr-defined]
        with pytest.raises(InvalidCursor):
            await Reading.query(Reading.device == "d1").page(size=1, cursor=cursor)


@pytest.mark.dynorm_tables([Reading])
async def test_indexes(dynorm_connection: Connection) -> None:
    await seed(9)
    bad = await Reading.by_status.query(Reading.status == "bad").to_list()
    assert [r.value for r in bad] == [0, 3, 6]
    top = await Reading.by_value.query(Reading.device == "d1", Reading.value >= 7).reverse(
    ).to_list()
    assert [r.value for r in top] == [8, 7]
    with pytest.raises(ExpressionError, match="global secondary indexes do not support consistent"):
        Reading.by_status.query(Reading.status == "bad").consistent()
    local = await Reading.by_value.query(Reading.device == "d1").consistent().limit(2).to_list()
    assert len(local) == 2


def test_key_condition_validation() -> None:
    with pytest.raises(ExpressionError, match="'value' is not a key attribute"):
        Reading.query(Reading.device == "d1", Reading.value == 3)
    with pytest.raises(ExpressionError):
        Reading.query(Reading.at > T0)  # no partition key equality
    with pytest.raises(ExpressionError, match="key attribute"):
        Reading.query(Reading.device == "d1").filter(Reading.at > T0)
    with pytest.raises(TypeError):
        if Reading.value > 3:  # conditions are not booleans
            pass


@pytest.mark.dynorm_tables([Reading])
async def test_scan_and_parallel_scan(dynorm_connection: Connection) -> None:
    await seed(20)
    await seed(10, device="d2")
    assert len(await Reading.scan().to_list()) == 30
    filtered = await Reading.scan().filter(Reading.device == "d2", Reading.value < 5).to_list()
    assert sorted(r.value for r in filtered) == [0, 1, 2, 3, 4]
    par = await Reading.scan().segments(4).page_size(3).to_list()
    assert sorted((r.device, r.value) for r in par) == sorted(
        [("d1", i) for i in range(20)] + [("d2", i) for i in range(10)]
    )
    assert len(await Reading.scan().segments(3).limit(7).to_list()) == 7
    assert await Reading.scan().segments(3).count() == 30
    assert await Reading.scan().filter(Reading.tags.contains("t1")).count() == 8  # 5 + 3


@pytest.mark.dynorm_tables([Reading])
async def test_projection_gives_partial_models(dynorm_connection: Connection) -> None:
    await seed(3)
    q = Reading.query(Reading.device == "d1")
    rows = await q.project(Reading.value, Reading.place.city).to_list()
    assert [r.value for r in rows] == [0, 1, 2]
    r = rows[1]
    assert r.device == "d1" and r.at == T0 + timedelta(minutes=1)  # keys always fetched
    assert r.place is not None and r.place.city == "Lyon"
    with pytest.raises(AttributeError):
        _ = r.status  # not fetched: absent, not defaulted to "ok"
    with pytest.raises(AttributeError):
        _ = r.place.zip
    assert r.model_fields_set == {"device", "at", "value", "place"}
    with pytest.raises(dynorm.DynormError, match="partial"):
        await r.save()


@pytest.mark.dynorm_tables([Reading])
async def test_updates(dynorm_connection: Connection) -> None:
    (r,) = await seed(1)
    await r.update(Reading.value.add(5), Reading.tags.add({"new"}), Reading.log.set(["a"]),
                   Reading.status.set("checked"))
    assert r.value == 5 and r.tags == {"t0", "new"} and r.log == ["a"] and r.status == "checked"
    await r.update(Reading.log.append(["b"]), Reading.tags.delete({"t0"}),
                   Reading.place.city.set("Paris"))
    stored = await Reading.get("d1", T0, consistent=True)
    assert stored.log == ["a", "b"] and stored.tags == {"new"} and stored.place.city == "Paris"  # type: ignore[union-attr]
    await r.update(Reading.value.set(Reading.value + 10), condition=Reading.value == 5)
    assert r.value == 15
    with pytest.raises(ConditionFailed):
        await r.update(Reading.value.set(0), condition=Reading.value == 5)
    await r.update(Reading.place.remove())
    assert r.place is None
    with pytest.raises(ExpressionError, match=r"table key and cannot be updated"):
        await r.update(Reading.device.set("x"))


@pytest.mark.dynorm_tables([Reading])
async def test_update_item_without_loading(dynorm_connection: Connection) -> None:
    await seed(1)
    new = await Reading.update_item(("d1", T0), Reading.value.add(2))
    assert new is not None and new.value == 2
    with pytest.raises(ItemNotFound, match="upsert=True"):
        await Reading.update_item(("d9", T0), Reading.value.add(1))
    assert await Reading.find_one("d9", T0) is None  # no partial item created
    created = await Reading.update_item(("d9", T0), Reading.value.set(1), upsert=True)
    assert created is not None and created.value == 1 and created.status == "ok"
    assert await Reading.update_item(("d1", T0), Reading.value.add(1), return_values="NONE") is None


class Counter(Model, table="counters"):
    name: Annotated[str, PartitionKey]
    n: int = 0
    version: Annotated[int, Version] = 0


@pytest.mark.dynorm_tables([Counter])
async def test_update_bumps_and_checks_version(dynorm_connection: Connection) -> None:
    c = await Counter(name="hits").save()
    other = await Counter.get("hits")
    await c.update(Counter.n.add(1))
    assert c.version == 2 and c.n == 1
    with pytest.raises(dynorm.VersionConflict):
        await other.update(Counter.n.add(1))
    assert (await Counter.get("hits")).n == 1
    via_key = await Counter.update_item("hits", Counter.n.add(1))
    assert via_key is not None and via_key.version == 3
    with pytest.raises(ExpressionError, match="version attribute"):
        await c.update(Counter.version.set(9))


@pytest.mark.dynorm_tables([Reading])
async def test_deleted_item_is_not_recreated_by_update(dynorm_connection: Connection) -> None:
    (r,) = await seed(1)
    await r.delete()
    with pytest.raises(ItemNotFound):
        await r.update(Reading.value.add(1))
    assert await Reading.find_one("d1", T0) is None
