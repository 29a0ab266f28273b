"""The ``dynorm`` command line (the ``cli`` extra: ``pip install 'dynorm[cli]'``).

```text
dynorm local [--backend moto|dynamodb-local] [--port N]
dynorm tables plan MODULE[:NAME]...        exit 0: up to date, 2: changes, 1: failed
dynorm tables apply MODULE[:NAME]... [--yes]
dynorm migrate MODULE:NAME [--resume] [--dry-run] [--rate N]
dynorm streams tail TABLE [--model MODULE[:NAME]]
```

Built on Typer and Rich, which only this package imports: ``import dynorm`` never loads
them. See docs/cli.md.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_MISSING = (
    "the dynorm command line needs the 'cli' extra ({name} is not installed): "
    "pip install 'dynorm[cli]'"
)


def main(argv: list[str] | None = None) -> None:
    """Run the ``dynorm`` command (the console script; ``python -m dynorm.cli``)."""
    try:
        from dynorm.cli.app import app
    except ModuleNotFoundError as exc:
        if exc.name in ("typer", "rich", "click"):
            print(f"dynorm: {_MISSING.format(name=exc.name)}", file=sys.stderr)
            raise SystemExit(1) from None
        raise
    app(args=argv, prog_name="dynorm")
