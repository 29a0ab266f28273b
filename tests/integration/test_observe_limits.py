"""A rate-limited parallel scan on the real servers (issue 24): limited to N read units
per second, it consumes N per second within 10 %, measured from the capacity the server
returned. ~6 s per backend in CI (one transport); ``DYNORM_RATE_LIMIT_SECONDS=30`` for
the longer run the issue asks for."""

from __future__ import annotations

import os
import time
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey
from dynorm.observe import CallEvent

SECONDS = float(os.environ.get("DYNORM_RATE_LIMIT_SECONDS", "6"))
RATE = 4.0  # read units per second: moto counts 1 per page, DynamoDB Local 0.5 here


class Blob(Model, table="limit_blobs"):
    key: Annotated[str, PartitionKey]
    body: str = ""


async def test_parallel_scan_stays_within_its_rate(raw_conn: dynorm.Connection) -> None:
    await Blob.create_table()
    items = int(RATE * SECONDS * 2) + 10  # more than the run reads on either server
    async with dynorm.batch() as batch:
        for n in range(items):
            batch.save(Blob(key=f"k{n}", body="x" * 3000))  # one 4 KB read unit each
    spent: list[float] = []

    @raw_conn.on_response
    def count(event: CallEvent) -> None:
        spent.extend(c.read for c in event.capacity if event.operation == "Scan")

    limit = raw_conn.rate_limit(Blob, read=RATE)
    start = time.monotonic()
    async for _ in Blob.scan().segments(2).page_size(1):
        if sum(spent) >= RATE * SECONDS:
            break
    elapsed = time.monotonic() - start
    rate = sum(spent) / elapsed
    assert abs(rate - RATE) <= 0.1 * RATE, (rate, sum(spent), elapsed, len(spent))
    assert limit.read is not None and limit.read.spent == sum(spent)
