"""Running a blocking call's coroutine in the calling thread without an asyncio task.

A thread that finds its portal's loop idle drives the loop itself (``Portal.run``).
It steps the operation's coroutine itself too, as a task would, instead of wrapping it
in an ``asyncio.Task``: `drive` sends into the coroutine (in the call's context), and
when the coroutine waits for a future it runs the loop's iterations until that future
is done, then sends again. No task is made, registered and collected per call, no
callback is scheduled to start it, and none to wake it after each wait: each of those
is a ``Handle`` and a pass through the loop's ready queue, which is most of what a
blocking call cost over awaiting the operation.

Code on the loop still sees a current task: `CallTask`, which has the parts of
``asyncio.Task`` that asyncio and libraries use on the current task (``cancel()``,
``cancelling()``, ``uncancel()``, ``done()``, ``get_name()``...): ``asyncio.timeout``,
``TaskGroup`` and aiohttp's timeouts work in a blocking call as in a task.
``cancel()`` behaves as a task's: the future the coroutine waits for is cancelled, or
``CancelledError`` is thrown into the coroutine at its next step.

If the thread is interrupted while the loop runs (``KeyboardInterrupt``), the
operation is cancelled and the rest of it (its clean-up) goes on in a real task, which
the portal thread runs to its end.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["DRIVER_PARTS", "CallTask", "create_task", "drive"]

T = TypeVar("T")

#: asyncio's private functions `drive` uses (see ``_portal._drivable``).
DRIVER_PARTS = ("_enter_task", "_leave_task")

_tasks: Any = asyncio.tasks
_get_loop: Callable[[Any], Any] = asyncio.futures._get_loop  # type: ignore[attr-defined]
_get_hooks = sys.get_asyncgen_hooks
_set_hooks = sys.set_asyncgen_hooks
_set_running_loop = asyncio._set_running_loop
_get_ident = threading.get_ident
_new = object.__new__

#: The name of a blocking call's task.
TASK_NAME = "dynorm-blocking-call"


def _noop() -> None:
    pass


class CallTask:
    """What ``asyncio.current_task()`` is while a blocking call's coroutine runs in the
    calling thread (`drive`): the task-like parts of the call."""

    #: the future the coroutine waits for, while it waits
    _waiting: asyncio.Future[Any] | None = None
    _must_cancel = False
    _cancel_message: Any = None
    _cancels = 0
    _done = False

    def __init__(self, coro: Coroutine[Any, Any, Any], context: Any,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._coro = coro
        self._context = context
        self._loop = loop

    def __repr__(self) -> str:
        state = "done" if self._done else "pending"
        return f"<CallTask {TASK_NAME} {state} coro={self._coro!r}>"

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the operation, as ``Task.cancel()`` does: the future it waits for is
        cancelled, else ``CancelledError`` is thrown into it at its next step."""
        if self._done:
            return False
        self._cancels += 1
        waiting = self._waiting
        if waiting is not None and waiting.cancel(msg=msg):
            return True
        self._must_cancel = True
        self._cancel_message = msg
        return True

    def cancelling(self) -> int:
        """The number of cancellation requests not taken back by `uncancel()`."""
        return self._cancels

    def uncancel(self) -> int:
        """Take one cancellation request back (as ``Task.uncancel()``)."""
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return False  # a cancelled call raises CancelledError to its caller instead

    def get_coro(self) -> Coroutine[Any, Any, Any]:
        return self._coro

    def get_context(self) -> Any:
        return self._context

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def get_name(self) -> str:
        return TASK_NAME

    def set_name(self, value: object) -> None:
        pass

    def _take_cancel(self) -> BaseException | None:
        """The ``CancelledError`` for the next step if `cancel()` asked for one."""
        if not self._must_cancel:
            return None
        self._must_cancel = False
        message = self._cancel_message
        self._cancel_message = None
        return asyncio.CancelledError() if message is None else asyncio.CancelledError(
            message)


def drive(loop: Any, coro: Coroutine[Any, Any, T], context: Any,
          hooks: tuple[Any, Any], handed_over: Callable[[asyncio.Task[Any]], None]) -> T:
    """Run ``coro`` in ``context`` to its end, running ``loop``'s iterations (its
    private ``_run_once``) in this thread while it waits; its result or exception.

    What ``run_forever`` sets up around its iterations is set up for the duration: the
    running loop, ``loop._thread_id`` (``is_running()``) and the loop's async generator
    ``hooks``. An exception that escapes the loop's iteration (``KeyboardInterrupt``)
    cancels the operation: its rest runs in a task, given to ``handed_over``, and the
    exception propagates.
    """
    task = _new(CallTask)  # (no __init__ call: this runs on every blocking call)
    task._coro = coro
    task._context = context
    task._loop = loop
    send = coro.send
    step = context.run
    run_once = loop._run_once
    enter, leave = _tasks._enter_task, _tasks._leave_task
    error: BaseException | None = None
    previous = _get_hooks()
    _set_hooks(*hooks)  # (firstiter, finalizer) by position: 4x faster than by keyword
    loop._thread_id = _get_ident()
    _set_running_loop(loop)
    try:
        while True:
            enter(loop, task)
            try:
                if error is None:
                    waiting = step(send, None)
                else:
                    waiting, error = step(coro.throw, error), None
            except StopIteration as stop:
                task._done = True
                return stop.value  # type: ignore[no-any-return]
            except BaseException:
                task._done = True
                raise
            finally:
                leave(loop, task)
            blocking = getattr(waiting, "_asyncio_future_blocking", None)
            if blocking:  # awaits a future: run the loop until it is done
                try:
                    owner = waiting.get_loop()
                except AttributeError:  # pragma: no cover - a future-like object
                    owner = _get_loop(waiting)
                if owner is not loop:
                    error = RuntimeError(f"{task!r} got Future {waiting!r} attached to a "
                                         "different loop")
                    continue
                waiting._asyncio_future_blocking = False
                task._waiting = waiting
                if task._must_cancel and waiting.cancel(msg=task._cancel_message):
                    task._must_cancel = False
                try:
                    while not waiting.done():
                        run_once()
                except BaseException:
                    task.cancel()
                    handed_over(create_task(loop, _rest(task), context))
                    raise
                task._waiting = None
            elif waiting is None:  # a bare yield (asyncio.sleep(0)): one loop iteration
                loop.call_soon(_noop)  # that does not wait for the sockets
                try:
                    run_once()
                except BaseException:
                    task.cancel()
                    handed_over(create_task(loop, _rest(task), context))
                    raise
            elif blocking is False:
                error = RuntimeError(f"yield was used instead of yield from in task "
                                     f"{task!r} with {waiting!r}")
            else:
                error = RuntimeError(f"Task got bad yield: {waiting!r}")
            if error is None and task._must_cancel:
                error = task._take_cancel()
    finally:
        _set_running_loop(None)
        loop._thread_id = None
        _set_hooks(*previous)


def create_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T],
                context: Any) -> asyncio.Task[T]:
    """``loop.create_task(coro)`` running in ``context`` (not a copy of it)."""
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, context=context)
    task = context.run(loop.create_task, coro)  # pragma: no cover - Python 3.10
    return task  # type: ignore[no-any-return]  # pragma: no cover


async def _rest(task: CallTask) -> Any:
    """The rest of an interrupted call, in a real task (its clean-up)."""
    return await _Rest(task)


class _Rest:
    __slots__ = ("task",)

    def __init__(self, task: CallTask) -> None:
        self.task = task

    def __await__(self) -> Generator[Any, None, Any]:
        return _resume(self.task)


def _resume(task: CallTask) -> Generator[Any, None, Any]:
    """Go on with ``task``'s coroutine, each future it waits for passed to the task
    running this (which throws its own cancellation in)."""
    coro = task._coro
    task._waiting = None  # cancelled (done) by task.cancel(): the coroutine goes on
    error = task._take_cancel()
    while True:
        try:
            if error is None:
                waiting = coro.send(None)
            else:
                waiting, error = coro.throw(error), None
        except StopIteration as stop:
            task._done = True
            return stop.value
        except BaseException:
            task._done = True
            raise
        try:
            yield waiting
        except BaseException as exc:  # the running task's cancellation
            error = exc
