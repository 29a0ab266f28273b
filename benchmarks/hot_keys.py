"""Hot keys: a leaderboard's write throughput on one hot key, 1 shard vs 8 (issue 25).

    python -m benchmarks --only hot-keys [--server moto|dynamodb-local] [--rounds 2]

Every score of one game goes to one partition of the ``by_game`` index, which DynamoDB
serves at about 1,000 write units per second. The fault proxy
(tests/support/fault_proxy.py) with `PartitionLimits` (tests/support/hot_partitions.py)
puts that limit back in front of the emulator, scaled down (``WRITE_UNITS`` per second
per partition key, table and indexes alike): writes beyond it are answered
ProvisionedThroughputExceededException, which dynorm's retry loop backs off from.
``WORKERS`` tasks save new scores of one game for ``seconds``, in alternation into a
table whose index is not sharded and one whose index has 8 shards; the table shows the
scores written per second, the throttled requests, and whether every score written is in
the index afterwards (read directly from the server, not through the proxy). Then the
top 10 of the sharded leaderboard: the Query requests it sent and the items they asked
for (goal: 8 pages of at most 10).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, RetryPolicy, SortKey, Throttled, attr
from tests.support.fault_proxy import FaultConfig, FaultProxy
from tests.support.hot_partitions import PartitionLimits

WRITE_UNITS = 10.0
READ_UNITS = 30.0
WORKERS = 64
GOAL = 6.0
CREDS = {"region": "us-east-1", "aws_access_key_id": "local",
         "aws_secret_access_key": "local"}


class FlatScore(Model, table="hot_flat"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    by_game = GlobalIndex("game", "score")


class ShardedScore(Model, table="hot_sharded"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    by_game = GlobalIndex("game", "score", shards=8)


MODELS: dict[str, type[Model]] = {"1 shard": FlatScore, "8 shards": ShardedScore}


@dataclass
class Run:
    written: int = 0  # scores saved before the deadline
    saved: int = 0  # scores saved in all (writes in flight at the deadline finish)
    seconds: float = 0.0
    throttled: int = 0  # requests the proxy answered ProvisionedThroughputExceeded
    lost: int = 0  # saved but not found in the index afterwards
    failed: int = 0  # saves that ran out of retries (then tried again)

    @property
    def rate(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0


@dataclass
class Result:
    runs: dict[str, list[Run]] = field(default_factory=dict)
    top_requests: list[dict[str, Any]] = field(default_factory=list)
    top_ok: bool = False

    def rate(self, name: str) -> float:
        return statistics.median(r.rate for r in self.runs[name])

    @property
    def ratio(self) -> float:
        flat = self.rate("1 shard")
        return self.rate("8 shards") / flat if flat else float("inf")


def limits() -> PartitionLimits:
    keys = {"hot_flat": ["user_id", "game"], "hot_sharded": ["user_id", "game_shard"]}
    return PartitionLimits(keys, write_units=WRITE_UNITS, read_units=READ_UNITS)


async def write_for(model: type[Any], seconds: float, round_no: int, proxy: FaultProxy,
                    workers: int = WORKERS) -> tuple[Run, set[str]]:
    """``workers`` tasks saving new scores of one game for ``seconds``."""
    run = Run()
    saved: set[str] = set()
    counter = iter(range(10**9))
    before = proxy.stats.partition_throttled
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            n = next(counter)
            score = model(user_id=f"r{round_no}u{n}", game="tetris", score=n)
            while True:
                try:
                    await score.save()
                    break
                except Throttled:  # retries ran out: the app tries again
                    run.failed += 1
            saved.add(score.user_id)
            if time.perf_counter() <= deadline:
                run.written += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    run.seconds = seconds
    run.saved = len(saved)
    run.throttled = proxy.stats.partition_throttled - before
    return run, saved


async def lost(url: str, model: type[Any], saved: set[str], round_no: int) -> int:
    """Scores saved but not in the index (read from the server, past the proxy)."""
    async with dynorm.connect(endpoint_url=url, **CREDS):  # type: ignore[arg-type]
        found = {s.user_id for s in await model.by_game.query(attr(model.game) == "tetris")
                 .to_list() if s.user_id.startswith(f"r{round_no}u")}
    return len(saved - found) + len(found - saved)


async def top_ten(proxy: FaultProxy) -> tuple[list[dict[str, Any]], list[Any]]:
    mark = len(proxy.requests)
    top = await ShardedScore.by_game.query(attr(ShardedScore.game) == "tetris").reverse() \
        .limit(10).to_list()
    queries = [p for op, p in proxy.requests[mark:] if op == "Query"]
    return queries, top


async def measure_async(url: str, rounds: int, seconds: float,
                        log: Callable[..., None], workers: int = WORKERS) -> Result:
    result = Result(runs={name: [] for name in MODELS})
    async with dynorm.connect(endpoint_url=url, **CREDS):  # type: ignore[arg-type]
        for model in MODELS.values():
            await model.delete_table(missing_ok=True)
            await model.create_table()
    retry = RetryPolicy(max_attempts=6, base_delay=0.02, max_delay=0.2)
    async with FaultProxy(url, FaultConfig(limits=limits())) as proxy, dynorm.connect(
            endpoint_url=proxy.url, retry=retry, **CREDS):  # type: ignore[arg-type]
        for r in range(rounds):
            order = list(MODELS.items())
            for name, model in order if r % 2 == 0 else order[::-1]:
                run, saved = await write_for(model, seconds, r, proxy, workers)
                run.lost = await lost(url, model, saved, r)
                result.runs[name].append(run)
                log(f"hot keys: {name}: {run.rate:.0f} writes/s, {run.throttled} throttled, "
                    f"{run.lost} lost")
        queries, top = await top_ten(proxy)
    async with dynorm.connect(endpoint_url=url, **CREDS):  # type: ignore[arg-type]
        every = await ShardedScore.by_game.query(attr(ShardedScore.game) == "tetris").to_list()
    best = sorted((s.score for s in every), reverse=True)[:10]
    result.top_requests = queries
    result.top_ok = [s.score for s in top] == best
    return result


def measure(url: str, rounds: int, seconds: float, log: Callable[..., None]) -> Result:
    return asyncio.run(measure_async(url, rounds, seconds, log))


def table(result: Result, seconds: float) -> list[str]:
    lines = [f"hot keys: {WORKERS} writers of one game for {seconds:g} s per round; "
             f"{WRITE_UNITS:g} write units/s per partition key (simulated by the fault "
             "proxy); medians", "",
             "| index | writes/s | throttled requests | saves out of retries | lost |",
             "|---|---:|---:|---:|---:|"]
    for name, runs in result.runs.items():
        lines.append(f"| {name} | {result.rate(name):.0f} | "
                     f"{sum(r.throttled for r in runs)} | {sum(r.failed for r in runs)} | "
                     f"{sum(r.lost for r in runs)} |")
    limits_ = [int(q.get("Limit", 0)) for q in result.top_requests]
    met = "met" if result.ratio >= GOAL else "NOT met"
    pages = len(result.top_requests)
    lines += ["", f"8 shards / 1 shard: {result.ratio:.1f}x (goal >= {GOAL:g}x: {met}); "
              f"lost: {sum(r.lost for runs in result.runs.values() for r in runs)}",
              f"top 10 of the sharded leaderboard: {pages} Query requests, Limit "
              f"{sorted(set(limits_))} (goal <= 8 pages of 10: "
              f"{'met' if pages <= 8 and all(x == 10 for x in limits_) else 'NOT met'}); "
              f"the right 10: {'yes' if result.top_ok else 'NO'}"]
    return lines
