"""The documentation's code, executed: every ```python block in ``docs/*.md`` runs here.

Issue 10: every code block in the docs is either executed by a test or copied from a
file that is. A fenced ```python block (at the start of a line) is one of:

* a snippet include, ``--8<-- "examples/x.py"``, and nothing else: the file is run by
  tests/integration/test_examples.py;
* marked by its first line:

  ``# docs: run``
      An example that must work as shown. The marked blocks of one page run in order,
      in one shared namespace (a later block uses the models an earlier one declared),
      with top-level ``await`` allowed, inside the ``dynorm_connection`` fixture: an empty
      server and an open current connection. ``DYNORM_ENDPOINT_URL`` points at that
      server (as in getting-started.md's "try the snippets by hand"), so a block's own
      ``dynorm.connect(region=...)`` reaches it too. Each block states its outcome with
      ``assert``.
  ``# docs: run script``
      A whole program (``asyncio.run(main())``), run by ``python`` in a subprocess with
      ``DYNORM_ENDPOINT_URL`` set to the local server and dummy credentials. It must
      exit with status 0.
  ``# docs: run pytest``
      A test file, run by ``pytest`` in a subprocess (the dynorm plugin, asyncio auto
      mode, ``DYNORM_TEST_ENDPOINT_URL`` set to the local server). Every test must pass.
  ``# docs: mypy``
      Code whose type errors the page shows. It is checked by ``mypy --strict``: a line
      ending in ``# error: MESSAGE`` and the comment lines ``# error: MESSAGE`` right after
      a code line state the errors of that code line, exactly as many as mypy reports; ``...`` in a
      MESSAGE stands for any text. Lines without such a comment must have no error.

test_every_python_block_is_executed fails on any other ```python block.
Indented blocks (admonition bodies) are not collected: do not put python code there.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dynorm import Connection, LocalServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXCLUDED = {"performance.md"}   # written separately; checked by its own tests

RUN, SCRIPT, PYTEST, MYPY = "run", "run script", "run pytest", "mypy"
_MARK = re.compile(r"#\s*docs:\s*(.+?)\s*$")

# ```python ... ``` at the start of a line (no indentation: admonition bodies are not run).
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SNIPPET = re.compile(r'^\s*--8<--\s+"[^"]+"\s*$')


def pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if p.name not in EXCLUDED)


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line number, source, kind) of every ```python block of a page, in order.

    ``kind`` is ``RUN``, ``SCRIPT``, ``PYTEST``, ``MYPY``, ``"snippet"`` (a pure snippet
    include) or ``None`` (neither: not allowed).
    """
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        source = match.group(1)
        line = text.count("\n", 0, match.start(1)) + 1
        lines = [s for s in source.splitlines() if s.strip()]
        kind: str | None = None
        if lines and all(_SNIPPET.match(s) for s in lines):
            kind = "snippet"
        elif lines and (mark := _MARK.fullmatch(lines[0].strip())):
            kind = mark.group(1) if mark.group(1) in (RUN, SCRIPT, PYTEST, MYPY) else None
        blocks.append((line, source, kind))
    return blocks


def blocks_of(kind: str) -> list[tuple[Path, int, str]]:
    return [(p, line, src) for p in pages() for line, src, k in python_blocks(p) if k == kind]


def runnable_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, source) of every ``# docs: run`` block of a page, in order."""
    return [(line, source) for line, source, kind in python_blocks(page) if kind == RUN]


PAGES = [p for p in pages() if runnable_blocks(p)]


def _where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


def test_docs_have_runnable_examples() -> None:
    """Guards the collector itself: a broken regex would make every page test vacuous."""
    names = {p.name for p in PAGES}
    assert {"getting-started.md", "models.md", "keys-and-indexes.md",
            "configuration.md"} <= names
    assert blocks_of(SCRIPT) and blocks_of(PYTEST) and blocks_of(MYPY)
    assert blocks_of("snippet")


def test_every_python_block_is_executed() -> None:
    """Issue 10: no ```python block is a fragment that nothing runs."""
    loose = [_where(page, line) for page in pages()
             for line, _, kind in python_blocks(page) if kind is None]
    assert not loose, (
        "```python blocks neither marked '# docs: run' (or 'run script', 'run pytest', "
        "'mypy') nor a pure --8<-- snippet include of a tested file: " + ", ".join(loose)
    )


def test_guard_classifies_blocks(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "```python\n# docs: run\nx = 1\n```\n"
        "```python\n--8<-- \"examples/quickstart.py\"\n```\n"
        "```python\n# docs: run script\n```\n"
        "```python\n# docs: running\n```\n"
        "```python\nx = 1  # docs: run\n```\n"
        "```python\n--8<-- \"examples/quickstart.py\"\nx = 1\n```\n",
        encoding="utf-8",
    )
    assert [k for _, _, k in python_blocks(page)] == [RUN, "snippet", SCRIPT, None, None, None]


def _env(server: LocalServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DYNORM_ENDPOINT_URL=server.endpoint_url,
        DYNORM_TEST_ENDPOINT_URL=server.endpoint_url,
        AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_REGION="us-east-1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.pop("AWS_PROFILE", None)
    env.pop("DYNORM_TABLE_PREFIX", None)
    return env


def _padded(page: Path, line: int, source: str) -> str:
    """The block, padded so that tracebacks and mypy point at the .md file's line."""
    return "\n" * (line - 1) + source


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
async def test_page_examples_run(
    page: Path, dynorm_connection: Connection, dynorm_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DYNORM_ENDPOINT_URL", dynorm_server.endpoint_url)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, source in runnable_blocks(page):
        code = compile(_padded(page, line, source), _where(page, line), "exec",
                       flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result


def _params(kind: str) -> list[object]:
    return [pytest.param(page, line, source, id=f"{page.name}:{line}")
            for page, line, source in blocks_of(kind)]


def _run(args: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize(("page", "line", "source"), _params(SCRIPT))
def test_page_scripts_run(
    page: Path, line: int, source: str, dynorm_server: LocalServer, tmp_path: Path
) -> None:
    script = tmp_path / f"{page.stem}_{line}.py"
    script.write_text(_padded(page, line, source), encoding="utf-8")
    _run([sys.executable, str(script)], tmp_path, _env(dynorm_server), _where(page, line))


@pytest.mark.parametrize(("page", "line", "source"), _params(PYTEST))
def test_page_test_files_pass(
    page: Path, line: int, source: str, dynorm_server: LocalServer, tmp_path: Path
) -> None:
    dynorm_server.reset()
    test_file = tmp_path / f"test_docs_{page.stem.replace('-', '_')}_{line}.py"
    test_file.write_text(source, encoding="utf-8")
    _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
          str(tmp_path), "-o", "asyncio_mode=auto",
          "-o", "asyncio_default_fixture_loop_scope=function", str(test_file)],
         tmp_path, _env(dynorm_server), _where(page, line))


_ERROR = re.compile(r"#\s*error:\s*(.+)$")
_ERROR_LINE = re.compile(r"^\s*#\s*error:\s*(.+)$")   # not "# mypy:": mypy reads those


def _expected_errors(source: str, first_line: int) -> dict[int, list[str]]:
    """{md line: [expected message, ...]} from a ``# docs: mypy`` block's comments."""
    expected: dict[int, list[str]] = {}
    code_line = None
    for offset, text in enumerate(source.splitlines()):
        line = first_line + offset
        if (m := _ERROR_LINE.match(text)) and code_line is not None:
            expected.setdefault(code_line, []).append(m.group(1).strip())
            continue
        if text.strip() and not text.lstrip().startswith("#"):
            code_line = line
            if m := _ERROR.search(text):
                expected.setdefault(line, []).append(m.group(1).strip())
    return expected


def _matches(pattern: str, message: str) -> bool:
    regex = ".*".join(re.escape(part.strip()) for part in pattern.split("..."))
    return re.search(regex, message) is not None


def test_page_type_errors_are_what_mypy_reports(tmp_path: Path) -> None:
    blocks = blocks_of(MYPY)
    files = {}
    for page, line, source in blocks:
        path = tmp_path / f"docs_{page.stem.replace('-', '_')}_{line}.py"
        path.write_text(_padded(page, line, source), encoding="utf-8")
        files[path.name] = (page, line, source)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--show-error-codes",
         "--cache-dir", str(tmp_path / ".mypy_cache"), "--config-file", os.devnull, *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    reported: dict[tuple[str, int], list[str]] = {}
    for out in proc.stdout.splitlines():
        m = re.match(r"^(.+?\.py):(\d+): error: (.*)$", out)
        if m:
            reported.setdefault((Path(m.group(1)).name, int(m.group(2))), []).append(m.group(3))
        elif ": note:" not in out:
            raise AssertionError(f"unexpected mypy output: {out}\n{proc.stderr}")
    problems = []
    for name, (page, first, source) in files.items():
        expected = _expected_errors(source, first)
        got = {line: msgs for (file, line), msgs in reported.items() if file == name}
        for line in sorted(set(expected) | set(got)):
            want, have = expected.get(line, []), got.get(line, [])
            ok = len(want) == len(have) and all(
                any(_matches(w, h) for h in have) for w in want)
            if not ok:
                problems.append(f"{_where(page, line)}: docs say {want}, mypy says {have}")
    assert not problems, "\n".join(problems)


def test_mypy_expectation_parser() -> None:
    source = 'a = 1\nf(a)  # error: Argument 1 ... "int"\n# error: second\n\ng()\n'
    assert _expected_errors(source, 10) == {11: ['Argument 1 ... "int"', "second"]}
    assert _matches('Argument 1 ... "int"', 'Argument 1 to "f" has type "int"  [arg-type]')
    assert not _matches('expected "int"', 'expected "str"')
