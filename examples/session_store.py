"""A web session store: TTL expiry, strongly consistent reads, sliding expiration.

Run it on the embedded local backend: ``python examples/session_store.py``.

* ``expires`` is the table's TTL attribute (stored as epoch seconds); ``create_table()``
  turns TTL on for it. DynamoDB then deletes expired sessions in the background.
* That deletion is lazy: real DynamoDB takes up to a few days, and the embedded (moto)
  backend never deletes expired items at all. An expired session can therefore still be
  read, so every read here checks ``expires`` itself (and a query filters on it).
* Reads use ``consistent=True``: a session written a moment ago by another request must
  be seen, and a logged-out session must not be.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from typing import Annotated

import dynorm
from dynorm import TTL, GlobalIndex, Model, PartitionKey, attr

LIFETIME = timedelta(minutes=30)


class Session(Model, table="web-sessions"):
    token: Annotated[str, PartitionKey]
    user_id: str
    data: dict[str, str] = {}
    expires: Annotated[datetime, TTL]

    by_user = GlobalIndex("user_id")  # a user's sessions (for "log out everywhere")


def now() -> datetime:
    return datetime.now(timezone.utc)


async def login(user_id: str, lifetime: timedelta = LIFETIME) -> Session:
    session = Session(token=secrets.token_urlsafe(24), user_id=user_id,
                      expires=now() + lifetime)
    # create-only: a token collision must never take over someone else's session
    return await session.save(condition=attr(Session.token).not_exists())


async def load(token: str) -> Session | None:
    """The live session for a token, or None (missing, logged out or expired)."""
    session = await Session.find_one(token, consistent=True)
    if session is None:
        return None
    if session.expires <= now():  # expired but not yet deleted by DynamoDB's TTL
        return None
    return session


async def touch(session: Session, **data: str) -> Session:
    """Sliding expiration plus session data, only while the session is still live."""
    actions = [attr(Session.expires).set(now() + LIFETIME)]
    actions += [attr(Session.data)[key].set(value) for key, value in data.items()]
    return await session.update(*actions, condition=attr(Session.expires) > now())


async def active_sessions(user_id: str) -> list[Session]:
    """A user's live sessions; the filter drops expired items DynamoDB has not
    deleted."""
    query = Session.by_user.query(attr(Session.user_id) == user_id)
    return await query.filter(attr(Session.expires) > now()).to_list()


async def main() -> dict[str, object]:
    await Session.create_table()  # also enables TTL on "expires"

    web = await login("ada")
    phone = await login("ada")
    print("logged in:", web.token[:8] + "...",
          "expires", web.expires.strftime("%H:%M:%S"))

    loaded = await load(web.token)
    assert loaded is not None
    await touch(loaded, theme="dark", cart="c42")
    print("after touch:", (await load(web.token) or web).data)

    stale = await login("ada", lifetime=timedelta(seconds=-1))  # already expired
    raw = await Session.find_one(stale.token, consistent=True)
    print("expired session still stored:", raw is not None,
          "| load() returns:", await load(stale.token))
    try:
        await touch(stale)
    except dynorm.ConditionFailed:
        print("touch() of an expired session refused")

    print("active sessions of ada:", len(await active_sessions("ada")))

    await phone.delete()  # log out
    print("after logout, phone session:", await load(phone.token))
    print("active sessions of ada:", len(await active_sessions("ada")))
    return {"active": await active_sessions("ada"), "stale": raw}


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
