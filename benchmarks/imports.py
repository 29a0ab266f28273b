"""``import dynorm`` against ``import aioboto3``: fresh interpreters, median of several runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

CASES = {
    "import aioboto3": "aioboto3",
    "import dynorm": "dynorm",
    "import dynorm, aioboto3": "dynorm, aioboto3",
}


def dynorm_root() -> str:
    """The directory holding the ``dynorm`` this process would import: children start there,
    so they import the same one (a checkout's or a snapshot's, not another install)."""
    spec = find_spec("dynorm")
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).resolve().parent.parent)


def once(modules: str) -> float:
    code = (f"import time; t = time.perf_counter(); import {modules}; "
            "print(time.perf_counter() - t)")
    # Bytecode caching on, as for any installed package (some shells set
    # PYTHONDONTWRITEBYTECODE, which would time the compilation of every module).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([sys.executable, "-c", code], cwd=dynorm_root(), check=True,
                         capture_output=True, text=True, env=env)
    return float(out.stdout.strip())


def measure(runs: int) -> dict[str, float]:
    """Median seconds per case; cases alternate (A B C A B C ...) after one warm-up run each."""
    for modules in CASES.values():
        once(modules)  # warm the file system cache and .pyc files
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, modules in CASES.items():
            times[name].append(once(modules))
    return {name: statistics.median(t) for name, t in times.items()}
