"""Data migration: dynorm's `Migration` vs a straightforward boto3 script (issue 20).

    python -m benchmarks --only migration [--server dynalite|moto|dynamodb-local]
    python -m benchmarks --only migration --migration-concurrency 4,8,16 --rounds 3

A table of ``Sizes.migration`` orders (5,000; 500 with --quick). Each round changes
every item once (``n`` + 1 and a new ``note``), at each concurrency C, in alternation:

* **dynorm**: ``Migration(f"bench-{round}", Order, change).run(segments=C,
  concurrency=C)``: a parallel scan, each item an UpdateItem of its difference
  conditioned on the values read and on the migration's marker (at most once per
  item), progress saved per page in the checkpoints table; the fast transport.
* **boto3**: what a team writes for a one-off backfill: C threads sharing one boto3
  client, thread i scans segment i of C (``Segment``/``TotalSegments``, following
  ``LastEvaluatedKey``), deserializes each item (``TypeDeserializer``), applies the same
  change and sends ``update_item`` (SET of the changed attributes; no marker, no
  checkpoint: it is neither resumable nor at-most-once).

Both have C requests in flight at most. The table shows items per second (wall), the
client's CPU per item (``time.process_time()`` of this process) and the server's
(its process tree's, from /proc: both write one UpdateItem per item, dynorm's with a
condition), medians over the rounds; goal: dynorm >= 2x boto3's items/s. On a machine
whose cores the server shares, the server's CPU per item bounds the ratio. Every item is
checked afterwards: changed exactly once per run of either.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

import dynorm
from dynorm import Model, PartitionKey
from dynorm.migrate import Migration

TABLE = "bench_orders"
GOAL = 2.0
CONTENDERS = ("dynorm", "boto3")
CREDS: dict[str, Any] = {"region": "us-east-1", "aws_access_key_id": "local",
                         "aws_secret_access_key": "local"}


class Order(Model, table=TABLE):
    order_id: Annotated[str, PartitionKey]
    customer: str
    region: str = "eu"
    total: int = 0
    n: int = 0
    note: str = ""


@dataclass
class Result:
    items: int
    #: (contender, concurrency) -> [(wall, client CPU, server CPU seconds)] per round
    runs: dict[tuple[str, int], list[tuple[float, float, float]]] = field(
        default_factory=dict)
    checked: bool = False

    def median(self, contender: str, concurrency: int, which: int) -> float:
        values = sorted(r[which] for r in self.runs[(contender, concurrency)])
        return values[len(values) // 2]

    def rate(self, contender: str, concurrency: int) -> float:
        return self.items / self.median(contender, concurrency, 0)

    def cpu_us(self, contender: str, concurrency: int, which: int = 1) -> float:
        return self.median(contender, concurrency, which) / self.items * 1e6

    def ratio(self, concurrency: int) -> float:
        return self.rate("dynorm", concurrency) / self.rate("boto3", concurrency)


async def seed(url: str, items: int) -> None:
    async with dynorm.connect(endpoint_url=url, **CREDS):
        await Order.delete_table(missing_ok=True)
        await Order.create_table()
        async with dynorm.batch(concurrency=8) as batch:
            for i in range(items):
                batch.save(Order(order_id=f"o{i:06}", customer=f"c{i % 97}", total=i))


def change(tag: str) -> Callable[[Order], Order]:
    def apply(order: Order) -> Order:
        order.n += 1
        order.note = tag
        return order
    return apply


async def run_dynorm(url: str, concurrency: int, tag: str, items: int) -> None:
    async with dynorm.connect(endpoint_url=url, **CREDS):
        result = await Migration(tag, Order, change(tag)).run(
            segments=concurrency, concurrency=concurrency)
    if result.changed != items or result.failed:
        raise RuntimeError(f"dynorm migration {tag}: {result}")


def run_boto3(url: str, concurrency: int, tag: str, items: int) -> None:
    import boto3
    from boto3.dynamodb.types import TypeDeserializer
    from botocore.config import Config

    client = boto3.client("dynamodb", endpoint_url=url, region_name=CREDS["region"],
                          aws_access_key_id=CREDS["aws_access_key_id"],
                          aws_secret_access_key=CREDS["aws_secret_access_key"],
                          config=Config(max_pool_connections=concurrency + 2))
    deserialize = TypeDeserializer().deserialize

    def segment(number: int) -> int:
        changed = 0
        kwargs: dict[str, Any] = {"TableName": TABLE, "Segment": number,
                                  "TotalSegments": concurrency}
        while True:
            page = client.scan(**kwargs)
            for raw in page.get("Items", []):
                item = {k: deserialize(v) for k, v in raw.items()}
                client.update_item(
                    TableName=TABLE, Key={"order_id": raw["order_id"]},
                    UpdateExpression="SET #n = :n, #note = :note",
                    ExpressionAttributeNames={"#n": "n", "#note": "note"},
                    ExpressionAttributeValues={":n": {"N": str(int(item["n"]) + 1)},
                                               ":note": {"S": tag}})
                changed += 1
            if "LastEvaluatedKey" not in page:
                return changed
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(concurrency) as pool:
        changed = sum(pool.map(segment, range(concurrency)))
    if changed != items:
        raise RuntimeError(f"boto3 script {tag}: changed {changed} of {items}")


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of process ``pid`` and its descendants (Linux /proc; 0 elsewhere)."""
    if pid is None or not os.path.isdir("/proc"):
        return 0.0
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12]))
                             / os.sysconf("SC_CLK_TCK"))
    tree, total = {pid}, 0.0
    for _ in range(4):  # python -m dynorm.local -> java: a shallow tree
        tree |= {p for p, (parent, _) in stats.items() if parent in tree}
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


def timed(work: Callable[[], Any], server_pid: int | None) -> tuple[float, float, float]:
    s0 = tree_cpu(server_pid)
    w0, c0 = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return wall, cpu, tree_cpu(server_pid) - s0


async def check(url: str, runs: int, items: int) -> bool:
    """Every item changed once per run, by either contender."""
    async with dynorm.connect(endpoint_url=url, **CREDS):
        found = [o.n async for o in Order.scan()]
    return len(found) == items and set(found) == {runs}


def measure(url: str, items: int, concurrencies: list[int], rounds: int,
            log: Callable[..., None], server_pid: int | None = None) -> Result:
    asyncio.run(seed(url, items))
    result = Result(items)
    runs = 0

    def one(contender: str, concurrency: int, tag: str) -> tuple[float, float, float]:
        nonlocal runs
        runs += 1
        if contender == "dynorm":
            return timed(lambda: asyncio.run(run_dynorm(url, concurrency, tag, items)),
                         server_pid)
        return timed(lambda: run_boto3(url, concurrency, tag, items), server_pid)

    for contender in CONTENDERS:  # warm-up: imports, the checkpoints table, connections
        one(contender, concurrencies[0], f"warm-{contender}")
    for r in range(rounds):
        for concurrency in concurrencies:
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for contender in order:
                wall, cpu, server = one(contender, concurrency,
                                        f"bench-{r}-{concurrency}-{contender}")
                result.runs.setdefault((contender, concurrency), []).append(
                    (wall, cpu, server))
                log(f"migration: {contender} at {concurrency}: {items / wall:,.0f} items/s, "
                    f"{cpu / items * 1e6:.0f} us client CPU, {server / items * 1e6:.0f} us "
                    "server CPU per item")
    result.checked = asyncio.run(check(url, runs, items))
    return result


def table(result: Result, server: str, rounds: int) -> list[str]:
    concurrencies = sorted({c for _, c in result.runs})
    lines = [f"migration: {result.items:,} items changed once per round on {server}; "
             f"{rounds} rounds, alternated, medians; dynorm Migration (fast transport) vs "
             "a boto3 thread-per-segment scan + update_item script, the same concurrency",
             "", "| concurrency | dynorm items/s | boto3 items/s | dynorm / boto3 | "
             "client CPU/item dynorm, boto3 | server CPU/item dynorm, boto3 |",
             "|---:|---:|---:|---:|---:|---:|"]
    for c in concurrencies:
        lines.append(f"| {c} | {result.rate('dynorm', c):,.0f} | {result.rate('boto3', c):,.0f}"
                     f" | {result.ratio(c):.2f}x | {result.cpu_us('dynorm', c):.0f}, "
                     f"{result.cpu_us('boto3', c):.0f} us | "
                     f"{result.cpu_us('dynorm', c, 2):.0f}, {result.cpu_us('boto3', c, 2):.0f}"
                     " us |")
    met = all(result.ratio(c) >= GOAL for c in concurrencies)
    lines += ["", f"goal dynorm >= {GOAL:g}x boto3's items/s: {'met' if met else 'NOT met'}; "
              f"every item changed exactly once per run: {'yes' if result.checked else 'NO'}"]
    return lines
