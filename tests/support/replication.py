"""A simulated global-table replication between two local servers ("Regions").

moto and DynamoDB Local have no global tables. `Replicator` stands in for DynamoDB's
replication in tests: a `dynorm.StreamListener` on the source Region's table copies each
change to the same table in the target Region.

What is simulated, and how it differs from DynamoDB:

* **Last writer wins by the origin stamp.** A copied put is applied only when its
  ``_origin`` time is later than the target item's (ties: the larger Region name wins),
  as one conditional PutItem. DynamoDB decides by its own internal timestamps, which
  clients cannot see or set; the stamp is the client's clock.
* **Echoes are skipped by the origin stamp.** A change whose stamp names another Region
  than the source is a copy this simulation made: it is not copied back. (DynamoDB does
  not replicate its own replicated writes either.)
* **Deletes are copied unconditionally** (DynamoDB keeps tombstones to order a delete
  against a concurrent write; this simulation does not), and a delete replicated into a
  Region is copied back as a no-op delete.
* **Latency** is the listener's polling interval, not DynamoDB's typical second.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from dynorm import (
    ConditionFailed,
    Connection,
    LocalServer,
    Model,
    StreamListener,
    is_echo,
    origin_of,
)
from dynorm.streams import ChangeEvent

__all__ = ["LWW_CONDITION", "Replicator"]

#: The condition of a copied put: the target has no stamped item, or an older one.
LWW_CONDITION = ("attribute_not_exists(#o) OR #o.#at < :at OR "
                 "(#o.#at = :at AND #o.#r < :r)")


class Replicator:
    """Copies ``model``'s changes from ``source`` (in ``source_region``) to ``target``.

    Args:
        model: the model whose table is replicated (with a NEW_AND_OLD_IMAGES stream).
        source: the source Region's server.
        source_region: its Region name (its connection's region).
        target: an open connection to the target Region (without ``origin=``: copies keep
            the source's stamp).
        attribute: the origin stamp's attribute.

    Attributes:
        copied: puts applied in the target.
        superseded: puts refused because the target held a later write (LWW).
        echoes: changes skipped because they were copies from another Region.
        deleted: deletes copied.
    """

    def __init__(self, model: type[Model], source: LocalServer, source_region: str,
                 target: Connection, *, attribute: str = "_origin",
                 poll_interval: float = 0.05) -> None:
        self.model = model
        self.source = source
        self.source_region = source_region
        self.target = target
        self.attribute = attribute
        self.copied = self.superseded = self.echoes = self.deleted = 0
        self.listener = StreamListener(model, poll_interval=poll_interval,
                                       describe_interval=0.2)
        self.listener.on(model)(self._copy)
        self._task: asyncio.Task[None] | None = None

    async def _copy(self, event: ChangeEvent[Any]) -> None:
        if is_echo(event, self.source_region, self.attribute):
            self.echoes += 1
            return
        images = event.record["dynamodb"]
        table = self.target.table_name(event.table)
        if event.kind == "remove":
            await self.target.call("DeleteItem", {"TableName": table, "Key": images["Keys"]})
            self.deleted += 1
            return
        item = images["NewImage"]
        request: dict[str, Any] = {"TableName": table, "Item": item}
        origin = origin_of(item, self.attribute)
        if origin is not None:
            request.update(
                ConditionExpression=LWW_CONDITION,
                ExpressionAttributeNames={"#o": self.attribute, "#at": "at", "#r": "region"},
                ExpressionAttributeValues={":at": {"N": str(origin.millis)},
                                           ":r": {"S": origin.region}})
        try:
            await self.target.call("PutItem", request)
        except ConditionFailed:
            self.superseded += 1
        else:
            self.copied += 1

    async def _run(self) -> None:
        async with self.source.connect(region=self.source_region):
            await self.listener.run()

    async def __aenter__(self) -> Replicator:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.listener.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
