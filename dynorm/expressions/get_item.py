"""GetItem as a frozen value: ``op.to_request()`` is the exact request dict.

Its own module so that a program that only reads items by key (a Lambda's cold start,
issue 18) does not create the write, query and scan request types of
`dynorm.expressions.operations`, which re-exports it. Pure: no model and no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynorm._types import Item, Request
from dynorm.expressions.placeholders import Placeholders
from dynorm.expressions.projections import compile_projection

if TYPE_CHECKING:
    from dynorm.expressions.paths import Path

__all__ = ["GetItem", "with_placeholders"]


def with_placeholders(req: Request, ph: Placeholders) -> Request:
    """``req`` with the names and values ``ph`` allocated (the last step of every request)."""
    req.update(ph.to_request())
    return req


@dataclass(frozen=True)
class GetItem:
    """GetItem: one item by key."""

    table: str
    key: Item
    consistent: bool = False
    projection: Sequence[Path] = ()

    def to_request(self) -> Request:
        req: Request = {"TableName": self.table, "Key": self.key}
        if self.consistent:
            req["ConsistentRead"] = True
        if self.projection:
            ph = Placeholders()
            req["ProjectionExpression"] = compile_projection(self.projection, ph)
            return with_placeholders(req, ph)
        return req
