"""IoT telemetry: time-range sort keys, batch ingest, the latest reading.

Run it on the embedded local backend: ``python examples/iot_telemetry.py``.

* One partition per device, readings sorted by time: the sort key is a ``datetime``,
  which dynorm stores as a fixed-width UTC string (``2026-11-01T09:30:00.000000Z``), so
  string order is time order and a time window is one ``BETWEEN`` key condition.
* Ingest goes through ``dynorm.batch()``: BatchWriteItem, 25 writes per call, several
  calls at a time, unprocessed items retried with backoff.
* The latest reading is the partition read backwards with a limit of one:
  ``query(...).reverse().first()``, a single small request however long the history.
* ``expires`` is a TTL attribute: DynamoDB drops readings after the retention period.
* ``by_site`` puts every device of a site in one index partition, sorted by time: a
  hot key when the site has many devices. ``shards=4`` spreads it over 4 partition keys
  (by a hash of the reading's key); ``latest_on_site()`` reads the 4 shards at once and
  merges them by time (docs/hot-keys.md).
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

import dynorm
from dynorm import TTL, GlobalIndex, Model, PartitionKey, SortKey, attr

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
RETENTION = timedelta(days=30)


class Reading(Model, table="telemetry"):
    device_id: Annotated[str, PartitionKey]
    at: Annotated[datetime, SortKey]
    temperature: Decimal
    humidity: int
    site: str = "plant-1"
    expires: Annotated[datetime | None, TTL] = None

    # every reading of a site by time: one hot key, written over 4 shards
    by_site = GlobalIndex("site", "at", shards=4)


def simulate(device_id: str, minutes: int, rng: random.Random) -> list[Reading]:
    return [
        Reading(device_id=device_id, at=START + timedelta(minutes=m),
                temperature=Decimal(rng.randint(150, 300)) / 10,
                humidity=rng.randint(30, 70),
                expires=START + timedelta(minutes=m) + RETENTION)
        for m in range(minutes)
    ]


async def ingest(readings: list[Reading]) -> int:
    async with dynorm.batch(concurrency=4) as b:
        for reading in readings:
            b.save(reading)
    return b.written


async def window(device_id: str, start: datetime, end: datetime) -> list[Reading]:
    """Readings with start <= at <= end, oldest first: one key condition, no filter."""
    query = Reading.query(attr(Reading.device_id) == device_id,
                          attr(Reading.at).between(start, end))
    return await query.to_list()


async def latest(device_id: str) -> Reading | None:
    return await Reading.query(attr(Reading.device_id) == device_id).reverse().first()


async def latest_on_site(site: str, n: int) -> list[Reading]:
    """The site's n latest readings, whatever the device: 4 shard queries, merged."""
    query = Reading.by_site.query(attr(Reading.site) == site)
    return await query.reverse().limit(n).to_list()


async def main() -> dict[str, object]:
    await Reading.create_table()
    rng = random.Random(42)
    devices = ["boiler", "attic", "cellar"]
    readings = [r for d in devices for r in simulate(d, 240, rng)]  # 4 hours per device
    written = await ingest(readings)
    print(f"ingested {written} readings from {len(devices)} devices "
          "with dynorm.batch()")

    hour = await window("boiler", START + timedelta(hours=1),
                        START + timedelta(hours=2))
    temps = [r.temperature for r in hour]
    print(f"boiler 01:00-02:00: {len(hour)} readings, "
          f"min {min(temps)} max {max(temps)} "
          f"first {hour[0].at:%H:%M} last {hour[-1].at:%H:%M}")

    since = START + timedelta(hours=3, minutes=55)
    recent = await Reading.query(attr(Reading.device_id) == "attic",
                                 attr(Reading.at) >= since).to_list()
    print("attic since 03:55:", [f"{r.at:%H:%M}" for r in recent])

    for device in devices:
        last = await latest(device)
        assert last is not None
        print(f"latest {device}: {last.at:%H:%M} {last.temperature} C {last.humidity}%")

    site = await latest_on_site("plant-1", 4)
    print("latest on plant-1:", [f"{r.device_id} {r.at:%H:%M}" for r in site])

    hot = await Reading.query(attr(Reading.device_id) == "cellar").filter(
        attr(Reading.temperature) >= Decimal(29)).count()
    print("cellar readings at 29 C or more:", hot)
    return {"written": written, "hour": hour, "latest": await latest("boiler")}


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
