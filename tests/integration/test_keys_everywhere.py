"""One way to pass a key, against a server: each spelling of one key reaches the same item
through every API that takes a key (request shapes: tests/unit/test_keys_everywhere.py)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

import dynorm
from dynorm import Connection, InvalidKey, Model, PartitionKey, SortKey


class Run(Model, table="k_runs"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    points: int = 0


class Ticket(Model, table="k_shop", entity="ticket"):
    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("TICKET#{ticket_id}")
    user_id: str
    ticket_id: str
    points: int = 0


#: (model, an item, every spelling of its key)
CASES: list[tuple[type[Model], Model, list[Any]]] = [
    (Run, Run(user_id="u1", game="tetris", points=1),
     [("u1", "tetris"), {"user_id": "u1", "game": "tetris"}]),
    (Ticket, Ticket(user_id="u1", ticket_id="t9", points=1),
     [{"user_id": "u1", "ticket_id": "t9"}]),
]


@pytest.mark.dynorm_tables([Run, Ticket])
@pytest.mark.parametrize(("model", "item", "keys"), CASES, ids=["plain", "templated"])
async def test_each_spelling_reaches_the_item_everywhere(
        dynorm_connection: Connection, model: type[Model], item: Model, keys: list[Any]
) -> None:
    await item.save()
    points = model.__dynorm_paths__["points"]
    for n, key in enumerate(keys, start=2):
        assert await model.get(key, consistent=True) == item
        assert await model.find_one(key, consistent=True) == item
        assert await model.get_many([key], consistent=True) == [item]
        assert await dynorm.get_many(model, [key], consistent=True) == [item]
        assert await dynorm.batch_get((model, key), consistent=True) == (item,)
        assert await dynorm.transact_get((model, key)) == (item,)
        async with dynorm.transaction() as tx:
            tx.check(model, key, points == n - 1)  # true of this item only
        updated = await model.update_item(key, points.set(n))
        assert updated is not None and updated.model_dump()["points"] == n
        item = updated
    assert await model.get(**keys[-1]) == item  # the key fields as keywords
    async with dynorm.batch() as b:
        b.delete(model, keys[0])
    for key in keys:
        assert await model.find_one(key, consistent=True) is None


@pytest.mark.dynorm_tables([Run])
async def test_the_get_shorthands(dynorm_connection: Connection) -> None:
    run = await Run(user_id="u1", game="chess", points=3).save()
    assert await Run.get("u1", "chess") == run
    assert await Run.get(user_id="u1", game="chess") == run
    with pytest.raises(InvalidKey, match=r"Run: a key is \(user_id, game\)"):
        await Run.get(("u1", "chess", "x"))
    with pytest.raises(InvalidKey, match="by position or by name, not both"):
        await Run.get("u1", game="chess")
