"""Last-writer-wins with origin stamps, on two servers standing for two Regions joined by
a *simulated* replication (tests/support/replication.py says what is simulated).

It checks what the origin stamp is for: a write made in one Region reaches the other
with its stamp, the copy is not copied back (echo skipping), a stream consumer per Region
that skips echoes handles each change once, and concurrent writes of one item converge
on the later one -- including the pitfall docs/multi-region.md describes: both Regions
accept a version-checked update of the same version, and one is lost without an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated

import dynorm
from dynorm import LocalServer, Model, PartitionKey, Version, attr, is_echo, origin_of
from dynorm.streams import ChangeEvent, StreamListener
from tests.support.replication import Replicator

EAST, WEST = "us-east-1", "us-west-2"


class Seat(Model, table="lww_seats"):
    seat_id: Annotated[str, PartitionKey]
    holder: str = ""
    version: Annotated[int, Version] = 0


async def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def holder_in(server: LocalServer, region: str, seat: str) -> tuple[str, str] | None:
    async with server.connect(region=region):
        found = await Seat.find_one(seat, consistent=True)
        if found is None:
            return None
        raw = await dynorm.get_connection().call("GetItem", {
            "TableName": Seat.table_name(), "Key": {"seat_id": {"S": seat}},
            "ConsistentRead": True})
    origin = origin_of(raw["Item"])
    return found.holder, origin.region if origin else ""


async def test_replicated_writes_carry_their_origin_and_converge(
        dynorm_server: LocalServer, west_server: LocalServer) -> None:
    dynorm_server.reset()
    if west_server is not dynorm_server:
        west_server.reset()
    for server, region in ((dynorm_server, EAST), (west_server, WEST)):
        async with server.connect(region=region):
            await Seat.create_table(stream="NEW_AND_OLD_IMAGES")

    def east() -> dynorm.Connection:   # the application in us-east-1: stamps its writes
        return dynorm_server.connect(region=EAST, origin=True)

    def west() -> dynorm.Connection:
        return west_server.connect(region=WEST, origin=True)

    # Concurrent writes of s1 before replication runs: a version-checked update of
    # version 1 succeeds in both Regions (each checks its own replica only).
    async with east():
        await Seat(seat_id="s1", holder="nobody").save()
    await asyncio.sleep(0.005)   # stamps in milliseconds: keep the writes apart
    async with west():
        await Seat(seat_id="s1", holder="nobody").save()
    await asyncio.sleep(0.005)
    async with east():
        ada = await Seat.get("s1")
        await ada.update(attr(Seat.holder).set("ada"))
    await asyncio.sleep(0.01)   # the later write: bob's, in us-west-2
    async with west():
        bob = await Seat.get("s1")
        await bob.update(attr(Seat.holder).set("bob"))
        await Seat(seat_id="s2", holder="cy").save()
    async with east():
        await Seat(seat_id="s3", holder="di").save()

    handled: dict[str, list[str]] = {EAST: [], WEST: []}
    regions = ((dynorm_server, EAST), (west_server, WEST))
    consumers = [_Consumer(region, handled[region]) for _, region in regions]
    tasks = [asyncio.create_task(c.run_in(server, region))
             for c, (server, region) in zip(consumers, regions, strict=True)]
    # the replication's own connections: no origin=, copies keep the writer's stamp
    async with dynorm_server.connect(region=EAST) as east_copies, west_server.connect(
            region=WEST) as west_copies:
        to_west = Replicator(Seat, dynorm_server, EAST, west_copies)
        to_east = Replicator(Seat, west_server, WEST, east_copies)
        async with to_west, to_east:
            # us-east-1's stream holds bob's and cy's copies, us-west-2's di's copy
            await wait_until(lambda: to_west.echoes >= 2 and to_east.echoes >= 1)
            await wait_until(lambda: len(handled[EAST]) >= 3 and len(handled[WEST]) >= 3)
    for consumer in consumers:
        consumer.listener.stop()
    await asyncio.gather(*tasks)

    # both Regions hold bob's later write of s1, each copy stamped where it was written
    assert await holder_in(dynorm_server, EAST, "s1") == ("bob", WEST)
    assert await holder_in(west_server, WEST, "s1") == ("bob", WEST)
    assert await holder_in(dynorm_server, EAST, "s2") == ("cy", WEST)
    assert await holder_in(west_server, WEST, "s3") == ("di", EAST)
    # ada's update was accepted (no error) and is gone: the MREC pitfall; her copy (and
    # the earlier "nobody" of each Region) lost to the later write in the other Region
    assert (to_west.copied, to_west.superseded) == (1, 2)     # di; nobody, ada
    assert (to_east.copied, to_east.superseded) == (2, 1)     # bob, cy; nobody
    # copies were not copied back: each Region's stream saw the other's copies as echoes
    assert (to_west.echoes, to_east.echoes) == (2, 1)
    # consumers skipping echoes handled each Region's own changes only, once
    assert sorted(handled[EAST]) == ["s1 ada", "s1 nobody", "s3 di"]
    assert sorted(handled[WEST]) == ["s1 bob", "s1 nobody", "s2 cy"]


class _Consumer:
    """A stream consumer of one Region that skips echoes."""

    def __init__(self, region: str, seen: list[str]) -> None:
        self.listener = StreamListener(Seat, poll_interval=0.05, describe_interval=0.2)

        @self.listener.on(Seat, "insert", "modify")
        async def handle(event: ChangeEvent[Seat]) -> None:
            if is_echo(event, region):
                return
            assert event.new is not None
            seen.append(f"{event.new.seat_id} {event.new.holder}")

    async def run_in(self, server: LocalServer, region: str) -> None:
        async with server.connect(region=region):
            await self.listener.run()
