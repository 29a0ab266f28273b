"""Sharded index keys (``GlobalIndex(..., shards=N)``): the declaration, the stable shard
hash (a storage format), the derived key on every write request, and the requests of a
scatter-gather read -- exact request dicts through MockTransport, no server."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    ExpressionError,
    GlobalIndex,
    KeyTemplate,
    MockTransport,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
    Version,
)
from dynorm.read.pagination import InvalidCursor
from dynorm.schema.classes import meta_of
from dynorm.schema.shards import ShardedTemplate, shard_of
from dynorm.types import ShardedQuery
from dynorm.write.transaction import transaction


class Score(Model, table="shard_scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    by_game = GlobalIndex("game", "score", shards=8)


class Play(Model, table="shard_plays"):
    player: Annotated[str, PartitionKey]
    round: Annotated[int, SortKey]
    game: str | None = None
    level: int = 0
    score: int = 0
    version: Annotated[int, Version] = 0
    by_game = GlobalIndex("game", "score", shards=4)
    by_level = GlobalIndex(KeyTemplate("LEVEL#{level}", attribute="gsi_level"), "score",
                           shards=3, shard_by="score")


def expected_shard(*values: tuple[str, bytes], shards: int) -> int:
    """The documented format, written out again: tag, 4-byte length, bytes; sha256."""
    payload = b"".join(tag.encode() + len(data).to_bytes(4, "big") + data
                       for tag, data in values)
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") % shards


def test_shard_hash_is_the_documented_stable_format() -> None:
    # Golden values: stored keys depend on them; a change here loses items from queries.
    assert shard_of([{"S": "ada"}, {"S": "tetris"}], 8) == 7
    assert shard_of([{"S": "bob"}, {"S": "tetris"}], 8) == 1
    assert shard_of([{"N": "42"}], 16) == 5
    assert shard_of([{"B": b"\x00\x01"}], 7) == 3
    # numbers as DynamoDB stores them: equal numbers are one item, one shard
    assert shard_of([{"N": "1.50"}], 1000) == shard_of([{"N": "15E-1"}], 1000) == 55
    for user in ("ada", "bob", "é€\U0001f600", ""):
        assert shard_of([{"S": user}, {"S": "tetris"}], 8) == expected_shard(
            ("S", user.encode()), ("S", b"tetris"), shards=8)


def test_declaration_compiles_a_sharded_derived_key() -> None:
    meta = meta_of(Score)
    index = meta.indexes["by_game"]
    assert index.partition.attr == "game_shard" and index.partition.type == "S"
    assert isinstance(index.partition.template, ShardedTemplate)
    assert index.partition.template.fields == ("game", "user_id")
    assert index.sort is not None and index.sort.attr == "score"
    assert [k.attr for k in meta.derived] == ["game_shard"]
    level = meta_of(Play).indexes["by_level"].partition.template
    assert isinstance(level, ShardedTemplate) and level.fields == ("level", "score")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"shards": 0}, "shards must be an int from 1 to 256"),
    ({"shards": 257}, "shards must be an int from 1 to 256"),
    ({"shards": True}, "shards must be an int"),
    ({"shard_by": "score"}, "shard_by needs shards=N"),
    ({"read_shards": 4}, "read_shards needs shards=N"),
    ({"shards": 4, "read_shards": 2}, "read_shards (the shards a query reads"),
    ({"shards": 4, "shard_by": "nope"}, "shard_by names 'nope', which is not a field"),
    ({"shards": 4, "shard_by": "tags"}, "cannot be a key"),
])
def test_bad_shard_declarations_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("(", r"\(")):
        class Bad(Model, table="bad_shards"):
            id: Annotated[str, PartitionKey]
            game: str = ""
            score: int = 0
            tags: set[str] = set()
            by_game = GlobalIndex("game", "score", **kwargs)


def test_a_field_that_cannot_be_in_a_key_text_is_refused() -> None:
    with pytest.raises(SchemaError, match="float field cannot be part of key template"):
        class Bad(Model, table="bad_shards"):
            id: Annotated[str, PartitionKey]
            x: float = 0.0
            by_x = GlobalIndex("x", shards=4)


def test_save_writes_the_shard_key() -> None:
    item = meta_of(Score).encode_item(Score(user_id="ada", game="tetris", score=3))
    assert item == {"user_id": {"S": "ada"}, "game": {"S": "tetris"}, "score": {"N": "3"},
                    "game_shard": {"S": "tetris#7"}}
    # a sparse index stays sparse: no game, no key
    play = meta_of(Play).encode_item(Play(player="p", round=1))
    assert "game_shard" not in play
    level = shard_of([{"N": "0"}], 3)
    assert play["gsi_level"] == {"S": f"LEVEL#0#{level}"}


def _play_shard(player: str, round: int) -> int:
    return shard_of([{"S": player}, {"N": str(round)}], 4)


async def test_every_write_request_carries_the_same_shard_key() -> None:
    transport = MockTransport(lambda op, req: {"Attributes": req["Key"]} if op == "UpdateItem"
                              else {})
    shard = _play_shard("p1", 2)
    async with dynorm.connect(transport=transport):
        await Play(player="p1", round=2, game="chess").save()
        play = Play(player="p1", round=2, game="chess", version=1)
        await play.update(Play.game.set("go"))
        await play.update(Play.game.remove())
        await Play.update_item(("p1", 2), Play.game.set("go"), upsert=True)
        async with dynorm.batch() as b:
            b.save(Play(player="p1", round=2, game="chess"), unversioned=True)
        async with transaction() as tx:
            tx.save(Play(player="p1", round=2, game="chess"))
    put, upd, rem, upsert, batch, tx = (req for _, req in transport.requests)
    assert put["Item"]["game_shard"] == {"S": f"chess#{shard}"}
    names = {v: k for k, v in upd["ExpressionAttributeNames"].items()}
    values = upd["ExpressionAttributeValues"]
    assert f"SET {names['game']} = " in upd["UpdateExpression"]
    assert {"S": f"go#{shard}"} in values.values()
    assert "game_shard" in names
    rem_names = {v: k for k, v in rem["ExpressionAttributeNames"].items()}
    assert f"REMOVE {rem_names['game']}, {rem_names['game_shard']}" in rem[
        "UpdateExpression"]
    assert {"S": f"go#{shard}"} in upsert["ExpressionAttributeValues"].values()
    (write,) = batch["RequestItems"]["shard_plays"]
    assert write["PutRequest"]["Item"]["game_shard"] == {"S": f"chess#{shard}"}
    assert tx["TransactItems"][0]["Put"]["Item"]["game_shard"] == {"S": f"chess#{shard}"}


async def test_update_of_the_shard_by_field_moves_the_item_to_its_shard() -> None:
    transport = MockTransport(lambda op, req: {"Attributes": req["Key"]})
    async with dynorm.connect(transport=transport):
        await Play(player="p", round=1, level=2, score=5, version=1).update(
            Play.score.set(9))
    (_, req), = transport.requests
    level = shard_of([{"N": "9"}], 3)
    assert {"S": f"LEVEL#2#{level}"} in req["ExpressionAttributeValues"].values()


def test_query_is_one_key_condition_per_shard() -> None:
    query = Score.by_game.query(Score.game == "tetris", Score.score >= 10)
    assert isinstance(query, ShardedQuery) and query.shards == 8
    requests = [
        query._op("t", 10, None, False).to_request() for query._key in query._keys
    ]
    for n, req in enumerate(requests):
        assert req["IndexName"] == "by_game"
        assert req["KeyConditionExpression"] == "#n0 = :v0 AND #n1 >= :v1"
        assert req["ExpressionAttributeNames"] == {"#n0": "game_shard", "#n1": "score"}
        assert req["ExpressionAttributeValues"] == {":v0": {"S": f"tetris#{n}"},
                                                    ":v1": {"N": "10"}}
    with pytest.raises(ExpressionError, match="needs game == value"):
        Score.by_game.query(Score.user_id == "ada")


async def test_top_ten_asks_each_shard_for_ten_items_at_most() -> None:
    transport = MockTransport(lambda op, req: {"Items": [], "Count": 0})
    async with dynorm.connect(transport=transport):
        top = await Score.by_game.query(Score.game == "tetris").reverse().limit(10).to_list()
        assert top == []
        await Score.by_game.query(Score.game == "tetris").count()
    reads = transport.requests[:8]
    assert [op for op, _ in reads] == ["Query"] * 8
    assert sorted(req["ExpressionAttributeValues"][":v0"]["S"] for _, req in reads) == [
        f"tetris#{n}" for n in range(8)]
    assert all(req["Limit"] == 10 and req["ScanIndexForward"] is False for _, req in reads)
    counts = transport.requests[8:]
    assert len(counts) == 8 and all(req["Select"] == "COUNT" for _, req in counts)


async def test_a_cursor_of_another_shard_count_is_refused() -> None:
    transport = MockTransport(lambda op, req: {"Items": [], "Count": 0,
                                               "LastEvaluatedKey": None})
    async with dynorm.connect(transport=transport):
        page = await Score.by_game.query(Score.game == "tetris").page(size=5)
        assert page.cursor is None

        class Wider(Model, table="shard_scores"):
            user_id: Annotated[str, PartitionKey]
            game: Annotated[str, SortKey]
            score: int = 0
            by_game = GlobalIndex("game", "score", shards=8, read_shards=10)

        query = Score.by_game.query(Score.game == "tetris")
        cursor = query._positions_cursor(query._merge([None] * 8, None))
        with pytest.raises(InvalidCursor):
            await Wider.by_game.query(Wider.game == "tetris").page(cursor=cursor)
        with pytest.raises(InvalidCursor):
            await Score.query(Score.user_id == "ada").page(cursor=cursor)


# ---------------------------------------------------------------------------- table keys


class Reading(Model, table="shard_readings"):
    pk = PartitionKey("DEVICE#{device}", shards=4, shard_by="at")
    at: Annotated[int, SortKey]
    device: str
    value: int = 0


def test_a_sharded_table_key_is_hashed_from_its_sort_key_and_read_back() -> None:
    meta = meta_of(Reading)
    shard = shard_of([{"N": "7"}], 4)
    item = meta.encode_item(Reading(device="d#1", at=7, value=3))
    # the device is read back from the key (not stored twice), '#' escaped in it
    assert item == {"pk": {"S": f"DEVICE#d%231#{shard}"}, "at": {"N": "7"},
                    "value": {"N": "3"}}
    assert Reading.model_validate(meta.decode_item(item)) == Reading(device="d#1", at=7,
                                                                      value=3)
    assert meta.key_from_fields({"device": "d#1", "at": 7}) == {
        "pk": {"S": f"DEVICE#d%231#{shard}"}, "at": {"N": "7"}}
    with pytest.raises(dynorm.InvalidKey, match="needs at"):
        meta.key_from_fields({"device": "d"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"shards": 4}, "needs shard_by= a field of the sort key"),
    ({"shards": 4, "shard_by": "value"}, "needs shard_by= a field of the sort key"),
    ({"shard_by": "at"}, "shards must be an int from 1"),
    ({"shards": 4, "shard_by": "at", "read_shards": 3}, "read_shards"),
])
def test_bad_sharded_table_keys_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        class Bad(Model, table="bad_shards"):
            pk = PartitionKey("D#{device}", **kwargs)
            at: Annotated[int, SortKey]
            device: str
            value: int = 0


def test_a_collection_refuses_a_sharded_partition() -> None:
    class Sharded(Model, table="shard_readings", entity="reading"):
        pk = PartitionKey("DEVICE#{device}", shards=4, shard_by="at")
        at: Annotated[int, SortKey]
        device: str

    with pytest.raises(SchemaError, match="partition key is sharded"):
        dynorm.Collection(Sharded)


async def test_a_table_query_reads_every_partition_of_the_logical_key() -> None:
    transport = MockTransport(lambda op, req: {"Items": [], "Count": 0})
    async with dynorm.connect(transport=transport):
        query = Reading.query(Reading.device == "d1", Reading.at.between(3, 9))
        assert isinstance(query, ShardedQuery)
        assert await query.limit(5).to_list() == []
    values = sorted(req["ExpressionAttributeValues"][":v0"]["S"]
                    for _, req in transport.requests)
    assert values == [f"DEVICE#d1#{n}" for n in range(4)]
    assert all("IndexName" not in req and req["Limit"] == 5 and req[
        "ExpressionAttributeValues"][":v1"] == {"N": "3"} for _, req in transport.requests)
