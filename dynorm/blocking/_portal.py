"""The blocking portal: one event loop per blocking connection, running dynorm's async
core for callers in any number of threads.

The loop has a thread of its own, the portal thread, but does not always run in it:

* A call finds the loop idle (the common case of a script, or one request at a time):
  the calling thread runs the loop itself until its operation is done. No other thread
  wakes up, and the loop is not started and stopped around the call: the thread drives
  asyncio's loop iteration by iteration and steps the operation's coroutine itself,
  without a task (`drive()`, dynorm/blocking/_driver.py): its first step runs at once,
  before the loop polls its sockets, and it goes on as soon as what it waits for is
  done. No thread switch, no extra loop iteration, no task. (Another loop class,
  such as uvloop's, or a loop in debug mode, is started and stopped with
  ``run_forever`` instead, and the operation runs as a task.)
* The loop is busy (another thread's call is running): the call is handed to the loop
  (``call_soon_threadsafe``) and its thread waits on a lock that the operation releases
  as it ends; the loop goes on in whichever thread runs it.
* A thread that finishes its own operation while others are still running hands the
  loop to the portal thread, which runs it until no call is left. So does a call from a
  thread that runs an event loop of its own (an async notebook cell, an async app), which
  must not run a second loop.

Every operation runs in a copy of its caller's context with the connection set as
current, wherever the loop runs, and has a current task (a real one, or the driver's
`CallTask`). Between calls nothing runs the loop: work an
operation left behind (a batch's writes in flight) goes on at the next call, as it goes
on in async code at the next ``await``.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeAlias, TypeVar

from dynorm.blocking._driver import DRIVER_PARTS, create_task, drive
from dynorm.exceptions import DynormError

__all__ = ["BlockingCallInEventLoop", "Label", "Portal", "on_portal_thread"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_numbers = itertools.count(1)

#: What names a blocking call in the error that refuses it: the name, or a function
#: making it and its argument (a twin's label is then made only for the error).
Label: TypeAlias = "str | tuple[Callable[[str], str], str]"

#: The ids of the open portals' loops. A thread whose running loop is one of them runs
#: that portal's loop (the portal thread, or a caller driving it): a blocking call there
#: would wait for itself.
_portal_loops: set[int] = set()

#: Who runs a portal's loop (``Portal._runner``, None: nobody): its own thread, or a
#: calling thread.
_PORTAL = -1
_CALLER = -2

_get_running_loop = asyncio._get_running_loop

class BlockingCallInEventLoop(DynormError, RuntimeError):
    """A blocking call was made from async code running on a portal's event loop (a
    ``before_save`` hook, a coroutine given to ``run()``): it would wait for itself
    forever. Await the async twin there instead."""


def on_portal_thread() -> bool:
    """True while this thread runs a portal's loop (where blocking calls are refused)."""
    return id(_get_running_loop()) in _portal_loops


class _Call:
    """One operation on the loop, and the lock a waiting caller blocks on."""

    __slots__ = ("abandoned", "coro", "error", "lock", "portal", "result", "task")

    def __init__(self, portal: Portal, coro: Coroutine[Any, Any, Any],
                 lock: threading.Lock | None) -> None:
        self.portal = portal
        self.coro = coro
        self.lock = lock
        self.task: asyncio.Task[None] | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False

    async def run(self) -> None:
        # The task releases its caller itself, not a done-callback: the caller wakes as
        # the loop goes back to sleep, with no loop iteration in between.
        try:
            self.result = await self.coro
        except BaseException as exc:
            self.error = exc
        finally:
            if self.lock is None:  # the caller runs the loop: stop it now, not after
                self.portal._loop.stop()  # another iteration for a done-callback
            self.portal._finished()
            if self.lock is not None:
                self.lock.release()

    def start(self) -> None:  # on the loop, in the call's context
        if self.abandoned:
            self.coro.close()
            self.portal._finished()
            if self.lock is not None:
                self.lock.release()
            return
        self.task = asyncio.get_running_loop().create_task(self.run())

    def abandon(self) -> None:  # on the loop: the caller was interrupted (Ctrl-C)
        self.abandoned = True
        if self.task is not None:
            self.task.cancel()


#: The private parts of asyncio's own loop that `drive()` uses (present from
#: Python 3.10 to 3.13): a Python whose loop lacks one starts and stops ``run_forever``.
_LOOP_PARTS = ("_run_once", "_thread_id", "_asyncgen_firstiter_hook",
               "_asyncgen_finalizer_hook")


def _drivable(loop: asyncio.AbstractEventLoop) -> bool:
    return (all(hasattr(loop, part) for part in _LOOP_PARTS)
            and hasattr(asyncio, "_set_running_loop")
            and all(hasattr(asyncio.tasks, part) for part in DRIVER_PARTS)
            and hasattr(asyncio.futures, "_get_loop"))


class Portal:
    """An event loop for blocking callers in any number of threads (see the module).

    Args:
        name: the name of its thread (shown in thread dumps).
    """

    def __init__(self, name: str | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._mutex = threading.Lock()
        self._wake = threading.Condition(self._mutex)
        #: who runs the loop: None (nobody), _PORTAL or _CALLER
        self._runner: int | None = None
        #: the call the driving caller was running was handed to a task (Ctrl-C)
        self._handed_over = False
        #: operations handed over or running, not yet finished
        self._calls = 0
        self._closing = False
        self._closed = False
        base: Any = self._loop
        self._base = base  # the asyncio loop's private parts, for drive()
        #: a caller drives the loop step by step (asyncio's own loop), with these async
        #: generator hooks installed; None: another loop class (uvloop) is started and
        #: stopped with ``run_forever`` around each call
        self._hooks: tuple[Any, Any] | None = None
        if isinstance(self._loop, asyncio.BaseEventLoop) and _drivable(self._loop):
            self._hooks = (base._asyncgen_firstiter_hook, base._asyncgen_finalizer_hook)
        _portal_loops.add(id(self._loop))
        self._thread = threading.Thread(
            target=self._serve, daemon=True, name=name or f"dynorm-portal-{next(_numbers)}")
        self._thread.start()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Portal {self._thread.name} {state}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's event loop."""
        return self._loop

    # ------------------------------------------------------------------ the portal thread

    def _serve(self) -> None:
        # asyncio reads sockets with recv(256 KiB). In a new thread glibc's malloc serves
        # that from a fresh mmap, shrinks it and unmaps it on every read (an mmap, mremap
        # and munmap per response, each unmap a TLB shootdown across cores) until a large
        # block has been freed once, which raises its mmap threshold: free one now.
        bytearray(1 << 20)
        loop = self._loop
        while True:
            with self._wake:
                while self._runner != _PORTAL:
                    self._wake.wait()
                if self._closing:
                    break
                if self._calls == 0:  # finished before this thread got to run them
                    self._runner = None
                    continue
            loop.run_forever()  # until the last call finishes (_finished) or close()
            with self._wake:
                if self._calls == 0 and not self._closing:
                    self._runner = None
        try:
            # Closing: end what is left (an abandoned call, a batch's stray task).
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            _portal_loops.discard(id(loop))

    def _finished(self) -> None:  # on the loop, as a call ends
        with self._mutex:
            self._calls -= 1
            if self._calls == 0 and self._runner == _PORTAL:
                self._loop.stop()  # the portal thread sleeps until it is needed again

    # ------------------------------------------------------------------ calls

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context,
            twin_of: Label = "") -> T:
        """Run ``coro`` on the loop in ``context``; its result or exception.

        Raises:
            BlockingCallInEventLoop: called from code the loop is running.
        """
        running = _get_running_loop()
        if running is not None and id(running) in _portal_loops:
            coro.close()
            raise _refused(twin_of)
        mutex = self._mutex
        mutex.acquire()
        if self._closing:
            mutex.release()
            coro.close()
            raise RuntimeError("this blocking connection is closed")
        self._calls += 1
        if self._runner is None and running is None and self._hooks is not None and (
                not self._base._debug):  # the common case: drive the loop here
            self._runner = _CALLER
            mutex.release()
            try:
                return drive(self._base, coro, context, self._hooks, self._hand_over)
            finally:
                self._driven()
        try:
            if self._runner is None and running is None:  # uvloop, or debug mode
                self._runner = _CALLER
                call = _Call(self, coro, None)
            else:  # another thread runs the loop, or this one runs a loop of its own
                call = _Call(self, coro, threading.Lock())
                assert call.lock is not None
                call.lock.acquire()
                if self._runner is None:
                    self._runner = _PORTAL
                    self._wake.notify()
                self._loop.call_soon_threadsafe(call.start, context=context)
        finally:
            mutex.release()
        if call.lock is None:
            self._run_here(call, context)
        else:
            try:
                call.lock.acquire()
            except BaseException:  # KeyboardInterrupt while waiting: stop the operation
                self._loop.call_soon_threadsafe(call.abandon)
                raise
        if call.error is not None:
            error, call.error = call.error, None  # no cycle through the traceback
            raise error
        return call.result  # type: ignore[no-any-return]

    def _hand_over(self, task: asyncio.Task[Any]) -> None:
        """`drive()` was interrupted (Ctrl-C): ``task`` runs the rest of the call."""
        self._handed_over = True
        task.add_done_callback(lambda _: self._finished())

    def _driven(self) -> None:
        """A caller has driven the loop through its call: hand the loop on."""
        with self._mutex:
            if self._handed_over:  # its task ends it (_finished)
                self._handed_over = False
            else:
                self._calls -= 1
            if self._calls or self._closing:  # others' calls, or close(): the portal
                self._runner = _PORTAL
                self._wake.notify()
            else:
                self._runner = None

    def _run_here(self, call: _Call, context: contextvars.Context) -> None:
        """Run the loop in this thread until ``call`` is done, then hand it on."""
        loop = self._loop
        try:
            call.task = create_task(loop, call.run(), context)
            loop.run_forever()  # until the call stops it
        except BaseException:  # KeyboardInterrupt inside the loop: end the operation
            if call.task is not None:
                call.task.cancel()
            raise
        finally:
            with self._mutex:
                if self._calls or self._closing:  # others' calls, or close(): the portal
                    self._runner = _PORTAL
                    self._wake.notify()
                else:
                    self._runner = None

    def iterate(self, source: AsyncIterator[T], context: contextvars.Context,
                twin_of: Label = "") -> Generator[T, None, None]:
        """A blocking iterator over ``source``: one call per item.

        Leaving early (``break``, an exception) closes ``source`` on the loop.
        """
        done = False
        try:
            while True:
                found, value = self.run(_step(source), context.copy(), twin_of)
                if not found:
                    done = True
                    return
                yield value
        finally:
            if not done and hasattr(source, "aclose"):
                self._close_source(source.aclose(), context)

    def _close_source(self, coro: Coroutine[Any, Any, Any],
                      context: contextvars.Context) -> None:
        """Run a clean-up coroutine and wait for it; only schedule it where waiting is
        impossible (an iterator collected inside the loop, or in the portal thread
        between its runs of the loop); drop it once closed."""
        if self._closing:
            coro.close()
        elif on_portal_thread() or threading.current_thread() is self._thread:
            self._loop.call_soon_threadsafe(self._loop.create_task, coro, context=context)
        else:
            self.run(coro, context.copy())

    def close(self) -> None:
        """End whatever still runs on the loop, close it and join the portal thread."""
        with self._wake:
            if self._closing:
                return
            self._closing = True
            if self._runner is None:
                self._runner = _PORTAL
                self._wake.notify()
            elif self._runner == _PORTAL:
                self._loop.call_soon_threadsafe(self._loop.stop)
            # else: a caller runs the loop; it hands it to the portal thread at its end
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._closed = True


async def _step(source: AsyncIterator[T]) -> tuple[bool, Any]:
    try:
        return True, await source.__anext__()
    except StopAsyncIteration:
        return False, None


def _refused(label: Label) -> BlockingCallInEventLoop:
    twin_of = label if isinstance(label, str) else label[0](label[1])
    what = f"{twin_of}: " if twin_of else ""
    instead = twin_of.replace(".sync", "").replace("dynorm.blocking.", "dynorm.")
    return BlockingCallInEventLoop(
        f"{what}a blocking call from async code running on dynorm's event loop (a hook, "
        "a coroutine run by the blocking API) would wait for itself forever; await the "
        "async twin there instead" + (f" (`await {instead}(...)`)" if twin_of else ""))
