"""The wheel and sdist `python -m build` makes (issue 17): complete metadata, a license
file, and no extras for files the wheel does not ship. (.ci/run installs the wheel into a
fresh venv and runs the README example.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def test_wheel_metadata_is_complete(dist: Path) -> None:
    (wheel,) = dist.glob("dynorm-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(info).decode())
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["Author"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Repository", "Issues", "Documentation", "Changelog"} <= set(urls)
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Framework :: AsyncIO" in classifiers
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert "dynorm/py.typed" in names
    # examples/ and benchmarks/ are not in the wheel, so no extra may stand for them
    assert not any(n.startswith(("examples/", "benchmarks/")) for n in names)
    # every extra declared in pyproject.toml, and the ones the docs promise
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    extras = sorted(meta.get_all("Provides-Extra") or [])
    assert extras == sorted(declared)
    assert {"cli", "dev", "local"} <= set(extras)


def test_long_description_links_are_absolute(dist: Path) -> None:
    """PyPI shows README.md without the repository: its relative links would be dead."""
    (wheel,) = dist.glob("dynorm-*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8")
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert "https://github.com/dynorm/dynorm/blob/main/docs/getting-started.md" in links
    assert [link for link in links if not link.startswith(("https://", "#"))] == []


def test_sdist_holds_the_sources_and_the_license(dist: Path) -> None:
    (sdist,) = dist.glob("dynorm-*.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "dynorm/__init__.py",
            "examples/quickstart.py"} <= names
    assert not any("__pycache__" in n or n.startswith(("site/", ".venv/")) for n in names)
