"""The command line is an extra: ``import dynorm`` never loads Typer or Rich, and without
them the ``dynorm`` command says which extra to install."""

from __future__ import annotations

import subprocess
import sys


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_import_dynorm_loads_no_cli_library() -> None:
    out = python("import sys, dynorm, dynorm.tables; "
                 "print(sorted(m for m in ('typer', 'rich', 'click', 'dynorm.cli') "
                 "if m in sys.modules))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_the_extra_the_command_names_it() -> None:
    # A None entry in sys.modules makes the import fail as if typer were not installed.
    out = python("import sys; sys.modules['typer'] = None; "
                 "from dynorm.cli import main; main(['--help'])")
    assert out.returncode == 1
    assert "pip install 'dynorm[cli]'" in out.stderr
    assert "typer is not installed" in out.stderr
