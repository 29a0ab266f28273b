"""``dynorm streams tail``: print a table's changes as they happen.

With models (``--model MODULE[:NAME]``) the events are the typed
[`ChangeEvent`][dynorm.streams.ChangeEvent] values of a
[`StreamListener`][dynorm.streams.StreamListener]; without, the raw stream records are shown
as plain values. Nothing is checkpointed: tailing is for looking, not for processing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from dynorm._aio import wait_event
from dynorm.cli.render import plain_value, print_event
from dynorm.connection import get_connection
from dynorm.exceptions import DynormError
from dynorm.model import Model
from dynorm.schema.classes import meta_of
from dynorm.streams import ChangeEvent, StreamListener
from dynorm.streams.events import parse_time
from dynorm.streams.shards import Shard, describe_shards, ready_shards, stream_arn

__all__ = ["tail_models", "tail_table"]

_KINDS = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


def _dump(instance: Model | None) -> dict[str, Any] | None:
    """The image as JSON values, an encrypted field's value shown as ``<encrypted>``
    (never the decrypted value, as the model's repr hides it)."""
    if instance is None:
        return None
    shown: dict[str, Any] = instance.model_dump(mode="json")
    for spec in meta_of(type(instance)).sealed:
        if spec.keyring is not None and spec.field in shown:
            shown[spec.field] = "<encrypted>"
    return shown


async def tail_models(console: Console, models: list[type[Model]], *, from_start: bool,
                      limit: int | None, as_json: bool, poll_interval: float) -> int:
    """Follow the models' tables with a `StreamListener`; the number of events shown."""
    listener = StreamListener(*models, start="TRIM_HORIZON" if from_start else "LATEST",
                              poll_interval=poll_interval)
    shown = 0

    async def show(event: ChangeEvent[Any]) -> None:
        nonlocal shown
        if limit is not None and shown >= limit:
            return
        print_event(console, kind=event.kind, table=event.table, model=event.model.__name__,
                    keys=event.keys, old=_dump(event.old), new=_dump(event.new),
                    when=event.approximate_creation_time, as_json=as_json)
        shown += 1
        if limit is not None and shown >= limit:
            listener.stop()

    for model in models:
        listener.on(model, retries=0, on_failure="dead_letter")(show)
    await listener.run(handle_signals=True)
    return shown


class _RawTail:
    """Reads every shard of one stream (parents before children) and prints records."""

    def __init__(self, console: Console, table: str, *, from_start: bool,
                 limit: int | None, as_json: bool, poll_interval: float) -> None:
        self.console = console
        self.table = table
        self.from_start = from_start
        self.limit = limit
        self.as_json = as_json
        self.poll = poll_interval
        self.shown = 0
        self.stop = asyncio.Event()
        self.finished: set[str] = set()
        self.reading: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> int:
        conn = get_connection()
        arn = await stream_arn(conn, self.table)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        first = True
        try:
            while not self.stop.is_set():
                shards = await describe_shards(conn, arn)
                for shard in ready_shards(shards, self.finished):
                    if shard.shard_id not in self.reading:
                        start = "TRIM_HORIZON" if self.from_start or not first else "LATEST"
                        self.reading[shard.shard_id] = asyncio.create_task(
                            self.read(shard, start))
                first = False
                for shard_id, task in list(self.reading.items()):
                    if task.done():
                        task.result()  # a failed reader fails the tail
                        self.finished.add(shard_id)
                await wait_event(self.stop, max(self.poll, 1.0) * 5)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            for task in self.reading.values():
                task.cancel()
            await asyncio.gather(*self.reading.values(), return_exceptions=True)
        return self.shown

    async def read(self, shard: Shard, start: str) -> None:
        conn = get_connection()
        answer = await conn.call("GetShardIterator", {
            "StreamArn": shard.stream_arn, "ShardId": shard.shard_id,
            "ShardIteratorType": start})
        iterator = answer.get("ShardIterator")
        while iterator and not self.stop.is_set():
            answer = await conn.call("GetRecords", {"ShardIterator": iterator, "Limit": 1000})
            for record in answer.get("Records") or ():
                self.show(record)
                if self.stop.is_set():
                    return
            iterator = answer.get("NextShardIterator")
            if not answer.get("Records"):
                await wait_event(self.stop, self.poll)

    def show(self, record: Mapping[str, Any]) -> None:
        data = record.get("dynamodb") or {}

        def image(name: str) -> dict[str, Any] | None:
            raw = data.get(name)
            return None if raw is None else {k: plain_value(v) for k, v in raw.items()}

        when = data.get("ApproximateCreationDateTime")
        print_event(self.console, kind=_KINDS.get(record.get("eventName", ""), "?"),
                    table=self.table, model=None, keys=image("Keys") or {},
                    old=image("OldImage"), new=image("NewImage"),
                    when=parse_time(when) if when is not None else None, as_json=self.as_json)
        self.shown += 1
        if self.limit is not None and self.shown >= self.limit:
            self.stop.set()


async def tail_table(console: Console, table: str, *, from_start: bool, limit: int | None,
                     as_json: bool, poll_interval: float) -> int:
    """Follow the stream of physical table ``table``; the number of records shown.

    Raises:
        StreamNotEnabled: the table has no stream.
        TableNotFound: there is no such table.
    """
    if limit is not None and limit < 1:
        raise DynormError("--limit must be 1 or more")
    return await _RawTail(console, table, from_start=from_start, limit=limit,
                          as_json=as_json, poll_interval=poll_interval).run()
