"""The ``dynorm`` command line against a real server: in-process (Typer's CliRunner) and as
a subprocess (``python -m dynorm.cli`` and the console script).

The tests are synchronous: each command runs its own event loop, as it does in a shell.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("typer", reason="needs the cli extra")

from typer.testing import CliRunner

from dynorm import LocalServer
from dynorm.cli.app import app

ITEMS = int(os.environ.get("DYNORM_PLAN_ITEMS", "2000"))

V1 = """
from typing import Annotated
from dynorm import Model, PartitionKey

class Ticket(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    owner: str
    expires_at: int | None = None
"""

V2 = """
from typing import Annotated
from dynorm import TTL, GlobalIndex, Model, PartitionKey
from dynorm.schema.settings import TableSettings

class Ticket(Model, table="tickets", settings=TableSettings(stream="NEW_AND_OLD_IMAGES")):
    ticket_id: Annotated[str, PartitionKey]
    owner: str
    expires_at: Annotated[int | None, TTL] = None
    by_owner = GlobalIndex("owner", projection="KEYS_ONLY")

class NotStored(Model):  # no table: never planned
    x: str = ""
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write model modules under unique names; returns a function name -> module name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)

    def write(source: str) -> str:
        name = f"models_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    return write


@pytest.fixture
def server(dynorm_server: LocalServer) -> LocalServer:
    dynorm_server.reset()
    return dynorm_server


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


def populate(server: LocalServer, module: str, count: int, prefix: str = "") -> None:
    import importlib

    ticket = importlib.import_module(module).Ticket

    async def fill() -> None:
        import dynorm

        async with server.connect(table_prefix=prefix), dynorm.batch() as batch:
            for i in range(count):
                batch.save(ticket(ticket_id=f"t{i:05}", owner=f"o{i % 20}"))

    asyncio.run(fill())


def test_plan_apply_plan_on_a_populated_table(server: LocalServer, modules: Any) -> None:
    url = ["--endpoint-url", server.endpoint_url]
    v1, v2 = modules(V1), modules(V2)
    created = invoke("tables", "apply", v1, "--yes", *url)
    assert created.exit_code == 0, created.output
    assert "+ create table tickets for Ticket" in created.stdout
    populate(server, v1, ITEMS)

    planned = invoke("tables", "plan", v2, *url)
    assert planned.exit_code == 2, planned.output
    lines = planned.stdout.splitlines()
    assert lines[0] == "3 changes (0 blocking):"
    assert lines[1:] == [
        "table tickets:",
        "  + add global index by_owner (backfilled from the existing items): "
        "pk=owner(S), KEYS_ONLY",
        "  ~ stream: off -> NEW_AND_OLD_IMAGES",
        "  ~ TTL: off -> on expires_at",
    ]

    applied = invoke("tables", "apply", f"{v2}:Ticket", "--yes", *url)
    assert applied.exit_code == 0, applied.output
    assert "[1/3] tickets: add global index by_owner" in applied.stdout
    assert applied.stdout.rstrip().endswith("Applied 3 change(s).")

    again = invoke("tables", "plan", v2, *url)
    assert (again.exit_code, again.stdout.strip()) == (
        0, "No changes: tickets matches the models.")


def test_apply_asks_first_and_a_no_changes_nothing(server: LocalServer, modules: Any) -> None:
    v1 = modules(V1)
    declined = invoke("tables", "apply", v1, "--endpoint-url", server.endpoint_url, input="n\n")
    assert declined.exit_code == 1
    assert "Apply 1 change(s)? [y/N]" in declined.stdout
    assert "Cancelled; nothing was changed." in declined.stderr
    assert invoke("tables", "plan", v1, "--endpoint-url", server.endpoint_url).exit_code == 2
    confirmed = invoke("tables", "apply", v1, "--endpoint-url", server.endpoint_url,
                       input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert invoke("tables", "plan", v1, "--endpoint-url", server.endpoint_url).exit_code == 0


def test_blocking_changes_fail_apply(server: LocalServer, modules: Any) -> None:
    before = modules("""
        from typing import Annotated
        from dynorm import Model, PartitionKey

        class Ticket(Model, table="tickets"):
            ticket_id: Annotated[str, PartitionKey]
        """)
    after = modules("""
        from typing import Annotated
        from dynorm import Model, PartitionKey, SortKey

        class Ticket(Model, table="tickets"):
            ticket_id: Annotated[str, PartitionKey]
            at: Annotated[int, SortKey]
        """)
    url = ["--endpoint-url", server.endpoint_url]
    assert invoke("tables", "apply", before, "-y", *url).exit_code == 0
    result = invoke("tables", "apply", after, "-y", *url)
    assert result.exit_code == 1
    assert "! table key (DynamoDB cannot change it): ticket_id(S) -> ticket_id(S), at(N)" in \
        result.stdout
    assert "blocking: create a new table" in result.stdout
    assert "cannot make in place" in result.stderr
    assert invoke("tables", "plan", after, *url).exit_code == 2


@pytest.mark.parametrize(("target", "message"), [
    ("no_such_module_here", "cannot import module 'no_such_module_here'"),
    ("{v1}:Nope", "has no attribute 'Nope' (models with a table there: Ticket)"),
    ("{v2}:NotStored", "NotStored is not a dynorm Model with a table"),
    ("{empty}", "defines no Model with a table"),
])
def test_bad_targets_fail_with_the_reason(server: LocalServer, modules: Any, target: str,
                                          message: str) -> None:
    names = {"v1": modules(V1), "v2": modules(V2), "empty": modules("X = 1\n")}
    result = invoke("tables", "plan", target.format(**names),
                    "--endpoint-url", server.endpoint_url)
    assert result.exit_code == 1
    assert message in result.stderr


def test_an_unreachable_endpoint_fails_with_exit_1(modules: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = invoke("tables", "plan", modules(V1), "--endpoint-url",
                    f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_as_a_subprocess_with_the_environment(server: LocalServer, modules: Any,
                                              tmp_path: Path) -> None:
    v2 = modules(V2)
    env = {**os.environ, "DYNORM_ENDPOINT_URL": server.endpoint_url,
           "DYNORM_TABLE_PREFIX": "ci-", "PYTHONPATH": str(tmp_path)}
    planned = run(sys.executable, "-m", "dynorm.cli", "tables", "plan", v2, env=env,
                  cwd=tmp_path)
    assert planned.returncode == 2, planned.stderr
    assert "+ create table ci-tickets for Ticket" in planned.stdout
    script = Path(sys.executable).with_name("dynorm")
    applied = run(str(script), "tables", "apply", v2, "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    # --table-prefix wins over the environment: another (missing) table.
    other = run(str(script), "tables", "plan", v2, "--table-prefix", "qa-", env=env,
                cwd=tmp_path)
    assert other.returncode == 2 and "create table qa-tickets" in other.stdout
    final = run(str(script), "tables", "plan", v2, env=env, cwd=tmp_path)
    assert (final.returncode, final.stdout.strip()) == (
        0, "No changes: ci-tickets matches the models.")


def test_streams_tail_raw_and_typed(server: LocalServer, modules: Any) -> None:
    v2 = modules(V2)
    url = ["--endpoint-url", server.endpoint_url]
    assert invoke("tables", "apply", v2, "--yes", *url).exit_code == 0
    populate(server, v2, 2)

    raw = invoke("streams", "tail", "tickets", "--from-start", "--limit", "2", "--json",
                 "--poll-interval", "0.05", *url)
    assert raw.exit_code == 0, raw.output
    events = [json.loads(line) for line in raw.stdout.splitlines()]
    assert [(e["kind"], e["keys"], e["new"]["owner"], e["model"]) for e in events] == [
        ("insert", {"ticket_id": "t00000"}, "o0", None),
        ("insert", {"ticket_id": "t00001"}, "o1", None)]

    typed = invoke("streams", "tail", "tickets", "--model", f"{v2}:Ticket", "--from-start",
                   "--limit", "2", "--poll-interval", "0.05", *url)
    assert typed.exit_code == 0, typed.output
    lines = typed.stdout.splitlines()
    assert len(lines) == 2
    assert "INSERT Ticket {\"ticket_id\": \"t00000\"}" in lines[0]
    assert '"expires_at": null' in lines[0]  # the model's whole image, defaults included

    wrong = invoke("streams", "tail", "other", "--model", v2, *url)
    assert wrong.exit_code == 1 and "stored in table 'tickets', not 'other'" in wrong.stderr
    missing = invoke("streams", "tail", "nosuch", *url)
    assert missing.exit_code == 1 and "nosuch" in missing.stderr


def test_dynorm_local_serves_until_terminated(modules: Any, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "dynorm.cli", "local", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"at http://127.0.0.1:{port}" in line, line + (proc.stderr.read()
                                                             if proc.poll() is not None else "")
        env = {**os.environ, "DYNORM_ENDPOINT_URL": f"http://127.0.0.1:{port}",
               "PYTHONPATH": str(tmp_path)}
        v1 = modules(V1)
        applied = run(sys.executable, "-m", "dynorm.cli", "tables", "apply", v1, "-y",
                      env=env, cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        planned = run(sys.executable, "-m", "dynorm.cli", "tables", "plan", v1,
                      env=env, cwd=tmp_path)
        assert planned.returncode == 0, planned.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


MIGRATIONS = """
from typing import Annotated
from dynorm import Model, PartitionKey
from dynorm.migrate import Migration

class Ticket(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    owner: str
    expires_at: int | None = None

def reassign(ticket):
    if ticket.owner != "o1":
        return None
    ticket.owner = "o2"
    return ticket

reassign_o1 = Migration("reassign-o1", Ticket, reassign)
not_a_migration = 42
"""


def test_migrate_dry_run_then_for_real(server: LocalServer, modules: Any) -> None:
    url = ["--endpoint-url", server.endpoint_url]
    name = modules(MIGRATIONS)
    assert invoke("tables", "apply", name, "--yes", *url).exit_code == 0
    populate(server, name, 40)

    dry = invoke("migrate", f"{name}:reassign_o1", "--dry-run", *url)
    assert dry.exit_code == 0, dry.output
    assert ("migration reassign-o1 (dry run, complete): seen 40, would change 2, "
            "skipped 38, failed 0") in dry.stdout
    done = invoke("migrate", f"{name}:reassign_o1", "--segments", "2", "--rate", "1000",
                  *url)
    assert done.exit_code == 0, done.output
    assert "reassign-o1: seen 40, changed 2, skipped 38, failed 0; segments 2/2" in \
        done.stdout
    assert done.stdout.rstrip().endswith("38 no change")
    again = invoke("migrate", f"{name}:reassign_o1", *url)   # complete: reported again
    assert again.exit_code == 0 and "changed 2," in again.stdout

    wrong = invoke("migrate", f"{name}:not_a_migration", *url)
    assert wrong.exit_code == 1 and "not_a_migration is not a dynorm Migration" in wrong.stderr
    missing = invoke("migrate", name, *url)
    assert missing.exit_code == 1 and "expected MODULE:NAME" in missing.stderr


def test_the_backup_commands_are_mounted() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("local", "tables", "migrate", "streams", "export", "import", "backup",
                    "pitr"):
        assert f" {command} " in result.stdout, command
