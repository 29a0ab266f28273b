"""Quickstart: a game leaderboard on DynamoDB.

Run it on the embedded local backend (no AWS account, no Docker):

    python examples/quickstart.py

It never goes to AWS on its own: credentials in the environment (AWS_PROFILE,
AWS_ACCESS_KEY_ID) do not switch it. To run it elsewhere, say so:

    # a server you run:
    DYNORM_ENDPOINT_URL=http://127.0.0.1:8000 python examples/quickstart.py
    # real AWS:
    DYNORM_EXAMPLE_AWS=1 AWS_REGION=eu-west-1 python examples/quickstart.py

On AWS the table "quickstart-scores" is created (billed) and deleted again.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from typing import Annotated

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, SortKey, Version, attr


class Score(Model, table="quickstart-scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    tags: set[str] = set()
    achieved: datetime
    version: Annotated[int, Version] = 0

    by_game = GlobalIndex(partition_key="game", sort_key="score")


async def main() -> None:
    now = datetime.now(timezone.utc)
    await Score.create_table()

    ada = Score(user_id="ada", game="tetris", score=10, achieved=now, tags={"pro"})
    await ada.save()  # version 0 -> 1, guarded: no one else created this item meanwhile
    await Score(user_id="bob", game="tetris", score=7, achieved=now).save()
    print("saved:", ada.user_id, ada.score, "version", ada.version)

    loaded = await Score.get("ada", "tetris", consistent=True)
    print("read back:", loaded.score, sorted(loaded.tags), loaded.achieved.isoformat())

    loaded.score += 5
    await loaded.save(condition=attr(Score.score) < 100)  # attr(): typed for mypy
    print("updated:", (await Score.get("ada", "tetris", consistent=True)).score)

    try:
        # ada still carries version 1: someone saved version 2 meanwhile
        await ada.save()
    except dynorm.VersionConflict as exc:
        print("stale copy refused:", exc.expected, "vs", exc.actual)

    await loaded.update(attr(Score.score).add(1), attr(Score.tags).add({"fast"}))
    print("atomic update:", loaded.score, sorted(loaded.tags),
          "version", loaded.version)

    query = Score.by_game.query(attr(Score.game) == "tetris").reverse().limit(10)
    top = await query.to_list()
    print("top tetris:", [(s.user_id, s.score) for s in top])

    missing = await Score.find_one("carol", "tetris")
    print("carol:", missing)

    await loaded.delete()
    print("after delete:", await Score.find_one("ada", "tetris"))
    await Score.delete_table()


async def run() -> None:
    # Only an explicit choice leaves the embedded backend (never the mere presence of
    # AWS credentials): a server's URL, or DYNORM_EXAMPLE_AWS=1 for real AWS.
    if (os.environ.get("DYNORM_ENDPOINT_URL")
            or os.environ.get("DYNORM_EXAMPLE_AWS") == "1"):
        async with dynorm.connect():
            await main()
    else:
        async with dynorm.local():
            await main()


if __name__ == "__main__":
    asyncio.run(run())
