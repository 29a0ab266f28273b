"""Single-item operations as frozen values: ``op.to_request()`` is the exact request dict.

`GetItem` lives in `dynorm.expressions.get_item` (a program that only reads items by
key loads nothing else of these; issue 18) and is re-exported here.

Pure: no model and no I/O here, so unit tests can assert every request byte for byte.
Every ConditionExpression is sent with ``ReturnValuesOnConditionCheckFailure=ALL_OLD``
so that a failed condition reports the item as it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dynorm._types import Item, Request
from dynorm.expressions import (
    Condition,
    KeyCondition,
    Path,
    Placeholders,
    UpdateAction,
    compile_projection,
    compile_update,
)
from dynorm.expressions.get_item import GetItem
from dynorm.expressions.get_item import with_placeholders as _finish

__all__ = ["DeleteItem", "GetItem", "PutItem", "Query", "ReturnValues", "Scan", "UpdateItem"]

ReturnValues = Literal["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]


def _condition(req: Request, condition: Condition | None, ph: Placeholders) -> None:
    if condition is not None:
        req["ConditionExpression"] = condition.compile(ph)
        req["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"


@dataclass(frozen=True)
class PutItem:
    """PutItem: write a whole item, optionally under a condition."""

    table: str
    item: Item
    condition: Condition | None = None
    return_values: Literal["NONE", "ALL_OLD"] = "NONE"

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table, "Item": self.item}
        if self.return_values != "NONE":
            req["ReturnValues"] = self.return_values
        ph = Placeholders()
        _condition(req, self.condition, ph)
        return _finish(req, ph)


@dataclass(frozen=True)
class DeleteItem:
    """DeleteItem: remove an item by key, optionally under a condition."""

    table: str
    key: Item
    condition: Condition | None = None
    return_values: Literal["NONE", "ALL_OLD"] = "NONE"

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table, "Key": self.key}
        if self.return_values != "NONE":
            req["ReturnValues"] = self.return_values
        ph = Placeholders()
        _condition(req, self.condition, ph)
        return _finish(req, ph)


@dataclass(frozen=True)
class UpdateItem:
    """UpdateItem: apply update actions to one item (creating it if absent, as DynamoDB does)."""

    table: str
    key: Item
    actions: Sequence[UpdateAction] = field(default_factory=tuple)
    condition: Condition | None = None
    return_values: ReturnValues = "ALL_NEW"

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table, "Key": self.key}
        ph = Placeholders()
        if self.actions:
            req["UpdateExpression"] = compile_update(self.actions, ph)
        _condition(req, self.condition, ph)
        if self.return_values != "NONE":
            req["ReturnValues"] = self.return_values
        return _finish(req, ph)


@dataclass(frozen=True)
class Query:
    """Query: items of one partition (of the table or an index), in sort-key order."""

    table: str
    key_condition: KeyCondition
    index: str | None = None
    filter: Condition | None = None
    projection: Sequence[Path] = ()
    limit: int | None = None
    forward: bool = True
    consistent: bool = False
    count_only: bool = False
    start_key: Item | None = None

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table}
        if self.index is not None:
            req["IndexName"] = self.index
        ph = Placeholders()
        req["KeyConditionExpression"] = self.key_condition.compile(ph)
        _read_options(req, ph, self.filter, self.projection, self.limit, self.consistent,
                      self.count_only, self.start_key)
        if not self.forward:
            req["ScanIndexForward"] = False
        return _finish(req, ph)


@dataclass(frozen=True)
class Scan:
    """Scan: every item of the table or index (one segment of it when parallel)."""

    table: str
    index: str | None = None
    filter: Condition | None = None
    projection: Sequence[Path] = ()
    limit: int | None = None
    consistent: bool = False
    count_only: bool = False
    start_key: Item | None = None
    segment: int | None = None
    total_segments: int | None = None

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table}
        if self.index is not None:
            req["IndexName"] = self.index
        ph = Placeholders()
        _read_options(req, ph, self.filter, self.projection, self.limit, self.consistent,
                      self.count_only, self.start_key)
        if self.total_segments is not None:
            req["Segment"] = self.segment
            req["TotalSegments"] = self.total_segments
        return _finish(req, ph)


def _read_options(req: Request, ph: Placeholders, filter: Condition | None,
                  projection: Sequence[Path], limit: int | None, consistent: bool,
                  count_only: bool, start_key: Item | None) -> None:
    if filter is not None:
        req["FilterExpression"] = filter.compile(ph)
    if count_only:
        req["Select"] = "COUNT"
    elif projection:
        req["ProjectionExpression"] = compile_projection(projection, ph)
    if limit is not None:
        req["Limit"] = limit
    if consistent:
        req["ConsistentRead"] = True
    if start_key is not None:
        req["ExclusiveStartKey"] = start_key
