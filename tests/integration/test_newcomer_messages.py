"""Messages a newcomer meets first (issue 17): a missing table, a typo in a field name,
operator precedence in conditions, an index the existing table lacks."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pydantic
import pytest

import dynorm
from dynorm import Connection, GlobalIndex, Model, PartitionKey, SortKey


class Scoreboard(Model, table="newcomer-scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0


async def test_missing_table_names_the_table_and_the_fix(
        dynorm_connection: Connection) -> None:
    with pytest.raises(dynorm.TableNotFound) as info:
        await Scoreboard.get("ada", "tetris")
    message = str(info.value)
    assert "GetItem: table 'newcomer-scores' does not exist" in message
    assert "create_table()" in message
    # DynamoDB's own words stay on the attributes
    assert info.value.code == "ResourceNotFoundException"
    assert info.value.operation == "GetItem"


async def test_missing_table_names_the_prefix(dynorm_server: Any) -> None:
    async with dynorm_server.connect(table_prefix="staging-"):
        with pytest.raises(dynorm.TableNotFound, match=(
                r"Query: table 'staging-newcomer-scores' \(with the connection's "
                r"table_prefix 'staging-'\) does not exist")):
            await Scoreboard.query(Scoreboard.user_id == "ada").to_list()


def test_unknown_field_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="scroe"):
        Scoreboard(user_id="ada", game="tetris", scroe=5)  # type: ignore[call-arg]


async def test_items_with_undeclared_attributes_still_load(
        dynorm_connection: Connection) -> None:
    """extra="forbid" is for constructors: a stored item holding more than the model
    declares (older fields, another model's index keys) reads as before."""
    await Scoreboard.create_table()
    await dynorm_connection.call("PutItem", {"TableName": "newcomer-scores", "Item": {
        "user_id": {"S": "ada"}, "game": {"S": "tetris"}, "score": {"N": "3"},
        "old_field": {"S": "from version 1"}, "gsi1pk": {"S": "X#1"}, "_type": {"S": "S"}}})
    got = await Scoreboard.get("ada", "tetris")
    assert got.score == 3
    assert [s.score for s in await Scoreboard.query(Scoreboard.user_id == "ada").to_list()] == [3]
    got.score = 4
    await got.save()
    assert (await Scoreboard.get("ada", "tetris", consistent=True)).score == 4


def test_precedence_mistake_explains_the_parentheses() -> None:
    with pytest.raises(dynorm.ExpressionError) as info:
        _ = Scoreboard.score > 1 & Scoreboard.score < 9  # type: ignore[operator]
    message = str(info.value)
    assert "cannot combine 1 & Scoreboard.score" in message
    assert "(Scoreboard.score > 1) & (Scoreboard.score < 9)" in message
    with pytest.raises(dynorm.ExpressionError, match=r"\(Scoreboard.score > 1\) \|"):
        _ = (Scoreboard.score == 1) | Scoreboard.score == 2  # type: ignore[operator]
    with pytest.raises(dynorm.ExpressionError, match="parentheses"):
        _ = Scoreboard.score > 1 & (Scoreboard.score < 9)  # type: ignore[operator]
    both = (Scoreboard.score > 1) & (Scoreboard.score < 9)
    assert isinstance(both, dynorm.expressions.And)


class Evolving(Model, table="newcomer-evolving"):
    id: Annotated[str, PartitionKey]
    kind: str = "a"


class EvolvedLater(Model, table="newcomer-evolving"):
    id: Annotated[str, PartitionKey]
    kind: str = "a"

    by_kind = GlobalIndex("kind", "id")


async def test_create_table_warns_of_an_index_the_table_lacks(
        dynorm_connection: Connection, caplog: pytest.LogCaptureFixture) -> None:
    await Evolving.create_table()
    with caplog.at_level(logging.WARNING, logger="dynorm.tables"):
        await EvolvedLater.create_table()
    warned = [r.getMessage() for r in caplog.records if r.name == "dynorm.tables"]
    assert len(warned) == 1, warned
    assert "EvolvedLater: table 'newcomer-evolving' already exists without the global index " \
           "'by_kind'" in warned[0]
    assert "UpdateTable" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynorm.tables"):
        await Evolving.create_table()  # nothing missing: no warning
    assert not [r for r in caplog.records if r.name == "dynorm.tables"]
