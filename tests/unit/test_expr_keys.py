"""Key conditions: one equality on the partition key, at most one sort-key condition."""

# Paths are module constants, so ruff reads `AGE == 3` as a Yoda condition.
# ruff: noqa: SIM300

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dynorm.codec.core import compile_codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import Condition, KeyCondition, Path, Placeholders, to_key_condition


class Stats(BaseModel):
    wins: int = 0


def p(name: str, tp: Any) -> Path:
    return Path((name,), compile_codec(tp))


GAME, SCORE, AGE = p("game", str), p("score", int), p("age", int)
USER, STATS, TAGS = p("user_id", str), p("stats", Stats), p("tags", list[str])
BY_GAME = "key condition for index 'by_game' (partition key 'game', sort key 'score'): "


def by_game(cond: Condition) -> KeyCondition:
    return to_key_condition(cond, partition_attr="game", sort_attr="score", index_name="by_game")


def compiled(key: KeyCondition) -> tuple[str, dict[str, Any]]:
    ph = Placeholders()
    return key.compile(ph), ph.to_request()


def test_partition_only() -> None:
    key = by_game(GAME == "tetris")
    assert key.partition == ("game", {"S": "tetris"})
    assert key.sort is None
    assert key.index_name == "by_game"
    assert compiled(key) == (
        "#n0 = :v0",
        {
            "ExpressionAttributeNames": {"#n0": "game"},
            "ExpressionAttributeValues": {":v0": {"S": "tetris"}},
        },
    )


@pytest.mark.parametrize(
    ("sort", "text"),
    [
        (SCORE == 5, "#n1 = :v1"),
        (SCORE < 5, "#n1 < :v1"),
        (SCORE <= 5, "#n1 <= :v1"),
        (SCORE > 5, "#n1 > :v1"),
        (SCORE >= 5, "#n1 >= :v1"),
        (5 < SCORE, "#n1 > :v1"),
        (SCORE.between(5, 9), "#n1 BETWEEN :v1 AND :v2"),
    ],
)
def test_sort_conditions(sort: Condition, text: str) -> None:
    assert compiled(by_game((GAME == "tetris") & sort))[0] == f"#n0 = :v0 AND {text}"


def test_sort_first_then_partition_compiles_partition_first() -> None:
    key = by_game((SCORE > 5) & (GAME == "tetris"))
    assert compiled(key) == (
        "#n0 = :v0 AND #n1 > :v1",
        {
            "ExpressionAttributeNames": {"#n0": "game", "#n1": "score"},
            "ExpressionAttributeValues": {":v0": {"S": "tetris"}, ":v1": {"N": "5"}},
        },
    )


def test_begins_with_on_string_sort_key() -> None:
    key = to_key_condition(
        (USER == "u1") & GAME.begins_with("t"), partition_attr="user_id", sort_attr="game"
    )
    assert compiled(key) == (
        "#n0 = :v0 AND begins_with(#n1, :v1)",
        {
            "ExpressionAttributeNames": {"#n0": "user_id", "#n1": "game"},
            "ExpressionAttributeValues": {":v0": {"S": "u1"}, ":v1": {"S": "t"}},
        },
    )


def test_reserved_word_key_names() -> None:
    name, status = p("name", str), p("status", str)
    key = to_key_condition(
        (name == "a") & (status == "b"), partition_attr="name", sort_attr="status"
    )
    assert compiled(key)[1]["ExpressionAttributeNames"] == {"#n0": "name", "#n1": "status"}


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        (AGE == 3, "'age' is not a key attribute; filter on it with .filter()"),
        ((GAME == "t") & (AGE == 3), "'age' is not a key attribute"),
        (SCORE > 3, "an equality on the partition key is required"),
        (GAME > "t", "the partition key 'game' takes only =="),
        (GAME.begins_with("t"), "the partition key 'game' takes only =="),
        ((GAME == "a") & (GAME == "b"), "more than one condition on the partition key"),
        ((GAME == "a") & (SCORE > 1) & (SCORE < 9), r"more than one condition on the sort key"),
        ((GAME == "a") | (GAME == "b"), r"OR \(\|\) cannot be used in a key condition"),
        (~(GAME == "a"), r"NOT \(~\) cannot be used"),
        ((GAME == "a") & ~(SCORE > 1), r"NOT \(~\) cannot be used"),
        (GAME.is_in("a", "b"), r"IN \(is_in\) cannot be used"),
        ((GAME == "a") & TAGS.contains("x"), r"contains\(\) cannot be used"),
        ((GAME == "a") & SCORE.exists(), r"exists\(\) cannot be used"),
        ((GAME == "a") & (SCORE != 1), "!= cannot be used on the sort key 'score'"),
        ((GAME == "a") & (p("score", Any).size() > 1), r"size\(score\) cannot be used"),
        ((GAME == "a") & (SCORE == AGE), "score must be compared with a value, not with age"),
        (GAME == p("other", str), "game must be compared with a value"),
        ((GAME == "a") & (STATS.wins > 1), "'stats.wins' is a nested path"),
    ],
)
def test_invalid_key_conditions(cond: Condition, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        by_game(cond)
    assert str(info.value).startswith(BY_GAME)


def test_error_message_for_the_table_without_sort_key() -> None:
    with pytest.raises(ExpressionError) as info:
        to_key_condition((USER == "u") & (GAME == "t"), partition_attr="user_id", sort_attr=None)
    assert str(info.value) == (
        "key condition for the table (partition key 'user_id', no sort key): "
        "'game' is not a key attribute; filter on it with .filter()"
    )


def test_not_a_condition() -> None:
    with pytest.raises(ExpressionError, match="expected a condition"):
        by_game("game = 'x'")  # type: ignore[arg-type]


def test_key_values_must_be_scalar() -> None:
    any_key = p("game", Any)
    with pytest.raises(ExpressionError, match="keys are strings, numbers or bytes"):
        by_game(any_key == [1])


def test_key_condition_paths_and_matches() -> None:
    key = by_game((GAME == "tetris") & SCORE.between(5, 9))
    assert [str(x) for x in key.paths()] == ["score"]
    assert key.matches({"game": {"S": "tetris"}, "score": {"N": "7"}})
    assert not key.matches({"game": {"S": "tetris"}, "score": {"N": "10"}})
    assert not key.matches({"game": {"S": "chess"}, "score": {"N": "7"}})
    assert by_game(GAME == "tetris").matches({"game": {"S": "tetris"}})
