"""How a read's answers become models, a page at a time (pure: no I/O).

* `decode_all()` -- a page's raw items decoded in order, each dropped once read;
* `DecodedItems` -- a page's ``Items`` already read into models;
* `page_reader()` -- the reader a whole-page read hands the fast transport
  (`dynorm.transport.base.answers_read_by`), which reads each answer into models right
  after parsing it, while the garbage collector is still paused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from dynorm._types import Item, Request, Response

__all__ = ["DecodedItems", "decode_all", "page_reader"]

T = TypeVar("T")


class DecodedItems(list[Any]):
    """A page's ``Items`` read into models already (`page_reader`)."""

    __slots__ = ()


def decode_all(decode: Callable[[Item], T], raws: list[Item]) -> list[T]:
    """``raws`` decoded in order, emptied as it goes: each raw item is dropped once its model
    is made, so the garbage collector does not walk raw trees already decoded (15-25% less
    client CPU per item on a 10,000-item page than a comprehension, measured A/B)."""
    raws.reverse()
    pop = raws.pop
    return [decode(pop()) for _ in range(len(raws))]


def page_reader(decode: Callable[[Item], Any], table: str
                ) -> Callable[[Request, Response], None]:
    """``read(payload, answer)``: the answer's items, if it is a page of ``table``, read
    into models in place (`DecodedItems`). An item that does not read leaves the page as
    it was: the caller then reads it item by item and meets the error where it always
    did."""

    def read(payload: Request, response: Response) -> None:
        raws = response.get("Items")
        if not raws or payload.get("TableName") != table:
            return
        try:
            response["Items"] = DecodedItems([decode(raw) for raw in raws])
        except Exception:  # read again, and raised, where the page is read
            return

    return read
