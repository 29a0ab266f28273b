"""Rate limits on consumed capacity (issue 24): the token bucket's arithmetic on a fake
clock (waits, debt, burst, throttling and recovery), and what a limited connection
sends and counts (MockTransport)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import MockTransport, Model, PartitionKey, RetryPolicy
from dynorm.exceptions import Throttled
from dynorm.observe.limits import FLOOR, RECOVERY, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 9))
        self.now += seconds


def bucket(rate: float, **kw: Any) -> tuple[TokenBucket, Clock]:
    clock = Clock()
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kw), clock


async def test_debt_is_paid_back_at_the_rate() -> None:
    b, clock = bucket(10)
    await b.acquire()  # starts empty, not in debt: no wait
    b.spend(25)        # the answer said 25 units: 2.5 s of debt
    await b.acquire()
    assert clock.slept == [2.5] and b.tokens == pytest.approx(0)
    b.spend(5)
    clock.now += 0.2   # 2 units back
    await b.acquire()
    assert clock.slept == [2.5, 0.3]
    assert b.spent == 30


async def test_idle_time_saves_at_most_one_burst() -> None:
    b, clock = bucket(10, burst=20)
    clock.now += 60
    b.spend(35)  # 20 saved, 15 of debt
    await b.acquire()
    assert clock.slept == [1.5]


async def test_throttling_halves_the_rate_down_to_the_floor_and_it_recovers() -> None:
    b, clock = bucket(100)
    for _ in range(10):
        b.throttled()
    assert b.current == 100 * FLOOR
    clock.now += 1
    b.spend(0)
    assert b.current == pytest.approx(100 * FLOOR + 100 * RECOVERY)
    clock.now += 100
    b.spend(0)
    assert b.current == 100


async def test_concurrent_calls_reserve_in_turn_and_settle_the_difference() -> None:
    import asyncio

    b, clock = bucket(10)
    first, second = await asyncio.gather(b.reserve(), b.reserve())
    assert (first, second) == (1.0, 1.0)  # what a call costs until one answered
    assert clock.slept == [0.1]  # the second waited for the first's reservation
    b.settle(first, 6.0)  # it cost 6: 5 more of debt
    b.settle(second, 0.0)  # this one failed: its unit comes back
    assert b.tokens == pytest.approx(-5.0) and b.spent == 6.0
    assert b.typical == pytest.approx(0.8 + 0.2 * 6)
    reserved = await b.reserve()
    assert clock.slept == [0.1, 0.5] and reserved == pytest.approx(2.0)


async def test_take_pays_before_from_a_full_bucket() -> None:
    """The export/import item limit: a second's burst first, then the rate; a take of
    more than a burst waits for one burst's worth only."""
    b, clock = bucket(100, full=True)
    for _ in range(4):
        await b.take(25)
    assert clock.slept == []
    await b.take(50)
    assert clock.slept == [0.5]
    await b.take(500)  # more than a burst: waits for 100, then goes 400 into debt
    assert clock.slept == [0.5, 1.0] and b.tokens == pytest.approx(-400)
    assert b.spent == 650


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


class Item(Model, table="limited"):
    key: Annotated[str, PartitionKey]


class Other(Model, table="free"):
    key: Annotated[str, PartitionKey]


async def test_limited_calls_ask_for_capacity_spend_it_and_slow_down_when_throttled() -> None:
    steps: list[Any] = [Throttled("slow", code="ProvisionedThroughputExceededException")]

    def answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        if steps:
            raise steps.pop()
        table = payload["TableName"]
        return {"Item": {"key": {"S": "k"}},
                "ConsumedCapacity": {"TableName": table, "CapacityUnits": 0.5}}

    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, table_prefix="p-",
                              retry=RetryPolicy(max_attempts=2, base_delay=0)) as conn:
        limit = conn.rate_limit(Item, read=1000)
        assert limit.table == "p-limited" and limit.write is None and limit.read is not None
        await Item.get("k")
        await Other.get("k")
        assert limit.read.spent == 0.5  # the limited table's units only
        assert 500 <= limit.read.current < 510  # one throttled attempt halved it
        assert conn.capacity.total.total == 0  # capacity=False: nothing counted
        conn.rate_limit("limited")  # no read, no write: the limit is gone
        await Item.get("k")
    sent = [p for _, p in transport.requests]
    assert [p.get("ReturnConsumedCapacity") for p in sent] == ["INDEXES", "INDEXES", None,
                                                               None]


async def test_unprocessed_batch_items_slow_the_bucket_down() -> None:
    answers = [{"UnprocessedItems": {"p-limited": [{"PutRequest": {"Item": {
                    "key": {"S": "b"}}}}]},
                "ConsumedCapacity": [{"TableName": "p-limited", "CapacityUnits": 1.0}]},
               {"ConsumedCapacity": [{"TableName": "p-limited", "CapacityUnits": 1.0}]}]
    transport = MockTransport(lambda op, payload: answers.pop(0))
    async with dynorm.connect(transport=transport, table_prefix="p-") as conn:
        limit = conn.rate_limit(Item, write=1000)
        async with dynorm.batch() as batch:
            batch.save(Item(key="a"))
            batch.save(Item(key="b"))
    assert limit.write is not None and 500 <= limit.write.current < 510
    assert limit.write.spent == 2.0
    assert [p["ReturnConsumedCapacity"] for _, p in transport.requests] == ["INDEXES"] * 2


@settings(max_examples=60, deadline=None)
@given(rate=st.sampled_from([0.5, 4.0, 100.0]),
       calls=st.lists(st.tuples(st.floats(0, 20), st.floats(0, 3), st.booleans()),
                      min_size=1, max_size=40))
async def test_never_more_than_the_rate_since_the_start(
        rate: float, calls: list[tuple[float, float, bool]]) -> None:
    """Whatever the calls cost, however long the pauses between them and whenever
    DynamoDB throttles: by the time a call may go, everything spent before it is at most
    ``rate`` per second since the start (no burst at the start)."""
    b, clock = bucket(rate)
    start = clock.now
    for cost, pause, throttled in calls:
        clock.now += pause
        reserved = await b.reserve()
        assert b.spent <= rate * (clock.now - start) + 1e-6
        if throttled:
            b.throttled()
        b.settle(reserved, cost)


async def test_a_call_cancelled_while_waiting_gives_back_what_it_set_aside() -> None:
    import asyncio

    async with dynorm.connect(transport=MockTransport()) as conn:
        first, second = conn.rate_limit("a", read=1), conn.rate_limit("b", read=1)
        assert first.read is not None and second.read is not None
        second.read.spend(100)  # b is 100 s in debt: the call waits there
        gets = [{"Get": {"TableName": t, "Key": {"key": {"S": "k"}}}} for t in "ab"]
        task = asyncio.create_task(conn.call("TransactGetItems", {"TransactItems": gets}))
        await asyncio.sleep(0.05)
        assert first.read.tokens < -0.5  # a's turn came: a unit set aside
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert first.read.tokens > -0.5 and first.read.spent == 0  # given back
