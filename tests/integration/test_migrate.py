"""Data migrations against real servers: each item changed once, none missed, resumable.

``DYNORM_MIGRATE_ITEMS`` sets the table size of the SIGKILL test (1,000 by default for CI;
issue 20's done-means run used 20,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    Connection,
    GlobalIndex,
    KeyTemplate,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    Version,
)
from dynorm.migrate import MARKER, Migration, MigrationCheckpoints, MigrationError

KILL_ITEMS = int(os.environ.get("DYNORM_MIGRATE_ITEMS", "1000"))


class Counter(Model, table="counters"):
    id: Annotated[str, PartitionKey]
    n: int = 0
    note: str = ""


def bump(counter: Counter) -> Counter:
    counter.n += 1
    counter.note = "migrated"
    return counter


async def fill(count: int) -> None:
    await Counter.create_table()
    async with dynorm.batch() as batch:
        for i in range(count):
            batch.save(Counter(id=f"c{i:05}"))


async def all_counters() -> dict[str, Counter]:
    return {c.id: c async for c in Counter.scan()}


async def test_every_item_changed_once_and_a_second_run_changes_nothing(
        dynorm_connection: Connection) -> None:
    await fill(120)
    migration = Migration("bump-1", Counter, bump)
    result = await migration.run(segments=3, page_size=25)
    assert (result.seen, result.changed, result.skipped, result.failed) == (120, 120, 0, 0)
    assert result.complete and not result.dry_run
    counters = await all_counters()
    assert {c.n for c in counters.values()} == {1}
    raw = await dynorm_connection.call("GetItem", {"TableName": "counters",
                                                   "Key": {"id": {"S": "c00007"}}})
    assert raw["Item"][MARKER] == {"SS": ["bump-1"]}

    again = await migration.run()          # finished: its result, nothing done
    assert (again.changed, again.complete) == (120, True)
    assert {c.n for c in (await all_counters()).values()} == {1}
    # The same change under another id runs again (a new migration).
    await Migration("bump-2", Counter, bump).run()
    assert {c.n for c in (await all_counters()).values()} == {2}


async def test_dry_run_counts_and_writes_nothing(dynorm_connection: Connection) -> None:
    await fill(30)
    result = await Migration("dry", Counter, lambda c: bump(c) if c.id < "c00010" else None
                             ).run(dry_run=True)
    assert (result.seen, result.changed, result.skipped) == (30, 10, 20)
    assert result.reasons == {"no change": 20} and result.dry_run
    assert {c.n for c in (await all_counters()).values()} == {0}
    assert await MigrationCheckpoints().load("dry") == []


async def test_skips_and_failures_are_counted_with_reasons(
        dynorm_connection: Connection) -> None:
    await fill(8)
    await dynorm_connection.call("PutItem", {"TableName": "counters", "Item": {
        "id": {"S": "bad"}, "n": {"S": "not a number"}}})

    def change(counter: Counter) -> Counter | None:
        if counter.id == "c00000":
            raise RuntimeError("boom")
        if counter.id == "c00001":
            return Counter(id="elsewhere")          # a new key: refused
        if counter.id in ("c00002", "c00003"):
            return None
        return bump(counter)

    result = await Migration("mixed", Counter, change).run()
    assert (result.seen, result.changed, result.skipped, result.failed) == (9, 4, 2, 3)
    assert result.reasons == {"no change": 2, "the change raised RuntimeError": 1,
                              "the change changed the key": 1, "does not fit the model": 1}
    reasons = {f.key["id"]["S"]: f.reason for f in result.failures}
    assert reasons["c00000"] == "the change raised RuntimeError: boom"
    assert "the migration changed the key 'id'" in reasons["c00001"]
    assert reasons["bad"].startswith("does not fit the model: item in table 'counters'")
    await dynorm_connection.call("DeleteItem", {"TableName": "counters",
                                                "Key": {"id": {"S": "bad"}}})
    counters = await all_counters()
    assert [c.n for _, c in sorted(counters.items())] == [0, 0, 0, 0, 1, 1, 1, 1]


async def test_a_concurrent_write_is_not_lost(dynorm_connection: Connection) -> None:
    await fill(3)
    calls: list[int] = []

    async def change(counter: Counter) -> Counter:
        calls.append(counter.n)
        if counter.id == "c00001" and len(calls) <= 3:
            # Someone else writes the item between the migration's read and write.
            await dynorm_connection.call("UpdateItem", {
                "TableName": "counters", "Key": {"id": {"S": "c00001"}},
                "UpdateExpression": "SET n = n + :ten, extra = :x",
                "ExpressionAttributeValues": {":ten": {"N": "10"}, ":x": {"S": "kept"}}})
        return bump(counter)

    result = await Migration("race", Counter, change).run(segments=1)
    assert (result.changed, result.failed) == (3, 0)
    stored = await dynorm_connection.call("GetItem", {"TableName": "counters",
                                                      "Key": {"id": {"S": "c00001"}}})
    assert stored["Item"]["n"] == {"N": "11"}           # 0 + 10 (theirs) + 1 (ours)
    assert stored["Item"]["extra"] == {"S": "kept"}     # not the model's: untouched


async def test_an_interrupted_run_resumes_where_it_stopped(
        dynorm_connection: Connection) -> None:
    await fill(200)
    migration = Migration("resumable", Counter, bump)
    seen: list[int] = []

    class Crash(Exception):
        pass

    def progress(p: Any) -> None:
        seen.append(p.seen)
        if p.seen >= 60:
            raise Crash  # stands for a crash after some pages

    with pytest.raises(Crash):
        await migration.run(segments=2, page_size=20, progress=progress)
    with pytest.raises(MigrationError, match=r"has saved progress .* resume=True"):
        await migration.run()
    result = await migration.run(resume=True, segments=7)   # keeps the saved 2 segments
    assert result.complete and result.seen == 200
    assert result.changed + result.reasons.get("already migrated", 0) == 200
    assert {c.n for c in (await all_counters()).values()} == {1}
    states = await MigrationCheckpoints().load("resumable")
    assert [(s.segment, s.segments, s.done) for s in states] == [(0, 2, True), (1, 2, True)]


class Ticket(Model, table="tickets", entity="TICKET"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    owner: str
    version: Annotated[int, Version] = 0


class TicketWithIndex(Model, table="tickets", entity="TICKET"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    owner: str
    version: Annotated[int, Version] = 0
    by_owner = GlobalIndex(KeyTemplate("OWNER#{owner}", attribute="gsi1pk"))


class Note(Model, table="tickets", entity="NOTE"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    text: str = ""


async def test_a_derived_key_backfill_of_one_entity(dynorm_connection: Connection) -> None:
    from dynorm.tables import apply, plan

    await apply(await plan(Ticket, Note))
    for i in range(10):
        await Ticket(pk=f"T#{i}", sk="A", owner=f"o{i % 2}").save()
        await Note(pk=f"T#{i}", sk="N", text="x").save()
    await apply(await plan(TicketWithIndex, Note), poll_interval=0.05)
    assert await TicketWithIndex.by_owner.query(TicketWithIndex.owner == "o1").count() == 0

    result = await Migration("gsi1", TicketWithIndex, lambda t: t).run()
    assert (result.seen, result.changed) == (10, 10)     # the notes are not its items
    assert await TicketWithIndex.by_owner.query(TicketWithIndex.owner == "o1").count() == 5
    ticket = await TicketWithIndex.get("T#3", "A")
    assert ticket.version == 2                           # bumped: lockers see the change
    note = await Note.get("T#3", "N")
    assert note.text == "x"


async def test_the_rate_limit_spreads_the_writes(dynorm_connection: Connection) -> None:
    await fill(40)
    started = time.monotonic()
    result = await Migration("slow", Counter, bump).run(rate=40.0, segments=1)
    assert result.changed == 40
    # 40 writes of at least 0.5 units each, and the scan, at 40 units/s
    assert time.monotonic() - started >= 0.45


MODULE = """
from typing import Annotated
from dynorm import Model, PartitionKey
from dynorm.migrate import Migration

class Counter(Model, table="counters"):
    id: Annotated[str, PartitionKey]
    n: int = 0
    note: str = ""

def bump(counter):
    counter.n += 1
    counter.note = "migrated"
    return counter

bump_all = Migration("bump-kill", Counter, bump)
"""


def test_sigkill_twice_then_resume_changes_every_item_exactly_once(
        dynorm_server: LocalServer, tmp_path: Path) -> None:
    pytest.importorskip("typer", reason="the migration runs through the dynorm command")
    dynorm_server.reset()
    (tmp_path / "kill_models.py").write_text(textwrap.dedent(MODULE))

    async def setup() -> None:
        async with dynorm_server.connect():
            await fill(KILL_ITEMS)

    async def progress() -> int:
        async with dynorm_server.connect():
            try:
                states = await MigrationCheckpoints(create=False).load("bump-kill")
            except dynorm.TableNotFound:
                return 0
            return sum(s.counts["seen"] for s in states)

    asyncio.run(setup())
    env = {**os.environ, "DYNORM_ENDPOINT_URL": dynorm_server.endpoint_url,
           "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-m", "dynorm.cli", "migrate", "kill_models:bump_all",
               "--segments", "4", "--page-size", "25", "--resume"]
    rng = random.Random()
    killed_at = []
    for low, high in ((0.1, 0.4), (0.5, 0.8)):
        target = int(KILL_ITEMS * rng.uniform(low, high))
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 600
        while asyncio.run(progress()) < target:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        killed_at.append(asyncio.run(progress()))
    assert killed_at[0] < KILL_ITEMS and killed_at[1] < KILL_ITEMS

    final = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=900)
    assert final.returncode == 0, final.stderr
    summary = final.stdout.splitlines()
    assert summary[-2].startswith(f"migration bump-kill (complete): seen {KILL_ITEMS}, ")
    changed = int(summary[-2].split("changed ")[1].split(",")[0])
    already = int(summary[-1].split()[0]) if "already migrated" in summary[-1] else 0
    assert changed + already == KILL_ITEMS
    print(f"killed after {killed_at} items; the resumed run: {summary[-2:]}")  # for -s

    async def check() -> dict[str, Any]:
        async with dynorm_server.connect() as connection:
            counters = await all_counters()
            raw = await connection.call("Scan", {"TableName": "counters"})
            return {"n": {c.id: c.n for c in counters.values()},
                    "marked": sum(MARKER in item for item in raw["Items"])}

    found = asyncio.run(check())
    assert len(found["n"]) == KILL_ITEMS
    wrong = {k: v for k, v in found["n"].items() if v != 1}
    assert wrong == {}, f"{len(wrong)} items changed other than once: {list(wrong)[:10]}"
