"""Every example script runs as a user would run it: ``python examples/NAME.py``.

Each runs in its own process on the embedded local backend (the AWS and dynorm
environment variables that would point it elsewhere are removed) and must exit 0 and
print its key line. ``fastapi_app.py`` is an app, not a script: test_fastapi_app.py
covers it. A new example must be added to EXPECTED, or the first test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynorm.local import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOT_SCRIPTS = {"__init__.py", "fastapi_app.py", "flask_app.py"}

#: example -> a line (or part of one) its output must contain.
EXPECTED = {
    "quickstart.py": "stale copy refused: 1 vs 2",
    "single_table_shop.py": "sparse open-orders index: ['o0', 'o2', 'o3', 'o4']",
    "leaderboard_stream.py": "1. bob  45",
    "leaderboard.py": "top 3 tetris: [('dee', 260), ('bob', 220), ('eve', 175)]",
    "session_store.py": "expired session still stored: True | load() returns: None",
    "shopping_cart.py": "update Product (sku='mug'): ConditionalCheckFailed",
    "iot_telemetry.py": "boiler 01:00-02:00: 61 readings",
    "profiles_locking.py": "20 concurrent follows: followers=20",
    "bulk_load_csv.py": "loaded 4999 rows into bulk-products (1 skipped)",
}

#: Also run these with the aioboto3 transport (the default is the fast one).
ALSO_AIOBOTO3 = ["quickstart.py", "shopping_cart.py"]

_POINTS_ELSEWHERE = ("DYNORM_ENDPOINT_URL", "DYNORM_TRANSPORT", "DYNORM_TABLE_PREFIX",
                     "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN")


def scripts() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in NOT_SCRIPTS)


def run_example(name: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in _POINTS_ELSEWHERE}
    environ.update(env)
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def test_every_example_is_covered() -> None:
    assert scripts() == sorted(EXPECTED)


@pytest.mark.parametrize("name", scripts())
def test_example_runs(name: str) -> None:
    output = run_example(name)
    assert EXPECTED[name] in output, output


@pytest.mark.parametrize("name", ALSO_AIOBOTO3)
def test_example_runs_on_the_aioboto3_transport(name: str) -> None:
    output = run_example(name, DYNORM_TRANSPORT="aioboto3")
    assert EXPECTED[name] in output, output


@pytest.mark.parametrize("backend", BACKENDS)
def test_readme_example_runs(tmp_path: Path, backend: str) -> None:
    """The README's marked example, saved to a file and run as a user would: on the
    default embedded backend as written, and with ``dynorm.local(backend=...)`` on each."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- readme: run -->")
    start = text.index("```python\n", marker) + len("```python\n")
    source = text[start:text.index("```", start)]
    if backend != "moto":
        assert source.count("dynorm.local()") == 1
        source = source.replace("dynorm.local()", f"dynorm.local(backend={backend!r})")
    script = tmp_path / "readme_example.py"
    script.write_text(source, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k not in _POINTS_ELSEWHERE}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[('ada', 15, 2), ('bob', 7, 1)]" in done.stdout, done.stdout


def test_quickstart_stays_local_with_aws_credentials_around(tmp_path: Path) -> None:
    """Credentials in the environment never send the quickstart to AWS (issue 17): only
    DYNORM_ENDPOINT_URL or DYNORM_EXAMPLE_AWS=1 do. These would fail on AWS."""
    config = tmp_path / "config"
    config.write_text("[profile someone]\nregion = eu-west-1\n")
    output = run_example("quickstart.py", AWS_PROFILE="someone", AWS_CONFIG_FILE=str(config),
                         AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE1", AWS_SECRET_ACCESS_KEY="x",
                         AWS_REGION="eu-west-1")
    assert EXPECTED["quickstart.py"] in output, output
