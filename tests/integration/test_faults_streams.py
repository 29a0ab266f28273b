"""The stream listener through faults and a hard kill: at least once, none skipped, order
kept per key.

A listener runs in a subprocess (tests/support/stream_child.py) with TableCheckpoints,
through the fault proxy (15% of all its calls faulted: GetRecords, checkpoints, leases).
It is killed with SIGKILL in the middle of the stream, more changes are written, and a
new process resumes from the table checkpoint.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from dynorm import LocalServer
from tests.support.fault_proxy import FaultConfig, FaultProxy
from tests.support.figures import record
from tests.support.stream_child import Event

ROOT = Path(__file__).resolve().parents[2]
KEYS = 6


def deliveries(path: Path) -> list[tuple[str, str, int]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, key, n = line.split()
        out.append((kind, key, int(n)))
    return out


async def child(endpoint: str, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.stream_child", endpoint, str(out), cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


async def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def write_changes(first: int, last: int) -> None:
    for n in range(first, last):
        for k in range(KEYS):
            await Event(key=f"k{k}", n=n).save()


async def test_listener_killed_and_restarted_through_faults(
        dynorm_server: LocalServer, tmp_path: Path) -> None:
    dynorm_server.reset()
    out = tmp_path / "deliveries.txt"
    config = FaultConfig.mixed(0.15, seed=8)
    started = time.monotonic()
    async with dynorm_server.connect(transport="fast"):
        await Event.create_table(stream="NEW_AND_OLD_IMAGES")
        await write_changes(0, 10)  # 60 changes before the first listener starts
        async with FaultProxy(dynorm_server.endpoint_url, config) as proxy:
            first = await child(proxy.url, out)
            try:
                await wait_for(lambda: len(deliveries(out)) >= 25, 30)
            finally:
                first.send_signal(signal.SIGKILL)
                await first.wait()
            killed_at = len(deliveries(out))
            await write_changes(10, 20)  # 60 more while nobody listens
            second = await child(proxy.url, out)
            try:
                wanted = {(f"k{k}", n) for k in range(KEYS) for n in range(20)}
                await wait_for(lambda: wanted <= {(k, n) for _, k, n in deliveries(out)}, 40)
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 15)
    got = deliveries(out)
    # Every change at least once (none skipped)...
    assert {(k, n) for _, k, n in got} == wanted
    # ...per key in order within each run; the restart re-delivers from the checkpoint.
    for run in (got[:killed_at], got[killed_at:]):
        for k in range(KEYS):
            seq = [n for _, key, n in run if key == f"k{k}"]
            assert seq == sorted(seq) and len(seq) == len(set(seq)), (k, seq)
    assert got[0][0] == "insert" and all(kind == "modify" for kind, _, n in got if n > 0)
    redelivered = len(got) - len(wanted)
    assert sum(proxy.stats.faults.values()) > 10, proxy.stats.summary()
    record("stream_kill", proxy, changes=len(wanted), deliveries=len(got),
           redelivered_after_kill=redelivered, skipped=0, killed_after=killed_at,
           seconds=round(time.monotonic() - started, 2))
