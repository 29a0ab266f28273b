"""Shard lineage, lease planning and checkpoint ordering: pure functions, no server."""

from __future__ import annotations

from typing import Any

import pytest

import dynorm
from dynorm import MockTransport
from dynorm.streams import InMemoryCheckpoints, Lease, Shard, order_shards, ready_shards
from dynorm.streams.checkpoints import position
from dynorm.streams.leases import plan
from dynorm.streams.shards import describe_shards, parse_shards

ARN = "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"


def shard(sid: str, parent: str | None = None, closed: bool = False, arn: str = ARN) -> Shard:
    return Shard(arn, sid, parent, "1", closed)


# A stream where s1 split into s2 and s3, s3 later into s4; s0 is an unrelated root whose
# parent has aged out of the stream. Listed children-first, as DescribeStream may page.
LINEAGE = [
    shard("s4", "s3"),
    shard("s2", "s1"),
    shard("s3", "s1", closed=True),
    shard("s1", closed=True),
    shard("s0", "trimmed"),
]


def test_order_puts_parents_first() -> None:
    ids = [s.shard_id for s in order_shards(LINEAGE)]
    assert ids == ["s1", "s3", "s4", "s2", "s0"]
    for s in LINEAGE:
        if s.parent_id in ids:
            assert ids.index(s.parent_id) < ids.index(s.shard_id)


def test_order_survives_cycles() -> None:
    ids = [s.shard_id for s in order_shards([shard("a", "b"), shard("b", "a")])]
    assert sorted(ids) == ["a", "b"]


def test_ready_shards_wait_for_parents() -> None:
    assert [s.shard_id for s in ready_shards(LINEAGE, set())] == ["s1", "s0"]
    assert [s.shard_id for s in ready_shards(LINEAGE, {"s1"})] == ["s3", "s2", "s0"]
    assert [s.shard_id for s in ready_shards(LINEAGE, {"s1", "s3"})] == ["s4", "s2", "s0"]
    assert ready_shards(LINEAGE, {"s0", "s1", "s2", "s3", "s4"}) == []


def test_parse_shards() -> None:
    parsed = parse_shards(ARN, [
        {"ShardId": "a", "SequenceNumberRange": {"StartingSequenceNumber": "10",
                                                 "EndingSequenceNumber": "20"}},
        {"ShardId": "b", "ParentShardId": "a",
         "SequenceNumberRange": {"StartingSequenceNumber": "21"}},
    ])
    assert parsed == [Shard(ARN, "a", None, "10", True), Shard(ARN, "b", "a", "21", False)]


async def test_describe_shards_pages_with_exclusive_start() -> None:
    pages = {
        None: {"Shards": [{"ShardId": "a"}], "LastEvaluatedShardId": "a"},
        "a": {"Shards": [{"ShardId": "b", "ParentShardId": "a"}], "LastEvaluatedShardId": "b"},
        "b": {"Shards": []},
    }

    def answer(op: str, req: dict[str, Any]) -> dict[str, Any]:
        assert op == "DescribeStream"
        return {"StreamDescription": pages[req.get("ExclusiveStartShardId")]}

    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport) as conn:
        shards = await describe_shards(conn, ARN)
    assert [s.shard_id for s in shards] == ["a", "b"]
    assert [r[1] for r in transport.requests] == [
        {"StreamArn": ARN},
        {"StreamArn": ARN, "ExclusiveStartShardId": "a"},
        {"StreamArn": ARN, "ExclusiveStartShardId": "b"},
    ]


def test_position_sorts_like_integers() -> None:
    seqs = ["9", "100", "4421584500000000017450439091", "99999999999999999999999999999999999999"]
    assert sorted(seqs, key=position) == sorted(seqs, key=int)
    assert sorted(position(s) for s in seqs) == [position(s) for s in sorted(seqs, key=int)]
    with pytest.raises(ValueError):
        position("1" * 41)


async def test_in_memory_checkpoints_never_move_back() -> None:
    store = InMemoryCheckpoints()
    assert await store.load(ARN, "s") is None
    await store.save(ARN, "s", "100")
    await store.save(ARN, "s", "99")  # "99" > "100" as text, not as a number
    checkpoint = await store.load(ARN, "s")
    assert checkpoint is not None and checkpoint.sequence_number == "100"
    await store.save(ARN, "s", None, finished=True)
    checkpoint = await store.load(ARN, "s")
    assert checkpoint is not None and checkpoint.finished and checkpoint.sequence_number == "100"


NOW = 1000.0


def lease(sid: str, owner: str | None, expires: float = NOW + 10, **kw: Any) -> Lease:
    return Lease(ARN, sid, owner, expires, **kw)


def test_plan_takes_free_and_expired_shards_up_to_a_fair_share() -> None:
    shards = [shard("a"), shard("b"), shard("c"), shard("d")]
    assert [s.shard_id for s in plan("me", shards, [], NOW).acquire] == ["a", "b", "c", "d"]
    leases = [lease("a", "w1"), lease("b", "w1", expires=NOW - 1)]
    decision = plan("me", shards, leases, NOW)
    assert [s.shard_id for s in decision.acquire] == ["b", "c"]  # share = ceil(4 / 2)
    assert decision.handoff is None


def test_plan_asks_the_busiest_worker_for_a_handoff() -> None:
    shards = [shard("a"), shard("b")]
    decision = plan("me", shards, [lease("a", "w1"), lease("b", "w1")], NOW)
    assert decision.acquire == () and decision.handoff == (shards[0], "w1")
    # Already asked for one: wait for it rather than asking again.
    asked = [lease("a", "w1", handoff_to="me", handoff_expires=NOW + 5), lease("b", "w1")]
    assert plan("me", shards, asked, NOW).handoff is None
    # Released and reserved for me: take it; reserved for another worker: leave it.
    released = [lease("a", None, 0.0, handoff_to="me", handoff_expires=NOW + 5),
                lease("b", "w1")]
    assert [s.shard_id for s in plan("me", shards, released, NOW).acquire] == ["a"]
    other = [lease("a", None, 0.0, handoff_to="w2", handoff_expires=NOW + 5), lease("b", "w1")]
    assert plan("me", shards, other, NOW).acquire == ()


def test_plan_counts_shards_per_stream() -> None:
    # moto gives every table's stream the same shard id: keys are (stream, shard).
    other = "arn:aws:dynamodb:us-east-1:1:table/u/stream/x"
    shards = [shard("s"), shard("s", arn=other)]
    decision = plan("me", shards, [], NOW, mine={(ARN, "s")})
    assert [(s.stream_arn, s.shard_id) for s in decision.acquire] == [(other, "s")]
    decision = plan("me", shards, [lease("s", "w1")], NOW)
    assert [(s.stream_arn, s.shard_id) for s in decision.acquire] == [(other, "s")]
