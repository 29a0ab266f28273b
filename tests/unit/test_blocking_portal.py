"""The blocking portal (dynorm/blocking/_portal.py) on plain coroutines: no server.

Results and errors come back as they are; calls from many threads run concurrently on
one loop; a call finds the loop idle and runs it in its own thread, or hands its
operation over; code the loop runs cannot make a blocking call; a thread running an
event loop of its own can; leaving an iterator early closes its source.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dynorm.blocking._portal import BlockingCallInEventLoop, Portal, on_portal_thread

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.close()


def ctx() -> contextvars.Context:
    return contextvars.copy_context()


async def echo(value: object, delay: float = 0.0) -> object:
    await asyncio.sleep(delay)
    return value


def test_results_and_errors_come_back_unchanged(portal: Portal) -> None:
    marker = object()
    assert portal.run(echo(marker), ctx()) is marker

    class Boom(Exception):
        pass

    async def fail() -> None:
        await asyncio.sleep(0)
        raise Boom("from the loop")

    with pytest.raises(Boom, match="from the loop"):
        portal.run(fail(), ctx())
    assert portal.run(echo(2), ctx()) == 2  # the loop survived the error


def test_the_task_runs_in_the_callers_context(portal: Portal) -> None:
    async def read() -> str:
        return request_id.get()

    token = request_id.set("r-42")
    try:
        assert portal.run(read(), ctx()) == "r-42"
    finally:
        request_id.reset(token)


def test_an_idle_loop_runs_in_the_calling_thread(portal: Portal) -> None:
    async def where() -> tuple[int, bool]:
        return threading.get_ident(), on_portal_thread()

    thread, inside = portal.run(where(), ctx())
    assert thread == threading.get_ident() and inside
    assert not on_portal_thread()  # only while the loop runs here


def test_32_threads_at_once_share_one_loop(portal: Portal) -> None:
    """Calls overlap on the loop: 64 calls sleeping 0.2 s each take far less than 64 x
    0.2 s, and each gets its own answer back."""
    loops: set[int] = set()

    async def call(i: int) -> int:
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.2)
        return i * i

    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda i: portal.run(call(i), ctx()), range(64)))
    elapsed = time.monotonic() - started
    assert results == [i * i for i in range(64)]
    assert loops == {id(portal.loop)}
    assert elapsed < 3.0, elapsed  # 12.8 s one after the other


def test_a_call_waiting_for_another_threads_loop_finishes_after_that_thread_leaves(
        portal: Portal) -> None:
    """Thread A runs the loop for a short call; thread B's long call was handed to it.
    When A's call ends, the portal thread takes the loop over and B's call completes."""
    b_started = threading.Event()

    async def long_call() -> str:
        b_started.set()
        await asyncio.sleep(0.3)
        return "b"

    async def short_call() -> str:
        await asyncio.to_thread(b_started.wait, 5)  # B's call is on this loop now
        return "a"

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(portal.run, short_call(), ctx())
        time.sleep(0.05)
        b = pool.submit(portal.run, long_call(), ctx())
        assert a.result(timeout=5) == "a"
        assert b.result(timeout=5) == "b"


def test_code_on_the_loop_cannot_make_a_blocking_call(portal: Portal) -> None:
    async def nested() -> None:
        portal.run(echo(1), ctx(), twin_of="User.sync.get")

    with pytest.raises(BlockingCallInEventLoop) as info:
        portal.run(nested(), ctx())
    message = str(info.value)
    assert "User.sync.get" in message and "`await User.get(...)`" in message
    assert isinstance(info.value, RuntimeError)


def test_a_thread_with_its_own_running_loop_can_call(portal: Portal) -> None:
    """An async notebook cell or app: its loop is not the portal's, so the call is run by
    the portal thread (this loop is blocked meanwhile, not deadlocked)."""
    async def main() -> tuple[object, bool]:
        async def where() -> bool:
            return threading.current_thread().name.startswith("dynorm-portal")

        return portal.run(echo("ok"), ctx()), portal.run(where(), ctx())

    assert asyncio.run(main()) == ("ok", True)


def test_leaving_an_iterator_early_closes_its_source(portal: Portal) -> None:
    closed = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            closed.append(True)

    seen = []
    for i in portal.iterate(numbers(), ctx()):
        seen.append(i)
        if i == 2:
            break
    assert seen == [0, 1, 2] and closed == [True]
    assert list(portal.iterate(numbers(), ctx())) == list(range(100))


def test_close_ends_leftover_tasks_and_refuses_new_calls() -> None:
    portal = Portal()
    cancelled = threading.Event()

    async def leave_behind() -> None:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)  # it starts, and is left waiting

    portal.run(leave_behind(), ctx())
    portal.close()
    assert cancelled.is_set()
    assert portal.loop.is_closed()
    coro = echo(1)
    with pytest.raises(RuntimeError, match="closed"):
        portal.run(coro, ctx())
    portal.close()  # twice is fine


class _CountingSelector:
    """The loop's selector, counting polls (``select`` calls)."""

    def __init__(self, selector: object) -> None:
        self._selector = selector
        self.polls = 0

    def select(self, timeout: float | None = None) -> object:
        self.polls += 1
        return self._selector.select(timeout)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._selector, name)


def test_a_call_polls_the_selector_as_often_as_awaiting_it_would(portal: Portal) -> None:
    """The calling thread drives the loop and steps the operation: its first step runs
    before any poll (an operation that never waits polls nothing), and an operation that
    waits once polls once, and goes on as soon as its future is done (a task would poll
    again to wake up): no iteration is spent starting or stopping the loop."""
    counting = _CountingSelector(portal.loop._selector)  # type: ignore[attr-defined]
    portal.loop._selector = counting  # type: ignore[attr-defined]

    async def at_once() -> int:
        return 1

    async def waits_once() -> int:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_later(0.01, future.set_result, 2)
        return await future

    assert portal.run(at_once(), ctx()) == 1
    assert counting.polls == 0
    assert portal.run(waits_once(), ctx()) == 2
    assert counting.polls == 1


def test_the_loop_runs_only_during_a_call(portal: Portal) -> None:
    async def inside() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        return loop is portal.loop, loop.is_running()

    assert portal.run(inside(), ctx()) == (True, True)
    assert not portal.loop.is_running()
    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()
    assert asyncio.run(echo("own loop")) == "own loop"  # this thread may run its own
    assert portal.run(echo(3), ctx()) == 3


def test_an_interrupt_inside_the_loop_cancels_the_operation(portal: Portal) -> None:
    """Ctrl-C while the calling thread drives the loop: the operation is cancelled (its
    clean-up runs, on the portal thread), and the portal serves the next call."""
    cleaned = threading.Event()

    async def interrupted() -> None:
        asyncio.get_running_loop().call_soon(_interrupt)
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.set()

    with pytest.raises(KeyboardInterrupt):
        portal.run(interrupted(), ctx())
    assert cleaned.wait(5)
    assert portal.run(echo(4), ctx()) == 4


def _interrupt() -> None:
    raise KeyboardInterrupt


def test_a_loop_in_debug_mode_is_started_and_stopped_per_call(portal: Portal) -> None:
    portal.loop.set_debug(True)

    async def fail() -> None:
        await asyncio.sleep(0)
        raise ValueError("in debug mode")

    assert portal.run(echo(5, 0.01), ctx()) == 5
    with pytest.raises(ValueError, match="in debug mode"):
        portal.run(fail(), ctx())
    portal.loop.set_debug(False)
    assert portal.run(echo(6), ctx()) == 6


def test_an_async_generator_left_open_in_a_call_is_closed_with_the_portal() -> None:
    """The calling thread installs the loop's async generator hooks while it drives the
    loop, so the loop knows the generators first iterated there and closes them."""
    portal = Portal()
    closed = []
    kept = []

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def start() -> int:
        gen = numbers()
        kept.append(gen)
        return await gen.__anext__()

    assert portal.run(start(), ctx()) == 1
    assert closed == []
    portal.close()
    assert closed == [True]


def test_a_loop_without_the_private_parts_is_run_with_run_forever() -> None:
    """``drive()`` uses asyncio's private loop parts; a Python (or loop) lacking
    any of them makes the portal start and stop ``run_forever`` instead."""
    from dynorm.blocking._portal import _LOOP_PARTS, _drivable

    loop = asyncio.new_event_loop()
    try:
        assert _drivable(loop)

        class Stripped:
            def __getattr__(self, name: str) -> object:
                if name == _LOOP_PARTS[1]:
                    raise AttributeError(name)
                return getattr(loop, name)

        assert not _drivable(Stripped())  # type: ignore[arg-type]
    finally:
        loop.close()


# ---------------------------------------------------------------- the call's own task
# A call whose thread drives the loop runs its coroutine without an asyncio task
# (dynorm/blocking/_driver.py): what code on the loop relies on in a task still holds.


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout, TaskGroup: 3.11")
def test_a_call_has_a_current_task_that_timeouts_and_task_groups_use(portal: Portal) -> None:
    async def timed_out() -> str:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(2)
        except TimeoutError:
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0  # taken back
            return task.get_name()
        return "not timed out"

    started = time.monotonic()
    assert portal.run(timed_out(), ctx()) == "dynorm-blocking-call"
    assert time.monotonic() - started < 1.0  # the wait itself was cancelled

    async def grouped() -> list[int]:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(echo(i, 0.001 * i)) for i in range(3)]
        return [t.result() for t in tasks]

    assert portal.run(grouped(), ctx()) == [0, 1, 2]

    async def failing_child() -> None:
        async def fail() -> None:
            await asyncio.sleep(0.01)
            raise ValueError("child")

        async with asyncio.TaskGroup() as group:
            group.create_task(fail())
            await asyncio.sleep(2)  # cancelled by the group, as in a task

    started = time.monotonic()
    with pytest.raises(Exception) as info:  # an ExceptionGroup (Python 3.11)
        portal.run(failing_child(), ctx())
    assert time.monotonic() - started < 1.0
    assert [repr(e) for e in info.value.exceptions] == [
        "ValueError('child')"]
    assert portal.run(echo(7), ctx()) == 7


def test_cancelling_the_current_task_cancels_the_call(portal: Portal) -> None:
    """As a task's: cancel() while the coroutine runs throws CancelledError in at its
    next wait; a cancel() after the call has ended does nothing."""
    kept: list[asyncio.Task[object]] = []
    reached = []

    async def cancel_myself() -> None:
        task = asyncio.current_task()
        assert task is not None
        kept.append(task)
        assert task.cancel("stop") and task.cancelling() == 1
        reached.append("before the wait")
        await asyncio.sleep(0.01)
        reached.append("after the wait")

    with pytest.raises(asyncio.CancelledError, match="stop"):
        portal.run(cancel_myself(), ctx())
    assert reached == ["before the wait"]
    assert kept[0].done() and not kept[0].cancel()

    async def cancelled_by_another_task() -> str:
        me = asyncio.current_task()
        assert me is not None
        asyncio.get_running_loop().call_later(0.01, me.cancel)
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            return "cleaned up"
        return "not cancelled"

    started = time.monotonic()
    assert portal.run(cancelled_by_another_task(), ctx()) == "cleaned up"
    assert time.monotonic() - started < 1.0


def test_a_bare_yield_lets_the_loop_run_without_waiting_for_it(portal: Portal) -> None:
    """``asyncio.sleep(0)`` in a loop: each one runs an iteration of the loop (its timers
    and sockets), never blocks it (a future completed by a timer is seen)."""
    async def spin() -> int:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_later(0.02, future.set_result, None)
        spins = 0
        while not future.done():
            await asyncio.sleep(0)
            spins += 1
        return spins

    assert portal.run(spin(), ctx()) > 1


def test_what_a_task_refuses_to_wait_for_is_refused(portal: Portal) -> None:
    import types

    @types.coroutine
    def bad_yield() -> object:
        yield 42

    async def yields_a_number() -> None:
        await bad_yield()

    with pytest.raises(RuntimeError, match="bad yield: 42"):
        portal.run(yields_a_number(), ctx())

    other = asyncio.new_event_loop()
    try:
        async def waits_on_another_loop() -> None:
            await other.create_future()

        with pytest.raises(RuntimeError, match="different loop"):
            portal.run(waits_on_another_loop(), ctx())
    finally:
        other.close()
    assert portal.run(echo(8), ctx()) == 8


def test_an_interrupt_during_a_bare_yield_cancels_the_operation(portal: Portal) -> None:
    cleaned = threading.Event()

    async def interrupted() -> None:
        asyncio.get_running_loop().call_soon(_interrupt)
        try:
            while True:
                await asyncio.sleep(0)
        finally:
            await asyncio.sleep(0.01)  # its clean-up may wait too (on the portal thread)
            cleaned.set()

    with pytest.raises(KeyboardInterrupt):
        portal.run(interrupted(), ctx())
    assert cleaned.wait(5)
    assert portal.run(echo(9), ctx()) == 9
