"""Export and import killed with SIGKILL at random points, twice, then resumed: every item
is there exactly once.

The export or import runs in a child process (``python -c``) against the test server; a
rate limit stretches it over a few seconds so the kills land mid-run, at a random time
drawn from a seeded generator (``DYNORM_RESUME_SEED`` changes the seed), counted from its
first checkpoint on disk (from its start, a loaded machine sometimes killed a run before
it had written anything, 1 run in 15).

The rate is a fifth of the items a second: a run's first second is a burst of that
many (`RateLimit`), so a run killed within 0.8 s of its first checkpoint (a page per
segment, a chunk) has moved at most about 45% of the items, and two such runs leave work
for the third."""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from dynorm import Connection, LocalServer
from dynorm.backup import layout
from dynorm.testing import fresh_connection
from tests.support.backup_data import ITEMS, Everything, by_key, everything, fill, scan_all

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("DYNORM_RESUME_SEED", "21"))
KEYS = ("shard", "seq")

CHILD = """
import asyncio, sys
import dynorm
from dynorm.backup import export_table, import_table

async def main(kind, endpoint, location, rate, extra):
    async with dynorm.connect(endpoint_url=endpoint, region="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="y"):
        limit = float(rate) or None
        print("ready", flush=True)
        if kind == "export":
            result = await export_table("bk_everything", location, segments=3, resume=True,
                                        page_size=int(extra), file_size=8_000,
                                        rate_limit=limit)
            print("done", result.export_id, result.item_count, result.resumed, flush=True)
        else:
            result = await import_table(location, "bk_everything", checkpoint=extra,
                                        resume=True, concurrency=4, rate_limit=limit)
            print("done", result.items, result.rejected, result.resumed, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def run_child(*args: str, kill_after: float | None,
                    started: Callable[[], bool] = lambda: True) -> str:
    """Run the child; SIGKILL it ``kill_after`` seconds after ``started()`` first holds
    (None: let it finish)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    ready = await child.stdout.readline()  # imports done, connected: the work begins
    assert ready == b"ready\n", ready + (await child.communicate())[1]
    if kill_after is not None:
        deadline = time.monotonic() + 60
        while not started() and child.returncode is None:
            assert time.monotonic() < deadline, "the child wrote no checkpoint in 60 s"
            await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(child.wait(), kill_after)
        except asyncio.TimeoutError:
            child.kill()  # SIGKILL: no clean-up runs in the child
    out, err = await child.communicate()
    if kill_after is None:
        assert child.returncode == 0, err.decode()[-3000:]
    return out.decode()


@pytest_asyncio.fixture
async def conn(dynorm_server: LocalServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[Connection]:
    """One transport here: the child processes use their own."""
    async with fresh_connection(dynorm_server, request, transport="fast") as connection:
        yield connection


#: Items per second the killed runs move: ITEMS / RATE_DIVISOR.
RATE_DIVISOR = 5
#: Items per Scan page of the export: a page, a data file and a checkpoint per 10 items
#: (100 for a big run: 50,000 items in pages of 10 took four minutes).
PAGE = str(max(10, ITEMS // 500))


def kill_times() -> list[float]:
    """Seconds after its first checkpoint each of the two killed runs gets (see the
    module docstring: the two together stay short of the whole, so the third has work
    left)."""
    rng = random.Random(SEED)
    return [rng.uniform(0.2, 0.8) for _ in range(2)]


def exported_items(folder: Path) -> list[dict[str, object]]:
    """Every item the manifest lists, reading each data file; no other data file exists."""
    entries = [orjson.loads(x) for x in (folder / "manifest-files.json").read_bytes()
               .splitlines()]
    listed = {Path(e["dataFileS3Key"]).name for e in entries}
    assert listed == {p.name for p in (folder / "data").iterdir()}, "unlisted data files"
    items = []
    for entry in entries:
        lines = gzip.decompress((folder / "data" / Path(entry["dataFileS3Key"]).name)
                                .read_bytes()).splitlines()
        assert len(lines) == entry["itemCount"]
        items += [layout.binary_to_bytes(layout.parse_line(line)) for line in lines]
    return items


@pytest.mark.dynorm_tables([Everything])
async def test_export_killed_twice_then_resumed(conn: Connection,
                                                tmp_path: Path) -> None:
    await fill(ITEMS)
    endpoint = str(conn.endpoint_url)
    kills = kill_times()

    def checkpointed() -> bool:
        return any(tmp_path.glob("AWSDynamoDB/*/_dynorm/segment-*.json"))

    for delay in kills:
        await run_child("export", endpoint, str(tmp_path), str(ITEMS / RATE_DIVISOR), PAGE,
                        kill_after=delay, started=checkpointed)
    exports = list((tmp_path / "AWSDynamoDB").iterdir())
    assert len(exports) == 1, "the second run resumed the first export"
    folder = exports[0]
    assert not (folder / "manifest-summary.json").exists(), f"killed too late: {kills}"
    checkpoints = list((folder / "_dynorm").glob("segment-*.json"))
    assert checkpoints, f"killed too early: {kills}"
    out = await run_child("export", endpoint, str(tmp_path), "0", PAGE, kill_after=None)
    _, export_id, count, resumed = out.split()
    assert (export_id, count, resumed) == (folder.name, str(ITEMS), "True")
    items = exported_items(folder)
    assert len(items) == ITEMS  # none twice ...
    saved = by_key([everything(i).to_item() for i in range(ITEMS)], *KEYS)
    assert by_key(items, *KEYS) == saved  # ... none missing, each as saved


@pytest.mark.dynorm_tables([Everything])
async def test_import_killed_twice_then_resumed(conn: Connection,
                                                tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    per_file = -(-ITEMS // 4)
    for n, start in enumerate(range(0, ITEMS, per_file)):
        lines = [layout.encode_line(everything(i).to_item())
                 for i in range(start, min(ITEMS, start + per_file))]
        (source / f"part-{n}.json.gz").write_bytes(gzip.compress(b"".join(lines)))
    checkpoint = tmp_path / "import.checkpoint"
    endpoint = str(conn.endpoint_url)
    kills = kill_times()
    for delay in kills:
        await run_child("import", endpoint, str(source), str(ITEMS / RATE_DIVISOR),
                        str(checkpoint), kill_after=delay, started=checkpoint.exists)
    assert checkpoint.exists(), f"killed too early or too late: {kills}"
    state = orjson.loads(checkpoint.read_bytes())
    assert 0 < state["written"] < ITEMS, f"killed too late: {kills}"
    out = await run_child("import", endpoint, str(source), "0", str(checkpoint),
                          kill_after=None)
    assert out.split() == ["done", str(ITEMS), "0", "True"]  # every item counted once
    assert not checkpoint.exists()
    table = await scan_all(conn, "bk_everything", ConsistentRead=True)
    saved = by_key([everything(i).to_item() for i in range(ITEMS)], *KEYS)
    assert by_key(table, *KEYS) == saved

