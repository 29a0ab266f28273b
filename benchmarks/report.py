"""The markdown tables of the I/O, codec, import and memory scenarios, and the targets."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from benchmarks import codec as codec_bench
from benchmarks.contenders import BASELINE
from benchmarks.sizes import Sizes


def fmt_us(seconds: float) -> str:
    """Seconds as microseconds: thousands separated from 100 µs, more digits below."""
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def io_table(names: list[str], scenarios: list[str], units: Mapping[str, str],
             results: dict[tuple[str, str], Any], errors: dict[tuple[str, str], str],
             tx_server: str) -> list[str]:
    """The I/O scenarios: one row per (scenario, contender), ratios to raw aioboto3."""
    lines = ["| scenario | contender | client CPU µs | wall µs | CPU vs raw aioboto3 "
             "| wall vs raw aioboto3 |", "|---|---|---:|---:|---:|---:|"]
    for scenario in scenarios:
        unit = units[scenario]
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
    for op in ("put", "get"):  # the blocking API (issue 19)
        ratio_row(f"dynorm-blocking {op}: client CPU vs dynorm-fast (async)",
                  med(op, "dynorm-blocking"), med(op, "dynorm-fast"), 1.2)
        for peer in ("pynamodb", "boto3-table"):
            ratio_row(f"dynorm-blocking {op}: client CPU vs {peer}",
                      med(op, "dynorm-blocking"), med(op, peer), 0.5)
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
    for what, bound, measured, ok in rows:
        mark = "n/a" if ok is None else "yes" if ok else "**no**"
        lines.append(f"| {what} | {bound} | {measured} | {mark} |")
    return lines
