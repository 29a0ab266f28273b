"""5,000-item batch write and read through 30% injected faults: nothing lost, nothing extra.

The proxy (tests/support/fault_proxy.py) answers 30% of BatchWriteItem/BatchGetItem calls
with a fault spread over seven kinds (throttling, provisioned throughput, 500, 503, the
connection cut before or *after* forwarding, a delay) and on top withholds 10% of the
entries of the calls it forwards as UnprocessedItems/UnprocessedKeys. Seeded: a failure
replays. One transport (fast): the batch logic above the transport is the same for both.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

import pytest

from dynorm import LocalServer, Model, PartitionKey, RetryPolicy, SortKey
from dynorm.read.batch_get import BatchGetFailed, get_many
from dynorm.write.batch import BatchWriteFailed, batch
from tests.support.fault_proxy import FaultConfig, faulty_connection
from tests.support.figures import record

BATCH_OPS = frozenset({"BatchWriteItem", "BatchGetItem"})


class Sample(Model, table="fb_samples"):
    probe: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    value: Decimal
    label: str = ""
    tags: set[str] = set()


def samples(n: int) -> list[Sample]:
    return [Sample(probe=f"p{i % 97}", seq=i, value=Decimal(i) / 7,
                   label="x" * (i % 50), tags={f"t{i % 5}"} if i % 3 else set())
            for i in range(n)]


def ident(s: Sample) -> tuple[str, int]:
    return s.probe, s.seq


async def stored(items: list[Sample]) -> list[Sample | None]:
    """What the server holds for each item (one Scan: much cheaper than reads on moto)."""
    table = {ident(s): s async for s in Sample.scan()}
    return [table.get(ident(s)) for s in items]


async def test_5000_items_through_30_percent_faults(dynorm_server: LocalServer) -> None:
    items = samples(5000)
    config = FaultConfig.mixed(0.30, seed=20240901, operations=BATCH_OPS,
                               unprocessed_rate=0.10)
    started = time.monotonic()
    async with faulty_connection(dynorm_server, config, [Sample], max_attempts=3) as (proxy, _):
        patient = RetryPolicy(max_attempts=31, base_delay=0.001, max_delay=0.02)
        async with batch(retry=patient) as b:
            for s in items:
                b.save(s)
        assert b.written == 5000
        writes = dict(proxy.stats.faults)
        found = await get_many(Sample, [ident(s) for s in items], retry=patient)
        stats = proxy.stats
        faults = sum(stats.faults.values())
        # The faults really happened, of every kind, at about the rate asked.
        assert all(v > 0 for v in stats.faults.values()), stats.summary()
        assert 0.22 < faults / stats.requests < 0.38, stats.summary()
        assert stats.unprocessed_writes > 300 and stats.unprocessed_keys > 300
        assert proxy.applied_unseen  # some writes happened although the client saw none
    assert found == items  # read through the faults: every item, exactly as written
    # And straight from the server, no proxy: every item present exactly as written.
    async with dynorm_server.connect(transport="fast"):
        assert await stored(items) == items
        assert await Sample.scan().count() == 5000  # nothing extra, nothing twice
    record("batch_5000", proxy, items_written=5000, items_verified=5000, items_lost=0,
           write_faults=writes, seconds=round(time.monotonic() - started, 2))


async def test_spent_budget_names_exactly_the_unwritten_items(
        dynorm_server: LocalServer) -> None:
    """Faults that never apply a write (throttling, 503, cut before forwarding) plus a few
    items withheld every time: the error names exactly the items that are not stored."""
    items = samples(600)
    stuck = {ident(s) for s in items[::97]}

    def always(table: str, entry: dict[str, Any]) -> bool:
        return (entry["probe"]["S"], int(entry["seq"]["N"])) in stuck

    config = FaultConfig(seed=5, throttling_rate=0.1, unavailable_rate=0.1,
                         drop_before_rate=0.1, unprocessed=always, unprocessed_rate=0.05,
                         fault_operations=BATCH_OPS)
    async with faulty_connection(dynorm_server, config, [Sample], max_attempts=2) as (proxy, _):
        with pytest.raises(BatchWriteFailed) as info:
            brief = RetryPolicy(max_attempts=7, base_delay=0.001, max_delay=0.004)
            async with batch(retry=brief) as b:
                for s in items:
                    b.save(s)
        failed = {(f.key["probe"]["S"], int(f.key["seq"]["N"])) for f in info.value.failed}
        with pytest.raises(BatchGetFailed) as get_info:
            await get_many(Sample, [ident(s) for s in items],
                           retry=RetryPolicy(max_attempts=7, base_delay=0.001))
        missing = {(k["probe"]["S"], int(k["seq"]["N"])) for _, k in get_info.value.missing}
        summary = proxy.stats.summary()
    async with dynorm_server.connect(transport="fast"):
        on_server = await stored(items)
    absent = {ident(s) for s, got in zip(items, on_server, strict=True) if got is None}
    assert stuck <= failed, summary
    assert failed == absent  # exactly the unwritten items, no more, no fewer
    # (A write whose last attempt hit a cut connection is flagged uncertain: the client
    # cannot tell a cut before forwarding from one after. Here none was made.)
    assert info.value.written == len(items) - len(absent)
    assert all(got == s for s, got in zip(items, on_server, strict=True) if got is not None)
    # withheld reads are always named; which other keys run out of retries under random
    # faults depends on arrival order (concurrent chunks), so only containment is exact
    assert stuck <= missing <= {ident(s) for s in items}, summary
    record("batch_budget_spent", proxy, items_tried=len(items), named_unwritten=len(failed),
           items_lost=0)


async def test_lost_answers_are_flagged_uncertain(dynorm_server: LocalServer) -> None:
    """With no budget (1 attempt, 0 rounds) and connections cut before or after
    forwarding, the error marks the writes whose answer was lost as uncertain (a cut
    connection looks the same either way: some were made, some not); every other named
    write is really absent and every write not named is present."""
    items = samples(250)
    config = FaultConfig(seed=11, drop_after_rate=0.3, drop_before_rate=0.2,
                         fault_operations=BATCH_OPS)
    async with faulty_connection(dynorm_server, config, [Sample], max_attempts=1) as (proxy, _):
        with pytest.raises(BatchWriteFailed) as info:
            # Every chunk of 25 at once, each on a new connection: a connection cut after
            # an earlier call on it is taken for a stale kept-alive one, and the HTTP
            # client sends the chunk again (harmless for puts) with another draw of the
            # proxy's faults, so which chunks failed would depend on timing (1 run in ~20
            # failed when a chunk cut after it was applied was resent and reported written)
            async with batch(retry=RetryPolicy(max_attempts=1), concurrency=10) as b:
                for s in items:
                    b.save(s)
    async with dynorm_server.connect(transport="fast"):
        on_server = dict(zip(map(ident, items), await stored(items), strict=True))
    named = {(f.key["probe"]["S"], int(f.key["seq"]["N"])): f for f in info.value.failed}
    assert proxy.stats.faults["drop_after"] and proxy.stats.faults["drop_before"]
    for s in items:
        failure = named.get(ident(s))
        if failure is None:
            assert on_server[ident(s)] == s  # reported written: it is
        elif failure.uncertain:
            assert "may have been made" in str(failure)
        else:
            assert on_server[ident(s)] is None  # reported unwritten for sure: it is not
    made_unseen = {(e["PutRequest"]["Item"]["probe"]["S"], int(e["PutRequest"]["Item"]["seq"]["N"]))
                   for _, payload in proxy.applied_unseen
                   for entries in payload["RequestItems"].values() for e in entries}
    assert proxy.stats.requests == 10  # nothing sent twice: 10 chunks, 4 of them cut
    assert made_unseen and all(named[k].uncertain for k in made_unseen)
    uncertain = {k for k, f in named.items() if f.uncertain}
    assert {k for k in uncertain if on_server[k] is not None} == made_unseen
    assert any(on_server[k] is None for k in uncertain)  # cut before: not made
