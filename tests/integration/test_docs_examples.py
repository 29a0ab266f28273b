"""The documentation's runnable examples, executed against the local server.

A fenced ```python block in ``docs/*.md`` whose first line is ``# docs: run`` is an
example that must work as shown. The blocks of one page run in order, in one shared
namespace (a later block uses the models an earlier one declared), with top-level
``await`` allowed, inside the ``dynorm_connection`` fixture: an empty server and an open
current connection. Each block states its outcome with ``assert``.

Blocks without the marker are fragments (or whole programs included from ``examples/``)
and are not run here.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from dynorm import Connection

DOCS = Path(__file__).resolve().parents[2] / "docs"
MARKER = "# docs: run"

# ```python ... ``` at the start of a line (no indentation: admonition bodies are not run).
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def runnable_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, source) of every runnable block of a page, in order."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        source = match.group(1)
        if source.lstrip().startswith(MARKER):
            line = text.count("\n", 0, match.start(1)) + 1
            blocks.append((line, source))
    return blocks


PAGES = sorted(p for p in DOCS.glob("*.md") if runnable_blocks(p))


def test_docs_have_runnable_examples() -> None:
    """Guards the collector itself: a broken regex would make every page test vacuous."""
    names = {p.name for p in PAGES}
    assert {"getting-started.md", "models.md", "keys-and-indexes.md",
            "configuration.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
async def test_page_examples_run(page: Path, dynorm_connection: Connection) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, source in runnable_blocks(page):
        filename = f"{page.relative_to(DOCS.parent)}:{line}"
        # Pad so that tracebacks point at the right line of the .md file.
        code = compile("\n" * (line - 1) + source, filename, "exec",
                       flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
