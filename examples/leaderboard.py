"""A gaming leaderboard: top-N per game from a global index, atomic score updates.

Run it on the embedded local backend: ``python examples/leaderboard.py``.

* Every (player, game) pair is one item. The global index ``by_game`` (partition
  ``game``, sort ``score``) keeps each game's scores in order, so the top N is a
  Query read backwards with a limit: no scan, no sorting in Python.
* A popular game is a hot key: every score of it goes to one index partition, which
  DynamoDB serves at about 1,000 writes a second. ``shards=8`` spreads each game over
  8 partition keys (``tetris#0`` .. ``tetris#7``, chosen from a hash of the item's key);
  the same query then reads the 8 shards at once and merges them by score, asking each
  for at most N items (docs/hot-keys.md).
* Points are added with ``update()``/``update_item()`` and ``add``: DynamoDB adds on the
  server (``ADD score :v``), so concurrent writers never lose an increment.
* A personal best is kept with a conditional ``set``: it only replaces a lower value.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, SortKey, attr


class PlayerScore(Model, table="leaderboard-scores"):
    player: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    rounds: int = 0
    best_round: int = 0

    # a game's scores, in score order, spread over 8 partitions
    by_game = GlobalIndex("game", "score", shards=8)


async def add_points(player: str, game: str, points: int) -> PlayerScore:
    """One round: add the points atomically, count the round, keep the personal best."""
    after = await PlayerScore.update_item(
        (player, game),
        attr(PlayerScore.score).add(points),
        attr(PlayerScore.rounds).add(1),
        # the first round creates the item (every other field has a default)
        upsert=True,
    )
    assert after is not None
    # A compare-and-set on the server: only a higher round replaces the best.
    with contextlib.suppress(dynorm.ConditionFailed):  # not a personal best
        await PlayerScore.update_item(
            (player, game),
            attr(PlayerScore.best_round).set(points),
            # An item created by update_item() holds only the attributes written, so
            # best_round may be missing on the server (the model shows its default, 0).
            condition=attr(PlayerScore.best_round).not_exists()
            | (attr(PlayerScore.best_round) < points),
        )
    return after


async def top(game: str, n: int) -> list[PlayerScore]:
    """The n best scores of a game: the index read backwards (highest score first), its
    8 shards at once, merged."""
    query = PlayerScore.by_game.query(attr(PlayerScore.game) == game)
    return await query.reverse().limit(n).to_list()


async def main() -> list[PlayerScore]:
    await PlayerScore.create_table()

    rounds = [("ada", 120), ("bob", 80), ("cy", 95), ("dee", 60), ("eve", 150),
              ("ada", 40), ("bob", 90), ("cy", 10), ("dee", 200)]
    for player, points in rounds:
        await add_points(player, "tetris", points)
    await add_points("ada", "chess", 3)

    # 50 concurrent +1 updates on one item: ADD is atomic, none is lost.
    await asyncio.gather(*(add_points("bob", "tetris", 1) for _ in range(50)))
    bob = await PlayerScore.get("bob", "tetris", consistent=True)
    print(f"bob after 50 concurrent +1: score={bob.score} rounds={bob.rounds}")

    # The instance form: update() applies the actions and refreshes the copy.
    eve = await PlayerScore.get("eve", "tetris")
    await eve.update(attr(PlayerScore.score).add(25), attr(PlayerScore.rounds).add(1))
    print(f"eve bonus: score={eve.score} rounds={eve.rounds}")

    best = await top("tetris", 3)
    print("top 3 tetris:", [(s.player, s.score) for s in best])
    print("personal bests:", {s.player: s.best_round for s in await top("tetris", 10)})
    print("chess:", [(s.player, s.score) for s in await top("chess", 3)])
    return best


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
