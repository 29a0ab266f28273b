"""dynorm's batch writer against a hand-written concurrent aioboto3 BatchWriteItem loop.

    python benchmarks/batch_write.py --items 10000

Starts moto's server in a separate process (so its CPU does not count as the client's),
then alternates the two writers (A B A B ...) over the same items, wiping the server
between runs, and prints a markdown table: wall time, client CPU (``time.process_time``)
and the dynorm/baseline ratio. Both use chunks of 25, ``--concurrency`` calls in flight
and retry UnprocessedItems; both start from the same pydantic instances.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from typing import Annotated, Any

import aioboto3

import dynorm
from dynorm import Model, PartitionKey, SortKey
from dynorm.batch import batch

CREDS = {"aws_access_key_id": "local", "aws_secret_access_key": "local",
         "region_name": "us-east-1"}


class Reading(Model, table="bench_readings"):
    sensor: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    value: Decimal
    unit: str = "C"
    tags: set[str] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto server did not start")


def reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def make_items(n: int) -> list[Reading]:
    return [Reading(sensor=f"s{i % 100}", seq=i, value=Decimal(i) / 8,
                    tags={"a", "b"} if i % 2 else set()) for i in range(n)]


async def run_dynorm(url: str, items: list[Reading], concurrency: int) -> None:
    async with dynorm.connect(endpoint_url=url, region="us-east-1", aws_access_key_id="local",
                              aws_secret_access_key="local"), batch(concurrency=concurrency) as b:
        for r in items:
            b.save(r)


def encode(r: Reading) -> dict[str, Any]:
    item: dict[str, Any] = {"sensor": {"S": r.sensor}, "seq": {"N": str(r.seq)},
                            "value": {"N": str(r.value)}, "unit": {"S": r.unit}}
    if r.tags:
        item["tags"] = {"SS": sorted(r.tags)}
    return item


async def run_baseline(url: str, items: list[Reading], concurrency: int,
                       session: aioboto3.Session) -> None:
    async with session.client("dynamodb", endpoint_url=url) as client:
        sem = asyncio.Semaphore(concurrency)

        async def send(chunk: list[dict[str, Any]]) -> None:
            async with sem:
                request = {"bench_readings": [{"PutRequest": {"Item": i}} for i in chunk]}
                attempt = 0
                while request:
                    response = await client.batch_write_item(RequestItems=request)
                    request = response.get("UnprocessedItems") or {}
                    attempt += 1
                    if request:
                        await asyncio.sleep(min(1.0, 0.05 * 2 ** attempt))

        encoded = [encode(r) for r in items]
        await asyncio.gather(*(send(encoded[i:i + 25]) for i in range(0, len(encoded), 25)))


async def create_table(url: str) -> None:
    async with dynorm.connect(endpoint_url=url, region="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local"):
        await Reading.create_table()


async def count(url: str, session: aioboto3.Session) -> int:
    async with session.client("dynamodb", endpoint_url=url) as client:
        total, start = 0, None
        while True:
            kwargs: dict[str, Any] = {"TableName": "bench_readings", "Select": "COUNT"}
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = await client.scan(**kwargs)
            total += int(page["Count"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port)
    try:
        items = make_items(args.items)
        session = aioboto3.Session(**CREDS)
        results: dict[str, list[tuple[float, float]]] = {"dynorm": [], "aioboto3": []}
        for _ in range(args.rounds):
            for name in ("dynorm", "aioboto3"):
                reset(url)
                await create_table(url)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                if name == "dynorm":
                    await run_dynorm(url, items, args.concurrency)
                else:
                    await run_baseline(url, items, args.concurrency, session)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                written = await count(url, session)
                assert written == args.items, f"{name} wrote {written} of {args.items}"
                results[name].append((wall, cpu))
                print(f"  {name:9} wall {wall:6.2f}s  cpu {cpu:6.2f}s", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\n{args.items} items, {args.rounds} rounds (A B alternating), chunks of 25, "
          f"concurrency {args.concurrency}, moto server in a separate process\n")
    print("| writer | wall time (median) | client CPU (median) | CPU per item |")
    print("|---|---|---|---|")
    med: dict[str, tuple[float, float]] = {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        med[name] = (wall, cpu)
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {cpu / args.items * 1e6:.0f} µs |")
    (dw, dc), (bw, bc) = med["dynorm"], med["aioboto3"]
    print(f"| ratio dynorm/aioboto3 | {dw / bw:.2f} | {dc / bc:.2f} | |")


if __name__ == "__main__":
    asyncio.run(main())
