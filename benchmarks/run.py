"""dynorm's benchmark suite against raw aioboto3 and the Python peers.

    python -m benchmarks                    # full run (about 5-10 minutes)
    python -m benchmarks --quick --server moto
    python -m benchmarks --only put,get,codec --contenders dynorm-fast,aiodynamo

Starts the server in a separate process on 127.0.0.1 (dynalite from npm into
benchmarks/.cache; moto via ``python -m dynorm.local`` where npm is absent or with
``--server moto``; ``--server dynamodb-local`` for AWS's emulator; transactions run
against a moto process of their own unless the server is DynamoDB Local: dynalite has
none), so ``time.process_time()`` in this process is the client's CPU alone. Contenders
run in alternation (A B C ..., reversed every other round) over ``--rounds`` rounds; the
table shows the median client CPU and wall time per unit and the ratio to raw aioboto3.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dynorm
from benchmarks import codec as codec_bench
from benchmarks import imports as import_bench
from benchmarks import memory as memory_bench
from benchmarks.contenders import BASELINE, REGISTRY, Contender, available, create
from benchmarks.data import ATTRIBUTES, CREDS, REGION, TABLE, Bench, make, make_many, wire
from benchmarks.server import Server

IO_SCENARIOS = ["put", "get", "update", "query", "batch-write", "batch-get", "transaction"]
OTHER_SCENARIOS = ["codec", "import", "memory"]
SCENARIOS = IO_SCENARIOS + OTHER_SCENARIOS
QUERY_PK = "q"


@dataclass
class Sizes:
    ops: int  # single-item operations per contender per round
    items: int  # batch write size; query and batch get use items // 10
    page: int  # query page size
    tx: int  # transactions (of 10 puts) per contender per round
    codec: int  # items encoded + decoded per contender per round
    memory: tuple[int, int]  # query iteration sizes for the memory check
    import_runs: int
    memory_page: int = 1000  # items per request in the memory check

    @property
    def query_items(self) -> int:
        return max(self.items // 10, 1)


FULL = Sizes(ops=200, items=10_000, page=100, tx=20, codec=100_000, memory=(10_000, 50_000),
             import_runs=7)
QUICK = Sizes(ops=10, items=300, page=10, tx=3, codec=2_000, memory=(500, 1_000),
              import_runs=3, memory_page=100)


_T0 = time.perf_counter()


def log(*args: Any) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s]", *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ I/O scenarios

Unit = tuple[str, Callable[[Contender, Sizes, int], Awaitable[int]]]


async def _put(c: Contender, s: Sizes, r: int) -> int:
    items = _cache("put", lambda: make_many("p", s.ops))
    await c.put(items)
    return len(items)


async def _get(c: Contender, s: Sizes, r: int) -> int:
    keys = [(QUERY_PK, (r * s.ops + i) % s.query_items) for i in range(s.ops)]
    await c.get(keys)
    return len(keys)


async def _update(c: Contender, s: Sizes, r: int) -> int:
    items = _cache("update", lambda: make_many(QUERY_PK, min(s.ops, s.query_items)))
    await c.update(items)
    return len(items)


async def _query(c: Contender, s: Sizes, r: int) -> int:
    n = await c.query(QUERY_PK, s.page)
    assert n == s.query_items, (c.name, n, s.query_items)
    return n


async def _batch_write(c: Contender, s: Sizes, r: int) -> int:
    items = _cache("bw", lambda: make_many("bw", s.items))
    await c.batch_write(items)
    return len(items)


async def _batch_get(c: Contender, s: Sizes, r: int) -> int:
    keys = [(QUERY_PK, i) for i in range(s.query_items)]
    found = await c.batch_get(keys)
    assert found == len(keys), (c.name, found, len(keys))
    return len(keys)


async def _transaction(c: Contender, s: Sizes, r: int) -> int:
    groups = _cache("tx", lambda: [[make("tx", g * 10 + i) for i in range(10)]
                                   for g in range(s.tx)])
    for group in groups:
        await c.transaction(group)
    return len(groups)


SCENARIO_FUNCS: dict[str, Unit] = {
    "put": ("op", _put),
    "get": ("op", _get),
    "update": ("op", _update),
    "query": ("item", _query),
    "batch-write": ("item", _batch_write),
    "batch-get": ("item", _batch_get),
    "transaction": ("tx of 10", _transaction),
}

_inputs: dict[str, Any] = {}


def _cache(name: str, build: Callable[[], Any]) -> Any:
    # Inputs are built once, outside the timed region: every contender starts from the
    # same validated Bench instances, as an application holds them.
    if name not in _inputs:
        _inputs[name] = build()
    return _inputs[name]


async def timed(c: Contender, scenario: str, sizes: Sizes, r: int) -> tuple[float, float, int]:
    fn = SCENARIO_FUNCS[scenario][1]
    c.activate()
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    units = await fn(c, sizes, r)
    return time.process_time() - c0, time.perf_counter() - w0, units


async def seed(url: str, tx_url: str, sizes: Sizes, memory_items: int) -> None:
    for endpoint in dict.fromkeys([url, tx_url]):
        async with dynorm.connect(endpoint_url=endpoint, region=REGION, transport="aioboto3",
                                  **CREDS):
            await Bench.delete_table()
            await Bench.create_table()
    async with dynorm.connect(endpoint_url=url, region=REGION, transport="fast", **CREDS) as conn:
        items = make_many(QUERY_PK, sizes.query_items)
        for i in range(0, len(items), 25):
            chunk = [{"PutRequest": {"Item": wire(m)}} for m in items[i:i + 25]]
            await conn.call("BatchWriteItem", {"RequestItems": {TABLE: chunk}})
        if memory_items:
            log(f"seeding {memory_items} items for the memory check ...")
            async with dynorm.batch(concurrency=8) as b:
                for i in range(memory_items):
                    b.save(make(memory_bench.PARTITION, i))


async def run_io(names: list[str], scenarios: list[str], sizes: Sizes, rounds: int,
                 url: str, tx_url: str) -> tuple[dict[tuple[str, str], list[tuple[float, float]]],
                                                 dict[tuple[str, str], str]]:
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    errors: dict[tuple[str, str], str] = {}
    contenders = [create(n) for n in names]
    for c in contenders:
        await c.open(url, tx_url)
    try:
        log("warming up ...")
        warm = Sizes(ops=3, items=50, page=sizes.page, tx=1, codec=0, memory=(0, 0),
                     import_runs=0)
        for scenario in scenarios:
            for c in contenders:
                if scenario in ("query", "batch-get"):
                    continue  # these need the full seeded partition; their first round warms
                try:
                    c.activate()
                    await SCENARIO_FUNCS[scenario][1](c, warm, 0)
                except Exception as exc:
                    errors[(scenario, c.name)] = f"{type(exc).__name__}: {exc}"[:200]
                    log(f"  warm-up {scenario} {c.name} ERROR {errors[(scenario, c.name)]}")
        _inputs.clear()
        for r in range(rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for scenario in scenarios:
                for c in order:
                    if (scenario, c.name) in errors:
                        continue
                    try:
                        cpu, wall, units = await timed(c, scenario, sizes, r)
                    except Exception as exc:
                        errors[(scenario, c.name)] = f"{type(exc).__name__}: {exc}"[:200]
                        log(f"  {scenario:12} {c.name:16} ERROR {errors[(scenario, c.name)]}")
                        continue
                    results.setdefault((scenario, c.name), []).append(
                        (cpu / units, wall / units))
                    log(f"  round {r + 1} {scenario:12} {c.name:16} cpu {cpu * 1e6 / units:9.1f}"
                        f" µs  wall {wall * 1e6 / units:9.1f} µs per {SCENARIO_FUNCS[scenario][0]}")
    finally:
        for c in contenders[::-1]:
            await c.close()
    return results, errors


# ------------------------------------------------------------------ other scenarios


def run_codec(sizes: Sizes, rounds: int) -> dict[str, list[tuple[float, float]]]:
    pool = make_many("c", 1000)
    codec_bench.check(pool)
    runners = {name: factory() for name, factory in
               codec_bench.contenders(lambda lib: available_lib(lib)).items()}
    per_round = max(sizes.codec // len(pool), 1)
    results: dict[str, list[tuple[float, float]]] = {}
    for run in runners.values():  # warm up
        for m in pool[:100]:
            run(m)
    for r in range(rounds):
        order = list(runners.items())
        if r % 2:
            order.reverse()
        for name, run in order:
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                for m in pool:
                    run(m)
            n = per_round * len(pool)
            cpu, wall = (time.process_time() - c0) / n, (time.perf_counter() - w0) / n
            results.setdefault(name, []).append((cpu, wall))
            log(f"  round {r + 1} codec {name:40} cpu {cpu * 1e6:6.1f} µs per item")
    return results


def available_lib(lib: str) -> bool:
    try:
        __import__(lib)
    except ImportError:
        return False
    return True


async def run_memory(url: str, sizes: Sizes) -> dict[tuple[str, int], tuple[int, int]]:
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for transport in ("aioboto3", "fast"):
        async with dynorm.connect(endpoint_url=url, region=REGION, transport=transport,
                                  **CREDS):
            await memory_bench.peak(100)  # warm up
            for n in sizes.memory:
                seen, peak = await memory_bench.peak(n, sizes.memory_page)
                assert seen == n, (seen, n)
                out[(transport, n)] = (seen, peak)
                log(f"  memory dynorm-{transport} {n} items: peak {peak / 2**20:.2f} MiB")
    return out


# ------------------------------------------------------------------ output


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def io_table(names: list[str], scenarios: list[str], results: dict[tuple[str, str], Any],
             errors: dict[tuple[str, str], str], tx_server: str) -> list[str]:
    lines = ["| scenario | contender | client CPU µs | wall µs | CPU vs raw aioboto3 "
             "| wall vs raw aioboto3 |", "|---|---|---:|---:|---:|---:|"]
    for scenario in scenarios:
        unit = SCENARIO_FUNCS[scenario][0]
        label = f"{scenario} (per {unit})"
        if scenario == "transaction":
            label += f" [{tx_server} server]"
        base = results.get((scenario, BASELINE))
        bcpu = statistics.median(x[0] for x in base) if base else None
        bwall = statistics.median(x[1] for x in base) if base else None
        for name in names:
            key = (scenario, name)
            if key in errors:
                lines.append(f"| {label} | {name} | error | {errors[key]} | | |")
                continue
            runs = results.get(key)
            if not runs:
                lines.append(f"| {label} | {name} | n/a | | | |")
                continue
            cpu = statistics.median(x[0] for x in runs)
            wall = statistics.median(x[1] for x in runs)
            rc = f"{cpu / bcpu:.2f}x" if bcpu else ""
            rw = f"{wall / bwall:.2f}x" if bwall else ""
            lines.append(f"| {label} | {name} | {fmt_us(cpu)} | {fmt_us(wall)} | {rc} | {rw} |")
    return lines


def codec_table(results: dict[str, list[tuple[float, float]]]) -> list[str]:
    base = statistics.median(x[0] for x in results[codec_bench.BASELINE])
    lines = ["| scenario | codec (encode + decode, per item) | CPU µs | wall µs "
             "| CPU vs hand-written |", "|---|---|---:|---:|---:|"]
    for name, runs in results.items():
        cpu = statistics.median(x[0] for x in runs)
        wall = statistics.median(x[1] for x in runs)
        lines.append(f"| codec | {name} | {fmt_us(cpu)} | {fmt_us(wall)} | {cpu / base:.2f}x |")
    return lines


def import_table(times: dict[str, float]) -> list[str]:
    base = times["import aioboto3"]
    lines = ["| scenario | statement | median ms | over `import aioboto3` |",
             "|---|---|---:|---:|"]
    for name, t in times.items():
        lines.append(f"| import | `{name}` | {t * 1e3:.0f} | {(t - base) * 1e3:+.0f} ms |")
    return lines


def memory_table(mem: dict[tuple[str, int], tuple[int, int]], sizes: Sizes) -> list[str]:
    small, large = sizes.memory
    lines = ["| scenario | dynorm transport | items | peak traced memory | peak "
             f"{large:,} / {small:,} |", "|---|---|---:|---:|---:|"]
    for transport in ("aioboto3", "fast"):
        for n in sizes.memory:
            if (transport, n) not in mem:
                continue
            _, peak = mem[(transport, n)]
            ratio = ""
            if n == large and (transport, small) in mem:
                ratio = f"{peak / mem[(transport, small)][1]:.2f}x"
            lines.append(f"| memory | dynorm-{transport} | {n:,} | {peak / 2**20:.2f} MiB "
                         f"| {ratio} |")
    return lines


def targets(results: dict[tuple[str, str], Any], codec: dict[str, Any] | None,
            imports: dict[str, float] | None, mem: dict[tuple[str, int], tuple[int, int]] | None,
            sizes: Sizes) -> list[str]:
    def med(scenario: str, name: str, i: int = 0) -> float | None:
        runs = results.get((scenario, name))
        return statistics.median(x[i] for x in runs) if runs else None

    rows: list[tuple[str, str, str, bool | None]] = []

    def ratio_row(what: str, a: float | None, b: float | None, limit: float) -> None:
        if a is None or b is None:
            rows.append((what, f"<= {limit:.2f}x", "not measured", None))
        else:
            rows.append((what, f"<= {limit:.2f}x", f"{a / b:.2f}x", a / b <= limit))

    for op in ("put", "get", "update"):
        ratio_row(f"dynorm-aioboto3 {op}: client CPU vs raw aioboto3",
                  med(op, "dynorm-aioboto3"), med(op, BASELINE), 1.05)
    for peer in ("aiodynamo", "pydynox"):
        for op, limit in (("put", 0.9), ("get", 0.9), ("query", 1.0), ("batch-write", 1.0)):
            ratio_row(f"dynorm-fast {op}: client CPU vs {peer}", med(op, "dynorm-fast"),
                      med(op, peer), limit)
    if codec:
        dyn = statistics.median(x[0] for x in codec["dynorm (to_item + from_item)"])
        hand = statistics.median(x[0] for x in codec[codec_bench.BASELINE])
        ratio_row("codec encode+decode: CPU vs hand-written + pydantic", dyn, hand, 1.25)
    for name in ("dynorm-aioboto3", "dynorm-fast"):
        ratio_row(f"{name} batch write of {sizes.items:,}: wall vs raw aioboto3 (concurrent)",
                  med("batch-write", name, 1), med("batch-write", BASELINE, 1), 1.1)
    if mem:
        small, large = sizes.memory
        for transport in ("aioboto3", "fast"):
            if (transport, small) in mem and (transport, large) in mem:
                ratio_row(f"query memory flat (dynorm-{transport}): peak at {large:,} / "
                          f"{small:,} items", mem[(transport, large)][1],
                          mem[(transport, small)][1], 1.2)
    if imports:
        extra = (imports["import dynorm, aioboto3"] - imports["import aioboto3"]) * 1e3
        rows.append(("`import dynorm` adds over `import aioboto3`", "<= 60 ms",
                     f"{extra:.0f} ms", extra <= 60))
    lines = ["| target | limit | measured | met |", "|---|---|---:|---|"]
    for what, limit, measured, ok in rows:
        mark = "n/a" if ok is None else "yes" if ok else "**no**"
        lines.append(f"| {what} | {limit} | {measured} | {mark} |")
    return lines


# ------------------------------------------------------------------ main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, help="batch write size (default 10000); query and "
                   "batch get use a tenth of it")
    p.add_argument("--ops", type=int, help="single-item operations per round (default 200)")
    p.add_argument("--rounds", type=int, help="rounds of alternation (default 3; quick 2)")
    p.add_argument("--quick", action="store_true", help="small sizes, for CI (~1 minute)")
    p.add_argument("--server", choices=["dynalite", "moto", "dynamodb-local"],
                   default="dynalite",
                   help="dynalite (npm; falls back to moto without npm), moto, or AWS's "
                        "DynamoDB Local (Java; serves the transactions too)")
    p.add_argument("--only", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    p.add_argument("--contenders", help=f"comma-separated: {','.join(REGISTRY)}")
    p.add_argument("--output", help="also write the markdown to this file")
    args = p.parse_args(argv)
    for flag, allowed in (("only", SCENARIOS), ("contenders", list(REGISTRY))):
        value = getattr(args, flag)
        if value:
            bad = [v for v in value.split(",") if v not in allowed]
            if bad:
                p.error(f"--{flag}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
    return args


async def amain(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else FULL
    sizes = Sizes(**{**base.__dict__})
    if args.items:
        sizes.items = args.items
    if args.ops:
        sizes.ops = args.ops
    rounds = args.rounds or (2 if args.quick else 3)
    scenarios = args.only.split(",") if args.only else SCENARIOS
    wanted = args.contenders.split(",") if args.contenders else list(REGISTRY)
    out: list[str] = []
    names: list[str] = []
    skipped: list[str] = []
    for name in wanted:
        why = available(name)
        if why:
            skipped.append(f"skipped: {name}: {why}")
        else:
            names.append(name)
    io = [s for s in IO_SCENARIOS if s in scenarios]
    servers: list[Server] = []
    try:
        kind = args.server
        need_server = bool(io) or "memory" in scenarios
        main_server = tx_server = None
        if need_server:
            if kind == "dynalite" and import_bench_dynalite() is None:
                skipped.append("dynalite unavailable (no npm): using moto")
                kind = "moto"
            main_server = Server(kind)
            servers.append(main_server)
            tx_server = main_server
            if "transaction" in io and kind != "dynamodb-local":
                # dynalite has no transactions; and moto copies every table it holds on each
                # transaction (seconds with the other scenarios' items): a moto of its own.
                tx_server = Server("moto")
                servers.append(tx_server)
        results: dict[tuple[str, str], Any] = {}
        errors: dict[tuple[str, str], str] = {}
        mem = None
        if main_server is not None and tx_server is not None:
            log(f"server: {main_server.name} at {main_server.url}; transactions: "
                f"{tx_server.name} at {tx_server.url}")
            await seed(main_server.url, tx_server.url, sizes,
                       sizes.memory[1] if "memory" in scenarios else 0)
            if io:
                results, errors = await run_io(names, io, sizes, rounds, main_server.url,
                                               tx_server.url)
            if "memory" in scenarios:
                log("memory ...")
                mem = await run_memory(main_server.url, sizes)
        codec = None
        if "codec" in scenarios:
            log("codec ...")
            codec = run_codec(sizes, rounds)
        imports = None
        if "import" in scenarios:
            log("import ...")
            imports = import_bench.measure(sizes.import_runs)
    finally:
        for s in servers[::-1]:
            s.stop()

    server_name = main_server.name if main_server else "none"
    out.append(f"dynorm {dynorm.__version__}; Python {platform.python_version()}; "
               f"{os.cpu_count()} CPUs; {platform.platform()}")
    out.append(f"server: {server_name} on 127.0.0.1 in its own process"
               + (f"; transactions: a second {tx_server.name} process" if tx_server and
                  tx_server is not main_server else ""))
    out.append(f"model: {ATTRIBUTES} attributes; {rounds} rounds, contenders alternated, "
               f"medians; {sizes.ops} single-item ops, query of {sizes.query_items:,} items "
               f"({sizes.page} per page), batch write of {sizes.items:,}, batch get of "
               f"{sizes.query_items:,}, {sizes.tx} transactions of 10 puts, codec "
               f"{sizes.codec:,} items per round")
    out.extend(skipped)
    if io:
        out += ["", *io_table(names, io, results, errors, tx_server.name if tx_server else "")]
    if codec:
        out += ["", *codec_table(codec)]
    if imports:
        out += ["", *import_table(imports)]
    if mem:
        out += ["", *memory_table(mem, sizes)]
    out += ["", *targets(results, codec, imports, mem, sizes)]
    text = "\n".join(out)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    if errors:
        log(f"{len(errors)} scenario(s) failed")
        return 1
    return 0


def import_bench_dynalite() -> Any:
    from benchmarks.server import dynalite_path

    return dynalite_path()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    t0 = time.perf_counter()
    code = asyncio.run(amain(args))
    log(f"total {time.perf_counter() - t0:.0f} s")
    sys.exit(code)
