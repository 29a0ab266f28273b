"""dynorm on one of its transports: the whole model layer (validated models in and out)."""

from __future__ import annotations

from collections.abc import Sequence

import dynorm
import dynorm.connection
from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, Bench


class Dynorm(Contender):
    def __init__(self, transport: str) -> None:
        self.transport = transport

    async def open(self, url: str, tx_url: str) -> None:
        self.conn = dynorm.connect(endpoint_url=url, region=REGION, transport=self.transport,
                                   **CREDS)
        self.tx_conn = dynorm.connect(endpoint_url=tx_url, region=REGION,
                                      transport=self.transport, **CREDS)
        await self.conn.open()
        await self.tx_conn.open()

    async def close(self) -> None:
        await self.tx_conn.close()
        await self.conn.close()

    def activate(self) -> None:
        # Several dynorm connections are open at once here; the current one is the task's.
        dynorm.connection._current.set(self.conn)

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            await m.save()

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            await Bench.get(pk, sk)

    async def update(self, items: Sequence[Bench]) -> None:
        for m in items:
            await m.update(Bench.score.add(1), Bench.status.set("seen"),
                           condition=Bench.score < MAX_SCORE)

    async def query(self, pk: str, page_size: int) -> int:
        count = 0
        async for _ in Bench.query(Bench.pk == pk).page_size(page_size):
            count += 1
        return count

    async def batch_write(self, items: Sequence[Bench]) -> None:
        async with dynorm.batch() as b:
            for m in items:
                b.save(m)

    async def batch_get(self, keys: Sequence[Key]) -> int:
        found = await Bench.get_many(keys)
        return sum(1 for m in found if m is not None)

    async def transaction(self, items: Sequence[Bench]) -> None:
        dynorm.connection._current.set(self.tx_conn)
        try:
            async with dynorm.transaction() as tx:
                for m in items:
                    tx.save(m)
        finally:
            dynorm.connection._current.set(self.conn)
