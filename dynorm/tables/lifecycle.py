"""``plan()`` compares models with their live tables; ``apply()`` makes the changes.

```python
plan = await dynorm.plan(User, Order)
print(plan)                    # "1 change (0 blocking): table users: + add global index..."
if plan:
    await dynorm.apply(plan)   # waits for each change (and each index backfill)
assert not await dynorm.plan(User, Order)
```
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from dynorm.connection import Connection, get_connection
from dynorm.exceptions import DynormError, ServiceError
from dynorm.schema.classes import meta_of
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings, merge_settings
from dynorm.tables.changes import ApplyProgress, Change, Plan, PlanError, Step
from dynorm.tables.desired import desired_table, settings_of
from dynorm.tables.diff import diff
from dynorm.tables.replicas import (
    FAILED_REPLICA_STATES,
    live_replicas,
    live_witnesses,
    replica_changes,
)
from dynorm.tables.state import TableState, read_state

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ProgressCallback", "apply", "plan"]

log = logging.getLogger("dynorm.tables")

#: Operations some servers lack (DynamoDB Local: no point-in-time recovery, no tagging):
#: such a step is skipped with a warning, as plan() notes what it could not read.
_OPTIONAL = frozenset({"UpdateContinuousBackups", "TagResource", "UntagResource",
                       "PutResourcePolicy", "DeleteResourcePolicy"})

ProgressCallback = Callable[[ApplyProgress], object]
"""Called by `dynorm.apply()` as each change starts, waits, backfills and ends."""


def _live_billing(state: TableState) -> Provisioned | OnDemand | None:
    if not state.exists:
        return None
    if state.billing_mode == "PROVISIONED" and all(state.provisioned):
        return Provisioned(*state.provisioned)
    return OnDemand()


async def plan(*models: type[Model], connection: Connection | None = None) -> Plan:
    """Compare the models' declarations with their live tables: the changes to make.

    Reads DescribeTable and DescribeTimeToLive of each table (and
    DescribeContinuousBackups, ListTagsOfResource when the settings declare point-in-time
    recovery or tags); changes nothing. Models sharing a table are planned together, as
    ``create_tables()`` creates them.

    Args:
        models: model classes with a table.
        connection: default: the current connection.

    Returns:
        The `Plan`; empty (falsy) when every table matches its models.

    Raises:
        SchemaError: a model has no table, or models sharing a table disagree.
        ValueError: no model given.
    """
    if not models:
        raise ValueError("plan() needs at least one model class")
    conn = connection or get_connection()
    groups: dict[str, list[type[Model]]] = {}
    for model in dict.fromkeys(models):
        groups.setdefault(meta_of(model).table_name, []).append(model)
    merged = {
        table: merge_settings(table, [(m.__name__, settings_of(m)) for m in group])
        for table, group in groups.items()
    }
    names = {table: conn.table_name(table) for table in groups}
    states = await asyncio.gather(*(read_state(conn, names[t], merged[t]) for t in groups))
    changes: list[Change] = []
    notes: list[str] = []
    for (table, group), state in zip(groups.items(), states, strict=True):
        desired = desired_table([meta_of(m) for m in group], merged[table], names[table],
                                live_billing=_live_billing(state))
        found, noted = diff(desired, state)
        replicas, status = replica_changes(names[table], merged[table], state,
                                           _home(conn, merged[table]))
        changes.extend((*found, *replicas))
        notes.extend((*noted, *status))
    return Plan(tuple(changes), tuple(names.values()), tuple(notes), tuple(dict.fromkeys(models)))


def _home(conn: Connection, settings: TableSettings) -> str | None:
    """The Region a plan of replicas runs in: the connection's one Region."""
    if conn.router is not None and settings.replicas is not None:
        raise DynormError(
            f"plan() of replicas ({', '.join(settings.replicas)}) needs a one-Region "
            f"connection (this one routes between {', '.join(conn.router.regions)}, so "
            "its reads and its changes could reach different Regions): "
            "dynorm.connect(region=...)")
    return conn.region


_replan = plan  # apply()'s argument is called plan


async def apply(
    plan: Plan,
    *,
    progress: ProgressCallback | None = None,
    skip_blocking: bool = False,
    timeout: float = 3600.0,
    poll_interval: float = 2.0,
    connection: Connection | None = None,
) -> tuple[Change, ...]:
    """Make the changes of ``plan``, in order, waiting for each to settle.

    Before changing anything the tables are planned again: a plan that is no longer what
    the tables need (someone changed them meanwhile) is refused. Every table change waits
    for the table and its indexes to be ACTIVE (a new global index: until its backfill
    from the existing items is over) before the next one.

    Args:
        plan: from `dynorm.plan()`.
        progress: called with an `ApplyProgress` as each change starts, waits, backfills
            and ends.
        skip_blocking: make the in-place changes and leave the blocking ones (default:
            a plan with blocking changes is refused).
        timeout: seconds to wait for one change to settle.
        poll_interval: the longest pause between two DescribeTable calls while waiting.
        connection: default: the current connection.

    Returns:
        The changes made: all the in-place changes of the plan, less any the server
        does not support (DynamoDB Local has no point-in-time recovery and no tagging:
        such a change is skipped with a warning on the ``dynorm.tables`` logger).

    Raises:
        PlanError: the plan has blocking changes, or the tables changed since it was
            made; nothing was changed.
        DynormError: a change did not settle within ``timeout`` (DynamoDB goes on with it).
    """
    conn = connection or get_connection()
    blocking = plan.blocking
    if blocking and not skip_blocking:
        listed = "\n".join(f"  {c.table}: {c.what}: {c.current} -> {c.declared}; "
                           f"{c.way_out}" for c in blocking)
        raise PlanError(
            f"the plan has {len(blocking)} change(s) DynamoDB cannot make in place; nothing "
            f"was changed:\n{listed}\n(apply(plan, skip_blocking=True) makes the others)",
            changes=blocking)
    if plan.models:
        fresh = await _replan(*plan.models, connection=conn)
        if fresh.changes != plan.changes:
            raise PlanError(
                "the tables changed since this plan was made; nothing was changed. "
                f"The plan now:\n{fresh}", changes=fresh.changes)
    todo = tuple(c for c in plan.changes if c.in_place)
    made = []
    for number, change in enumerate(todo, 1):
        if await Applier(conn, change, number, len(todo), progress, timeout,
                          poll_interval).run():
            made.append(change)
    return tuple(made)


class Applier:
    """Makes one change: its steps in order, waiting for the table between them."""

    def __init__(self, conn: Connection, change: Change, number: int, total: int,
                 progress: ProgressCallback | None, timeout: float, poll: float) -> None:
        self.conn = conn
        self.change = change
        self.number = number
        self.total = total
        self.progress = progress
        self.timeout = timeout
        self.poll = poll
        self.started = time.monotonic()

    def report(self, status: Literal["started", "waiting", "backfilling", "done"],
               detail: str = "", indexed: int | None = None, items: int | None = None
               ) -> None:
        if self.progress is not None:
            self.progress(ApplyProgress(self.change, self.number, self.total, status, detail,
                                        time.monotonic() - self.started, indexed, items))

    async def run(self) -> bool:
        """Make the change; False when it was skipped (see `send`)."""
        change = self.change
        log.info("%s: %s", change.table, change)
        self.report("started", change.what)
        if change.kind != "create_table":
            await self.settle(None)
        for step in change.steps:
            if not await self.send(step):
                self.report("done", f"skipped: the server cannot {step.operation}")
                return False
            if step.waits:
                await self.settle(step.index)
        self.report("done", change.what)
        return True

    async def send(self, step: Step) -> bool:
        """Send one step; False when the server does not know the operation and the
        step is one of the settings such servers lack (PITR, tags)."""
        delay = 0.5
        while True:
            try:
                await self.conn.call(step.operation, step.request)
                return True
            except ServiceError as exc:
                if exc.code == "UnknownOperationException" and step.operation in _OPTIONAL:
                    log.warning("%s: %s skipped: the server does not support %s (%s)",
                                self.change.table, self.change.what, step.operation,
                                exc.message)
                    return False
                # PITR right after CreateTable: "backups are being enabled", try again.
                if exc.code != "ContinuousBackupsUnavailableException":
                    raise
                if time.monotonic() - self.started > self.timeout:
                    raise
                self.report("waiting", "continuous backups not available yet")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.poll)

    def replicas_pending(self, desc: dict[str, Any]) -> list[str]:
        """The replicas and witnesses not ACTIVE yet; DynormError for a failed one."""
        pending = []
        for kind, states in (("replica", live_replicas(desc, self.conn.region)),
                             ("witness", live_witnesses(desc))):
            for region, status in sorted(states.items()):
                if status in FAILED_REPLICA_STATES:
                    raise DynormError(
                        f"table {self.change.table!r}: {kind} in {region} is {status} "
                        f"({self.change.what}); see its ReplicaStatusDescription in "
                        "DescribeTable, fix the cause (a KMS key, the Region's opt-in, IAM) "
                        "and plan again")
                if status != "ACTIVE":
                    pending.append(f"{kind} {region} {status}")
        return pending

    async def settle(self, index: str | None) -> None:
        """Wait until the table and every global index are ACTIVE, none backfilling."""
        delay = min(0.05, self.poll)
        table = self.change.table
        while True:
            desc = (await self.conn.call("DescribeTable", {"TableName": table}))["Table"]
            pending = []
            if desc.get("TableStatus") != "ACTIVE":
                pending.append(f"table {desc.get('TableStatus')}")
            backfilling = None
            for gsi in desc.get("GlobalSecondaryIndexes") or ():
                status = gsi.get("IndexStatus", "ACTIVE")
                if status != "ACTIVE" or gsi.get("Backfilling"):
                    pending.append(f"index {gsi['IndexName']} {status}"
                                   + (" (backfilling)" if gsi.get("Backfilling") else ""))
                if gsi["IndexName"] == index and status == "CREATING":
                    backfilling = gsi
            pending.extend(self.replicas_pending(desc))
            if not pending:
                return
            detail = ", ".join(pending)
            if backfilling is not None:
                self.report("backfilling", detail, backfilling.get("ItemCount"),
                            desc.get("ItemCount"))
            else:
                self.report("waiting", detail)
            if time.monotonic() - self.started > self.timeout:
                raise DynormError(
                    f"table {table!r}: {self.change.what} did not settle in "
                    f"{self.timeout:.0f}s ({detail}); DynamoDB goes on with it: run plan "
                    "again later")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.poll)
