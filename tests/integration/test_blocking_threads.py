"""The blocking API under threads and beside async code (issue 19).

* 32 threads call at once, mixing every kind of operation, and every result is checked;
* async code on the connection's loop (a hook) cannot make a blocking call: a clear error,
  not a deadlock; a thread running a loop of its own (an async app, a notebook) can;
* the same model classes serve both worlds; the caller's context reaches the hooks;
* connections: a ``with`` block per thread, ``configure()`` for every thread, the
  escape hatches (``call()``, ``run()``), ``local()``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    ConnectionNotConfigured,
    GlobalIndex,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    Version,
    VersionConflict,
    attr,
)
from dynorm.blocking import BlockingCallInEventLoop, BlockingConnection
from dynorm.local._wire import LOCAL_CREDENTIALS, LOCAL_REGION

THREADS = 32
TASKS = 64


class Entry(Model, table="blocking-entries"):
    owner: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    text: str
    by_text = GlobalIndex("text", "n")


class Wallet(Model, table="blocking-wallets"):
    wallet_id: Annotated[str, PartitionKey]
    balance: int = 0
    version: Annotated[int, Version] = 0


class Counter(Model, table="blocking-counters"):
    name: Annotated[str, PartitionKey]
    hits: int = 0


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
SEEN_IN_HOOK: list[str] = []


class Audited(Model, table="blocking-audited"):
    key: Annotated[str, PartitionKey]
    peek: str = ""

    async def before_save(self) -> None:
        SEEN_IN_HOOK.append(request_id.get())
        if self.peek:  # a blocking call from async code on the loop: refused
            Counter.sync.get(self.peek)


def settings(server: LocalServer, **extra: Any) -> dict[str, Any]:
    return {"endpoint_url": server.endpoint_url, "region": LOCAL_REGION, **LOCAL_CREDENTIALS,
            **extra}


@pytest.fixture
def server(dynorm_server: LocalServer) -> LocalServer:
    dynorm_server.reset()
    return dynorm_server


@pytest.fixture
def configured(server: LocalServer) -> Iterator[BlockingConnection]:
    """``configure()``: the connection of every thread."""
    connection = dynorm.blocking.configure(**settings(server, max_attempts=5))
    try:
        dynorm.blocking.create_tables(Entry, Wallet, Counter, Audited)
        yield connection
    finally:
        dynorm.blocking.close()


def work(task: int) -> dict[str, Any]:
    """One thread's mixed operations on its own items, each result checked here too."""
    me = f"t{task:02d}"
    wallet = Wallet(wallet_id=me, balance=100).sync.save()
    assert wallet.version == 1
    stale = Wallet.sync.get(me, consistent=True)
    wallet.sync.update(attr(Wallet.balance).add(-10))
    assert wallet.balance == 90 and wallet.version == 2
    try:
        stale.sync.save()
        raise AssertionError("a stale copy was saved")
    except VersionConflict as conflict:
        assert (conflict.expected, conflict.actual) == (1, 2)

    with dynorm.blocking.batch() as b:
        for n in range(7):
            b.save(Entry(owner=me, n=n, text=f"{me}-{n % 2}"))
    q = Entry.query(attr(Entry.owner) == me)
    entries = q.sync.to_list()
    assert [e.n for e in entries] == list(range(7))
    assert [e.n for e in q.page_size(2).sync] == list(range(7))
    pages, cursor = [], None
    while True:
        page = q.sync.page(size=3, cursor=cursor)
        pages.append([e.n for e in page])
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == [[0, 1, 2], [3, 4, 5], [6]]
    assert q.sync.count() == 7 and q.reverse().sync.first() == entries[-1]
    odd = Entry.by_text.query(attr(Entry.text) == f"{me}-1").sync.to_list()
    assert [e.n for e in odd] == [1, 3, 5]

    partner = Wallet(wallet_id=f"{me}-p", balance=0).sync.save()
    with dynorm.blocking.transaction() as tx:
        tx.update(wallet, attr(Wallet.balance).add(-40), condition=attr(Wallet.balance) >= 40)
        tx.update(partner, attr(Wallet.balance).add(40))
        tx.delete(entries[0])
    mine, theirs = dynorm.blocking.transact_get((Wallet, me), (Wallet, f"{me}-p"))
    assert mine is not None and theirs is not None
    assert (mine.balance, theirs.balance) == (50, 40)

    found = dynorm.blocking.get_many(Entry, [(me, 0), (me, 6), (me, 3)])
    assert [e.n if e else None for e in found] == [None, 6, 3]
    Counter.sync.update_item("shared", attr(Counter.hits).add(1), upsert=True)
    entries[6].sync.delete()
    assert Entry.sync.find_one(me, 6) is None
    return {"task": task, "balance": mine.balance, "entries": q.sync.count(),
            "thread": threading.get_ident()}


@pytest.mark.parametrize("transport", ["fast", "aioboto3"])
def test_32_threads_calling_at_once(server: LocalServer, transport: str) -> None:
    connection = dynorm.blocking.configure(**settings(server, max_attempts=8,
                                                      transport=transport))
    try:
        dynorm.blocking.create_tables(Entry, Wallet, Counter)
        barrier = threading.Barrier(THREADS)

        def start_together(task: int) -> dict[str, Any]:
            if task < THREADS:
                barrier.wait(timeout=60)
            return work(task)

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(start_together, range(TASKS)))
        assert [r["task"] for r in results] == list(range(TASKS))
        assert all(r["balance"] == 50 and r["entries"] == 5 for r in results)
        assert len({r["thread"] for r in results}) == THREADS
        assert Counter.sync.get("shared").hits == TASKS  # no increment lost
        assert Wallet.scan().sync.count() == 2 * TASKS
        assert connection.is_open
    finally:
        dynorm.blocking.close()
    assert not connection.is_open


def test_a_blocking_call_from_async_code_on_the_loop_is_refused(
        configured: BlockingConnection) -> None:
    Counter(name="c").sync.save()
    with pytest.raises(BlockingCallInEventLoop) as refused:
        Audited(key="k", peek="c").sync.save()
    assert "Counter.sync.get" in str(refused.value)
    assert "await Counter.get(...)" in str(refused.value)
    assert Audited.sync.find_one("k") is None  # the hook raised: nothing written
    Audited(key="k").sync.save()  # the connection is fine afterwards


def test_the_callers_context_reaches_the_hooks(configured: BlockingConnection) -> None:
    SEEN_IN_HOOK.clear()
    token = request_id.set("req-7")
    try:
        Audited(key="a").sync.save()
        with dynorm.blocking.transaction() as tx:
            tx.save(Audited(key="b"))
    finally:
        request_id.reset(token)
    assert SEEN_IN_HOOK == ["req-7", "req-7"]


async def test_a_thread_running_its_own_loop_may_call(
        server: LocalServer, configured: BlockingConnection) -> None:
    """An async app or notebook cell: the blocking call runs on the portal thread (this
    loop waits meanwhile) and the same model classes work both ways."""
    saved = Counter(name="from-async", hits=3).sync.save()
    assert Counter.sync.get("from-async") == saved
    assert [c.name for c in Counter.scan().sync] == ["from-async"]
    async with dynorm.connect(**settings(server)):
        assert await Counter.get("from-async") == saved  # the async API, same class


def test_no_connection_names_the_call_and_the_fix(server: LocalServer) -> None:
    with pytest.raises(ConnectionNotConfigured) as info:
        Counter.sync.get("x")
    assert "Counter.sync.get" in str(info.value)
    assert "dynorm.blocking.connect" in str(info.value)


def test_a_with_block_is_current_in_its_thread_only(server: LocalServer) -> None:
    with dynorm.blocking.connect(**settings(server)) as conn:
        assert dynorm.blocking.get_connection() is conn
        Counter.sync.create_table()
        Counter(name="w").sync.save()
        with ThreadPoolExecutor(1) as pool:
            elsewhere = pool.submit(Counter.sync.get, "w")
            with pytest.raises(ConnectionNotConfigured):
                elsewhere.result()
            # a thread given a copy of this context uses the block's connection
            shared = pool.submit(contextvars.copy_context().run, Counter.sync.get, "w")
            assert shared.result().name == "w"
    assert not conn.is_open


def test_escape_hatches_and_table_prefix(server: LocalServer) -> None:
    with dynorm.blocking.connect(**settings(server, table_prefix="pre-")) as conn:
        Counter.sync.create_table()
        assert Counter.sync.table_name() == "pre-blocking-counters"
        described = conn.call("DescribeTable", {"TableName": "pre-blocking-counters"})
        assert described["Table"]["TableStatus"] == "ACTIVE"

        async def mine() -> int:
            await Counter(name="r", hits=5).save()
            return (await Counter.get("r")).hits

        assert dynorm.blocking.run(mine()) == 5
        assert conn.run(Counter.get("r")).hits == 5


def test_local_starts_and_stops_an_embedded_server() -> None:
    with dynorm.blocking.local() as conn:
        Counter.sync.create_table()
        Counter(name="l").sync.save()
        assert Counter.sync.get("l").name == "l"
        endpoint = conn.connection.endpoint_url
    assert not conn.is_open and endpoint is not None
