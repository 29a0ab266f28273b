"""User profiles with optimistic locking: a version conflict handled by
reload-and-retry.

Run it on the embedded local backend: ``python examples/profiles_locking.py``.

A ``Version`` field makes every ``save()``, ``update()`` and ``delete()`` conditional on
the stored version being the one this copy was read with, and bumps it by one. Of two
writers working from the same version exactly one wins; the other gets
``VersionConflict`` (with ``.expected`` and ``.actual``) and must not simply write
again: it reloads the current item, re-applies its change to it, and saves that.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey, Version, VersionConflict


class Profile(Model, table="profiles"):
    user_id: Annotated[str, PartitionKey]
    display_name: str
    bio: str = ""
    followers: int = 0
    version: Annotated[int, Version] = 0


retries = 0


async def edit(user_id: str, change: Callable[[Profile], None],
               attempts: int = 30) -> Profile:
    """Read, change, save; on a version conflict reload and apply the change again."""
    global retries
    for attempt in range(attempts):
        profile = await Profile.get(user_id, consistent=True)
        change(profile)
        try:
            return await profile.save()
        except VersionConflict:
            retries += 1
            # back off
            await asyncio.sleep(random.uniform(0, 0.005 * 2**min(attempt, 5)))
    raise RuntimeError(f"gave up editing {user_id} after {attempts} attempts")


async def main() -> dict[str, object]:
    await Profile.create_table()
    created = await Profile(user_id="ada", display_name="Ada").save()
    print("created: version", created.version)

    # Two editors read the same version...
    alice_copy = await Profile.get("ada", consistent=True)
    bob_copy = await Profile.get("ada", consistent=True)
    alice_copy.bio = "Mathematician"
    await alice_copy.save()  # ...the first save wins: stored version 2
    bob_copy.display_name = "Ada L."
    try:
        await bob_copy.save()  # still carries version 1
    except VersionConflict as exc:
        print(f"bob's save refused: his copy has version {exc.expected}, "
              f"the table has {exc.actual}")
        # Reload and re-apply, rather than overwriting alice's bio with a stale copy.
        await bob_copy.refresh()
        bob_copy.display_name = "Ada L."
        await bob_copy.save()
    final = await Profile.get("ada", consistent=True)
    print(f"both edits kept: {final.display_name!r} / {final.bio!r}, "
          f"version {final.version}")

    # Twenty concurrent read-modify-write cycles: conflicts happen, none loses an edit.
    def follow(p: Profile) -> None:
        p.followers += 1

    await asyncio.gather(*(edit("ada", follow) for _ in range(20)))
    final = await Profile.get("ada", consistent=True)
    print(f"20 concurrent follows: followers={final.followers}, "
          f"version {final.version}, conflicts retried: {retries}")

    # delete() is guarded too: a stale copy cannot delete a changed profile.
    try:
        await created.delete()  # version 1: long outdated
    except VersionConflict:
        print("stale delete refused; profile still there:",
              await Profile.find_one("ada") is not None)
    return {"profile": final}


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
