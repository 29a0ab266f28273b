"""Static typing checks, run by mypy (`mypy` checks tests/typing, see pyproject.toml).

Each `assert_type` states what a user's editor sees. The file also runs under pytest,
which only proves it imports; the checking is mypy's.
"""

from __future__ import annotations

from typing import Annotated

from typing_extensions import assert_type

import dynorm
from dynorm import Attr, Condition, GlobalIndex, Model, PartitionKey, SortKey, attr
from dynorm.expressions import UpdateAction
from dynorm.read.pagination import Page
from dynorm.read.query import Query, Scan


class Player(Model, table="players"):
    id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    tags: set[str] = set()
    by_score = GlobalIndex("game", "score")


async def reads() -> None:
    assert_type(await Player.get("p", "g"), Player)
    assert_type(await Player.find_one("p", "g"), Player | None)
    q = Player.query(attr(Player.id) == "p")
    assert_type(q, Query[Player])
    assert_type(q.filter(attr(Player.score) > 3).reverse().limit(5), Query[Player])
    assert_type(await q.to_list(), list[Player])
    assert_type(await q.first(), Player | None)
    assert_type(await q.count(), int)
    assert_type(await q.page(size=10), Page[Player])
    async for p in q:
        assert_type(p, Player)
    assert_type(Player.scan().segments(2), Scan[Player])
    assert_type(await Player.by_score.query(attr(Player.game) == "g").to_list(), list[Player])


async def writes(p: Player) -> None:
    assert_type(await p.save(), Player)
    assert_type(await p.update(attr(Player.score).add(1)), Player)
    assert_type(await Player.update_item(("p", "g"), attr(Player.tags).add({"x"})), Player | None)


def expressions() -> None:
    assert_type(attr(Player.score), Attr[int])
    assert_type(attr(Player.score) >= 3, Condition)
    assert_type(attr(Player.tags).add({"a"}), UpdateAction)
    assert_type((attr(Player.score) > 1) & (attr(Player.id) == "x"), Condition)


def wrong_types_are_flagged() -> None:
    # Each line is an error for mypy; the ignore codes prove mypy flags exactly these.
    _ = attr(Player.score) > "ten"  # type: ignore[operator]
    _ = attr(Player.tags).add(5)  # type: ignore[arg-type]
    _ = attr(Player.score).between("a", "b")  # type: ignore[arg-type]
    _ = Player.scroe  # type: ignore[attr-defined]  # a typo in a field name
    _ = dynorm.connect(regin="eu-west-1")  # type: ignore[call-arg]  # a misspelt setting
    _ = dynorm.local(max_attempts="3")  # type: ignore[arg-type]


def test_module_imports() -> None:
    assert Player.__dynorm_meta__ is not None
