"""How a read's answers become models, a page at a time (pure: no I/O).

* `each_model()`, `decode_all()` -- a page's models in order, whatever kind its items are;
* `cut_items()` -- a page's first items, of the same kind;
* `DecodedItems` -- a page's ``Items`` already read into models;
* `ItemSlices` -- a page's ``Items`` still in the answer's JSON, one slice per item,
  each parsed as it is read (`split_items`);
* `page_reader()` -- the reader a page read hands the fast transport
  (`dynorm.transport.base.answers_read_by`), which gives it each answer's body before
  anything is parsed, while the garbage collector is still paused.

Parsing an answer item by item -- each item's JSON parsed, decoded and dropped before the
next -- keeps the work on a few kilobytes of memory the allocator hands out again and
again, where parsing the whole answer first builds a tree of a megabyte or more that is
then walked item by item out of the processor's caches: 40% less client CPU per item on
an iterated 1,000-item page, 20% on a page read into a list (measured A/B).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any, TypeVar

from dynorm._gc import PAUSE_BYTES
from dynorm._types import Item, Request, Response
from dynorm.codec.json import loads
from dynorm.exceptions import TransportError
from dynorm.transport._answers import has_binary

__all__ = ["SPLIT_BYTES", "DecodedItems", "ItemSlices", "cut_items", "decode_all",
           "each_model", "page_reader", "split_items"]

T = TypeVar("T")

#: Where one item of a list of stored items ends and the next begins: ``},`` before an
#: object whose first member is an attribute holding an AttributeValue. Inside a string
#: every quote is escaped, so this never matches there; it matches between items, and
#: inside an item only before a map in a list whose first attribute is named like a type
#: tag (``{"M": {"S": {...}}}``) -- which the checks of `split_items` catch.
_TAGS = rb"(?:S|N|B|BOOL|NULL|M|L|SS|NS|BS)"
_NEXT_ITEM = re.compile(rb'\},(?=\{"[^"\\]*(?:\\.[^"\\]*)*":\{"' + _TAGS + rb'":)')
#: the same in JSON written with spaces (moto's), twice as slow to search
_NEXT_ITEM_SPACED = re.compile(
    rb'\}\s*,\s*(?=\{\s*"[^"\\]*(?:\\.[^"\\]*)*"\s*:\s*\{\s*"' + _TAGS + rb'"\s*:)')
#: where a list of items ends (JSON as DynamoDB writes it has no spaces; moto's has some)
_LIST_END = re.compile(rb"\}\s*\]")
_SPACE = re.compile(rb"\s")

#: Answers shorter than this are parsed whole: their tree fits in the processor's caches,
#: and splitting costs more than it saves (a 3-item answer: 22 against 14 µs, 30 items:
#: 160 against 109 µs, measured); the same length as the garbage collector's pause
#: (`dynorm._gc.PAUSE_BYTES`).
SPLIT_BYTES = PAUSE_BYTES


class DecodedItems(list[Any]):
    """A page's ``Items`` read into models already (`page_reader`)."""

    __slots__ = ()


class ItemSlices(list[memoryview]):
    """A page's ``Items`` as the JSON of each item, a slice of the answer's body.

    ``items()`` parses them in order, one at a time. Each slice was checked to hold
    exactly one item when the answer was split (`split_items`); should one not parse
    after all, the answer is parsed whole (kept as ``whole``) and its items are read
    from there on. A body that does not parse at all (never seen from DynamoDB, whose
    answers carry a CRC32 the transport checks) raises `TransportError` where its first
    bad item is met: the items before it have been read, as from a page that failed to
    arrive.
    """

    __slots__ = ("path", "raw", "stop", "whole")

    def __init__(self, slices: list[memoryview], raw: bytes, path: tuple[str, ...],
                 stop: int | None = None) -> None:
        super().__init__(slices)
        self.raw = raw
        self.path = path
        #: where the answer's list is cut (`cut`): the general way stops there too
        self.stop = stop
        #: the answer parsed whole, once a slice did not parse (`items`): the split may
        #: then have run past the list's end, and the rest it gave is not to be trusted
        self.whole: Response | None = None

    def cut(self, n: int) -> ItemSlices:
        """The first ``n`` items."""
        stop = n if self.stop is None else min(n, self.stop)
        return ItemSlices(self[:n], self.raw, self.path, stop)

    def items(self) -> Iterator[Item]:
        """The items, parsed one at a time; each slice dropped once parsed."""
        self.reverse()
        pop = self.pop
        read = 0
        while self:
            try:
                item = loads(pop())
            except ValueError:  # (not seen: the split was checked) the general way
                try:
                    self.whole = loads(self.raw)
                    rest = _list_at(self.whole, self.path)[read:self.stop]
                except ValueError as exc:  # the body does not parse: as the transport says
                    raise TransportError(f"unreadable response body: {exc}") from exc
                yield from rest
                return
            read += 1
            yield item


def _list_at(parsed: Any, path: tuple[str, ...]) -> list[Item]:
    for name in path:
        parsed = parsed[name]
    if type(parsed) is not list:
        raise TypeError(f"not a list at {path}")
    return parsed


def split_items(raw: bytes, path: tuple[str, ...], count: bool
                ) -> tuple[ItemSlices, Response] | None:
    """The items of the answer's list at ``path`` (``("Items",)``, or ``("Responses",
    table)``), each a slice of ``raw``, and the answer without them (that list left
    empty); None to parse the answer whole: a short answer (`SPLIT_BYTES`), no such
    list, an empty one, binary values (base64 on the wire, decoded on parsing), or
    slices that fail a check.

    Checks: the last item's slice parses; the rest of the answer parses, with the list
    empty; with ``count`` (a query's or scan's answer), its ``Count`` is the number of
    slices -- an item cut in two would make one more. Items are found where one ends and
    the next begins (`_NEXT_ITEM`), so no boundary between items is ever missed. What
    the checks cannot see: another list of items at the same depth after this one (a
    BatchGetItem answer for two tables), which the search runs on into; the slice that
    holds the seam between the two lists then does not parse, the slices are read the
    general way from there, and the whole parse is kept (`ItemSlices.whole`): a caller
    that uses the rest after reading every item takes the answer from there instead.
    """
    if len(raw) < SPLIT_BYTES:
        return None
    opening = rb"\s*:\s*\{\s*".join(b'"' + re.escape(name.encode()) + b'"' for name in path)
    found = re.compile(opening + rb"\s*:\s*\[\s*").search(raw)
    if found is None:
        return None
    first = found.end()
    if raw[first:first + 1] != b"{" or has_binary(raw):
        return None
    view = memoryview(raw)
    slices = []
    begin = first
    spaced = _SPACE.search(found.group()) is not None
    for match in (_NEXT_ITEM_SPACED if spaced else _NEXT_ITEM).finditer(raw, first):
        slices.append(view[begin:match.start() + 1])
        begin = match.end()
    # The one end of a list after which the last slice parses: tried from the last one
    # back, as every list in the last item ends the same way (a last item holding many
    # lists made a search from the front quadratic) and the rest of an answer holds few;
    # one holding many in its strings is parsed whole instead.
    spent = 0
    for match in reversed(list(_LIST_END.finditer(raw, begin))):
        end = match.start() + 1
        spent += end - begin
        if spent > 4 * len(raw):
            return None
        try:
            loads(view[begin:end])
        except ValueError:
            continue
        slices.append(view[begin:end])
        break
    else:
        return None
    try:
        rest = loads(raw[:first] + raw[match.end() - 1:])
        if _list_at(rest, path) != [] or (count and rest.get("Count") != len(slices)):
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return ItemSlices(slices, raw, path), rest


def each_model(decode: Callable[[Item], T], raws: list[Any]) -> Iterator[T]:
    """A page's models in order, each made as it is taken: made already (`DecodedItems`),
    parsed and decoded one slice at a time (`ItemSlices`), or decoded from raw items,
    each raw item dropped once decoded so the garbage collector never walks raw trees
    already read (13-25% less client CPU per item than decoding from an untouched list,
    measured A/B)."""
    if type(raws) is DecodedItems:
        return iter(raws)
    if type(raws) is ItemSlices:
        return map(decode, raws.items())
    raws.reverse()
    pop = raws.pop
    return (decode(pop()) for _ in range(len(raws)))


def decode_all(decode: Callable[[Item], T], raws: list[Any]) -> list[T]:
    """A page's models (`each_model`), as a list."""
    return raws if type(raws) is DecodedItems else list(each_model(decode, raws))


def cut_items(raws: list[Any], n: int) -> list[Any]:
    """A page's first ``n`` items, of the same kind (raw, `DecodedItems`, `ItemSlices`)."""
    if type(raws) is ItemSlices:
        return raws.cut(n)
    return DecodedItems(raws[:n]) if type(raws) is DecodedItems else raws[:n]


def page_reader(decode: Callable[[Item], Any] | None, table: str
                ) -> Callable[[Request, bytes, Callable[[bytes], Response]], Response]:
    """``read(payload, body, parse)``: a query's or scan's answer (if it is a page of
    ``table``), its items split into `ItemSlices`; with ``decode`` (a read that keeps
    whole pages), read into models at once (`DecodedItems`). An item that does not read
    leaves the page as parsed: the caller then reads it item by item and meets the error
    where it always did. Binary values: the answer is parsed whole (``parse``), and the
    items decoded from the tree."""

    def read(payload: Request, body: bytes, parse: Callable[[bytes], Response]) -> Response:
        if payload.get("TableName") != table:
            return parse(body)
        split = split_items(body, ("Items",), count=True)
        if split is None:
            response = parse(body)
            raws = response.get("Items")
            if decode is not None and raws:
                with suppress(Exception):  # else read again, and raised, where it is read
                    response["Items"] = DecodedItems([decode(raw) for raw in raws])
            return response
        slices, response = split
        if decode is None:
            response["Items"] = slices
            return response
        try:
            decoded = DecodedItems([decode(item) for item in slices.items()])
        except Exception:  # read again, and raised, where the page is read
            return parse(body)
        if slices.whole is not None:  # the split ran past the list: the rest from there
            response = slices.whole
        response["Items"] = decoded
        return response

    return read
