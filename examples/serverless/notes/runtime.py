"""One event loop and one dynorm connection per Lambda execution environment.

Lambda's Python runtime calls a handler as a plain function, one invocation at a time
per execution environment, and keeps the process (module globals included) between
invocations until it retires the environment. So:

* The handlers are sync; their async work runs on **one event loop**, created on the
  first invocation and kept: each invocation is ``loop.run_until_complete(...)`` on it.
  (``asyncio.run()`` per invocation would make and close a loop every time, and
  sockets belong to the loop that opened them: nothing could be reused.)
* The dynorm connection is opened on the **first invocation**, as the process-wide
  default (``dynorm.configure()``), from the environment: the region and credentials
  Lambda sets, ``DYNORM_TABLE_PREFIX`` and ``DYNORM_CURSOR_SECRET`` from the template.
  Later invocations reuse it, with its keep-alive HTTP connections (TLS handshakes
  done). Nothing is opened at import, so no socket is open while the module loads (and
  none would be in a SnapStart snapshot).
* Between invocations the process is frozen. A keep-alive connection that DynamoDB
  closed meanwhile is replaced on its next use (a reused connection that fails before
  any answer is retried on a fresh one).
* Nothing may be left running when a handler returns: a task still pending would
  only go on when the next invocation thaws the process, if one ever does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import dynorm

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_connection: dynorm.Connection | None = None


def run(work: Awaitable[T]) -> T:
    """Run one invocation's work on this environment's loop, the connection open."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(_invocation(work))


async def _invocation(work: Awaitable[T]) -> T:
    try:
        await connection()
    except BaseException:
        if asyncio.iscoroutine(work):
            work.close()  # never started: no "coroutine was never awaited" warning
        raise
    return await work


async def connection() -> dynorm.Connection:
    """The environment's connection, opened on first use (and again if closed)."""
    global _connection
    if _connection is None or not _connection.is_open:
        _connection = await dynorm.configure()
    return _connection


def shutdown() -> None:
    """Close the connection and the loop: the end of an execution environment (tests
    call it; on Lambda the process just ends)."""
    global _loop, _connection
    if _loop is not None:
        if _connection is not None:
            _loop.run_until_complete(_connection.close())
        _loop.run_until_complete(_loop.shutdown_asyncgens())
        _loop.close()
    _loop = _connection = None


__all__ = ["connection", "run", "shutdown"]
