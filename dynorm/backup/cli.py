"""The command line of backups, exports and imports: a Typer app to mount into ``dynorm``.

```text
dynorm export TABLE|MODULE:Model --to DIR|s3://bucket/prefix [--segments N] [--resume]
dynorm import SOURCE --table TABLE [--model MODULE:Model] [--create] [--resume]
dynorm backup create|list|restore|delete ...
dynorm pitr enable|status|restore ...
```

Mounted with ``app.add_typer(dynorm.backup.cli.app)`` (no name: the commands join the
parent's). Typer and Rich are imported by this module only.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from dynorm.backup import backups, server
from dynorm.backup.export import export_table
from dynorm.backup.importer import import_table
from dynorm.backup.progress import Progress as Report
from dynorm.connection import connect
from dynorm.exceptions import DynormError
from dynorm.schema.classes import meta_of

__all__ = ["app", "backup_app", "pitr_app"]

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
backup_app = typer.Typer(help="On-demand backups: create, list, restore, delete.",
                         no_args_is_help=True)
pitr_app = typer.Typer(help="Point-in-time recovery: enable, status, restore.",
                       no_args_is_help=True)
app.add_typer(backup_app, name="backup")
app.add_typer(pitr_app, name="pitr")

EndpointUrl = Annotated[str | None, typer.Option(
    "--endpoint-url", help="A DynamoDB-compatible endpoint (default: $DYNORM_ENDPOINT_URL, "
                           "else AWS).")]
Region = Annotated[str | None, typer.Option("--region", help="The AWS region.")]
Profile = Annotated[str | None, typer.Option("--profile", help="An AWS profile.")]
TablePrefix = Annotated[str | None, typer.Option(
    "--table-prefix", help="Prepended to every table name (default: $DYNORM_TABLE_PREFIX).")]
S3Endpoint = Annotated[str | None, typer.Option(
    "--s3-endpoint-url", help="The S3 endpoint for s3:// locations (default: "
                              "$AWS_ENDPOINT_URL_S3, else the DynamoDB endpoint if given, "
                              "else AWS).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _load(target: str) -> Any:
    """``MODULE:Model`` as the model class; anything else is a table name."""
    if ":" not in target:
        return target
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    model = getattr(module, name, None)
    if model is None or not hasattr(model, "_meta"):
        raise typer.BadParameter(f"{module_name!r} has no model {name!r}")
    return model


def _run(settings: dict[str, Any], work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        async with connect(**{k: v for k, v in settings.items() if v is not None}):
            return await work()

    try:
        return asyncio.run(main())
    except DynormError as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def _settings(endpoint_url: str | None, region: str | None, profile: str | None,
              table_prefix: str | None) -> dict[str, Any]:
    return {"endpoint_url": endpoint_url, "region": region, "profile": profile,
            "table_prefix": table_prefix}


class _Bar:
    """A Rich progress bar fed by ``on_progress`` reports: items, MB, items/s, ETA."""

    def __init__(self, title: str, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[mb]:.1f} MB"), TextColumn("{task.fields[rate]:,.0f} items/s"),
            TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task: TaskID | None = None

    def __enter__(self) -> _Bar:
        if not self.quiet:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.progress.stop()

    def __call__(self, report: Report) -> None:
        if self.quiet:
            return
        done = report.items + report.rejected
        mb, rate, status = report.bytes / 1e6, report.items_per_second, report.status
        if self.task is None:
            self.task = self.progress.add_task("", total=report.total, completed=done, mb=mb,
                                               rate=rate, status=status)
        else:
            self.progress.update(self.task, total=report.total or None, completed=done,
                                 mb=mb, rate=rate, status=status)


_out = Console(highlight=False, soft_wrap=True)


@app.command("export")
def export_command(
    table: Annotated[str, typer.Argument(metavar="TABLE|MODULE:Model",
                                         help="A table name or a model.")],
    to: Annotated[str, typer.Option("--to", help="A folder or s3://bucket/prefix.")],
    segments: Annotated[int, typer.Option(help="Scan segments read at once.")] = 4,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue this table's unfinished export at --to.")] = False,
    export_id: Annotated[str | None, typer.Option(help="The export to resume.")] = None,
    consistent: Annotated[bool, typer.Option(help="Strongly consistent reads.")] = False,
    file_mb: Annotated[int, typer.Option(help="MB of JSON per data file.")] = 4,
    rate: Annotated[float | None, typer.Option(help="At most this many items/s.")] = None,
    server_side: Annotated[bool, typer.Option(
        "--server", help="DynamoDB's own ExportTableToPointInTime to S3 (needs PITR).")
    ] = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None, s3_endpoint_url: S3Endpoint = None, quiet: Quiet = False,
) -> None:
    """Export a table in the layout of DynamoDB's export to S3 (DynamoDB JSON, gzip)."""
    source = _load(table)

    async def work() -> None:
        with _Bar("export", quiet) as bar:
            if server_side:
                job = await server.server_export(source, to, on_progress=bar)
                _out.print(f"exported {job.item_count} items to {job.location} ({job.arn})")
                return
            result = await export_table(
                source, to, segments=segments, resume=resume, export_id=export_id,
                consistent=consistent, file_size=file_mb << 20, rate_limit=rate,
                on_progress=bar, s3_endpoint_url=s3_endpoint_url)
        again = " (resumed)" if result.resumed else ""
        _out.print(f"exported {result.item_count} items in {result.files} files to "
                   f"{result.folder}{again} in {result.elapsed:.1f}s")

    _run(_settings(endpoint_url, region, profile, table_prefix), work)


@app.command("import")
def import_command(
    source: Annotated[str, typer.Argument(help="A folder, a file or s3://bucket/prefix.")],
    table: Annotated[str | None, typer.Option(
        "--table", help="The table to write (default: the model's).")] = None,
    model: Annotated[str | None, typer.Option(
        metavar="MODULE:Model", help="Validate each item against this model.")] = None,
    create: Annotated[bool, typer.Option(help="Create the table if missing.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoint.")] = False,
    checkpoint: Annotated[str | None, typer.Option(
        help="The checkpoint file (default: dynorm-import-TABLE.checkpoint).")] = None,
    rejects: Annotated[str | None, typer.Option(
        help="Where rejected items go (default: dynorm-import-TABLE.rejects.jsonl).")] = None,
    concurrency: Annotated[int, typer.Option(help="BatchWriteItem calls at once.")] = 8,
    rate: Annotated[float | None, typer.Option(help="At most this many items/s.")] = None,
    server_side: Annotated[bool, typer.Option(
        "--server", help="DynamoDB's own ImportTable from S3 into a new table.")] = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None, s3_endpoint_url: S3Endpoint = None, quiet: Quiet = False,
) -> None:
    """Import an export (dynorm's or AWS's) or DynamoDB JSON lines into a table."""
    model_class = _load(model) if model else None
    if model is not None and not isinstance(model_class, type):
        raise typer.BadParameter("--model takes MODULE:Model")
    if table is None and model_class is None:
        raise typer.BadParameter("give --table or --model")
    name: str = table if table is not None else meta_of(model_class).table_name  # type: ignore[arg-type]

    async def work() -> None:
        with _Bar("import", quiet) as bar:
            if server_side:
                job = await server.server_import(source, name, model=model_class,
                                                 on_progress=bar,
                                                 s3_endpoint_url=s3_endpoint_url)
                _out.print(f"imported {job.imported} items into {job.table} "
                           f"({job.errors} errors)")
                return
            result = await import_table(
                source, name, model=model_class, create=create, resume=resume,
                checkpoint=checkpoint or f"dynorm-import-{name}.checkpoint",
                rejects=rejects or f"dynorm-import-{name}.rejects.jsonl",
                concurrency=concurrency, rate_limit=rate, on_progress=bar,
                s3_endpoint_url=s3_endpoint_url)
        _out.print(f"imported {result.items} items into {result.table} in "
                   f"{result.elapsed:.1f}s" + (" (resumed)" if result.resumed else ""))
        if result.rejected:
            _out.print(f"[yellow]{result.rejected} items rejected: see {result.rejects}[/]")

    _run(_settings(endpoint_url, region, profile, table_prefix), work)


# ---------------------------------------------------------------------------- backups


@backup_app.command("create")
def backup_create(
    table: Annotated[str, typer.Argument(metavar="TABLE|MODULE:Model")],
    name: Annotated[str | None, typer.Option(help="The backup's name.")] = None,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Make an on-demand backup and wait until it is AVAILABLE."""
    made = _run(_settings(endpoint_url, region, profile, table_prefix),
                lambda: backups.create_backup(_load(table), name))
    _out.print(f"{made.status} {made.name} {made.arn}")


@backup_app.command("list")
def backup_list(
    table: Annotated[str | None, typer.Argument(metavar="[TABLE|MODULE:Model]")] = None,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """List backups (of one table, or all)."""
    found = _run(_settings(endpoint_url, region, profile, table_prefix),
                 lambda: backups.list_backups(_load(table) if table else None))
    listing = Table("created", "table", "name", "status", "size", "arn")
    for b in found:
        listing.add_row(b.created.isoformat(timespec="seconds") if b.created else "",
                        b.table, b.name, b.status,
                        str(b.size_bytes) if b.size_bytes is not None else "", b.arn)
    _out.print(listing)


@backup_app.command("restore")
def backup_restore(
    arn: Annotated[str, typer.Argument(help="The backup's ARN.")],
    to: Annotated[str, typer.Option("--to", help="The new table.")],
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None, quiet: Quiet = False,
) -> None:
    """Restore a backup into a new table and wait until it is ACTIVE."""
    def work() -> Awaitable[backups.RestoredTable]:
        return backups.restore_backup(arn, to, on_progress=None if quiet else _status)

    done = _run(_settings(endpoint_url, region, profile, table_prefix), work)
    _out.print(f"{done.status} {done.table} ({done.item_count} items)")


@backup_app.command("delete")
def backup_delete(
    arn: Annotated[str, typer.Argument(help="The backup's ARN.")],
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Delete a backup."""
    gone = _run(_settings(endpoint_url, region, profile, table_prefix),
                lambda: backups.delete_backup(arn))
    _out.print(f"deleted {gone.name} {gone.arn}")


def _status(report: Report) -> None:
    Console(stderr=True, highlight=False).print(
        f"{report.operation}: {report.status or '...'} ({report.elapsed:.0f}s)")


@pitr_app.command("enable")
def pitr_enable(
    table: Annotated[str, typer.Argument(metavar="TABLE|MODULE:Model")],
    days: Annotated[int | None, typer.Option(help="Recovery period, 1-35 days.")] = None,
    disable: Annotated[bool, typer.Option(help="Turn it off instead.")] = False,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Turn point-in-time recovery on (or off)."""
    status = _run(_settings(endpoint_url, region, profile, table_prefix),
                  lambda: backups.enable_pitr(_load(table), enabled=not disable,
                                              recovery_period_days=days))
    _out.print(f"{status.table}: point-in-time recovery {status.status}")


@pitr_app.command("status")
def pitr_show(
    table: Annotated[str, typer.Argument(metavar="TABLE|MODULE:Model")],
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Show point-in-time recovery: status and the restorable window."""
    status = _run(_settings(endpoint_url, region, profile, table_prefix),
                  lambda: backups.pitr_status(_load(table)))
    window = ""
    if status.earliest and status.latest:
        window = (f", restorable from {status.earliest.isoformat(timespec='seconds')} to "
                  f"{status.latest.isoformat(timespec='seconds')}")
    _out.print(f"{status.table}: {status.status}{window}")


@pitr_app.command("restore")
def pitr_restore(
    table: Annotated[str, typer.Argument(metavar="TABLE|MODULE:Model")],
    to: Annotated[str, typer.Option("--to", help="The new table.")],
    at: Annotated[str | None, typer.Option(
        help="An ISO time with its offset (default: the latest restorable).")] = None,
    endpoint_url: EndpointUrl = None, region: Region = None, profile: Profile = None,
    table_prefix: TablePrefix = None, quiet: Quiet = False,
) -> None:
    """Restore a table as it was at a point in time into a new table."""
    when = datetime.fromisoformat(at) if at else None
    if when is not None and when.tzinfo is None:
        raise typer.BadParameter("--at needs an offset, e.g. 2026-01-31T10:00:00+00:00")

    def work() -> Awaitable[backups.RestoredTable]:
        return backups.restore_to_point_in_time(_load(table), to, when=when,
                                                on_progress=None if quiet else _status)

    done = _run(_settings(endpoint_url, region, profile, table_prefix), work)
    _out.print(f"{done.status} {done.table} ({done.item_count} items)")
