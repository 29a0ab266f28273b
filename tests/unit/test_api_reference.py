"""The API reference (docs/api.md, rendered by mkdocstrings) covers the public API.

The documentation is built once (``mkdocs build --strict`` into a temporary directory) and
the headings mkdocstrings rendered on the API page are read back: each has as its ``id``
the dotted path it documents (``dynorm.read.query.Query.filter``). A public name has an entry
when a heading's path resolves, by import and attribute access, to the very same object
under the same name (``dynorm.Attr`` is documented as ``dynorm.expressions.Attr``).
Reading the built page, not the ``:::`` directives, is what makes this exact: an object
mkdocstrings skips (no docstring, a filtered member, an inherited method not rendered) has
no heading.

Sphinx roles (``:class:`X```) are not markdown: mkdocs shows them as literal text. No
rendered docstring or source file may contain one.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mkdocstrings_handlers.python", reason="needs the dev extras (mkdocs)")

ROOT = Path(__file__).resolve().parents[2]

#: Public names deliberately left off the page, with the reason: the interfaces between
#: layers that take dynorm's compiled ``TableMeta`` (or its sealed attributes), which
#: users reach through the documented methods named here.
NOT_DOCUMENTED = {
    "dynorm.security.ready_to_read": "the reads' loading step (TableMeta.loading)",
    "dynorm.security.ready_to_write": "the writes' loading step (TableMeta.loaders)",
    "dynorm.tables.create_table": "Model.create_table() and dynorm.create_tables()",
    "dynorm.tables.create_model_tables": "dynorm.create_tables()",
    "dynorm.tables.delete_table": "Model.delete_table()",
    "dynorm.tables.create_table_request": "Model.create_table(), dynorm.plan()",
    "dynorm.tables.merged_table_request": "dynorm.create_tables(), dynorm.plan()",
}


def public_modules() -> list[str]:
    """The modules whose ``__all__`` must be documented, name by name: ``dynorm`` and
    every module or package directly under it that is not private (``_name``) and
    declares ``__all__`` (the layers without one -- codec, schema, read, write -- are
    reached through ``dynorm`` and the packages listed). Found, not listed, so a new
    public package is checked from the start."""
    import dynorm

    found = ["dynorm"]
    for info in pkgutil.iter_modules(dynorm.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"dynorm.{info.name}")
        if hasattr(module, "__all__"):
            found.append(module.__name__)
    return found


PUBLIC_MODULES = public_modules()

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|const|mod|attr|exc|obj|ref):`")
_RENDERED_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|data|const|mod|attr|exc|obj|ref):(?:<code>|`)"
)
_MISSING = object()


class _Headings(HTMLParser):
    """The ``id`` and source offset of every mkdocstrings heading (class ``doc-heading``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, tuple[int, int]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "doc-heading" in (values.get("class") or "").split() and values.get("id"):
            self.headings.append((str(values["id"]), self.getpos()))


def headings(html: str) -> list[tuple[str, str]]:
    """``(id, html)`` of every rendered entry: its heading and what follows up to the next."""
    parser = _Headings()
    parser.feed(html)
    parser.close()
    starts = [0]
    for line in html.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    offsets = [starts[line - 1] + col for _, (line, col) in parser.headings]
    ends = [*offsets[1:], len(html)]
    spans = zip(parser.headings, offsets, ends, strict=True)
    return [(ident, html[a:b]) for (ident, _), a, b in spans]


def resolve(path: str) -> object:
    """The object a dotted path names, as mkdocstrings reads it: the longest importable
    module prefix, then attributes (``dynorm.local`` is the module, ``dynorm.local.local``
    the function); ``_MISSING`` when it names nothing."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def source_file(path: str) -> str | None:
    """The file (relative to the repository) that defines what a heading documents: the
    object itself, or the nearest enclosing one (an attribute's class or module)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        obj = resolve(".".join(parts[:i]))
        if isinstance(obj, property):
            obj = obj.fget
        if obj is _MISSING or not (isinstance(obj, (ModuleType, type)) or callable(obj)):
            continue
        try:
            file = inspect.getsourcefile(inspect.unwrap(obj))  # type: ignore[arg-type]
        except TypeError:
            continue
        if file:
            return Path(file).resolve().relative_to(ROOT).as_posix()
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation, built as CI builds it."""
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
         str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


@pytest.fixture(scope="module")
def api_page(site: Path) -> list[tuple[str, str]]:
    return headings((site / "api" / "index.html").read_text(encoding="utf-8"))


def test_the_reader_sees_the_headings(api_page: list[tuple[str, str]]) -> None:
    """Guards the parser and the resolver: a broken one would make the checks vacuous."""
    ids = [ident for ident, _ in api_page]
    assert len(ids) > 250 and len(set(ids)) == len(ids)
    assert "dynorm.Model" in ids and "dynorm.Model.save" in ids
    import dynorm
    from dynorm.read.query import Query
    assert resolve("dynorm.local") is sys.modules["dynorm.local"]
    assert resolve("dynorm.local.local") is dynorm.local
    assert resolve("dynorm.read.query.Query.filter") is Query.filter
    assert resolve("dynorm.nothing") is _MISSING
    assert source_file("dynorm.read.query.Query.filter") == "dynorm/read/builder.py"
    assert source_file("dynorm.connection.ConnectionSettings") == "dynorm/connection/__init__.py"


def test_the_public_modules_are_found() -> None:
    """Guards the discovery: every public package the docs name is among them."""
    assert {"dynorm", "dynorm.types", "dynorm.expressions", "dynorm.streams",
            "dynorm.testing", "dynorm.local", "dynorm.blocking", "dynorm.backup",
            "dynorm.iam", "dynorm.kms", "dynorm.s3values", "dynorm.observe",
            "dynorm.migrate", "dynorm.security", "dynorm.tables", "dynorm.transport",
            "dynorm.connection", "dynorm.exceptions", "dynorm.cli"} <= set(PUBLIC_MODULES)
    assert not any(name.split(".")[1].startswith("_") for name in PUBLIC_MODULES[1:])


def test_every_public_name_has_an_entry(api_page: list[tuple[str, str]]) -> None:
    entries: dict[str, list[object]] = {}
    for ident, _ in api_page:
        entries.setdefault(ident.rsplit(".", 1)[-1], []).append(resolve(ident))
    missing, documented = [], []
    for module_name in PUBLIC_MODULES:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            has_entry = any(entry is obj for entry in entries.get(name, ()))
            if f"{module_name}.{name}" in NOT_DOCUMENTED:
                if has_entry:
                    documented.append(f"{module_name}.{name}")
            elif not has_entry:
                missing.append(f"{module_name}.{name}")
    assert not missing, "public names without an entry in docs/api.md: " + ", ".join(missing)
    assert not documented, f"documented now, drop them from NOT_DOCUMENTED: {documented}"


def test_names_left_off_the_page_are_public_names() -> None:
    """NOT_DOCUMENTED lists only names some public module exports (no stale entries)."""
    stale = [path for path in NOT_DOCUMENTED
             if path.rsplit(".", 1)[1] not in importlib.import_module(
                 path.rsplit(".", 1)[0]).__all__]
    assert not stale, stale


@pytest.mark.parametrize("cls", ["Query", "Scan"])
def test_queries_and_scans_list_their_inherited_methods(
    api_page: list[tuple[str, str]], cls: str
) -> None:
    ids = {ident for ident, _ in api_page}
    shared = ["filter", "project", "limit", "page_size", "consistent", "full", "to_list",
              "first", "count", "page", "pages"]
    absent = [m for m in shared if f"dynorm.read.query.{cls}.{m}" not in ids]
    assert not absent, f"{cls} has no entry for {absent}"


def test_no_sphinx_roles_in_rendered_docstrings(api_page: list[tuple[str, str]]) -> None:
    found = [f"{ident} ({source_file(ident)}): {m.group(0)}"
             for ident, html in api_page for m in _RENDERED_ROLE.finditer(html)]
    assert not found, (
        "Sphinx roles render as literal text; write [`Name`][dynorm.Name] (or `Name`):\n"
        + "\n".join(found)
    )


def test_no_sphinx_roles_in_the_sources() -> None:
    """Private modules too: their docstrings are read in editors and by contributors."""
    found = []
    for file in sorted((ROOT / "dynorm").rglob("*.py")):
        rel = file.relative_to(ROOT).as_posix()
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if _ROLE.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_rendered_pages_show_no_test_markers(site: Path) -> None:
    """docs/hooks/strip_test_markers.py: ``# docs: run`` stays in the source, not on the page
    (nor in what the copy button copies)."""
    sources = [p for p in (ROOT / "docs").glob("*.md") if "# docs: " in p.read_text("utf-8")]
    assert len(sources) > 10
    pages = [p for p in site.rglob("*.html") if re.search(r"#\s*docs:\s*\w", p.read_text("utf-8"))]
    assert not pages, pages
