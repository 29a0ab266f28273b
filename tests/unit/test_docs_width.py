"""Code in the docs fits the content column (issue 17): no line of a code block in
docs/*.md, and no line of an example file the docs include, is wider than 88 characters
(docs/stylesheets/extra.css widens Material's grid so that 88 characters show without
scrolling). docs/performance.md holds generated benchmark tables and is left out."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 88


def _code_lines(page: Path) -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []
    fence: str | None = None
    for number, line in enumerate(page.read_text("utf-8").splitlines(), 1):
        stripped = line.strip()
        match = re.match(r"(`{3,}|~{3,})", stripped)
        if match and (fence is None or stripped.startswith(fence)):
            fence = None if fence is not None else match.group(1)
            continue
        if stripped.startswith("--8<--"):  # a file pymdownx.snippets includes
            included = ROOT / stripped.split('"')[1]
            out += [(included.name, n, text) for n, text in
                    enumerate(included.read_text("utf-8").splitlines(), 1)]
        elif fence is not None:
            out.append((page.name, number, line))
    return out


def test_no_code_line_is_wider_than_the_column() -> None:
    pages = [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "performance.md"]
    wide = sorted({f"{name}:{number} ({len(line)})" for page in pages
                   for name, number, line in _code_lines(page) if len(line) > WIDTH})
    assert wide == []


def test_the_stylesheet_that_makes_room_is_used() -> None:
    assert "stylesheets/extra.css" in (ROOT / "mkdocs.yml").read_text("utf-8")
    assert "max-width" in (ROOT / "docs/stylesheets/extra.css").read_text("utf-8")
