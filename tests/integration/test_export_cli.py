"""The command line of dynorm.backup (its Typer app, as ``dynorm`` mounts it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dynorm import LocalServer
from tests.support.backup_data import Everything, fill, scan_all

typer_testing = pytest.importorskip("typer.testing", reason="needs the cli extra (typer)")

MODEL = "tests.support.backup_data:Everything"


def invoke(server: LocalServer, *args: str) -> tuple[int, str]:
    from dynorm.backup.cli import app

    result = typer_testing.CliRunner().invoke(
        app, [*args, "--endpoint-url", server.endpoint_url, "--region", "us-east-1"],
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    return result.exit_code, result.output


def count(server: LocalServer, table: str) -> int:
    async def main() -> int:
        async with server.connect() as connection:
            return len(await scan_all(connection, table))

    return asyncio.run(main())


def seed(server: LocalServer, items: int) -> None:
    async def main() -> None:
        async with server.connect():
            await Everything.create_table()
            await fill(items)

    server.reset()
    asyncio.run(main())


def test_export_then_import_with_the_command_line(dynorm_server: LocalServer,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seed(dynorm_server, 60)
    code, out = invoke(dynorm_server, "export", MODEL, "--to", str(tmp_path / "out"),
                       "--segments", "3", "--quiet")
    assert code == 0, out
    assert "exported 60 items" in out and "AWSDynamoDB" in out
    folder = next((tmp_path / "out" / "AWSDynamoDB").iterdir())
    code, out = invoke(dynorm_server, "import", str(folder), "--table", "bk_cli_copy",
                       "--create", "--model", MODEL, "-q")
    assert code == 0, out
    assert "imported 60 items into bk_cli_copy" in out
    assert count(dynorm_server, "bk_cli_copy") == 60
    assert not (tmp_path / "dynorm-import-bk_cli_copy.checkpoint").exists()
    # errors: a message and exit code 1, no traceback
    code, out = invoke(dynorm_server, "import", str(folder), "--table", "bk_nope", "-q")
    assert code == 1 and "does not exist" in out and "Traceback" not in out


@pytest.mark.only_on("moto", reason="backups and PITR: moto implements them, DynamoDB "
                     "Local does not")
def test_backup_and_pitr_commands(dynorm_server: LocalServer) -> None:
    seed(dynorm_server, 5)
    code, out = invoke(dynorm_server, "backup", "create", "bk_everything", "--name", "cli-1")
    assert code == 0 and "AVAILABLE cli-1" in out, out
    arn = out.split()[-1]
    code, out = invoke(dynorm_server, "backup", "list", MODEL)
    assert code == 0 and "cli-1" in out, out
    code, out = invoke(dynorm_server, "backup", "restore", arn, "--to", "bk_cli_restored",
                       "-q")
    assert code == 0 and "ACTIVE bk_cli_restored" in out, out
    assert count(dynorm_server, "bk_cli_restored") == 5
    code, out = invoke(dynorm_server, "backup", "delete", arn)
    assert code == 0 and "deleted cli-1" in out
    code, out = invoke(dynorm_server, "pitr", "enable", "bk_everything", "--days", "3")
    assert code == 0 and "ENABLED" in out, out
    code, out = invoke(dynorm_server, "pitr", "status", "bk_everything")
    assert code == 0 and "ENABLED, restorable from" in out, out
    code, out = invoke(dynorm_server, "pitr", "restore", "bk_everything", "--to", "bk_cli_pit",
                       "-q")
    assert code == 0 and "ACTIVE bk_cli_pit" in out, out
