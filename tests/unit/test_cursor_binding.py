"""Cursors bound to the key value queried (issue 26): a query's cursor is refused by a
query of another partition key value, or whose sort-key condition excludes its position;
exact cursors and requests through MockTransport, nothing sent for a refused cursor."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import GlobalIndex, MockTransport, Model, PartitionKey, SortKey
from dynorm.read.pagination import (
    InvalidCursor,
    check_position,
    decode_cursor,
    encode_cursor,
    encode_positions,
)

SECRET = "cursor-binding-secret"


class Member(Model, table="cb_members"):
    org: Annotated[str, PartitionKey]
    user: Annotated[str, SortKey]
    team: str = "red"
    joined: int = 0
    by_team = GlobalIndex("team", "joined")


class Player(Model, table="cb_players"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    by_game = GlobalIndex("game", "score", shards=4)


def _row(org: str, user: str, team: str = "red", joined: int = 0) -> dict[str, Any]:
    return {"org": {"S": org}, "user": {"S": user}, "team": {"S": team},
            "joined": {"N": str(joined)}}


def _answer(op: str, req: dict[str, Any]) -> dict[str, Any]:
    """Three items of the queried partition (org or team), no further page."""
    values = req["ExpressionAttributeValues"]
    part = values[":v0"]["S"]
    if req.get("IndexName") == "by_team":
        return {"Items": [_row("o1", f"u{i}", part, i) for i in range(1, 4)]}
    return {"Items": [_row(part, f"u{i}") for i in range(1, 4)]}


def _secret() -> bytes:
    return SECRET.encode()


async def test_the_cursor_of_a_cut_page_is_exact_and_continues_its_query() -> None:
    transport = MockTransport(_answer)
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        page = await Member.query(Member.org == "a").page(size=2)
        assert [m.user for m in page.items] == ["u1", "u2"]
        position = {"org": {"S": "a"}, "user": {"S": "u2"}}
        assert page.cursor == encode_cursor(position, "Member/cb_members/", _secret())
        await Member.query(Member.org == "a").page(size=2, cursor=page.cursor)
    assert transport.requests[1][1]["ExclusiveStartKey"] == position


async def test_a_cursor_of_another_partition_value_is_refused_before_sending() -> None:
    transport = MockTransport(_answer)
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        page = await Member.query(Member.org == "a").page(size=2)
        assert page.cursor is not None
        with pytest.raises(InvalidCursor, match=r"Member: cursor was made by a query of "
                                                r"another 'org' value"):
            await Member.query(Member.org == "b").page(size=2, cursor=page.cursor)
        with pytest.raises(InvalidCursor, match="another 'org' value"):
            await Member.query(Member.org == "b", Member.user > "u").page(cursor=page.cursor)
    assert len(transport.requests) == 1


async def test_the_sort_key_condition_may_change_while_it_holds_the_position() -> None:
    transport = MockTransport(_answer)
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        page = await Member.query(Member.org == "a", Member.user >= "u").page(size=2)
        cursor = page.cursor
        assert cursor is not None
        # u2 lies in these ranges: the cursor continues them
        for cond in (Member.user.begins_with("u"), Member.user > "u1",
                     Member.user.between("u0", "u9"), Member.user <= "u2"):
            await Member.query(Member.org == "a", cond).page(size=2, cursor=cursor)
        sent = len(transport.requests)
        # u2 does not: refused, nothing sent
        for cond in (Member.user > "u2", Member.user < "u2", Member.user.begins_with("v"),
                     Member.user.between("u3", "u9"), Member.user == "u1"):
            with pytest.raises(InvalidCursor, match="outside this query's condition on "
                                                    "sort key 'user' of the table"):
                await Member.query(Member.org == "a", cond).page(size=2, cursor=cursor)
        assert len(transport.requests) == sent


async def test_an_index_cursor_is_bound_to_the_index_key_value() -> None:
    transport = MockTransport(_answer)
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        page = await Member.by_team.query(Member.team == "red").page(size=2)
        position = {"org": {"S": "o1"}, "user": {"S": "u2"}, "team": {"S": "red"},
                    "joined": {"N": "2"}}
        assert page.cursor == encode_cursor(position, "Member/cb_members/by_team", _secret())
        with pytest.raises(InvalidCursor, match=r"another 'team' value .partition key of "
                                                "index 'by_team'"):
            await Member.by_team.query(Member.team == "blue").page(cursor=page.cursor)
        with pytest.raises(InvalidCursor, match="sort key 'joined' of index 'by_team'"):
            await Member.by_team.query(Member.team == "red", Member.joined > 5).page(
                cursor=page.cursor)
        await Member.by_team.query(Member.team == "red", Member.joined >= 2).page(
            cursor=page.cursor)
    assert transport.requests[-1][1]["ExclusiveStartKey"] == position


async def test_a_scan_cursor_is_bound_to_its_table_only() -> None:
    transport = MockTransport(lambda op, req: {"Items": [_row("a", "u1"), _row("b", "u1")]})
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        page = await Member.scan().page(size=1)
        assert page.cursor is not None
        await Member.scan().page(size=1, cursor=page.cursor)
        assert decode_cursor(page.cursor, "Member/cb_members/", _secret()) == {
            "org": {"S": "a"}, "user": {"S": "u1"}}
    assert transport.requests[1][1]["ExclusiveStartKey"] == {"org": {"S": "a"},
                                                             "user": {"S": "u1"}}


async def test_a_sharded_cursor_is_bound_to_its_logical_key() -> None:
    transport = MockTransport(lambda op, req: {"Items": [], "Count": 0})
    async with dynorm.connect(transport=transport, cursor_secret=SECRET):
        scope = "Player/cb_players/by_game#4"
        at = [{"user_id": {"S": "ada"}, "game": {"S": "tetris"},
               "game_shard": {"S": f"tetris#{k}"}, "score": {"N": "5"}} for k in range(4)]
        tetris = encode_positions([at[0], None, "done", at[3]], scope, _secret())
        await Player.by_game.query(Player.game == "tetris").page(size=3, cursor=tetris)
        starts = sorted(json.dumps(req.get("ExclusiveStartKey"), sort_keys=True)
                        for _, req in transport.requests)
        assert starts == sorted(json.dumps(p, sort_keys=True) for p in (at[0], None, at[3]))
        sent = len(transport.requests)
        with pytest.raises(InvalidCursor, match="another 'game_shard' value"):
            await Player.by_game.query(Player.game == "chess").page(size=3, cursor=tetris)
        with pytest.raises(InvalidCursor, match="sort key"):
            await Player.by_game.query(Player.game == "tetris", Player.score > 5).page(
                size=3, cursor=tetris)
        # a shard's position in another shard's range is refused too
        swapped = encode_positions([at[1], None, None, None], scope, _secret())
        with pytest.raises(InvalidCursor, match="another"):
            await Player.by_game.query(Player.game == "tetris").page(cursor=swapped)
        assert len(transport.requests) == sent


def test_check_position_compares_values_as_dynamodb_does() -> None:
    key = Member.query(Member.org == "a", Member.user > "u1")._key
    check_position({"org": {"S": "a"}, "user": {"S": "u2"}}, key, "Member")
    with pytest.raises(InvalidCursor, match="another 'org' value"):
        check_position({"org": {"S": "A"}, "user": {"S": "u2"}}, key, "Member")
    with pytest.raises(InvalidCursor, match="another 'org' value"):
        check_position({"user": {"S": "u2"}}, key, "Member")  # no partition value at all
    with pytest.raises(InvalidCursor, match="sort key 'user'"):
        check_position({"org": {"S": "a"}, "user": {"S": "u1"}}, key, "Member")
