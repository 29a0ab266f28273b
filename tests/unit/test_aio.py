"""The asyncio helpers let a cancellation through even when it races completion."""

from __future__ import annotations

import asyncio

import pytest

from dynorm._aio import wait_event, within


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


async def test_within_lets_a_cancellation_racing_completion_through() -> None:
    discarded: list[str] = []
    for _ in range(20):
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(within(ready, 10, discard=discarded.append))
        await asyncio.sleep(0)  # the task is waiting now
        ready.set_result("connection")
        task.cancel()  # in the same tick: asyncio.wait_for (3.11) would return the result
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0)
    assert discarded == ["connection"] * 20  # what completed anyway is handed back


async def test_within_times_out_and_returns_results() -> None:
    assert await within(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(asyncio.TimeoutError):
        await within(asyncio.sleep(10), 0.01)
    with pytest.raises(KeyError):
        await within(_raise(KeyError("x")), 1)


async def _raise(exc: Exception) -> None:
    raise exc
