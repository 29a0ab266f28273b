"""Export and import (issue 21): dynorm.backup against a straightforward boto3 script.

    python -m benchmarks --only backup [--server dynalite|moto|dynamodb-local] [--rounds 3]

A table of ``n`` items of the benchmark model (19 attributes, about 800 bytes of
DynamoDB JSON each) for each size (10,000 and 50,000; ``--quick`` 1,000 and 5,000), on a
server process of its own. Per round, in alternation:

* **export**: `dynorm.backup.export_table` with 4 segments into a folder (AWS's export
  layout, gzip) vs a boto3 script of 4 threads, each scanning one segment with the
  low-level client and writing ``{"Item": ...}`` lines into a gzip file;
* **import**: `dynorm.backup.import_table` of that export with ``concurrency=4`` into an
  empty table (created before the clock starts) vs 4 threads, each reading one of the
  script's files and writing with ``Table.batch_writer()`` (its items deserialized with
  ``TypeDeserializer``, as a script using boto3's resource API does).

Measured: items per second (wall), the client's CPU per item (``time.process_time``: all
threads of this process; the server runs in another), and the server's CPU over the same
wall time (``/proc/<pid>/stat``): a server busy about 100% of the wall time is what
bounds the rate. Then, in one more run each with ``tracemalloc``, the peak of Python
memory of dynorm's export and import at each size: it must not grow with the table
(goal: flat from 10k to 50k; speed goal: >= 2x the script).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import gzip
import json
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dynorm
from benchmarks.data import CREDS, REGION, TABLE, make
from benchmarks.server import Server
from dynorm.backup import export_table, import_table

SEGMENTS = 4  # scan segments of both exports, writers of both imports
GOAL = 2.0
CONTENDERS = ("dynorm", "boto3 script")


@dataclass
class Run:
    items: int
    wall: float
    cpu: float  # this process (every thread)
    server_cpu: float  # the server process over the same time

    @property
    def rate(self) -> float:
        return self.items / self.wall


@dataclass
class Result:
    server: str
    #: (operation, size, contender) -> runs
    runs: dict[tuple[str, int, str], list[Run]] = field(default_factory=dict)
    #: (operation, size) -> dynorm's peak of traced Python memory, bytes
    peaks: dict[tuple[str, int], int] = field(default_factory=dict)

    def median(self, key: tuple[str, int, str], what: Callable[[Run], float]) -> float:
        return statistics.median(what(r) for r in self.runs[key])

    def ratio(self, operation: str, size: int) -> float | None:
        """dynorm's items/s over the script's: the median of each round's ratio (the two
        ran back to back, so a change in the machine's load between rounds cancels)."""
        mine = self.runs.get((operation, size, "dynorm"))
        theirs = self.runs.get((operation, size, "boto3 script"))
        if not mine or not theirs:
            return None
        return statistics.median(a.rate / b.rate for a, b in zip(mine, theirs, strict=False))


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _source(size: int) -> str:
    return f"{TABLE}_backup_{size}"


# ---------------------------------------------------------------------------- dynorm


async def _dynorm_export(url: str, table: str, folder: Path) -> int:
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS):
        result = await export_table(table, folder, segments=SEGMENTS)
    return result.item_count


async def _dynorm_import(url: str, folder: Path, table: str) -> int:
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS):
        result = await import_table(folder, table, concurrency=SEGMENTS)
    return result.items


# ---------------------------------------------------------------------------- boto3


def _boto3_session() -> Any:
    import boto3

    return boto3.session.Session(region_name=REGION, **CREDS)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def _boto3_export(url: str, table: str, folder: Path) -> int:
    """A parallel scan with boto3's low-level client, one gzip file per segment."""
    client = _boto3_session().client("dynamodb", endpoint_url=url)  # thread-safe
    folder.mkdir(parents=True, exist_ok=True)

    def segment(i: int) -> int:
        count = 0
        pages = client.get_paginator("scan").paginate(TableName=table, Segment=i,
                                                      TotalSegments=SEGMENTS)
        with gzip.open(folder / f"segment-{i}.json.gz", "wt") as out:
            for page in pages:
                for item in page["Items"]:
                    out.write(json.dumps({"Item": item}, default=_json_default) + "\n")
                count += len(page["Items"])
        return count

    with ThreadPoolExecutor(SEGMENTS) as pool:
        return sum(pool.map(segment, range(SEGMENTS)))


def _boto3_import(url: str, folder: Path, table: str) -> int:
    """One thread per file, each with its own resource and ``Table.batch_writer()``."""
    from boto3.dynamodb.types import TypeDeserializer

    def load(path: Path) -> int:
        resource = _boto3_session().resource("dynamodb", endpoint_url=url)
        deserializer = TypeDeserializer()
        count = 0
        with resource.Table(table).batch_writer() as writer, gzip.open(path, "rt") as lines:
            for line in lines:
                item = json.loads(line)["Item"]
                writer.put_item(Item={k: deserializer.deserialize(v) for k, v in item.items()})
                count += 1
        return count

    with ThreadPoolExecutor(SEGMENTS) as pool:
        return sum(pool.map(load, sorted(folder.glob("segment-*.json.gz"))))


# ---------------------------------------------------------------------------- runs


async def _create(connection: dynorm.Connection, table: str) -> None:
    """Create an empty table of the benchmark's key schema and wait until it is ACTIVE
    (outside the timed region: dynalite takes half a second)."""
    await connection.call("CreateTable", {
        "TableName": table, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}]})
    while (await connection.call("DescribeTable", {"TableName": table})
           )["Table"]["TableStatus"] != "ACTIVE":
        await asyncio.sleep(0.05)


async def _create_at(url: str, table: str) -> None:
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS) as connection:
        await _create(connection, table)


async def _seed(url: str, sizes: tuple[int, ...]) -> None:
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS) as connection:
        for size in sizes:
            await _create(connection, _source(size))
            slots = asyncio.Semaphore(8)
            await asyncio.gather(*(_put(connection, slots, _source(size), start,
                                        min(start + 25, size))
                                   for start in range(0, size, 25)))


async def _put(connection: dynorm.Connection, slots: asyncio.Semaphore, table: str,
               start: int, end: int) -> None:
    chunk = [{"PutRequest": {"Item": make(f"p{i % 1000}", i).to_item()}}
             for i in range(start, end)]
    async with slots:
        answer = await connection.call("BatchWriteItem", {"RequestItems": {table: chunk}})
    assert not answer.get("UnprocessedItems"), "the server left items unwritten"


async def _drop(url: str, table: str) -> None:
    async with dynorm.connect(endpoint_url=url, region=REGION, **CREDS) as connection:
        with contextlib.suppress(dynorm.TableNotFound):
            await connection.call("DeleteTable", {"TableName": table})


def _timed(server: Server, work: Callable[[], int]) -> Run:
    gc.collect()
    server_cpu = _cpu_of(server.proc.pid)
    wall, cpu = time.perf_counter(), time.process_time()
    items = work()
    return Run(items, time.perf_counter() - wall, time.process_time() - cpu,
               _cpu_of(server.proc.pid) - server_cpu)


def _one(url: str, server: Server, size: int, contender: str, round_: int,
         scratch: Path, result: Result, log: Callable[..., None]) -> None:
    """Export then import one size with one contender; both timed."""
    folder = scratch / f"{contender.split()[0]}-{size}-{round_}"
    target = f"{TABLE}_copy_{size}_{contender.split()[0]}_{round_}"
    asyncio.run(_create_at(url, target))
    if contender == "dynorm":
        export = _timed(server, lambda: asyncio.run(_dynorm_export(url, _source(size),
                                                                   folder)))
        imported = _timed(server, lambda: asyncio.run(_dynorm_import(url, folder, target)))
    else:
        export = _timed(server, lambda: _boto3_export(url, _source(size), folder))
        imported = _timed(server, lambda: _boto3_import(url, folder, target))
    for operation, run in (("export", export), ("import", imported)):
        assert run.items == size, (operation, contender, run.items, size)
        result.runs.setdefault((operation, size, contender), []).append(run)
        log(f"  round {round_ + 1} {operation} {size:>6,} {contender:12} "
            f"{run.rate:8,.0f} items/s  client CPU {run.cpu / run.items * 1e6:6.1f} µs/item"
            f"  server busy {run.server_cpu / run.wall:4.0%}")
    asyncio.run(_drop(url, target))
    shutil.rmtree(folder, ignore_errors=True)


def _peak(work: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def _memory(server: Server, size: int, scratch: Path, result: Result,
            log: Callable[..., None]) -> None:
    """dynorm's export and import of one size once more, under tracemalloc."""
    folder = scratch / f"memory-{size}"
    target = f"{TABLE}_copy_{size}_memory"
    asyncio.run(_create_at(server.url, target))
    result.peaks[("export", size)] = _peak(lambda: asyncio.run(_dynorm_export(
        server.url, _source(size), folder)))
    result.peaks[("import", size)] = _peak(lambda: asyncio.run(_dynorm_import(
        server.url, folder, target)))
    log(f"  memory {size:>6,}: export peak {result.peaks[('export', size)] / 2**20:.1f} "
        f"MiB, import peak {result.peaks[('import', size)] / 2**20:.1f} MiB")
    asyncio.run(_drop(server.url, target))
    shutil.rmtree(folder, ignore_errors=True)


def measure(kind: str, sizes: tuple[int, ...], rounds: int,
            log: Callable[..., None]) -> Result:
    """Start a server of ``kind``, seed a table per size, run the rounds and the memory
    check; the server is stopped at the end."""
    server = Server(kind)
    result = Result(server.name)
    scratch = Path(tempfile.mkdtemp(prefix="dynorm-bench-backup-"))
    try:
        log(f"backup: seeding {', '.join(f'{s:,}' for s in sizes)} items into "
            f"{server.name} at {server.url} ...")
        asyncio.run(_seed(server.url, sizes))
        for round_ in range(rounds):
            order = CONTENDERS if round_ % 2 == 0 else CONTENDERS[::-1]
            for size in sizes:
                for contender in order:
                    _one(server.url, server, size, contender, round_, scratch, result, log)
        for size in sizes:
            _memory(server, size, scratch, result, log)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def table(result: Result, rounds: int) -> list[str]:
    sizes = sorted({size for _, size, _ in result.runs})
    lines = [f"backup: export and import on {result.server} (its own process), "
             f"{SEGMENTS} segments / writers each, {rounds} rounds alternated, medians; "
             "server busy = the server's CPU over the wall time (near 100%: the server "
             "bounds the rate; client and server both well below their share of the "
             "machine: round trips, or the machine's other load)", "",
             "| operation | items | contender | items/s | client CPU µs/item "
             "| server CPU µs/item | server busy | items/s vs boto3 script (per round) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for operation in ("export", "import"):
        for size in sizes:
            paired = result.ratio(operation, size)
            for contender in CONTENDERS:
                key = (operation, size, contender)
                if key not in result.runs:
                    continue
                rate = result.median(key, lambda r: r.rate)
                cpu = result.median(key, lambda r: r.cpu / r.items)
                busy = result.median(key, lambda r: r.server_cpu / r.wall)
                server_cpu = result.median(key, lambda r: r.server_cpu / r.items)
                ratio = ("1.00x" if contender != "dynorm" else
                         f"{paired:.2f}x" if paired is not None else "")
                lines.append(f"| {operation} | {size:,} | {contender} | {rate:,.0f} "
                             f"| {cpu * 1e6:.1f} | {server_cpu * 1e6:.1f} | {busy:.0%} "
                             f"| {ratio} |")
    if result.peaks:
        lines += ["", "| dynorm, peak of traced Python memory | "
                  + " | ".join(f"{s:,} items" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for operation in ("export", "import"):
            lines.append(f"| {operation} | " + " | ".join(
                f"{result.peaks[(operation, s)] / 2**20:.1f} MiB" for s in sizes) + " |")
    lines += ["", *targets(result)]
    return lines


def targets(result: Result) -> list[str]:
    """The issue's goals, met or not."""
    out = []
    sizes = sorted({size for _, size, _ in result.runs})
    for operation in ("export", "import"):
        for size in sizes:
            ratio = result.ratio(operation, size)
            if ratio is not None:
                out.append(f"target: backup {operation} of {size:,}: {ratio:.2f}x the boto3 "
                           f"script's items/s, median of the rounds (goal >= {GOAL:g}x): "
                           f"{'met' if ratio >= GOAL else 'NOT met'}")
    if len(sizes) >= 2 and result.peaks:
        for operation in ("export", "import"):
            small, large = (result.peaks[(operation, sizes[0])],
                            result.peaks[(operation, sizes[-1])])
            growth = large / small if small else 0.0
            out.append(f"target: backup {operation} peak memory {sizes[0]:,} -> "
                       f"{sizes[-1]:,} items: {growth:.2f}x (goal: flat, <= 1.5x): "
                       f"{'met' if growth <= 1.5 else 'NOT met'}")
    return out
