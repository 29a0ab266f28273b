"""The benchmark suite runs end to end (``python -m benchmarks --quick --server moto``,
one round).

Asserts only that it ran and printed a row for every scenario and installed contender,
never a timing: CI machines are too noisy for that.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("moto")


def test_quick_suite_prints_every_row() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.codec import contenders as codec_contenders
        from benchmarks.contenders import REGISTRY, available
        from benchmarks.run import IO_SCENARIOS
    finally:
        sys.path.remove(str(ROOT))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        # one round: rows are asserted, never timings (2 rounds took CI 25 s more)
        [sys.executable, "-m", "benchmarks", "--quick", "--server", "moto", "--rounds", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    installed = [name for name in REGISTRY if available(name) is None]
    for name in REGISTRY:
        if name not in installed:
            assert f"skipped: {name}:" in out
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ")]
    cells = {(r[1].strip().split(" (")[0], r[2].strip()) for r in rows if len(r) > 3}
    for scenario in IO_SCENARIOS:
        for name in installed:
            assert (scenario, name) in cells, f"no row for {scenario} x {name}"
    for name in codec_contenders(lambda lib: True):
        if "pynamodb" in name and "pynamodb" not in installed:
            continue
        assert ("codec", name) in cells, f"no codec row for {name}"
    for statement in ("`import aioboto3`", "`import dynorm`"):
        assert ("import", statement) in cells
    for transport in ("aioboto3", "fast"):
        assert ("memory", f"dynorm-{transport}") in cells
    assert "| target | limit | measured | met |" in out
    # the read path's line on this machine's price of an idle wait (an info line, no row)
    assert "info: machine: parsing one 100-item batch get answer" in out


def test_gc_tuning_script_prints_its_table() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gc_tuning", "--quick", "--server", "moto"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [line.split("|")[1].strip() for line in proc.stdout.splitlines()
            if line.startswith("| ") and "µs" in line]
    assert rows == ["batch write", "get_many", "query (async for)"]
