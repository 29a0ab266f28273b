"""wait_event lets a cancellation through even when the event is set in the same tick."""

from __future__ import annotations

import asyncio

import pytest

from dynorm._aio import wait_event


async def test_cancel_racing_the_event_is_not_swallowed() -> None:
    for _ in range(20):
        event = asyncio.Event()
        task = asyncio.create_task(wait_event(event, 10))
        await asyncio.sleep(0)  # the task is waiting now
        event.set()
        task.cancel()  # in the same tick: asyncio.wait_for (3.11) would swallow this
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_returns_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 10) is True
