"""The stream listener against the moto server: typed events, checkpoints, leases, poison."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

import pytest

from dynorm import Connection, Model, PartitionKey, SortKey, ValidationFailed
from dynorm.streams import (
    ChangeEvent,
    FailedRecord,
    StreamListener,
    StreamNotEnabled,
    TableCheckpoints,
)

FAST: dict[str, Any] = {"poll_interval": 0.05, "describe_interval": 0.2}


class Player(Model, table="players"):
    player_id: Annotated[str, PartitionKey]
    name: str
    level: int = 1


class Match(Model, table="matches"):
    game: Annotated[str, PartitionKey]
    round: Annotated[int, SortKey]
    winner: str = ""


async def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def run_until(listener: StreamListener, check: Callable[[], bool],
                    timeout: float = 10.0) -> None:
    task = asyncio.create_task(listener.run())
    try:
        await wait_until(lambda: check() or task.done(), timeout)
        if task.done():
            task.result()
    finally:
        listener.stop()
        await asyncio.wait_for(task, 10)


async def test_insert_modify_remove_arrive_typed(dynorm_connection: Connection) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    await Match.create_table(stream="NEW_AND_OLD_IMAGES")
    listener = StreamListener(Player, **FAST)
    events: list[ChangeEvent[Player]] = []
    inserts: list[ChangeEvent[Match]] = []

    @listener.on(Player)
    async def everything(event: ChangeEvent[Player]) -> None:
        events.append(event)

    @listener.on(Match, "insert")
    async def match_inserted(event: ChangeEvent[Match]) -> None:
        inserts.append(event)

    p = await Player(player_id="p1", name="Ada").save()
    await p.update(Player.level.add(2))
    await p.delete()
    await Match(game="chess", round=1, winner="p1").save()
    await Match(game="chess", round=1, winner="p2").save()  # a modify: not subscribed
    await run_until(listener, lambda: len(events) == 3 and len(inserts) == 1)

    insert, modify, remove = events
    assert insert.kind == "insert" and insert.old is None
    assert insert.new == Player(player_id="p1", name="Ada", level=1)
    assert modify.kind == "modify"
    assert modify.old is not None and modify.old.level == 1
    assert modify.new is not None and modify.new.level == 3
    assert remove.kind == "remove" and remove.new is None
    assert remove.old is not None and remove.old.level == 3
    assert all(e.keys == {"player_id": "p1"} and e.model is Player for e in events)
    assert int(insert.sequence_number) < int(modify.sequence_number) < int(
        remove.sequence_number)
    assert insert.approximate_creation_time.tzinfo is not None
    assert insert.table == "players" and insert.shard_id
    assert inserts[0].keys == {"game": "chess", "round": 1}
    assert isinstance(inserts[0].new, Match) and inserts[0].new.winner == "p1"
    assert listener.metrics.events_handled >= 4
    assert listener.metrics.lag_seconds >= 0


async def test_table_without_stream_is_a_clear_error(dynorm_connection: Connection) -> None:
    await Player.create_table()
    listener = StreamListener(Player, **FAST)
    with pytest.raises(StreamNotEnabled, match=r"players.*has no stream"):
        await asyncio.wait_for(listener.run(), 5)


async def test_restart_from_table_checkpoints_delivers_each_change_once(
    dynorm_connection: Connection,
) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    store = TableCheckpoints("stream-checkpoints")
    seen: list[str] = []

    def make() -> StreamListener:
        listener = StreamListener(Player, checkpoints=store, batch_size=2, **FAST)

        @listener.on(Player, "insert")
        async def record(event: ChangeEvent[Player]) -> None:
            assert event.new is not None
            seen.append(event.new.player_id)

        return listener

    for i in range(5):
        await Player(player_id=f"a{i}", name="x").save()
    await run_until(make(), lambda: len(seen) == 5)
    for i in range(5):
        await Player(player_id=f"b{i}", name="x").save()
    await run_until(make(), lambda: len(seen) == 10)
    await asyncio.sleep(0.3)  # nothing more may come
    assert seen == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]


async def test_failed_handler_is_retried_then_restart_redelivers(
    dynorm_connection: Connection,
) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    store = TableCheckpoints("stream-checkpoints")
    calls: list[str] = []
    failures: list[FailedRecord] = []
    broken = {"p2"}

    def make() -> StreamListener:
        listener = StreamListener(Player, checkpoints=store, **FAST)

        @listener.on(Player, "insert", retries=2, backoff=0.01)
        async def flaky(event: ChangeEvent[Player]) -> None:
            assert event.new is not None
            calls.append(event.new.player_id)
            if event.new.player_id in broken:
                raise RuntimeError("downstream is down")

        listener.on_error(failures.append)
        return listener

    for name in ("p1", "p2", "p3"):
        await Player(player_id=name, name=name).save()
    first = make()
    await run_until(first, lambda: len(failures) == 1)
    assert calls == ["p1", "p2", "p2", "p2"]  # p2 tried 3 times, shard stopped, p3 not read
    assert failures[0].reason == "handler" and failures[0].stopped
    assert failures[0].keys == {"player_id": {"S": "p2"}} and failures[0].attempts == 3
    assert first.metrics.handler_errors == 3
    broken.clear()
    await run_until(make(), lambda: calls[-1:] == ["p3"])
    assert calls == ["p1", "p2", "p2", "p2", "p2", "p3"]  # at least once: p2 again


async def test_dead_letter_policy_goes_on(dynorm_connection: Connection) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    listener = StreamListener(Player, **FAST)
    handled: list[str] = []
    dead: list[FailedRecord] = []

    @listener.on(Player, "insert", retries=1, backoff=0.01, on_failure="dead_letter")
    async def picky(event: ChangeEvent[Player]) -> None:
        assert event.new is not None
        if event.new.name == "bad":
            raise ValueError("no")
        handled.append(event.new.player_id)

    @listener.on_error
    async def dead_letter(failure: FailedRecord) -> None:
        dead.append(failure)

    await Player(player_id="p1", name="bad").save()
    await Player(player_id="p2", name="good").save()
    await run_until(listener, lambda: handled == ["p2"])
    assert [f.sequence_number for f in dead] and dead[0].handler is not None
    assert "picky" in dead[0].handler and not dead[0].stopped
    assert listener.metrics.dead_lettered == 1


async def test_poison_record_goes_to_error_hook_and_listener_goes_on(
    dynorm_connection: Connection,
) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    listener = StreamListener(Player, **FAST)
    handled: list[str] = []
    errors: list[FailedRecord] = []
    listener.on_error(errors.append)

    @listener.on(Player)
    async def handle(event: ChangeEvent[Player]) -> None:
        handled.append(event.keys["player_id"])

    await dynorm_connection.call("PutItem", {
        "TableName": dynorm_connection.table_name("players"),
        "Item": {"player_id": {"S": "poison"}, "level": {"S": "not a number"}},
    })
    await Player(player_id="ok", name="fine").save()
    await run_until(listener, lambda: handled == ["ok"])
    assert len(errors) == 1
    error = errors[0]
    assert error.reason == "invalid" and isinstance(error.error, ValidationFailed)
    assert error.table == "players" and error.keys == {"player_id": {"S": "poison"}}
    assert error.model is Player and error.event is None
    assert listener.metrics.invalid_records == 1


class _Tracker:
    """Which worker is inside a handler for which shard, to catch overlaps."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}
        self.by_worker: dict[str, list[str]] = {}
        self.overlaps: list[str] = []

    def subscribe(self, listener: StreamListener) -> None:
        for model in (Player, Match):
            listener.on(model)(self.handler(listener.owner))

    def handler(self, worker: str) -> Any:
        async def handle(event: ChangeEvent[Any]) -> None:
            shard = f"{event.table}/{event.shard_id}"
            other = self.active.get(shard)
            if other is not None and other != worker:
                self.overlaps.append(shard)
            self.active[shard] = worker
            await asyncio.sleep(0.01)
            self.active.pop(shard, None)
            self.by_worker.setdefault(worker, []).append(str(event.keys))

        return handle

    def count(self) -> int:
        return sum(len(v) for v in self.by_worker.values())


async def test_two_workers_share_shards_and_take_over(dynorm_connection: Connection) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    await Match.create_table(stream="NEW_AND_OLD_IMAGES")
    store = TableCheckpoints("stream-leases")
    tracker = _Tracker()
    options: dict[str, Any] = {"checkpoints": store, "lease_duration": 1.0, **FAST}
    a = StreamListener(Player, Match, owner="worker-a", **options)
    b = StreamListener(Player, Match, owner="worker-b", **options)
    tracker.subscribe(a)
    tracker.subscribe(b)
    task_a = asyncio.create_task(a.run())
    await asyncio.sleep(0.3)
    task_b = asyncio.create_task(b.run())
    try:
        for i in range(4):
            await Player(player_id=f"p{i}", name="x").save()
            await Match(game="go", round=i).save()
        await wait_until(lambda: tracker.count() == 8, 15)
        # Balanced: each worker ends up with one of the two shards.
        await wait_until(lambda: len(a._readers) == 1 and len(b._readers) == 1, 15)
        # Worker a dies (no graceful release): b takes its shard after the lease expires.
        task_a.cancel()
        await asyncio.wait_for(asyncio.gather(task_a, return_exceptions=True), 10)
        await Player(player_id="late", name="x").save()
        await Match(game="go", round=99).save()
        await wait_until(lambda: tracker.count() == 10, 15)
        # b holds both shards (waited for: on a loaded machine a renewal of b's own
        # 1-second lease can come late, and b then re-takes that shard a moment later)
        await wait_until(lambda: len(b._readers) == 2, 15)
    finally:
        b.stop()
        await asyncio.wait_for(task_b, 10)
    assert tracker.overlaps == []
    keys = [k for v in tracker.by_worker.values() for k in v]
    assert len(keys) == len(set(keys)) == 10  # no duplicates when handlers succeed


async def test_stopped_worker_hands_its_shard_over(dynorm_connection: Connection) -> None:
    await Player.create_table(stream="NEW_AND_OLD_IMAGES")
    store = TableCheckpoints("stream-leases")
    tracker = _Tracker()
    options: dict[str, Any] = {"checkpoints": store, "lease_duration": 1.0, **FAST}
    a = StreamListener(Player, owner="worker-a", **options)
    b = StreamListener(Player, owner="worker-b", **options)
    for listener in (a, b):
        listener.on(Player)(tracker.handler(listener.owner))
    await Player(player_id="first", name="x").save()
    task_a = asyncio.create_task(a.run())
    await wait_until(lambda: tracker.count() == 1)
    task_b = asyncio.create_task(b.run())
    await asyncio.sleep(0.3)
    assert len(b._readers) == 0  # one shard, held by a
    a.stop()
    await asyncio.wait_for(task_a, 10)
    await Player(player_id="second", name="x").save()
    try:
        await wait_until(lambda: tracker.count() == 2, 10)
    finally:
        b.stop()
        await asyncio.wait_for(task_b, 10)
    assert tracker.by_worker == {"worker-a": ["{'player_id': 'first'}"],
                                 "worker-b": ["{'player_id': 'second'}"]}
