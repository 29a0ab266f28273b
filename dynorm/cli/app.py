"""The ``dynorm`` Typer application: ``local``, ``tables plan|apply``, ``streams tail``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from dynorm.cli.models import BadTarget, load_models
from dynorm.connection import connect
from dynorm.exceptions import DynormError
from dynorm.schema.classes import meta_of

__all__ = ["app"]

T = TypeVar("T")

#: Exit codes: done (or nothing to change), failed, the plan has changes.
OK, FAILED, CHANGES = 0, 1, 2

app = typer.Typer(
    name="dynorm",
    help="dynorm's command line: local servers, table plans and changes, stream tails.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tables_app = typer.Typer(
    help="Compare models with their live tables (plan) and make the changes (apply).",
    no_args_is_help=True,
)
streams_app = typer.Typer(help="Follow a table's DynamoDB stream.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
app.add_typer(streams_app, name="streams")


def _mount_backups() -> None:
    """``export``, ``import``, ``backup`` and ``pitr`` (issue 21) join the commands."""
    from dynorm.backup.cli import app as backups

    app.add_typer(backups)


_mount_backups()

Targets = Annotated[list[str], typer.Argument(
    metavar="MODULE[:NAME]",
    help="A module and the model NAME in it, or every model with a table defined in the "
         "module (e.g. app.models:User, app.models).")]
EndpointUrl = Annotated[str | None, typer.Option(
    "--endpoint-url", help="A DynamoDB-compatible endpoint (default: $DYNORM_ENDPOINT_URL, "
                           "else AWS).")]
Region = Annotated[str | None, typer.Option(
    "--region", help="The AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the "
                     "profile's, else us-east-1).")]
Profile = Annotated[str | None, typer.Option(
    "--profile", help="An AWS profile (default: $AWS_PROFILE).")]
TablePrefix = Annotated[str | None, typer.Option(
    "--table-prefix", help="Prepended to every table name (default: $DYNORM_TABLE_PREFIX).")]


def _console() -> Console:
    return Console(highlight=False)


def _errors() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)  # lines whole, for grep


def _run(settings: dict[str, Any], work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` inside ``dynorm.connect(**settings)``; a dynorm error is exit 1."""

    async def main() -> T:
        async with connect(**{k: v for k, v in settings.items() if v is not None}):
            return await work()

    try:
        return asyncio.run(main())
    except (DynormError, BadTarget) as exc:
        _errors().print(f"[red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(FAILED) from None


def _settings(endpoint_url: str | None, region: str | None, profile: str | None,
              table_prefix: str | None) -> dict[str, Any]:
    return {"endpoint_url": endpoint_url, "region": region, "profile": profile,
            "table_prefix": table_prefix}


def _load(targets: list[str]) -> list[Any]:
    try:
        return load_models(targets)
    except BadTarget as exc:
        _errors().print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(FAILED) from None


# ---------------------------------------------------------------------- local


@app.command()
def local(
    backend: Annotated[str, typer.Option(
        help="moto (needs the 'local' extra) or dynamodb-local (AWS's emulator; Java 17+ "
             "and npm).")] = "moto",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(
        help="Address to listen on (0.0.0.0 serves other machines, with no "
             "authentication).")] = "127.0.0.1",
) -> None:
    """Serve a local DynamoDB-compatible endpoint until Ctrl-C (python -m dynorm.local)."""
    from dynorm.local import BACKENDS
    from dynorm.local import main as serve

    if backend not in BACKENDS:
        _errors().print(f"[red]error:[/] --backend must be one of {', '.join(BACKENDS)}")
        raise typer.Exit(FAILED)
    serve(["--backend", backend, "--port", str(port), "--host", host])


# ---------------------------------------------------------------------- tables


@tables_app.command("plan")
def tables_plan(
    targets: Targets,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Show what differs between the models and their tables. Exit 0: up to date;
    2: there are changes (a CI drift check); 1: failed."""
    from dynorm.cli.render import print_plan
    from dynorm.tables import plan

    models = _load(targets)
    result = _run(_settings(endpoint_url, region, profile, table_prefix),
                  lambda: plan(*models))
    print_plan(_console(), result)
    raise typer.Exit(CHANGES if result.changes else OK)


@tables_app.command("apply")
def tables_apply(
    targets: Targets,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Apply without asking for confirmation.")] = False,
    skip_blocking: Annotated[bool, typer.Option(
        help="Make the in-place changes and leave those DynamoDB cannot make in place "
             "(default: refuse the plan).")] = False,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for one change (an index backfill) to finish.")] = 3600.0,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Plan, show the plan, ask, then make the changes, waiting for each (and for index
    backfills, with progress bars on a terminal). Exit 0: done or nothing to do; 1: failed
    or declined."""
    from dynorm.cli.render import ApplyReporter, print_plan
    from dynorm.tables import PlanError, apply, plan

    models = _load(targets)
    console = _console()

    async def work() -> int:
        found = await plan(*models)
        print_plan(console, found)
        if not found.changes:
            return OK
        if found.blocking and not skip_blocking:
            _errors().print(
                "[red]error:[/] the plan has changes DynamoDB cannot make in place (see "
                "'way out'); nothing was changed. --skip-blocking makes the others.")
            return FAILED
        count = len(found.changes) - len(found.blocking)
        if not yes and not typer.confirm(f"Apply {count} change(s)?", default=False):
            _errors().print("Cancelled; nothing was changed.")
            return FAILED
        try:
            with ApplyReporter(console) as reporter:
                done = await apply(found, progress=reporter, skip_blocking=skip_blocking,
                                   timeout=timeout)
        except PlanError as exc:
            _errors().print(f"[red]error:[/] {exc}", soft_wrap=True)
            return FAILED
        console.print(f"Applied {len(done)} change(s).")
        return OK

    code = _run(_settings(endpoint_url, region, profile, table_prefix), work)
    raise typer.Exit(code)


# ---------------------------------------------------------------------- iam-policy


@app.command("iam-policy")
def iam_policy_command(
    targets: Targets,
    actions: Annotated[str, typer.Option(
        "--actions", help="Comma-separated action groups: read, write, stream, "
                          "describe.")] = "read",
    leading_key_from: Annotated[str | None, typer.Option(
        "--leading-key-from", help="An IAM policy variable holding the caller's identity "
                                   "(e.g. '${cognito-identity.amazonaws.com:sub}'): only "
                                   "items whose partition key is it (dynamodb:LeadingKeys)."
    )] = None,
    leading_field: Annotated[str | None, typer.Option(
        "--leading-field", help="The field of a partition key template that holds the "
                                "identity (when the template has several).")] = None,
    attributes: Annotated[bool, typer.Option(
        "--attributes", help="Allow only the models' attributes (dynamodb:Attributes).")
    ] = False,
    region: Annotated[str, typer.Option("--region", help="The Region in the ARNs.")] = "*",
    account: Annotated[str, typer.Option(
        "--account", help="The account id in the ARNs.")] = "*",
    table_prefix: TablePrefix = None,
) -> None:
    """Print a least-privilege IAM policy (JSON) for the models' tables and indexes."""
    import os

    from dynorm.iam import iam_policy, policy_json

    models = _load(targets)
    try:
        policy = iam_policy(
            models, actions=[a.strip() for a in actions.split(",") if a.strip()],
            region=region, account=account,
            table_prefix=table_prefix or os.environ.get("DYNORM_TABLE_PREFIX", ""),
            leading_key=leading_key_from, leading_field=leading_field,
            attributes=attributes)
    except ValueError as exc:
        _errors().print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(FAILED) from None
    print(policy_json(policy))


# ---------------------------------------------------------------------- migrate


@app.command()
def migrate(
    target: Annotated[str, typer.Argument(
        metavar="MODULE:NAME", help="The module and the Migration in it (app.migrations:"
                                    "add_region).")],
    resume: Annotated[bool, typer.Option(
        help="Continue from the progress an earlier run saved.")] = False,
    dry_run: Annotated[bool, typer.Option(
        help="Run the change on every item and count; write nothing.")] = False,
    rate: Annotated[float | None, typer.Option(
        help="The most capacity units to consume per second (default: no limit).",
        min=0.001)] = None,
    segments: Annotated[int, typer.Option(
        help="Parallel scan segments (a resumed run keeps the saved number).", min=1)] = 4,
    concurrency: Annotated[int, typer.Option(
        help="Items being written at once.", min=1)] = 32,
    page_size: Annotated[int | None, typer.Option(
        help="Items per Scan page; progress is saved after each page (default: 1 MB "
             "pages).", min=1)] = None,
    checkpoint_table: Annotated[str, typer.Option(
        help="Where progress is kept (created on first use).")] = "dynorm-migrations",
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Run a data migration over every item of its model's table, resumably. Exit 0:
    complete, no item failed; 1: failed, items failed, or progress saved without
    --resume."""
    from dynorm.cli.render import MigrationReporter
    from dynorm.migrate import Migration, MigrationCheckpoints

    module_name, _, name = target.partition(":")
    migration = _load_object(target, module_name, name)
    if not isinstance(migration, Migration):
        _errors().print(f"[red]error:[/] {target}: {name} is not a dynorm Migration")
        raise typer.Exit(FAILED)
    console = _console()

    async def work() -> int:
        with MigrationReporter(console) as reporter:
            result = await migration.run(
                segments=segments, concurrency=concurrency, page_size=page_size, rate=rate,
                dry_run=dry_run, resume=resume,
                checkpoints=MigrationCheckpoints(checkpoint_table), progress=reporter)
        console.print(str(result), markup=False, soft_wrap=True)
        for failure in result.failures[:10]:
            _errors().print(f"failed {failure.key}: {failure.reason}", markup=False,
                            soft_wrap=True)
        return OK if result.complete and not result.failed else FAILED

    raise typer.Exit(_run(_settings(endpoint_url, region, profile, table_prefix), work))


def _load_object(target: str, module_name: str, name: str) -> object:
    import importlib
    import os

    if not module_name or not name:
        _errors().print(f"[red]error:[/] {target!r}: expected MODULE:NAME")
        raise typer.Exit(FAILED)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        _errors().print(f"[red]error:[/] {target!r}: cannot import module "
                        f"{module_name!r}: {exc}", soft_wrap=True)
        raise typer.Exit(FAILED) from None
    if not hasattr(module, name):
        _errors().print(f"[red]error:[/] {target!r}: module {module_name!r} has no "
                        f"attribute {name!r}")
        raise typer.Exit(FAILED)
    return getattr(module, name)


# ---------------------------------------------------------------------- streams


@streams_app.command("tail")
def streams_tail(
    table: Annotated[str, typer.Argument(
        help="The table (its name without --table-prefix).")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", metavar="MODULE[:NAME]",
        help="Decode the events with these models (typed; repeatable); default: raw "
             "records as plain values.")] = None,
    from_start: Annotated[bool, typer.Option(
        help="Begin with the oldest record kept (24 h) instead of new changes.")] = False,
    limit: Annotated[int | None, typer.Option(
        help="Stop after this many events.", min=1)] = None,
    json_lines: Annotated[bool, typer.Option(
        "--json", help="One JSON object per event.")] = False,
    poll_interval: Annotated[float, typer.Option(
        help="Seconds between reads of a shard with nothing new.")] = 1.0,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
    table_prefix: TablePrefix = None,
) -> None:
    """Print a table's changes as they happen, until Ctrl-C (or --limit)."""
    from dynorm.cli.tail import tail_models, tail_table
    from dynorm.connection import get_connection

    models = _load(model) if model else []
    for m in models:
        if meta_of(m).table_name != table:
            _errors().print(f"[red]error:[/] model {m.__name__} is stored in table "
                            f"{meta_of(m).table_name!r}, not {table!r}")
            raise typer.Exit(FAILED)
    console = _console()

    async def work() -> int:
        if models:
            return await tail_models(console, models, from_start=from_start, limit=limit,
                                     as_json=json_lines, poll_interval=poll_interval)
        return await tail_table(console, get_connection().table_name(table),
                                from_start=from_start, limit=limit, as_json=json_lines,
                                poll_interval=poll_interval)

    _run(_settings(endpoint_url, region, profile, table_prefix), work)
    sys.stdout.flush()
