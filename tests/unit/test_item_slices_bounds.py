"""Hostile checks of answers split item by item (`dynorm.read.answers.split_items`): the
fallback of a page cut at a limit, the cost of finding where the list of items ends, and
an answer whose body does not parse."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import dynorm.read.answers as answers
from dynorm.exceptions import TransportError
from dynorm.read.answers import page_reader, split_items
from dynorm.transport.fast import _answer

#: short answers split too (`SPLIT_BYTES`): the examples here are short
pytestmark = pytest.mark.usefixtures("split_every_answer")


A = {"a": {"S": "1"}}
#: a map in a list whose first attribute is named like a type tag: one extra seam
TAGGED = {"l": {"L": [{"S": "x"}, {"M": {"S": {"S": "y"}}}]}}
B = {"a": {"S": "2"}}


def test_a_page_cut_at_a_limit_yields_no_item_past_the_cut_when_it_falls_back() -> None:
    """``limit(n)`` cuts a page's `ItemSlices` (``cut``); should one of its slices not
    parse, the page is parsed whole -- and must still stop at the cut. It yielded every
    item of the page from there on: ``limit(1)`` gave four items here. The split is
    accepted: an item without attributes (a projection) misses one seam and the tag-named
    map adds one, so Count agrees."""
    items: list[dict[str, Any]] = [A, {}, TAGGED, B]
    raw = orjson.dumps({"Count": 4, "Items": items, "ScannedCount": 4})
    split = split_items(raw, ("Items",), True)
    if split is not None:
        assert list(split[0].cut(1).items()) == items[:1]
    # the same fallback, reached by a slice made not to parse
    raw = orjson.dumps({"Count": 3, "Items": [A, B, A], "ScannedCount": 3})
    split = split_items(raw, ("Items",), True)
    assert split is not None
    slices = split[0]
    slices[0] = memoryview(b'{"a":')
    assert list(slices.cut(2).items()) == [A, B]


@pytest.mark.parametrize("path", [("Items",), ("Responses", "t")])
def test_finding_where_the_items_end_parses_the_answer_a_bounded_number_of_times(
        monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]) -> None:
    """The end of the last item is searched by parsing from its start up to each ``}]``
    in turn. Every list of an item ends in ``}]``, so a last item holding many lists
    (a list of pairs, a matrix) was parsed once per list: quadratic. 15,000 pairs
    (470 KB) took 5.8 s of blocking CPU against 50 ms to parse the answer whole; here
    2,000 pairs parse 1,000 times the answer's bytes."""
    pairs = {"L": [{"L": [{"N": str(i)}, {"N": "2"}]} for i in range(2000)]}
    items = [A, {"a": {"S": "3"}, "pairs": pairs}]
    answer: dict[str, Any] = ({"Count": 2, "Items": items, "ScannedCount": 2}
                              if path == ("Items",) else {"Responses": {"t": items}})
    raw = orjson.dumps(answer)
    parsed = [0]
    loads = answers.loads

    def counted(data: Any) -> Any:
        parsed[0] += len(data)
        return loads(data)

    monkeypatch.setattr(answers, "loads", counted)
    split = split_items(raw, path, path == ("Items",))
    assert parsed[0] <= 8 * len(raw), f"{parsed[0] / len(raw):.0f} times the answer parsed"
    if split is not None:
        assert list(split[0].items()) == items


def test_an_answer_that_does_not_parse_raises_a_transport_error_read_by_item_or_whole(
        ) -> None:
    """The fast transport turns an answer it cannot parse into a TransportError (retried,
    then raised, before any item of it is read). Split item by item, an item that does not
    parse (here a lone surrogate: a broken body from a proxy or an emulator; DynamoDB's
    answers carry a CRC32 the transport checks) before the last one is met only as the
    page is read: the items before it are the right ones, then the same TransportError --
    never a bare ValueError, never an item from elsewhere. (Refusing it up front would
    mean parsing every page twice.)"""
    raw = (b'{"Count":3,"Items":[{"a":{"S":"1"}},{"a":{"S":"\\ud800"}},{"a":{"S":"2"}}],'
           b'"ScannedCount":3}')
    payload = {"TableName": "t"}
    with pytest.raises(ValueError):
        _answer(raw, payload, None)  # the general way: refused (a TransportError above)
    answer = _answer(raw, payload, page_reader(None, "t"))
    got = []
    with pytest.raises(TransportError, match="unreadable response body"):
        for item in answer["Items"].items():
            got.append(item)
    assert got == [{"a": {"S": "1"}}]
    with pytest.raises(ValueError):  # read whole (to_list(), get_many()): refused
        _answer(raw, payload, page_reader(lambda item: item, "t"))
