"""Client CPU per operation: raw aioboto3, dynorm on each transport, and aiodynamo.

    python benchmarks/transport.py [--ops 300] [--items 1000] [--rounds 3]

Starts dynalite (``npm install dynalite`` into ``benchmarks/.cache``) in its own process
on 127.0.0.1 -- or, without npm, ``python -m dynorm.local`` (moto, slower) -- so the
server's CPU does not count as the client's. For each operation -- put, get, query
(per item, ``--items`` items in one partition) and batch write (per item, 25 per call)
-- it measures ``time.process_time()`` per op for every client, alternating the
clients (A B C D, then D C B A ...) over ``--rounds`` rounds, and prints a markdown
table of the median with the ratio to aiodynamo (when installed: ``pip install
aiodynamo``; it is not a dependency of dynorm).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import dynorm
from dynorm import Model, PartitionKey, SortKey

TABLE = "bench_transport"
CACHE = Path(__file__).resolve().parent / ".cache"


class Row(Model, table=TABLE):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    name: str
    score: int
    active: bool = True
    tags: set[str] = set()
    note: str = ""


def row(pk: str, i: int) -> Row:
    return Row(pk=pk, sk=i, name=f"name-{i}", score=i * 7, active=bool(i % 2),
               tags={"red", "blue"}, note="x" * 40)


def plain(pk: str, i: int) -> dict[str, Any]:
    return {"pk": pk, "sk": i, "name": f"name-{i}", "score": i * 7, "active": bool(i % 2),
            "tags": {"red", "blue"}, "note": "x" * 40}


def wire(pk: str, i: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(i)}, "name": {"S": f"name-{i}"},
            "score": {"N": str(i * 7)}, "active": {"BOOL": bool(i % 2)},
            "tags": {"SS": ["blue", "red"]}, "note": {"S": "x" * 40}}


# ----------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> tuple[subprocess.Popen[bytes], str]:
    dynalite = CACHE / "node_modules" / ".bin" / "dynalite"
    if not dynalite.exists() and shutil.which("npm"):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
                        "--silent", "dynalite"], check=False)
    if dynalite.exists():
        cmd, name = [str(dynalite), "--port", str(port)], "dynalite"
    else:
        cmd = [sys.executable, "-m", "dynorm.local", "--port", str(port)]
        name = "moto (python -m dynorm.local)"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, name
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{name} did not start")


# ----------------------------------------------------------------- clients

Op = Callable[[int], Awaitable[int]]  # runs one batch of work for a round; returns op count


class Client:
    name = ""

    async def open(self, url: str) -> None: ...

    async def close(self) -> None: ...

    def activate(self) -> None:
        """Called before each measurement (dynorm: make this client's connection current)."""

    async def put(self, start: int, n: int) -> None: ...

    async def get(self, start: int, n: int) -> None:
        """Reads n of the query partition's items (written by setup(); needs items >= 1000)."""

    async def query(self) -> int: ...

    async def batch_write(self, start: int, n: int) -> None: ...


class RawAioboto3(Client):
    name = "aioboto3 client (raw)"

    async def open(self, url: str) -> None:
        import aioboto3
        from aiobotocore.config import AioConfig

        session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                   region_name="us-east-1")
        self._cm = session.client("dynamodb", endpoint_url=url,
                                  config=AioConfig(retries={"total_max_attempts": 1}))
        self.client = await self._cm.__aenter__()

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)

    async def put(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await self.client.put_item(TableName=TABLE, Item=wire("p", i))

    async def get(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await self.client.get_item(TableName=TABLE, Key={"pk": {"S": "q"},
                                                             "sk": {"N": str(i % 1000)}})

    async def query(self) -> int:
        count = 0
        kwargs: dict[str, Any] = {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                                  "ExpressionAttributeValues": {":p": {"S": "q"}}}
        while True:
            page = await self.client.query(**kwargs)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def batch_write(self, start: int, n: int) -> None:
        for s in range(start, start + n, 25):
            chunk = [{"PutRequest": {"Item": wire("b", i)}}
                     for i in range(s, min(s + 25, start + n))]
            await self.client.batch_write_item(RequestItems={TABLE: chunk})


class Dynorm(Client):
    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.name = f"dynorm ({transport})"

    async def open(self, url: str) -> None:
        self.conn = dynorm.connect(endpoint_url=url, region="us-east-1",
                                   aws_access_key_id="local", aws_secret_access_key="local",
                                   transport=self.transport)
        await self.conn.__aenter__()

    async def close(self) -> None:
        self.activate()
        await self.conn.__aexit__(None, None, None)

    def activate(self) -> None:
        # Several dynorm connections are open at once here: the current one is global.
        import dynorm.connection

        dynorm.connection._current = self.conn

    async def put(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await row("p", i).save()

    async def get(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await Row.get("q", i % 1000)

    async def query(self) -> int:
        return len(await Row.query(Row.pk == "q").to_list())

    async def batch_write(self, start: int, n: int) -> None:
        from dynorm.batch import batch

        async with batch(concurrency=1) as b:
            for i in range(start, start + n):
                b.save(row("b", i))


class Aiodynamo(Client):
    name = "aiodynamo"

    async def open(self, url: str) -> None:
        import aiohttp
        from aiodynamo.client import Client as AClient
        from aiodynamo.credentials import Key, StaticCredentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from yarl import URL

        self.session = aiohttp.ClientSession()
        self.client = AClient(AIOHTTP(self.session), StaticCredentials(Key("local", "local")),
                              "us-east-1", URL(url))

    async def close(self) -> None:
        await self.session.close()

    async def put(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await self.client.put_item(TABLE, plain("p", i))

    async def get(self, start: int, n: int) -> None:
        for i in range(start, start + n):
            await self.client.get_item(TABLE, {"pk": "q", "sk": i % 1000})

    async def query(self) -> int:
        from aiodynamo.expressions import HashKey

        return len([x async for x in self.client.query(TABLE, HashKey("pk", "q"))])

    async def batch_write(self, start: int, n: int) -> None:
        from aiodynamo.models import BatchWriteRequest

        for s in range(start, start + n, 25):
            chunk = [plain("b", i) for i in range(s, min(s + 25, start + n))]
            await self.client.batch_write({TABLE: BatchWriteRequest(items_to_put=chunk)})


# ----------------------------------------------------------------- measuring


async def setup(url: str, items: int) -> None:
    async with dynorm.connect(endpoint_url=url, region="us-east-1", aws_access_key_id="local",
                              aws_secret_access_key="local", transport="aioboto3") as conn:
        try:
            await conn.call("DeleteTable", {"TableName": TABLE})
            await asyncio.sleep(0.3)
        except dynorm.TableNotFound:
            pass
        await Row.create_table()
        for s in range(0, items, 25):
            chunk = [{"PutRequest": {"Item": wire("q", i)}} for i in range(s, min(s + 25, items))]
            await conn.call("BatchWriteItem", {"RequestItems": {TABLE: chunk}})


async def measure(clients: list[Client], url: str, ops: int, items: int, rounds: int
                  ) -> dict[tuple[str, str], list[float]]:
    results: dict[tuple[str, str], list[float]] = {}
    for c in clients:
        await c.open(url)
    for c in clients:
        c.activate()
        await c.put(10**6, 20)  # warm up: connections, imports, caches
        await c.get(10**6, 20)
        await c.query()
    offset = 0
    for r in range(rounds):
        order = clients if r % 2 == 0 else clients[::-1]
        for op in ("put", "get", "query", "batch write"):
            for c in order:
                offset += ops
                c.activate()
                t0 = time.process_time()
                if op == "put":
                    await c.put(offset, ops)
                    n = ops
                elif op == "get":
                    await c.get(offset, ops)  # items written by setup()
                    n = ops
                elif op == "query":
                    n = await c.query()
                    assert n == items, (c.name, n)
                else:
                    await c.batch_write(offset, ops)
                    n = ops
                cpu = (time.process_time() - t0) / n * 1e6
                results.setdefault((c.name, op), []).append(cpu)
    for c in clients[::-1]:
        await c.close()
    return results


def table(clients: list[Client], results: dict[tuple[str, str], list[float]]) -> str:
    ops = ["put", "get", "query", "batch write"]
    base = "aiodynamo" if any(c.name == "aiodynamo" for c in clients) else None
    heads = ["put µs", "get µs", "query µs/item", "batch write µs/item"]
    lines = ["| client | " + " | ".join(heads) + " |",
             "|---|" + "---|" * len(heads)]
    for c in clients:
        cells = []
        for op in ops:
            value = statistics.median(results[(c.name, op)])
            cell = f"{value:.0f}" if value >= 10 else f"{value:.1f}"
            if base:
                ref = statistics.median(results[(base, op)])
                cell += f" ({value / ref:.2f}x)"
            cells.append(cell)
        lines.append(f"| {c.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--items", type=int, default=1000, help="at least 1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="use a running server instead of starting one")
    args = parser.parse_args()
    proc = None
    if args.url:
        url, server = args.url, args.url
    else:
        port = free_port()
        proc, server = start_server(port)
        url = f"http://127.0.0.1:{port}"
    try:
        await setup(url, args.items)
        clients: list[Client] = [RawAioboto3(), Dynorm("aioboto3"), Dynorm("fast")]
        try:
            import aiodynamo  # noqa: F401

            clients.append(Aiodynamo())
        except ImportError:
            print("aiodynamo not installed: no baseline column", file=sys.stderr)
        results = await measure(clients, url, args.ops, args.items, args.rounds)
        try:
            import orjson  # noqa: F401
            parser_name = "orjson"
        except ImportError:
            parser_name = "json"
        print(f"server: {server}; Python {sys.version.split()[0]}; {os.cpu_count()} cores; "
              f"JSON: {parser_name}; {args.rounds} rounds, median client CPU "
              f"(time.process_time) per op; ratio to aiodynamo in brackets\n")
        print(table(clients, results))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
