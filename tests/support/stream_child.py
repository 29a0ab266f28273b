"""A stream listener in its own process, for tests that kill it (SIGKILL) and restart it.

``python -m tests.support.stream_child ENDPOINT OUT_FILE`` follows the ``fst_events``
table with :class:`~dynorm.streams.TableCheckpoints` and appends one line per delivered
change to OUT_FILE (``kind key n``), flushed before the handler returns, so a line
written is a delivery that happened.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey
from dynorm.streams import ChangeEvent, StreamListener, TableCheckpoints


class Event(Model, table="fst_events"):
    key: Annotated[str, PartitionKey]
    n: int = 0


async def main(endpoint: str, out_path: str) -> None:
    retry = dynorm.RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.05)
    async with dynorm.connect(endpoint_url=endpoint, region="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local",
                              retry=retry, transport="fast"):
        listener = StreamListener(Event, checkpoints=TableCheckpoints("fst_checkpoints"),
                                  poll_interval=0.05, describe_interval=0.3, batch_size=7,
                                  lease_duration=2.0)
        out = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as main

        @listener.on(Event, retries=5, backoff=0.01)
        async def changed(event: ChangeEvent[Event]) -> None:
            item = event.new or event.old
            assert item is not None
            out.write(f"{event.kind} {item.key} {item.n}\n")
            out.flush()
            os.fsync(out.fileno())

        await listener.run(handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
