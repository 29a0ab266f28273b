"""Static typing of the blocking API (issue 19), run by mypy (tests/typing is in its files).

Each twin is typed from its async operation: the same parameters, the awaited result.
Under pytest the file only proves it imports; the checking is mypy's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from typing_extensions import assert_type

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, SortKey, Version, attr
from dynorm.blocking import (
    BlockingBatch,
    BlockingConnection,
    BlockingTransaction,
    InstanceTwin,
    ModelTwin,
    ReadTwin,
)
from dynorm.read.pagination import Page


class Player(Model, table="typing-blocking-players"):
    id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    tags: set[str] = set()
    version: Annotated[int, Version] = 0
    by_score = GlobalIndex("game", "score")


class Guild(Model, table="typing-blocking-guilds"):
    name: Annotated[str, PartitionKey]


def connections() -> None:
    with dynorm.blocking.connect(region="eu-west-1") as conn:
        assert_type(conn, BlockingConnection)
        assert_type(conn.connection, dynorm.Connection)
        assert_type(conn.call("DescribeTable", {"TableName": "t"}), dict[str, Any])
    assert_type(dynorm.blocking.configure(endpoint_url="http://127.0.0.1:8000"),
                BlockingConnection)
    assert_type(dynorm.blocking.get_connection(), BlockingConnection)
    with dynorm.blocking.local() as local:
        assert_type(local, BlockingConnection)
    dynorm.blocking.close()


def class_side() -> None:
    assert_type(Player.sync, ModelTwin[Player])
    assert_type(Player.sync.get("p", "g"), Player)
    assert_type(Player.sync.get(id="p", game="g", consistent=True), Player)
    assert_type(Player.sync.find_one("p", "g"), Player | None)
    assert_type(Player.sync.get_many([("p", "g")]), list[Player | None])
    assert_type(Player.sync.update_item(("p", "g"), attr(Player.score).add(1)), Player | None)
    assert_type(Player.sync.create_table(), None)
    assert_type(Player.sync.delete_table(), None)
    assert_type(Player.sync.table_name(), str)


def instance_side(p: Player) -> None:
    assert_type(p.sync, InstanceTwin[Player])
    assert_type(p.sync.save(), Player)
    assert_type(p.sync.save(condition=attr(Player.score) > 1), Player)
    assert_type(p.sync.update(attr(Player.score).add(1)), Player)
    assert_type(p.sync.refresh(), Player)
    assert_type(p.sync.move(game="h"), Player)
    assert_type(p.sync.delete(), None)


def reads() -> None:
    q = Player.query(attr(Player.id) == "p").limit(5)
    assert_type(q.sync, ReadTwin[Player])
    assert_type(q.sync.to_list(), list[Player])
    assert_type(q.sync.first(), Player | None)
    assert_type(q.sync.count(), int)
    assert_type(q.sync.page(size=10, cursor=None), Page[Player])
    assert_type(q.sync.pages(), Iterator[Page[Player]])
    for item in q.sync:
        assert_type(item, Player)
    assert_type(Player.scan().segments(2).sync.to_list(), list[Player])
    assert_type(Player.by_score.query(attr(Player.game) == "g").sync.first(), Player | None)


def module_functions() -> None:
    assert_type(dynorm.blocking.get_many(Player, [("p", "g")]), list[Player | None])
    assert_type(dynorm.blocking.batch_get((Player, ("p", "g")), (Guild, "x")),
                tuple[Player | None, Guild | None])
    assert_type(dynorm.blocking.transact_get((Guild, "x")), tuple[Guild | None])
    assert_type(dynorm.blocking.create_tables(Player, Guild), None)


def writes(p: Player, g: Guild) -> None:
    with dynorm.blocking.transaction(token="t") as tx:
        assert_type(tx, BlockingTransaction)
        assert_type(tx.save(p), None)
        assert_type(tx.update(p, attr(Player.score).add(1)), None)
        assert_type(tx.delete(g), None)
        assert_type(tx.check(Guild, "x", attr(Guild.name).exists()), None)
    with dynorm.blocking.batch(concurrency=4) as b:
        assert_type(b, BlockingBatch)
        assert_type(b.save(g), None)
        assert_type(b.delete(Guild, "y"), None)
        assert_type(b.written, int)


def wrong_calls_are_flagged(p: Player) -> None:
    # Each line is an error for mypy; the ignore codes prove mypy flags exactly these.
    Player.sync.update_item(("p", "g"), upsert="yes")  # type: ignore[arg-type]
    p.sync.save(store_none="yes")  # type: ignore[arg-type]
    Player.query(attr(Player.id) == "p").sync.page(size="10")  # type: ignore[arg-type]
    dynorm.blocking.connect(regin="eu-west-1")  # type: ignore[call-arg]
    dynorm.blocking.transaction(retries=3)  # type: ignore[call-arg]
    dynorm.blocking.get_many(Player, ["p"], consistent=1.5)  # type: ignore[arg-type]
    _: str = Player.sync.get("p", "g")  # type: ignore[assignment]


def test_module_imports() -> None:
    assert isinstance(Player.sync, ModelTwin)
    assert isinstance(Player(id="p", game="g").sync, InstanceTwin)
