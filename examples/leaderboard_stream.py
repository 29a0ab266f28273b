"""Keep a leaderboard up to date from score changes, with a stream listener.

Run it: ``python examples/leaderboard_stream.py`` (embedded local server, a few
seconds). Scores are written to a stream-enabled table; the listener turns every insert,
modify and remove into a typed ChangeEvent and keeps each game's best scores in an
aggregate item.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey, SortKey
from dynorm.streams import ChangeEvent, StreamListener


class Score(Model, table="scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    points: int = 0


class Leaderboard(Model, table="leaderboards"):
    game: Annotated[str, PartitionKey]
    best: dict[str, int] = {}  # user id -> points
    changes: int = 0

    def top(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.best.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


listener = StreamListener(Score, poll_interval=0.05)


@listener.on(Score)  # insert, modify and remove
async def score_changed(event: ChangeEvent[Score]) -> None:
    game = (event.new or event.old or Score(**event.keys)).game
    board = await Leaderboard.find_one(game) or Leaderboard(game=game)
    if event.kind == "remove":
        board.best.pop(event.keys["user_id"], None)
    elif event.new is not None:
        board.best[event.new.user_id] = event.new.points
    board.changes += 1
    await board.save()


async def main() -> None:
    async with dynorm.local():
        await Score.create_table(stream="NEW_AND_OLD_IMAGES")
        await Leaderboard.create_table()

        for user, points in [("ada", 30), ("bob", 25), ("cy", 40), ("dee", 10)]:
            await Score(user_id=user, game="tetris", points=points).save()
        bob = await Score.get("bob", "tetris")
        bob.points += 20
        await bob.save()  # a modify: bob now has 45
        await (await Score.get("dee", "tetris")).delete()  # a remove

        run = asyncio.create_task(listener.run())
        while listener.metrics.events_handled < 6:  # 4 inserts, 1 modify, 1 remove
            await asyncio.sleep(0.05)
        listener.stop()
        await asyncio.wait_for(run, 10)

        board = await Leaderboard.get("tetris")
        print(f"tetris leaderboard after {board.changes} changes:")
        for rank, (user, points) in enumerate(board.top(), start=1):
            print(f"  {rank}. {user:<4} {points}")
        shown = ("events_handled", "handler_errors", "max_lag_seconds")
        print("metrics:", {k: v for k, v in listener.metrics.snapshot().items()
                           if k in shown})


if __name__ == "__main__":
    asyncio.run(main())
