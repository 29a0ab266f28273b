"""mkdocs hook: hide the documentation tests' markers from the rendered pages.

The first line of a fenced code block may be a marker for tests/integration/
test_docs_examples.py (``# docs: run``, ``# docs: run script``, ``# docs: mypy``...).
The markdown source keeps it; the page shows the code without it, so the copy button
does not copy it either.
"""

from __future__ import annotations

import re
from typing import Any

_MARKER = re.compile(r"^(```[^\n]*\n)[ \t]*#[ \t]*docs:[^\n]*\n", re.MULTILINE)


def strip_markers(markdown: str) -> str:
    """The markdown with the marker line removed from the top of every fenced block."""
    return _MARKER.sub(r"\1", markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return strip_markers(markdown)
