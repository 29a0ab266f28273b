"""Pipelined batch gets (issue 26): each chunk's answer is decoded while the other chunks'
calls are in flight; order, duplicates, retries and errors as before.

Through MockTransport: a handler that answers BatchGetItem and records, in one event log
shared with a validator of the model, when each call starts and when each item is
decoded.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import field_validator

import dynorm
from dynorm import BatchGetFailed, MockTransport, Model, PartitionKey, RetryPolicy, SortKey
from dynorm.exceptions import RequestRejected, ValidationFailed

EVENTS: list[tuple[str, int]] = []


class Row(Model, table="bgp_rows"):
    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    v: int = 0

    @field_validator("n")
    @classmethod
    def _seen(cls, value: int) -> int:
        EVENTS.append(("decode", value))
        return value


class Twin(Model, table="bgp_rows"):
    """Another model of the same items (the same table and key)."""

    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    v: int = 0


class BuiltKey(Mapping[str, Any]):
    """A key given as fields that logs when it is read (built into a wire key)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.fields: dict[str, Any] = {"pk": "p", "n": n}

    def __getitem__(self, name: str) -> Any:
        if name == "n":
            EVENTS.append(("build", self.n))
        return self.fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


def _key(n: int) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "n": {"N": str(n)}}


class Server:
    """Answers BatchGetItem with every key it holds (``have``); ``turns`` loop turns per
    call (the wire); ``unprocessed``: keys left unprocessed on their first ask;
    ``fail_on``: a call whose first key is that number is refused; ``bad``: items stored
    with a value that does not fit the model."""

    def __init__(self, have: set[int] | None = None, turns: int = 3,
                 unprocessed: frozenset[int] = frozenset(), fail_on: int | None = None,
                 bad: frozenset[int] = frozenset(), slow_after: int | None = None) -> None:
        self.have = have
        self.turns = turns
        self.unprocessed = set(unprocessed)
        self.fail_on = fail_on
        self.bad = bad
        self.slow_after = slow_after
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled: list[int] = []
        self.in_flight = 0
        self.most = 0
        self.transport = MockTransport(self.handle)

    async def handle(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        assert op == "BatchGetItem"
        keys = req["RequestItems"]["bgp_rows"]["Keys"]
        ns = [int(k["n"]["N"]) for k in keys]
        first = ns[0]
        self.started.append(first)
        EVENTS.append(("send", first))
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            slow = self.slow_after is not None and first >= self.slow_after
            for _ in range(1000 if slow else self.turns):
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.append(first)
            raise
        finally:
            self.in_flight -= 1
        self.finished.append(first)
        if first == self.fail_on:
            raise RequestRejected("chunk refused", code="ValidationException", operation=op)
        left = [n for n in ns if n in self.unprocessed]
        self.unprocessed -= set(left)
        rows = []
        for n in reversed(ns):  # DynamoDB answers in no particular order
            if n in left or (self.have is not None and n not in self.have):
                continue
            value = {"S": "not a number"} if n in self.bad else {"N": str(n * 2)}
            rows.append({**_key(n), "v": value})
        out: dict[str, Any] = {"Responses": {"bgp_rows": rows}}
        if left:
            out["UnprocessedKeys"] = {"bgp_rows": {"Keys": [_key(n) for n in left]}}
        return out


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    await asyncio.sleep(0.005)


async def test_the_next_chunk_is_sent_before_this_one_is_decoded() -> None:
    EVENTS.clear()
    server = Server()
    async with dynorm.connect(transport=server.transport):
        rows = await dynorm.get_many(Row, [("p", n) for n in range(300)], concurrency=1)
    assert [r.n for r in rows if r] == list(range(300))
    assert [r.v for r in rows if r] == [2 * n for n in range(300)]
    sends = [n for kind, n in EVENTS if kind == "send"]
    assert sends == [0, 100, 200]  # one call at a time (concurrency=1), in order
    where = {e: i for i, e in reversed(list(enumerate(EVENTS)))}  # first occurrence
    # chunk k+1 was on the wire before any item of chunk k was decoded
    assert where["send", 100] < min(where["decode", n] for n in range(100))
    assert where["send", 200] < min(where["decode", n] for n in range(100, 200))
    # chunk k's decoding began while chunk k+1 was in flight (before k+2 could go out)
    assert min(where["decode", n] for n in range(100)) < where["send", 200]
    assert sorted(n for kind, n in EVENTS if kind == "decode") == list(range(300))


async def test_the_first_call_goes_out_while_later_keys_are_built() -> None:
    # The server works on the first chunk while the client builds the rest (1,000 keys
    # took ~4 ms to build before the first call went out).
    EVENTS.clear()
    server = Server()
    async with dynorm.connect(transport=server.transport):
        rows = await dynorm.get_many(Row, [BuiltKey(n) for n in range(450)], concurrency=2)
    assert [r.n for r in rows if r] == list(range(450))
    where = {e: i for i, e in reversed(list(enumerate(EVENTS)))}  # first occurrence
    assert max(where["build", n] for n in range(100)) < where["send", 0]
    assert where["send", 0] < where["build", 100] < where["send", 100] < where["build", 200]
    assert where["build", 449] < where["send", 200]  # the third waits for a free slot
    assert [n for kind, n in EVENTS if kind == "send"] == [0, 100, 200, 300, 400]


async def test_a_key_asked_again_by_another_model_after_its_chunk_went_out() -> None:
    # Several models: every key is built before any call goes out, so an answer never
    # meets a key before all the models asking for it are known.
    server = Server(turns=0)
    async with dynorm.connect(transport=server.transport):
        got = await dynorm.batch_get(*[(Row, ("p", n)) for n in range(850)], (Twin, ("p", 5)))
    assert [r.n for r in got[:850] if isinstance(r, Row)] == list(range(850))
    twin = got[850]
    assert isinstance(twin, Twin) and (twin.n, twin.v) == (5, 10)
    assert len(server.transport.requests) == 9  # the key of both models read once


async def test_chunks_of_100_keys_at_most_concurrency_calls_at_once() -> None:
    server = Server()
    async with dynorm.connect(transport=server.transport):
        rows = await dynorm.get_many(Row, [("p", n) for n in range(1000)], concurrency=3)
    assert [r.n for r in rows if r] == list(range(1000))
    assert server.most == 3
    requests = server.transport.requests
    assert requests[0] == ("BatchGetItem", {"RequestItems": {"bgp_rows": {
        "Keys": [_key(n) for n in range(100)]}}})
    assert sorted(int(r["RequestItems"]["bgp_rows"]["Keys"][0]["n"]["N"])
                  for _, r in requests) == list(range(0, 1000, 100))
    assert [len(r["RequestItems"]["bgp_rows"]["Keys"]) for _, r in requests] == [100] * 10


async def test_a_single_chunk_is_one_call_consistent() -> None:
    server = Server(have={1, 3})
    async with dynorm.connect(transport=server.transport):
        rows = await dynorm.get_many(Row, [("p", 3), ("p", 2), ("p", 1), ("p", 3)],
                                     consistent=True)
    assert [r.n if r else None for r in rows] == [3, None, 1, 3]
    assert rows[0] is rows[3]  # a key given twice: one instance
    assert server.transport.requests == [("BatchGetItem", {"RequestItems": {"bgp_rows": {
        "Keys": [_key(3), _key(2), _key(1)], "ConsistentRead": True}}})]


async def test_a_failed_decoding_cancels_the_chunks_in_flight() -> None:
    server = Server(bad=frozenset({5}), slow_after=100)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with dynorm.connect(transport=server.transport):
            with pytest.raises(ValidationFailed, match="Row"):
                await dynorm.get_many(Row, [("p", n) for n in range(500)])
            await _settle()
    finally:
        loop.set_exception_handler(None)
    assert server.finished == [0]
    assert sorted(server.cancelled) == [100, 200, 300, 400]  # nothing left running
    assert reported == []


async def test_a_refused_call_cancels_the_others_and_is_raised() -> None:
    server = Server(fail_on=0, slow_after=100)
    async with dynorm.connect(transport=server.transport):
        with pytest.raises(RequestRejected, match="chunk refused"):
            await dynorm.get_many(Row, [("p", n) for n in range(300)])
        await _settle()
    assert sorted(server.cancelled) == [100, 200]
    assert server.in_flight == 0


async def test_a_cancelled_caller_leaves_no_call_running() -> None:
    server = Server(slow_after=0)
    async with dynorm.connect(transport=server.transport):
        task = asyncio.ensure_future(dynorm.get_many(Row, [("p", n) for n in range(1000)],
                                                     concurrency=4))
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(server.started) == 4
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _settle()
    assert sorted(server.cancelled) == [0, 100, 200, 300]
    assert len(server.started) == 4  # no chunk went out after the cancellation


async def test_keys_unprocessed_to_the_end_are_named_exactly() -> None:
    server = Server(unprocessed=frozenset({150, 151, 420}))
    policy = RetryPolicy(max_attempts=1, base_delay=0.0)
    async with dynorm.connect(transport=server.transport):
        with pytest.raises(BatchGetFailed) as caught:
            await dynorm.get_many(Row, [("p", n) for n in range(500)], retry=policy)
    assert sorted(int(k["n"]["N"]) for _, k in caught.value.missing) == [150, 151, 420]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(keys=st.lists(st.integers(0, 320), max_size=450),
       have=st.sets(st.integers(0, 320)),
       unprocessed=st.frozensets(st.integers(0, 320), max_size=40),
       concurrency=st.integers(1, 4), turns=st.integers(0, 4))
async def test_results_in_the_order_given_whatever_the_answers(
        keys: list[int], have: set[int], unprocessed: frozenset[int], concurrency: int,
        turns: int) -> None:
    server = Server(have=have, unprocessed=unprocessed, turns=turns)
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    async with dynorm.connect(transport=server.transport):
        rows = await dynorm.get_many(Row, [("p", n) for n in keys], concurrency=concurrency,
                                     retry=policy)
    assert [r.n if r else None for r in rows] == [n if n in have else None for n in keys]
    first: dict[int, Any] = {}
    for n, row in zip(keys, rows, strict=True):
        assert first.setdefault(n, row) is row  # a key given twice: the same instance
    asked = [int(k["n"]["N"]) for _, r in server.transport.requests
             for k in r["RequestItems"]["bgp_rows"]["Keys"]]
    distinct = list(dict.fromkeys(keys))
    assert sorted(asked) == sorted(distinct + [n for n in distinct if n in unprocessed])


@pytest.mark.parametrize("several", [False, True])
async def test_an_answered_item_of_no_key_asked_for_is_an_error_not_dropped(
        several: bool) -> None:
    """An item the server answers under a key none asked for (it should never) is an
    error naming it: answering None for the key asked would lose an item that exists."""

    async def handle(op: str, req: dict[str, Any]) -> dict[str, Any]:
        keys = req["RequestItems"]["bgp_rows"]["Keys"]
        return {"Responses": {"bgp_rows": [
            {**k, "n": {"N": str(int(k["n"]["N"]) + 1000)}, "v": {"N": "1"}} for k in keys]}}

    pairs: list[tuple[type[Model], Any]] = [(Row, ("p", 1)), (Row, ("p", 2))]
    if several:
        pairs.append((Twin, ("p", 1)))
    async with dynorm.connect(transport=MockTransport(handle)):
        with pytest.raises(dynorm.DynormError, match=r"'bgp_rows' whose key .*1001.* "
                                                     r"matches no key asked for"):
            await dynorm.batch_get(*pairs)
