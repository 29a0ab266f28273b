"""How the command line shows plans, apply progress and stream events (Rich).

On a terminal: tables, colours and live progress bars. Elsewhere (a pipe, CI logs):
plain lines, one per event, no escape codes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from dynorm.migrate import MigrationProgress
from dynorm.tables import ApplyProgress, Plan

__all__ = ["ApplyReporter", "MigrationReporter", "plain_value", "print_event", "print_plan"]

_STYLES = {"add": "green", "remove": "red", "update": "yellow", "blocking": "bold red"}


def print_plan(console: Console, plan: Plan) -> None:
    """The plan: a table per database table on a terminal, ``str(plan)`` elsewhere."""
    if not console.is_terminal:
        console.print(str(plan), markup=False, highlight=False, soft_wrap=True)
        return
    if not plan.changes:
        console.print(f"[green]No changes:[/] {', '.join(plan.tables)} "
                      f"{'matches' if len(plan.tables) == 1 else 'match'} the models.")
    for table in plan.tables:
        changes = plan.for_table(table)
        if not changes:
            continue
        grid = Table(title=f"table {table}", title_justify="left", show_lines=False)
        grid.add_column("")
        grid.add_column("change")
        grid.add_column("now")
        grid.add_column("declared")
        for change in changes:
            style = _STYLES[change.action]
            what = Text(change.what)
            if change.way_out:
                what.append(f"\nway out: {change.way_out}", style="italic")
            grid.add_row(Text(change.symbol, style=style), what, change.current,
                         Text(change.declared, style=style))
        console.print(grid)
    if plan.changes:
        console.print(f"{len(plan.changes)} change(s), {len(plan.blocking)} blocking.")
    for note in plan.notes:
        console.print(f"[dim]note: {note}[/]")


class ApplyReporter:
    """The ``progress`` callback of ``dynorm.apply()``: a Rich progress bar per change on
    a terminal, a line per start and end elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> ApplyReporter:
        if self.live:
            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                console=self.console, transient=False)
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: ApplyProgress) -> None:
        label = f"[{event.number}/{event.total}] {event.change.table}: {event.change.summary}"
        if self.progress is None:
            if event.status == "started":
                self.console.print(f"{label} ...", markup=False, soft_wrap=True)
            elif event.status == "done":
                self.console.print(f"{label}: done ({event.elapsed:.1f}s)", markup=False,
                                   soft_wrap=True)
            return
        task = self.tasks.get(event.number)
        if task is None:
            task = self.progress.add_task(label, total=None, detail="")
            self.tasks[event.number] = task
        if event.status == "done":
            self.progress.update(task, total=1, completed=1, detail="[green]done[/]")
        elif event.status == "backfilling" and event.items:
            self.progress.update(task, total=event.items, completed=event.indexed or 0,
                                 detail=f"backfilling {event.indexed or 0}/{event.items}")
        elif event.status != "started":
            self.progress.update(task, detail=event.detail)


class MigrationReporter:
    """The ``progress`` callback of ``Migration.run()``: a Rich progress bar on a terminal,
    a line at most every few seconds elsewhere."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.last = 0.0

    def __enter__(self) -> MigrationReporter:
        if self.console.is_terminal:
            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed}/{task.total} items {task.fields[detail]}"),
                TimeElapsedColumn(), console=self.console)
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: MigrationProgress) -> None:
        detail = (f"changed {event.changed}, skipped {event.skipped}, failed {event.failed}; "
                  f"segments {event.segments_done}/{event.segments}")
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task(event.migration, total=None, detail="")
            total = max(event.estimated_items or 0, event.seen) or None
            self.progress.update(self.task, completed=event.seen, total=total,
                                 detail=f"({detail})")
            return
        now = time.monotonic()
        if now - self.last >= self.every or event.segments_done == event.segments:
            self.last = now
            self.console.print(f"{event.migration}: seen {event.seen}, {detail} "
                               f"({event.elapsed:.0f}s)", markup=False, soft_wrap=True)


def plain_value(av: Mapping[str, Any]) -> Any:
    """An AttributeValue as a JSON-friendly Python value (numbers stay exact strings
    when they are not integers; bytes as base64)."""
    (tag, value), = av.items()
    if tag == "S" or tag == "BOOL":
        return value
    if tag == "NULL":
        return None
    if tag == "N":
        return int(value) if value.lstrip("-").isdigit() else value
    if tag == "B":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else value
    if tag == "M":
        return {k: plain_value(v) for k, v in value.items()}
    if tag == "L":
        return [plain_value(v) for v in value]
    if tag == "SS":
        return sorted(value)
    if tag == "NS":
        return sorted(plain_value({"N": v}) for v in value)
    if tag == "BS":
        return sorted(plain_value({"B": v}) for v in value)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def print_event(console: Console, *, kind: str, table: str, model: str | None,
                keys: Mapping[str, Any], old: Mapping[str, Any] | None,
                new: Mapping[str, Any] | None, when: datetime | None, as_json: bool) -> None:
    """One change event: a JSON line (``--json``), or a readable line (the changed fields
    of a modify, old -> new)."""
    if as_json:
        record = {"kind": kind, "table": table, "model": model, "keys": keys, "old": old,
                  "new": new, "time": when.isoformat() if when else None}
        console.print(json.dumps(record, default=_jsonable, sort_keys=True), markup=False,
                      highlight=False, soft_wrap=True)
        return
    stamp = (when or datetime.now()).strftime("%H:%M:%S")
    style = {"insert": "green", "modify": "yellow", "remove": "red"}.get(kind, "")
    line = Text(f"{stamp} ")
    line.append(f"{kind.upper():<6}", style=style)
    line.append(f" {model or table} ")
    line.append(json.dumps(keys, default=_jsonable, sort_keys=True), style="bold")
    if kind == "modify" and old is not None and new is not None:
        changed = {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys())
                   if old.get(k) != new.get(k)}
        line.append(" " + ", ".join(
            f"{k}: {json.dumps(a, default=_jsonable)} -> {json.dumps(b, default=_jsonable)}"
            for k, (a, b) in changed.items()))
    elif (new if kind != "remove" else old) is not None:
        image = new if kind != "remove" else old
        line.append(" " + json.dumps(image, default=_jsonable, sort_keys=True))
    console.print(line, soft_wrap=True, highlight=False)

