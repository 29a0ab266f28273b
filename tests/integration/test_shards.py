"""Sharded indexes on a real server: every write path stores the shard key, and a
scatter-gather query returns exactly what an unsharded index of the same items returns
(order, limits, sort-key conditions, filters, projections, pages and cursors, counts).

The property test draws its cases with Hypothesis (a fixed, derandomized draw; more with
``DYNORM_SHARD_EXAMPLES=200``) and runs them against the server; the model declares the
same index twice, sharded and not, so each case compares the two on the same items.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import Connection, GlobalIndex, Model, PartitionKey, SortKey, Version
from dynorm.expressions import Condition
from dynorm.local import LocalServer
from dynorm.read.pagination import InvalidCursor
from dynorm.schema.shards import shard_of
from dynorm.testing import fresh_connection

EXAMPLES = int(os.environ.get("DYNORM_SHARD_EXAMPLES", "12"))


class Entry(Model, table="shard_entries"):
    player: Annotated[str, PartitionKey]
    round: Annotated[int, SortKey]
    game: str | None = None
    score: int = 0
    level: int = 0
    note: str = ""
    version: Annotated[int, Version] = 0
    by_game = GlobalIndex("game", "score", shards=4)
    flat = GlobalIndex("game", "score", name="flat")
    keys = GlobalIndex("game", "score", name="keys", projection="KEYS_ONLY", shards=3,
                       shard_attribute="game_keys")


class Reading(Model, table="shard_readings"):
    """A table whose partition key is sharded by its sort key."""

    pk = PartitionKey("DEVICE#{device}", shards=4, shard_by="at")
    at: Annotated[int, SortKey]
    device: str
    level: int = 0
    version: Annotated[int, Version] = 0


@pytest_asyncio.fixture
async def conn(dynorm_server: LocalServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[Connection]:
    """One transport is enough here: the shard logic sits above it."""
    async with fresh_connection(dynorm_server, request, transport="fast") as connection:
        yield connection


async def stored_shard_key(conn: Connection, player: str, round: int) -> str | None:
    response = await conn.call("GetItem", {
        "TableName": "shard_entries", "ConsistentRead": True,
        "Key": {"player": {"S": player}, "round": {"N": str(round)}}})
    value = response["Item"].get("game_shard")
    return None if value is None else str(value["S"])


def shard(player: str, round: int) -> int:
    return shard_of([{"S": player}, {"N": str(round)}], 4)


@pytest.mark.dynorm_tables([Entry])
async def test_every_write_path_stores_the_shard_key(conn: Connection) -> None:
    await Entry(player="save", round=1, game="chess").save()
    assert await stored_shard_key(conn, "save", 1) == f"chess#{shard('save', 1)}"

    loaded = await Entry.get("save", 1, consistent=True)
    await loaded.update(Entry.game.set("go"))  # a partial update of the index's field
    assert await stored_shard_key(conn, "save", 1) == f"go#{shard('save', 1)}"
    await loaded.update(Entry.game.remove())  # out of the sparse index
    assert await stored_shard_key(conn, "save", 1) is None

    await Entry.update_item(("upsert", 2), Entry.game.set("go"), Entry.score.set(1),
                            upsert=True)
    assert await stored_shard_key(conn, "upsert", 2) == f"go#{shard('upsert', 2)}"

    async with dynorm.batch() as b:
        b.save(Entry(player="batch", round=3, game="go"), unversioned=True)
    assert await stored_shard_key(conn, "batch", 3) == f"go#{shard('batch', 3)}"

    async with dynorm.transaction() as tx:
        tx.save(Entry(player="tx", round=4, game="go"))
    assert await stored_shard_key(conn, "tx", 4) == f"go#{shard('tx', 4)}"

    moved = await (await Entry.get("tx", 4, consistent=True)).move(round=40)
    assert moved.round == 40
    assert await stored_shard_key(conn, "tx", 40) == f"go#{shard('tx', 40)}"

    found = await Entry.by_game.query(Entry.game == "go").to_list()
    assert sorted((e.player, e.round) for e in found) == [
        ("batch", 3), ("tx", 40), ("upsert", 2)]


@pytest.mark.dynorm_tables([Entry])
async def test_ties_on_the_sort_key_come_by_shard(conn: Connection) -> None:
    players = [f"p{i}" for i in range(12)]
    async with dynorm.batch() as b:
        for p in players:
            b.save(Entry(player=p, round=0, game="tie", score=5), unversioned=True)
    forward = await Entry.by_game.query(Entry.game == "tie").to_list()
    shards = [shard(e.player, e.round) for e in forward]
    assert shards == sorted(shards) and len(set(shards)) > 1
    backward = await Entry.by_game.query(Entry.game == "tie").reverse().to_list()
    assert [shard(e.player, e.round) for e in backward] == sorted(shards, reverse=True)
    # the same order page by page
    paged: list[Entry] = []
    cursor = None
    while True:
        page = await Entry.by_game.query(Entry.game == "tie").page(size=5, cursor=cursor)
        paged += page.items
        if (cursor := page.cursor) is None:
            break
    assert [(e.player, e.round) for e in paged] == [(e.player, e.round) for e in forward]


@pytest.mark.dynorm_tables([Entry])
async def test_a_keys_only_sharded_index_reads_partial_copies_or_whole_items(
        conn: Connection) -> None:
    async with dynorm.batch() as b:
        for i in range(9):
            b.save(Entry(player=f"p{i}", round=i, game="k", score=10 - i, note=f"n{i}"),
                   unversioned=True)
    query = Entry.keys.query(Entry.game == "k")
    partial = await query.limit(4).to_list()
    assert [e.score for e in partial] == [2, 3, 4, 5]
    assert all("note" not in e.__dict__ for e in partial)
    whole = await query.full().reverse().limit(4).to_list()
    assert [(e.score, e.note) for e in whole] == [(10, "n0"), (9, "n1"), (8, "n2"),
                                                  (7, "n3")]


@pytest.mark.dynorm_tables([Entry])
async def test_a_page_reports_what_its_shard_queries_consumed(
        conn: Connection, dynorm_server: LocalServer) -> None:
    async with dynorm.batch() as b:
        for i in range(6):
            b.save(Entry(player=f"p{i}", round=i, game="c", score=i), unversioned=True)
    async with dynorm_server.connect(transport="fast", capacity=True) as counted:
        page = await Entry.by_game.query(Entry.game == "c").page(size=3)
        assert page.capacity is not None and page.capacity.read > 0
        assert page.capacity.read == counted.capacity.total.read  # its 4 shard queries
        pages = [p async for p in Entry.by_game.query(Entry.game == "c").page_size(4)
                 .pages()]
        assert [len(p) for p in pages] == [4, 2]
        assert sum(p.capacity.read for p in pages if p.capacity) == \
            counted.capacity.total.read - page.capacity.read


@pytest.mark.dynorm_tables([Entry])
async def test_a_forged_or_foreign_cursor_is_refused(conn: Connection) -> None:
    async with dynorm.batch() as b:
        for i in range(6):
            b.save(Entry(player=f"p{i}", round=i, game="g", score=i), unversioned=True)
    page = await Entry.by_game.query(Entry.game == "g").page(size=2)
    assert page.cursor is not None
    with pytest.raises(InvalidCursor):
        await Entry.by_game.query(Entry.game == "g").page(size=2, cursor=page.cursor + "x")
    with pytest.raises(InvalidCursor):
        await Entry.flat.query(Entry.game == "g").page(size=2, cursor=page.cursor)


# ---------------------------------------------------------------------------- property


@dataclass
class Case:
    scores: list[int]
    levels: list[int]
    reverse: bool
    limit: int | None
    key: tuple[str, int, int] | None  # (op, a, b) on score
    min_level: int | None
    project: bool
    page_size: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    scores = draw(st.lists(st.integers(0, 99), max_size=30, unique=True))
    return Case(
        scores=scores,
        levels=[draw(st.integers(0, 3)) for _ in scores],
        reverse=draw(st.booleans()),
        limit=draw(st.none() | st.integers(1, 35)),
        key=draw(st.none() | st.tuples(st.sampled_from([">=", "<", "between"]),
                                       st.integers(0, 99), st.integers(0, 99))),
        min_level=draw(st.none() | st.integers(0, 3)),
        project=draw(st.booleans()),
        page_size=draw(st.integers(1, 12)),
    )


def drawn(count: int) -> list[Case]:
    out: list[Case] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None)
    @given(cases())
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out


def conditions(game: str, case: Case) -> list[Condition]:
    conds: list[Condition] = [Entry.game == game]
    if case.key is not None:
        op, a, b = case.key
        conds.append(Entry.score >= a if op == ">=" else Entry.score < a if op == "<"
                     else Entry.score.between(min(a, b), max(a, b)))
    return conds


def shaped(query: Any, case: Case) -> Any:
    if case.reverse:
        query = query.reverse()
    if case.min_level is not None:
        query = query.filter(Entry.level >= case.min_level)
    if case.project:
        query = query.project(Entry.level)
    return query


def ids(items: Any) -> list[tuple[str, int, int]]:
    return [(e.player, e.round, e.score) for e in items]


@pytest.mark.dynorm_tables([Entry])
async def test_sharded_query_returns_what_an_unsharded_one_does(conn: Connection) -> None:
    for n, case in enumerate(drawn(EXAMPLES)):
        game = f"game{n}"
        async with dynorm.batch() as b:
            for i, (score, level) in enumerate(zip(case.scores, case.levels, strict=True)):
                b.save(Entry(player=f"p{i}", round=n, game=game, score=score, level=level,
                             note="x" * i), unversioned=True)
        conds = conditions(game, case)
        sharded = shaped(Entry.by_game.query(*conds), case)
        flat = shaped(Entry.flat.query(*conds), case)
        where = f"case {n}: {case}"
        expected = ids(await flat.to_list())
        assert ids(await sharded.to_list()) == expected, where
        if case.limit is not None:
            assert ids(await sharded.limit(case.limit).to_list()) == expected[:case.limit], \
                where
            assert await sharded.limit(case.limit).count() == min(case.limit, len(expected))
        assert await sharded.count() == len(expected), where
        paged: list[tuple[str, int, int]] = []
        cursor = None
        while True:
            page = await sharded.page(size=case.page_size, cursor=cursor)
            assert len(page.items) <= case.page_size, where
            paged += ids(page.items)
            if (cursor := page.cursor) is None:
                break
            assert len(page.items) == case.page_size, where  # short only at the end
        assert paged == expected, where
        streamed = [ids(p.items) async for p in sharded.page_size(case.page_size).pages()]
        assert [x for p in streamed for x in p] == expected, where
        if case.project:
            assert all("note" not in e.__dict__ for e in await sharded.limit(3).to_list())


@pytest.mark.dynorm_tables([Reading])
async def test_a_sharded_table_key_on_every_path(conn: Connection) -> None:
    await Reading(device="d1", at=1).save()
    await Reading.update_item({"device": "d1", "at": 2}, Reading.level.set(2), upsert=True)
    async with dynorm.batch() as b:
        b.save(Reading(device="d1", at=3), unversioned=True)
    async with dynorm.transaction() as tx:
        tx.save(Reading(device="d1", at=4))
    await (await Reading.get(device="d1", at=4, consistent=True)).move(at=5)
    one = await Reading.get(device="d1", at=1, consistent=True)
    await one.update(Reading.level.set(1))
    await Reading(device="d2", at=1).save()
    query = Reading.query(Reading.device == "d1")
    assert [(r.at, r.level) for r in await query.to_list()] == [
        (1, 1), (2, 2), (3, 0), (5, 0)]
    assert [r.at for r in await query.reverse().limit(3).to_list()] == [5, 3, 2]
    assert await query.count() == 4
    got = await dynorm.get_many(Reading, [{"device": "d1", "at": a} for a in (1, 4, 5)])
    assert [r.at if r else None for r in got] == [1, None, 5]
    raw = await conn.call("Scan", {"TableName": "shard_readings"})
    stored = sorted(item["pk"]["S"] for item in raw["Items"])
    assert stored == sorted(
        [f"DEVICE#d1#{shard_of([{'N': str(a)}], 4)}" for a in (1, 2, 3, 5)]
        + [f"DEVICE#d2#{shard_of([{'N': '1'}], 4)}"])
    await one.delete()
    assert [r.at for r in await query.to_list()] == [2, 3, 5]


@pytest.mark.dynorm_tables([Reading])
async def test_sharded_table_queries_match_a_sorted_list(conn: Connection) -> None:
    for n, case in enumerate(drawn(max(EXAMPLES // 2, 4))):
        device = f"d{n}"
        async with dynorm.batch() as b:
            for at, level in zip(case.scores, case.levels, strict=True):
                b.save(Reading(device=device, at=at, level=level), unversioned=True)
        conds: list[Condition] = [Reading.device == device]
        keep = list(case.scores)
        if case.key is not None:
            op, a, c = case.key
            lo, hi = min(a, c), max(a, c)
            conds.append(Reading.at >= a if op == ">=" else Reading.at < a if op == "<"
                         else Reading.at.between(lo, hi))
            keep = [x for x in keep if (x >= a if op == ">=" else x < a if op == "<"
                                        else lo <= x <= hi)]
        query = Reading.query(*conds)
        if case.min_level is not None:
            query = query.filter(Reading.level >= case.min_level)
            levels = dict(zip(case.scores, case.levels, strict=True))
            keep = [x for x in keep if levels[x] >= case.min_level]
        expected = sorted(keep, reverse=case.reverse)
        if case.reverse:
            query = query.reverse()
        where = f"case {n}: {case}"
        assert [r.at for r in await query.to_list()] == expected, where
        if case.limit is not None:
            assert [r.at for r in await query.limit(case.limit).to_list()] == \
                expected[:case.limit], where
        paged: list[int] = []
        cursor = None
        while True:
            page = await query.page(size=case.page_size, cursor=cursor)
            paged += [r.at for r in page]
            if (cursor := page.cursor) is None:
                break
        assert paged == expected, where


# ---------------------------------------------------------------------------- hot keys


async def test_writes_to_a_hot_partition_are_throttled_retried_and_all_land(
        dynorm_server: LocalServer) -> None:
    """Through the hot-partition simulator (50 write units/s per key, 0.2 s burst): 24
    concurrent saves of one game are throttled on the unsharded index, retried by dynorm,
    and every one is in the index; on the sharded index the same writes are throttled
    less. (Both indexes are on one table: each run limits the partitions of one.)"""
    from tests.support.fault_proxy import FaultConfig, faulty_connection
    from tests.support.hot_partitions import PartitionLimits

    throttled = {}
    for index, attr in (("flat", "game"), ("by_game", "game_shard")):
        limits = PartitionLimits({"shard_entries": ["player", attr]}, write_units=50,
                                 burst=0.2)
        async with faulty_connection(dynorm_server, FaultConfig(limits=limits), [Entry],
                                     max_attempts=30, base_delay=0.01, max_delay=0.1):
            entries = [Entry(player=f"p{i}", round=0, game="hot", score=i) for i in range(24)]
            await asyncio.gather(*(e.save() for e in entries))
            throttled[index] = limits.throttled_writes
        async with dynorm_server.connect():
            query = (Entry.flat if index == "flat" else Entry.by_game).query(Entry.game == "hot")
            assert [e.score for e in await query.to_list()] == list(range(24))
    assert throttled["flat"] > 0
    assert throttled["by_game"] < throttled["flat"]


@pytest.mark.only_on("moto", reason="a smoke test of the benchmark's code; one server is "
                     "enough")
async def test_the_hot_keys_benchmark_runs(dynorm_server: LocalServer) -> None:
    """``python -m benchmarks --only hot-keys``, cut short: nothing lost, the right top
    10 from 8 requests of Limit 10."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    sys.path.insert(0, root)
    try:
        from benchmarks import hot_keys
    finally:
        sys.path.remove(root)
    dynorm_server.reset()
    result = await hot_keys.measure_async(dynorm_server.endpoint_url, 1, 0.3,
                                          lambda *a: None, workers=6)
    assert all(r.lost == 0 and r.saved > 0 for runs in result.runs.values() for r in runs), \
        result.runs
    assert result.top_ok
    assert [q["Limit"] for q in result.top_requests] == [10] * 8
    assert "goal <= 8 pages of 10: met" in "\n".join(hot_keys.table(result, 0.3))
