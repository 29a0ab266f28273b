"""dynorm on one of its transports: the whole model layer (validated models in and out).

Only top-level ``dynorm`` names are used, so the adapter survives moves inside the
package. Several dynorm connections are open at once here (the main server, the
transactions server, sometimes an https and a plain endpoint); which one is current
belongs to the task (a ``ContextVar``), so each connection gets a context of its own, made
by entering its ``async with`` block, and every call runs in a task started from it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Sequence
from typing import Any, Literal, TypeVar

import dynorm
from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, Bench

T = TypeVar("T")
attr = dynorm.attr  # the typed form of a field path (the same object at run time)


async def _context_of(conn: dynorm.Connection) -> contextvars.Context:
    """A context in which ``conn`` is the current connection (its ``async with`` entered;
    leaving is ``conn.close()``)."""

    async def enter() -> contextvars.Context:
        await conn.__aenter__()
        return contextvars.copy_context()

    return await asyncio.ensure_future(enter())


async def _within(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a task started from ``context``: one task per timed unit."""
    return await context.run(asyncio.ensure_future, coro)


class Dynorm(Contender):
    returns = "validated Bench models"

    def __init__(self, transport: Literal["fast", "aioboto3"]) -> None:
        self.transport = transport

    async def open(self, url: str, tx_url: str) -> None:
        def connect(endpoint: str) -> dynorm.Connection:
            return dynorm.connect(endpoint_url=endpoint, region=REGION,
                                  transport=self.transport, **CREDS)

        self.conn = connect(url)
        self.tx_conn = connect(tx_url)
        self.context = await _context_of(self.conn)
        self.tx_context = await _context_of(self.tx_conn)

    async def close(self) -> None:
        await self.tx_conn.close()
        await self.conn.close()

    async def put(self, items: Sequence[Bench]) -> None:
        async def run() -> None:
            for m in items:
                await m.save()

        await _within(self.context, run())

    async def get(self, keys: Sequence[Key]) -> None:
        async def run() -> None:
            for pk, sk in keys:
                await Bench.get(pk, sk)

        await _within(self.context, run())

    async def update(self, items: Sequence[Bench]) -> None:
        async def run() -> None:
            for m in items:
                await m.update(attr(Bench.score).add(1), attr(Bench.status).set("seen"),
                               condition=attr(Bench.score) < MAX_SCORE)

        await _within(self.context, run())

    async def query(self, pk: str, page_size: int | None) -> int:
        async def run() -> int:
            query = Bench.query(attr(Bench.pk) == pk)
            if page_size:
                query = query.page_size(page_size)
            count = 0
            async for _ in query:
                count += 1
            return count

        return await _within(self.context, run())

    async def scan(self, segments: int) -> int:
        async def run() -> int:
            count = 0
            async for _ in Bench.scan().segments(segments):
                count += 1
            return count

        return await _within(self.context, run())

    async def batch_write(self, items: Sequence[Bench]) -> None:
        async def run() -> None:
            async with dynorm.batch() as b:
                for m in items:
                    b.save(m)

        await _within(self.context, run())

    async def batch_get(self, keys: Sequence[Key]) -> int:
        async def run() -> int:
            found = await Bench.get_many(keys)
            return sum(1 for m in found if m is not None)

        return await _within(self.context, run())

    async def transaction(self, items: Sequence[Bench]) -> None:
        async def run() -> None:
            async with dynorm.transaction() as tx:
                for m in items:
                    tx.save(m)

        await _within(self.tx_context, run())
