"""dynorm's benchmark suite against raw aioboto3 and the Python peers.

    python -m benchmarks                    # full run (about 10-15 minutes)
    python -m benchmarks --quick --server moto          # CI size; no https, cold-start
    python -m benchmarks --only put,get,codec --contenders dynorm-fast,aiodynamo
    python -m benchmarks --only cold-start,https,read-path [--uvloop]
    python -m benchmarks --only hot-keys --server moto     # 1 vs 8 shards on a hot key
    python -m benchmarks --only encryption                 # encrypted field CPU, KMS calls
    python -m benchmarks --only migration   # dynorm Migration vs a boto3 script
    python -m benchmarks --only tracing     # observation off/hooks/capacity/OpenTelemetry
    python -m benchmarks --only backup      # export/import vs a boto3 script, 10k and 50k

Starts the server in a separate process on 127.0.0.1 (dynalite from npm into
benchmarks/.cache; moto via ``python -m dynorm.local`` where npm is absent or with
``--server moto``; ``--server dynamodb-local`` for AWS's emulator; transactions run
against a moto process of their own unless the server is DynamoDB Local: dynalite has
none), so ``time.process_time()`` in this process is the client's CPU alone. Contenders
run in alternation (A B C ..., reversed every other round) over ``--rounds`` rounds, each
scenario's timed units after an untimed one (the pilot, not in ``--quick``: see
``run_io``), each unit's CPU counted until ``SETTLE`` after it returned (neither in
``--quick``); the table shows the median client CPU and wall time per unit and the ratio
to raw aioboto3.
``read-path`` (big queries, a parallel scan, a batch get) runs on a server of its own;
``https`` (TLS in front of the server, ``benchmarks/https.py``) and ``cold-start`` (whole
fresh processes, ``benchmarks/cold_start.py``) compare against dynorm's fast transport.
``hot-keys`` (``benchmarks/hot_keys.py``) writes one hot key through a proxy that
enforces per-partition limits, with 1 and 8 shards. ``migration``
(``benchmarks/migration.py``) changes every item of a table with a dynorm `Migration` and
with a boto3 parallel-scan + update_item script at the same concurrency. ``backup``
(``benchmarks/backup.py``) exports and imports tables of 10,000 and 50,000 items against
a boto3 script.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import dynorm
from benchmarks import backup as backup_bench
from benchmarks import codec as codec_bench
from benchmarks import cold_start, encryption, hot_keys, https, migration, read_path, tracing
from benchmarks import imports as import_bench
from benchmarks import memory as memory_bench
from benchmarks.contenders import REGISTRY, Contender, available, create
from benchmarks.data import ATTRIBUTES, CREDS, REGION, TABLE, Bench, make, make_many, wire
from benchmarks.report import codec_table, import_table, io_table, memory_table, targets
from benchmarks.server import Server
from benchmarks.sizes import FULL, QUICK, Sizes

IO_SCENARIOS = ["put", "get", "update", "query", "batch-write", "batch-get", "transaction"]
OTHER_SCENARIOS = ["read-path", "https", "cold-start", "codec", "import", "memory",
                   "hot-keys", "encryption", "migration", "tracing", "backup"]
SCENARIOS = IO_SCENARIOS + OTHER_SCENARIOS
#: Left out of a --quick run unless named in --only: a TLS proxy and ~100 fresh processes
#: are minutes on a busy CI machine, and moto (the CI server) closes every connection.
NOT_QUICK = ("https", "cold-start", "hot-keys", "encryption", "migration", "tracing",
             "backup")
QUERY_PK = "q"


_T0 = time.perf_counter()


def log(*args: Any) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s]", *args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ I/O scenarios

Unit = tuple[str, Callable[[Contender, Any, int], Awaitable[int]]]


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


#: Seconds after a unit in which its CPU is still counted (not its wall time): a library's
#: own threads may finish the unit's work after the call returned (pydynox: 1.4-1.7 µs
#: per item of a read, within 10 ms), which would otherwise be charged to the next unit.
SETTLE = 0.025


async def timed(c: Contender, fn: Callable[[Contender, Any, int], Awaitable[int]],
                sizes: Sizes, r: int, settle: float = SETTLE) -> tuple[float, float, int]:
    c.activate()
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    units = await fn(c, sizes, r)
    wall = time.perf_counter() - w0
    if settle:
        await asyncio.sleep(settle)
    return time.process_time() - c0, wall, units


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
                 url: str, tx_url: str, funcs: Mapping[str, Unit] = SCENARIO_FUNCS,
                 warm_up: Callable[[Contender], Awaitable[Any]] | None = None,
                 pilot: bool = False, settle: float = SETTLE,
                 ) -> tuple[dict[tuple[str, str], list[tuple[float, float]]],
                            dict[tuple[str, str], str]]:
    """Every scenario of ``funcs`` for every contender, alternated, ``rounds`` times.

    Each scenario runs once small first (``warm_up``, when given, replaces that: one call
    per contender). ``pilot``: in each round, before a scenario's timed units, the last
    contender of the round's order runs it once untimed, so that every timed unit follows
    a unit of the same scenario. Without it the round's first contender pays for what the
    previous scenario left behind: on dynalite, a batch get right after a scan shared the
    machine with the server's collection of the scan's garbage (server CPU 85-105 ms
    instead of 45-50 for 1,000 keys, on its other threads, and the wall time with it);
    with alternated order and an odd number of rounds, the list's first contender was
    that one in most rounds. ``settle``: see `SETTLE`."""
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    errors: dict[tuple[str, str], str] = {}
    contenders = [create(n) for n in names]
    for c in contenders:
        await c.open(url, tx_url)
    try:
        log("warming up ...")
        warm = Sizes(ops=3, items=50, page=sizes.page, tx=1, codec=0, memory=(0, 0),
                     import_runs=0)
        if warm_up is not None:
            for c in contenders:
                try:
                    c.activate()
                    await warm_up(c)
                except Exception as exc:
                    for scenario in scenarios:
                        errors[(scenario, c.name)] = f"{type(exc).__name__}: {exc}"[:200]
                    log(f"  warm-up {c.name} ERROR {type(exc).__name__}: {exc}"[:200])
        for scenario in scenarios if warm_up is None else ():
            for c in contenders:
                if scenario in ("query", "batch-get"):
                    continue  # these need the full seeded partition; their first round warms
                try:
                    c.activate()
                    await funcs[scenario][1](c, warm, 0)
                except Exception as exc:
                    errors[(scenario, c.name)] = f"{type(exc).__name__}: {exc}"[:200]
                    log(f"  warm-up {scenario} {c.name} ERROR {errors[(scenario, c.name)]}")
        _inputs.clear()
        for r in range(rounds):
            order = contenders if r % 2 == 0 else contenders[::-1]
            for scenario in scenarios:
                live = [c for c in order if (scenario, c.name) not in errors]
                if pilot and len(live) > 1:
                    try:
                        live[-1].activate()
                        await funcs[scenario][1](live[-1], sizes, r)
                    except Exception:  # its timed unit reports the error
                        pass
                for c in order:
                    if (scenario, c.name) in errors:
                        continue
                    try:
                        cpu, wall, units = await timed(c, funcs[scenario][1], sizes, r,
                                                       settle)
                    except Exception as exc:
                        errors[(scenario, c.name)] = f"{type(exc).__name__}: {exc}"[:200]
                        log(f"  {scenario:12} {c.name:16} ERROR {errors[(scenario, c.name)]}")
                        continue
                    results.setdefault((scenario, c.name), []).append(
                        (cpu / units, wall / units))
                    log(f"  round {r + 1} {scenario:12} {c.name:16} cpu {cpu * 1e6 / units:9.1f}"
                        f" µs  wall {wall * 1e6 / units:9.1f} µs per {funcs[scenario][0]}")
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


# ------------------------------------------------------------------ main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, help="batch write size (default 10000); query and "
                   "batch get use a tenth of it")
    p.add_argument("--ops", type=int, help="single-item operations per round (default 200)")
    p.add_argument("--rounds", type=int, help="rounds of alternation (default 3; quick 2)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, for CI (~2 minutes); https and cold-start only when "
                        "named in --only")
    p.add_argument("--server", choices=["dynalite", "moto", "dynamodb-local"],
                   default="dynalite",
                   help="dynalite (npm; falls back to moto without npm), moto, or AWS's "
                        "DynamoDB Local (Java; serves the transactions too)")
    p.add_argument("--only", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    p.add_argument("--contenders", help=f"comma-separated: {','.join(REGISTRY)}")
    p.add_argument("--output", help="also write the markdown to this file")
    p.add_argument("--migration-concurrency", default="4,8",
                   help="migration: the concurrencies to compare at (default 4,8)")
    p.add_argument("--uvloop", action="store_true",
                   help="https: also run each round on uvloop's event loop (if importable)")
    args = p.parse_args(argv)
    for flag, allowed in (("only", SCENARIOS), ("contenders", list(REGISTRY))):
        value = getattr(args, flag)
        if value:
            bad = [v for v in value.split(",") if v not in allowed]
            if bad:
                p.error(f"--{flag}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
    return args


def run(args: argparse.Namespace) -> int:
    """Every selected scenario, each async stage on a fresh event loop; the markdown out."""
    base = QUICK if args.quick else FULL
    sizes = Sizes(**{**base.__dict__})
    if args.items:
        sizes.items = args.items
    if args.ops:
        sizes.ops = args.ops
    rounds = args.rounds or (2 if args.quick else 3)
    scenarios = (args.only.split(",") if args.only
                 else [s for s in SCENARIOS if not (args.quick and s in NOT_QUICK)])
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
    results: dict[tuple[str, str], Any] = {}
    errors: dict[tuple[str, str], str] = {}
    read_results: dict[tuple[str, str], Any] = {}
    read_errors: dict[tuple[str, str], str] = {}
    read_units = read_path.units(*sizes.read)
    mem = codec = imports = None
    tls: https.Result | None = None
    traced: tuple[tracing.Result, tracing.Result] | None = None
    cold: cold_start.Result | None = None
    hot: hot_keys.Result | None = None
    sealed: encryption.Result | None = None
    hot_seconds = 2.0 if args.quick else 4.0
    mig: migration.Result | None = None
    backups: backup_bench.Result | None = None
    mig_server = ""
    main_server = tx_server = read_server = None
    try:
        kind = args.server
        need_main = bool(io) or bool({"memory", "https", "cold-start", "tracing"}
                                     & set(scenarios))
        if (need_main or "read-path" in scenarios) and kind == "dynalite" \
                and import_bench_dynalite() is None:
            skipped.append("dynalite unavailable (no npm): using moto")
            kind = "moto"
        if need_main:
            main_server = Server(kind)
            servers.append(main_server)
            tx_server = main_server
            if "transaction" in io and kind != "dynamodb-local":
                # dynalite has no transactions; and moto copies every table it holds on each
                # transaction (seconds with the other scenarios' items): a moto of its own.
                tx_server = Server("moto")
                servers.append(tx_server)
            log(f"server: {main_server.name} at {main_server.url}; transactions: "
                f"{tx_server.name} at {tx_server.url}")
            asyncio.run(seed(main_server.url, tx_server.url, sizes,
                             sizes.memory[1] if "memory" in scenarios else 0))
            if io:
                results, errors = asyncio.run(run_io(names, io, sizes, rounds,
                                                     main_server.url, tx_server.url,
                                                     pilot=not args.quick,
                                                     settle=0.0 if args.quick else SETTLE))
            if "memory" in scenarios:
                log("memory ...")
                mem = asyncio.run(run_memory(main_server.url, sizes))
            if "https" in scenarios:
                log("https ...")
                keys = [(QUERY_PK, i) for i in range(sizes.query_items)]
                tls = https.measure(main_server.url, main_server.name, names, keys, sizes.ops,
                                    rounds, args.uvloop, log)
            if "tracing" in scenarios:
                log("tracing ...")
                traced = tracing.measure(main_server.url, tracing.ops(sizes.ops),
                                         max(rounds, 15), log)
            if "cold-start" in scenarios:
                log("cold start ...")
                cold = cold_start.measure(main_server.url, names, sizes.cold_runs, log)
        if "read-path" in scenarios:
            read_server = Server(kind)
            servers.append(read_server)
            log(f"read path: seeding {sum(sizes.read):,} items into {read_server.name} at "
                f"{read_server.url} ...")
            asyncio.run(read_path.seed(read_server.url, *sizes.read))
            read_results, read_errors = asyncio.run(run_io(
                names, list(read_units), sizes, rounds, read_server.url, read_server.url,
                funcs=read_units, warm_up=read_path.warm, pilot=not args.quick,
                settle=0.0 if args.quick else SETTLE))
        if "hot-keys" in scenarios:
            hot_server = Server("moto" if kind == "dynalite" else kind)
            servers.append(hot_server)
            log(f"hot keys: {hot_server.name} at {hot_server.url} ...")
            hot = hot_keys.measure(hot_server.url, rounds, hot_seconds, log)
        if "encryption" in scenarios:
            kms_server = Server("moto")  # KMS: moto's, whichever server the rest uses
            servers.append(kms_server)
            log(f"encryption: KMS of {kms_server.name} at {kms_server.url} ...")
            sealed = encryption.measure(kms_server.url, rounds, 2000, log)
        if "migration" in scenarios:
            if kind == "dynalite" and import_bench_dynalite() is None:
                kind = "moto"
            server = Server(kind)
            servers.append(server)
            mig_server = server.name
            log(f"migration: {sizes.migration:,} items in {server.name} at {server.url} ...")
            mig = migration.measure(
                server.url, sizes.migration,
                [int(c) for c in args.migration_concurrency.split(",")], rounds, log,
                server.proc.pid)
        if "backup" in scenarios:
            backups = backup_bench.measure(
                "moto" if kind == "dynalite" and import_bench_dynalite() is None else kind,
                sizes.backup, rounds, log)
        if "codec" in scenarios:
            log("codec ...")
            codec = run_codec(sizes, rounds)
        if "import" in scenarios:
            log("import ...")
            imports = import_bench.measure(sizes.import_runs)
    finally:
        for s in servers[::-1]:
            s.stop()

    first = main_server or read_server
    server_name = first.name if first else (
        mig_server or (backups.server if backups else "none"))
    out.append(f"dynorm {dynorm.__version__}; Python {platform.python_version()}; "
               f"{os.cpu_count()} CPUs; {platform.platform()}")
    out.append(f"server: {server_name} on 127.0.0.1 in its own process"
               + (f"; transactions: a second {tx_server.name} process" if tx_server and
                  tx_server is not main_server else "")
               + ("; read path: a server process of its own" if read_server else ""))
    out.append(f"model: {ATTRIBUTES} attributes; {rounds} rounds, contenders alternated, "
               f"medians; {sizes.ops} single-item ops, query of {sizes.query_items:,} items "
               f"({sizes.page} per page), batch write of {sizes.items:,}, batch get of "
               f"{sizes.query_items:,}, {sizes.tx} transactions of 10 puts, codec "
               f"{sizes.codec:,} items per round")
    out.extend(skipped)
    if io:
        units = {name: unit for name, (unit, _) in SCENARIO_FUNCS.items()}
        out += ["", *io_table(names, io, units, results, errors,
                              tx_server.name if tx_server else "")]
    if "read-path" in scenarios:
        returns = {n: create(n).returns for n in names}
        out += ["", *read_path.table(names, read_path.labels(*sizes.read), read_results,
                                     read_errors, returns)]
        out.append(read_path.idle_penalty(20 if args.quick else 100))
    if tls:
        out += ["", f"https: get of one {ATTRIBUTES}-attribute item, {sizes.ops} gets at 1 in "
                f"flight and {https.ops_at(sizes.ops, 64)} at 64, per round; TLS terminated "
                "by benchmarks/tls_proxy.py in its own process, plain = the same proxy "
                "without TLS", "", *https.table(tls), "", *https.info(tls)]
    if cold:
        out += ["", f"cold start: fresh processes, {sizes.cold_runs} runs each after one "
                "warm-up, medians; client CPU = the child's user + sys", "",
                *cold_start.table(cold), "", *cold_start.info(cold)]
    if hot:
        out += ["", *hot_keys.table(hot, hot_seconds)]
    if sealed:
        out += ["", *encryption.table(sealed)]
    if mig:
        out += ["", *migration.table(mig, mig_server, rounds)]
    if traced:
        out += ["", *tracing.table(traced, tracing.ops(sizes.ops))]
    if backups:
        out += ["", *backup_bench.table(backups, rounds)]
    if codec:
        out += ["", *codec_table(codec)]
    if imports:
        out += ["", *import_table(imports)]
    if mem:
        out += ["", *memory_table(mem, sizes)]
    if io or codec or imports or mem:
        out += ["", *targets(results, codec, imports, mem, sizes)]
    text = "\n".join(out)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    # A peer the https scenario cannot run (its CA, or its connections on moto) is skipped
    # with the reason in the table, not a failure.
    failures = len(errors) + len(read_errors) + len(cold.errors if cold else {})
    if failures:
        log(f"{failures} scenario(s) failed")
        return 1
    return 0


def import_bench_dynalite() -> Any:
    from benchmarks.server import dynalite_path

    return dynalite_path()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    t0 = time.perf_counter()
    code = run(args)
    log(f"total {time.perf_counter() - t0:.0f} s")
    sys.exit(code)
