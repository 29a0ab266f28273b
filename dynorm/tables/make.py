"""Creating a table as its models declare it (behind ``Model.create_table()``).

The table is made from the same desired state `dynorm.plan()` compares live tables with
(`dynorm.tables.desired`): keys, indexes, billing and throughput, stream, table class,
encryption, deletion protection and tags in the CreateTable request; TTL and
point-in-time recovery right after, once the table is ACTIVE, as `dynorm.apply()` does.
So ``plan()`` on a table ``create_table()`` just made is empty.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from dynorm._types import Request
from dynorm.connection import Connection
from dynorm.exceptions import RequestRejected, ResourceInUse
from dynorm.schema.classes import meta_of
from dynorm.schema.meta import TableMeta
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings, merge_settings
from dynorm.tables.changes import Step
from dynorm.tables.create import StreamView, wait_table
from dynorm.tables.desired import desired_table, settings_of
from dynorm.tables.diff import create_changes
from dynorm.tables.lifecycle import Applier

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["argument_settings", "create_model_tables", "create_table"]

log = logging.getLogger("dynorm.tables")  # the package's logger, where users look


def argument_settings(
    *,
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None,
    read_capacity: int | None = None,
    write_capacity: int | None = None,
    stream: StreamView | bool | None = None,
) -> TableSettings:
    """The `TableSettings` that ``create_table()``'s own arguments ask for.

    Raises:
        ValueError: an unknown billing mode or stream view type, or capacities without
            ``billing_mode="PROVISIONED"``.
    """
    billing: Provisioned | OnDemand | None = None
    if billing_mode == "PROVISIONED":
        billing = Provisioned(read_capacity or 5, write_capacity or 5)
    elif billing_mode == "PAY_PER_REQUEST":
        billing = OnDemand()
    elif billing_mode is not None:
        raise ValueError(
            f"billing_mode must be 'PAY_PER_REQUEST' or 'PROVISIONED', not {billing_mode!r}")
    if billing_mode != "PROVISIONED" and (read_capacity or write_capacity):
        raise ValueError("read_capacity and write_capacity need billing_mode='PROVISIONED'")
    return TableSettings(billing=billing, stream=stream)


def _with_arguments(declared: TableSettings, arguments: TableSettings, models: str
                    ) -> TableSettings:
    """The declared settings, with what the arguments add; an argument that contradicts
    a declared setting is a ValueError (the declaration is what plan/apply keep)."""
    given: dict[str, Any] = {}
    for name in ("billing", "stream"):
        value = getattr(arguments, name)
        if value is None:
            continue
        have = getattr(declared, name)
        if have is not None and have != value:
            raise ValueError(
                f"{models}: create_table({name}=...) asks for {value!r} but the model "
                f"declares {have!r} in its TableSettings; leave the argument out (the "
                f"declaration is what dynorm.plan()/apply() keep) or change the declaration")
        given[name] = value
    return dataclasses.replace(declared, **given)


async def create_table(
    connection: Connection,
    meta: TableMeta | list[TableMeta],
    *,
    exists_ok: bool = True,
    wait: bool = True,
    timeout: float = 300.0,
    settings: TableSettings | None = None,
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None,
    read_capacity: int | None = None,
    write_capacity: int | None = None,
    stream: StreamView | bool | None = None,
) -> None:
    """Create the table of ``meta`` (or of several models sharing one table) with
    ``settings`` (the models' `TableSettings`, merged), then enable TTL and point-in-time
    recovery; see ``Model.create_table``.

    An existing table is left as it is (``exists_ok``), but for TTL, which is enabled if it
    is off; a warning names each declared index it lacks.
    """
    metas = meta if isinstance(meta, list) else [meta]
    models = ", ".join(sorted({m.model_name for m in metas}))
    merged = _with_arguments(
        settings or TableSettings(),
        argument_settings(billing_mode=billing_mode, read_capacity=read_capacity,
                          write_capacity=write_capacity, stream=stream), models)
    name = connection.table_name(metas[0].table_name)
    desired = desired_table(metas, merged, name)
    create, *after = create_changes(desired)
    existed = False
    try:
        await connection.call("CreateTable", create.steps[0].request)
    except ResourceInUse:
        if not exists_ok:
            raise
        existed = True
    if wait or after:  # TTL and PITR can only be changed on an ACTIVE table
        await wait_table(connection, name, gone=False, timeout=timeout)
    if existed:
        await _warn_missing_indexes(connection, models, desired.request)
    for change in after:
        if change.kind == "ttl":
            await _enable_ttl(connection, change.steps[-1])
        elif change.kind == "point_in_time_recovery" and not existed:
            await Applier(connection, change, 1, 1, None, timeout, 2.0).run()


async def create_model_tables(connection: Connection, models: Sequence[type[Model]],
                              **options: Any) -> None:
    """Create the tables of ``models``: models sharing a table together, with their
    settings merged (see `create_table`)."""
    groups: dict[str, list[type[Model]]] = {}
    for model in dict.fromkeys(models):
        groups.setdefault(meta_of(model).table_name, []).append(model)
    for table, group in groups.items():
        settings = merge_settings(table, [(m.__name__, settings_of(m)) for m in group])
        await create_table(connection, [meta_of(m) for m in group], settings=settings,
                           **options)


async def _enable_ttl(connection: Connection, step: Step) -> None:
    """Send ``step`` (UpdateTimeToLive, enabled) unless TTL is on already."""
    name = step.request["TableName"]
    ttl = await connection.call("DescribeTimeToLive", {"TableName": name})
    if ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    try:
        await connection.call(step.operation, step.request)
    except RequestRejected as exc:  # a concurrent creator enabled it first
        if "already enabled" not in exc.message.lower():
            raise


async def _warn_missing_indexes(connection: Connection, models: str, request: Request
                                ) -> None:
    """The table existed: warn (the logger ``dynorm.tables``) about each index the models
    declare that it lacks; ``create_table()`` does not change an existing table, and every
    query of such an index fails until ``dynorm.apply()`` adds it."""
    name = request["TableName"]
    desc = (await connection.call("DescribeTable", {"TableName": name}))["Table"]
    kinds = (("GlobalSecondaryIndexes", "global"), ("LocalSecondaryIndexes", "local"))
    for field, kind in kinds:
        have = {ix["IndexName"] for ix in desc.get(field) or ()}
        for ix in request.get(field) or ():
            if ix["IndexName"] not in have:
                fix = (f"`await dynorm.apply(await dynorm.plan({models}))` adds it "
                       "(UpdateTable, backfilled from the existing items)"
                       if kind == "global" else
                       "a local index can only be created with the table: delete and "
                       "re-create it")
                log.warning(
                    "%s: table %r already exists without the %s index %r that the model "
                    "declares; create_table() does not change an existing table, so every "
                    "query of that index will fail: %s", models, name, kind,
                    ix["IndexName"], fix)

