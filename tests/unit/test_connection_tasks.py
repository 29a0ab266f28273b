"""The current connection belongs to the task: concurrent blocks never see each other's."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import ConnectionNotConfigured, MockTransport, Model, PartitionKey


class Note(Model, table="notes"):
    note_id: Annotated[str, PartitionKey]


def answer(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    return {"Item": {"note_id": {"S": request["TableName"]}}}


async def test_concurrent_tasks_keep_their_own_connection() -> None:
    opened: list[str] = []
    both_open = asyncio.Event()

    async def worker(prefix: str) -> list[str]:
        seen = []
        async with dynorm.connect(transport=MockTransport(answer), table_prefix=prefix):
            opened.append(prefix)
            if len(opened) == 2:
                both_open.set()
            await both_open.wait()  # both blocks are open at once from here
            for _ in range(3):
                seen.append((await Note.get("x")).note_id)
                await asyncio.sleep(0)
        return seen

    a, b = await asyncio.gather(worker("a-"), worker("b-"))
    assert a == ["a-notes"] * 3 and b == ["b-notes"] * 3
    with pytest.raises(ConnectionNotConfigured):
        dynorm.get_connection()


async def test_tasks_started_inside_a_block_inherit_it_and_configure_is_the_default(
) -> None:
    await dynorm.configure(transport=MockTransport(answer), table_prefix="default-")
    try:
        async with dynorm.connect(transport=MockTransport(answer), table_prefix="block-"):
            inner = asyncio.create_task(Note.get("x"))
            assert (await inner).note_id == "block-notes"
        assert (await Note.get("x")).note_id == "default-notes"
        elsewhere = asyncio.create_task(Note.get("x"))  # no block of its own
        assert (await elsewhere).note_id == "default-notes"
    finally:
        await dynorm.close()
    with pytest.raises(ConnectionNotConfigured):
        dynorm.get_connection()
