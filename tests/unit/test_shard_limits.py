"""The hot-partition simulator's limits (tests/support/hot_partitions.py), on a fake clock:
which requests a partition key's token bucket lets through, and what they cost."""

from __future__ import annotations

from typing import Any

from tests.support.hot_partitions import PartitionLimits


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def put(user: str, shard: str) -> dict[str, Any]:
    return {"TableName": "scores", "Item": {"user_id": {"S": user},
                                            "game_shard": {"S": shard}}}


def limits(clock: Clock) -> PartitionLimits:
    return PartitionLimits({"scores": ["user_id", "game_shard"]}, write_units=10,
                           read_units=20, burst=0.5, clock=clock)


def test_a_hot_index_partition_throttles_writes_until_it_refills() -> None:
    clock = Clock()
    lim = limits(clock)
    # 0.5 s of 10 units: 5 writes to one index partition, whatever the table partition
    assert [lim.admit("PutItem", put(f"u{i}", "tetris#0")) for i in range(6)] == [
        True] * 5 + [False]
    assert lim.admit("PutItem", put("u9", "tetris#1"))  # another shard: its own bucket
    assert lim.throttled_writes == 1
    clock.now = 0.1  # one unit back
    assert lim.admit("PutItem", put("u10", "tetris#0"))
    assert not lim.admit("PutItem", put("u11", "tetris#0"))
    assert lim.consumed[("scores", "game_shard", '{"S": "tetris#0"}')] == 6


def test_updates_batches_and_transactions_are_charged_to_their_partitions() -> None:
    clock = Clock()
    lim = limits(clock)
    update = {"TableName": "scores", "Key": {"user_id": {"S": "u1"}},
              "UpdateExpression": "SET #n0 = :v0, #n1 = :v1",
              "ExpressionAttributeNames": {"#n0": "score", "#n1": "game_shard"},
              "ExpressionAttributeValues": {":v0": {"N": "1"}, ":v1": {"S": "go#2"}}}
    for _ in range(5):
        assert lim.admit("UpdateItem", update)
    assert not lim.admit("UpdateItem", update)  # u1 and go#2 are both spent
    tx = {"TransactItems": [{"Put": put("u2", "go#3")}, {"Put": put("u3", "go#3")}]}
    assert lim.admit("TransactWriteItems", tx)
    assert lim.consumed[("scores", "game_shard", '{"S": "go#3"}')] == 2
    held = [lim.withhold("scores", put(f"b{i}", "go#4")["Item"]) for i in range(7)]
    assert held == [False] * 5 + [True, True]  # a batch's extra writes come back unprocessed


def test_reads_are_refused_once_a_partition_has_read_its_units() -> None:
    clock = Clock()
    lim = limits(clock)
    query = {"TableName": "scores", "IndexName": "by_game",
             "KeyConditionExpression": "#n0 = :v0 AND #n1 >= :v1",
             "ExpressionAttributeNames": {"#n0": "game_shard", "#n1": "score"},
             "ExpressionAttributeValues": {":v0": {"S": "tetris#0"}, ":v1": {"N": "3"}}}
    assert lim.admit("Query", query)
    lim.charge("Query", query, b"x" * 4096 * 16)  # 16 units, halved: eventually consistent
    assert lim.admit("Query", query)  # 10 - 8: some left
    lim.charge("Query", query, b"x" * 4096 * 8)  # below zero: refused until it refills
    assert not lim.admit("Query", query)
    assert lim.throttled_reads == 1
    clock.now = 1.0
    assert lim.admit("Query", query)
