"""Failover and fail-back with two real servers standing for two Regions.

"us-east-1" is the session's server behind a FaultProxy; "us-west-2" is a second server
(on moto the same server: moto keeps each Region's tables apart; DynamoDB Local keeps one
database for all Regions, so a second DynamoDB Local is started). Mid-run the primary is
killed: for a moment its proxy cuts every answer after the server applied the request
(the client cannot know), then the proxy goes away (connections refused); later it comes back
on the same port. Every operation must end as succeeded, failed (certainly not applied)
or ambiguous, and the servers must agree: a succeeded write is in exactly one Region
(a write retried in a second Region after being applied in the first would be in both),
a failed one in none. Fail-back must have happened and writes reached the primary again.

``DYNORM_FAILOVER_OPS`` sets the number of operations (in CI 300 on moto, 200 on DynamoDB
Local, whose second server starts cold; the issue's run: 2000).
Both transports on moto; the fast one on other servers (CI time).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Annotated

import pytest

import dynorm
from dynorm import (
    FailoverPolicy,
    LocalServer,
    Model,
    PartitionKey,
    RetryPolicy,
    ServiceError,
    TransportError,
    Version,
)
from dynorm.exceptions import may_have_applied
from tests.support.backend import BACKEND
from tests.support.fault_proxy import FaultConfig, FaultProxy

OPS = int(os.environ.get("DYNORM_FAILOVER_OPS", "300" if BACKEND == "moto" else "200"))
EAST, WEST = "us-east-1", "us-west-2"


class Ticket(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    seat: int = 0
    version: Annotated[int, Version] = 0   # a new item's put is conditional


async def _table_on(server: LocalServer, region: str) -> None:
    async with server.connect(region=region):
        await Ticket.create_table()


async def _stored(server: LocalServer, region: str, keys: list[str]) -> set[str]:
    async with server.connect(region=region):
        found = await dynorm.get_many(Ticket, keys)
    return {t.ticket_id for t in found if t is not None}


@pytest.mark.parametrize("transport", ["fast", "aioboto3"] if BACKEND == "moto" else ["fast"])
async def test_failover_and_failback_lose_nothing(dynorm_server: LocalServer,
                                                  west_server: LocalServer,
                                                  transport: str) -> None:
    dynorm_server.reset()
    if west_server is not dynorm_server:
        west_server.reset()
    await _table_on(dynorm_server, EAST)
    await _table_on(west_server, WEST)
    proxy = await FaultProxy(dynorm_server.endpoint_url, FaultConfig(seed=22),
                             shutdown_timeout=0.05).start()
    port = proxy.port
    events: list[str] = []
    policy = FailoverPolicy(failures=3, window=2.0, probe_interval=0.05,
                            on_event=lambda e: events.append(f"{e.kind} {e.region}"))
    outcome: dict[str, str] = {}
    reads = {"ok": 0, "failed": 0}
    rng = random.Random(22)
    kill_at, back_at = OPS // 4, OPS // 2
    dead_at = kill_at + 15
    started = asyncio.Event()
    after_back: list[str] = []

    async def write(i: int) -> None:
        key = f"t{i:05d}"
        try:
            await Ticket(ticket_id=key, seat=i).save()
        except TransportError as error:
            outcome[key] = "ambiguous" if error.sent else "failed"
        except ServiceError as error:
            outcome[key] = "ambiguous" if may_have_applied(error) else "failed"
        else:
            outcome[key] = "ok"
            if i > back_at:
                after_back.append(key)

    async def read() -> None:
        done = [k for k, v in outcome.items() if v == "ok"]
        try:
            await Ticket.find_one(rng.choice(done) if done else "t00000")
        except (TransportError, ServiceError):
            reads["failed"] += 1
        else:
            reads["ok"] += 1

    async with dynorm.connect(regions=[EAST, WEST], endpoints={
            EAST: proxy.url, WEST: west_server.endpoint_url}, failover=policy,
            transport=transport,
            retry=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)) as conn:
        router = conn.router
        assert router is not None
        pending: set[asyncio.Task[None]] = set()
        for i in range(OPS):
            if i == kill_at:   # the primary is dying: writes applied, answers cut
                proxy.config.drop_after_rate = 1.0
                proxy.config.fault_operations = frozenset({"PutItem"})
            if i == dead_at:   # then it is gone: connections refused
                await proxy.stop()
                started.set()
            if i == back_at:
                proxy = await FaultProxy(dynorm_server.endpoint_url, FaultConfig(),
                                         port=port, shutdown_timeout=0.05).start()
                for _ in range(200):   # the probe notices within a few intervals
                    if router.healthy(EAST):
                        break
                    await asyncio.sleep(0.02)
            task = asyncio.ensure_future(read() if i % 5 == 4 else write(i))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if len(pending) >= 8:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)
    await proxy.stop()

    keys = sorted(outcome)
    east = await _stored(dynorm_server, EAST, keys)
    west = await _stored(west_server, WEST, keys)
    counts = {kind: sum(1 for v in outcome.values() if v == kind)
              for kind in ("ok", "failed", "ambiguous")}
    print(f"\n{OPS} ops: writes {counts}, reads {reads}, east {len(east)}, "
          f"west {len(west)}, events {events}")
    for key, result in outcome.items():
        where = (key in east) + (key in west)
        if result == "ok":
            assert where == 1, f"{key}: succeeded, found in {where} Regions"
        elif result == "failed":
            assert where == 0, f"{key}: reported not applied, but stored"
        else:
            assert where <= 1, f"{key}: ambiguous, stored in both Regions"
    assert len(outcome) == OPS - OPS // 5
    assert counts["ok"] >= len(outcome) * 0.8
    assert events[:1] == [f"failover {EAST}"] and f"failback {EAST}" in events
    assert west - east, "no write went to the second Region during the outage"
    assert after_back and set(after_back) & east, "writes did not fail back to us-east-1"
    assert started.is_set()

