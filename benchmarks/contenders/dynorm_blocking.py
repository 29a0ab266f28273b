"""dynorm's blocking API (``Bench.sync.get``, ``m.sync.save()``, ``with
dynorm.blocking.batch()``) on the fast transport: what a Flask view or a script runs.

The benchmark's own code runs on an event loop, and a blocking call from a thread that
runs a loop is handed to the connection's portal thread (an async notebook cell's case,
not a script's). So every timed unit runs in a worker thread of this contender's, one
for its whole life, as a WSGI server's request thread or a script's main thread would:
there the portal runs its loop in the calling thread. The benchmark's loop waits for the
unit meanwhile, as it waits for PynamoDB's and boto3's blocking calls.

Each blocking connection is current in a context of its own (its ``with`` block entered
in the worker), and every unit runs in that context.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import dynorm
from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, Bench

T = TypeVar("T")
attr = dynorm.attr


class DynormBlocking(Contender):
    sync = True
    returns = "validated Bench models"

    def __init__(self, transport: Literal["fast", "aioboto3"] = "fast") -> None:
        self.transport = transport
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="dynorm-blocking-bench")

    def _in_worker(self, context: contextvars.Context, fn: Callable[[], T]) -> T:
        """``fn()`` in the worker thread, in ``context``; its result (or its error)."""
        return self.worker.submit(context.run, fn).result()

    async def open(self, url: str, tx_url: str) -> None:
        def connect(endpoint: str) -> tuple[dynorm.blocking.BlockingConnection,
                                            contextvars.Context]:
            conn = dynorm.blocking.connect(endpoint_url=endpoint, region=REGION,
                                           transport=self.transport, **CREDS)
            context = contextvars.Context()
            context.run(conn.__enter__)  # current in this context, opened in the worker
            return conn, context

        self.conn, self.context = self.worker.submit(connect, url).result()
        self.tx_conn, self.tx_context = self.worker.submit(connect, tx_url).result()

    async def close(self) -> None:
        try:
            for conn, context in ((self.tx_conn, self.tx_context),
                                  (self.conn, self.context)):
                self._in_worker(context, functools.partial(conn.__exit__, None, None, None))
        finally:
            self.worker.shutdown()

    async def put(self, items: Sequence[Bench]) -> None:
        def run() -> None:
            for m in items:
                m.sync.save()

        self._in_worker(self.context, run)

    async def get(self, keys: Sequence[Key]) -> None:
        def run() -> None:
            for pk, sk in keys:
                Bench.sync.get(pk, sk)

        self._in_worker(self.context, run)

    async def update(self, items: Sequence[Bench]) -> None:
        def run() -> None:
            for m in items:
                m.sync.update(attr(Bench.score).add(1), attr(Bench.status).set("seen"),
                              condition=attr(Bench.score) < MAX_SCORE)

        self._in_worker(self.context, run)

    async def query(self, pk: str, page_size: int | None) -> int:
        def run() -> int:
            query = Bench.query(attr(Bench.pk) == pk)
            if page_size:
                query = query.page_size(page_size)
            return sum(1 for _ in query.sync)

        return self._in_worker(self.context, run)

    async def scan(self, segments: int) -> int:
        def run() -> int:
            return sum(1 for _ in Bench.scan().segments(segments).sync)

        return self._in_worker(self.context, run)

    async def batch_write(self, items: Sequence[Bench]) -> None:
        def run() -> None:
            with dynorm.blocking.batch() as b:
                for m in items:
                    b.save(m)

        self._in_worker(self.context, run)

    async def batch_get(self, keys: Sequence[Key]) -> int:
        def run() -> int:
            found = dynorm.blocking.get_many(Bench, keys)
            return sum(1 for m in found if m is not None)

        return self._in_worker(self.context, run)

    async def transaction(self, items: Sequence[Bench]) -> None:
        def run() -> None:
            with dynorm.blocking.transaction() as tx:
                for m in items:
                    tx.save(m)

        self._in_worker(self.tx_context, run)

