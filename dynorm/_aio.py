"""Small asyncio helpers.

Not ``asyncio.wait_for``: before Python 3.12 it can swallow a cancellation that arrives
just as the awaited thing completes, and the cancelled task then keeps running (seen as
a stream listener that would not stop, and a hung test). ``asyncio.wait`` always lets a
cancellation through, so these helpers are built on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["wait_event", "within"]

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()


async def within(awaitable: Awaitable[T], timeout: float,
                 discard: Callable[[T], object] | None = None) -> T:
    """``await awaitable``, raising ``asyncio.TimeoutError`` after ``timeout`` seconds.

    A cancellation of the caller is never swallowed. Where the awaitable completes
    anyway (it raced the cancellation or the timeout), ``discard`` receives its result,
    so that a resource it made (a connection) is closed rather than leaked.
    """
    task = asyncio.ensure_future(awaitable)

    def orphaned(done: asyncio.Future[T]) -> None:
        if discard is not None and not done.cancelled() and done.exception() is None:
            discard(done.result())

    try:
        finished, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(orphaned)
        raise
    if not finished:
        task.cancel()
        task.add_done_callback(orphaned)
        raise asyncio.TimeoutError
    return task.result()
