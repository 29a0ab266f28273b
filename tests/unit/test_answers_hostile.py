"""Hostile checks of answers read item by item without parsing them whole
(`dynorm.read.answers.split_items`, `ItemSlices`, `page_reader`, and the batch get's
reader `dynorm.read.batch_get._read`): crafted bodies compared with the plain way (the
whole body parsed with orjson, then each item decoded).

Answers written the ways servers write them: compact (DynamoDB, DynamoDB Local), with
spaces (moto), indented, escaped to ASCII; members in other orders (``UnprocessedKeys``
before ``Responses``, a ``ConsumedCapacity`` list after it); items whose strings and
names look like the seams between items; the last item ending in a list of maps named
like type tags. End to end through a transport that hands crafted bodies to the
connection's answer reader, as the fast transport does (`dynorm.transport.fast._answer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import pytest

import dynorm
import dynorm.read.answers as answers
import dynorm.read.batch_get as batch_get
from dynorm import Model, PartitionKey, SortKey
from dynorm._types import Request, Response
from dynorm.read.answers import ItemSlices, page_reader, split_items
from dynorm.schema.classes import meta_of
from dynorm.transport.base import answer_reader
from dynorm.transport.fast import _answer, _parsed

#: short answers split too (`SPLIT_BYTES`): the examples here are short
pytestmark = pytest.mark.usefixtures("split_every_answer")

Writer = Callable[[Any], bytes]
WRITERS: dict[str, Writer] = {
    "compact": orjson.dumps,
    "ascii": lambda o: json.dumps(o, separators=(",", ":")).encode(),
    "moto": lambda o: json.dumps(o).encode(),
    "indented": lambda o: json.dumps(o, indent=2).encode(),
    "crlf": lambda o: json.dumps(o, indent="\t").replace("\n", "\r\n").encode(),
}
writers = pytest.mark.parametrize("write", list(WRITERS.values()), ids=list(WRITERS))

#: strings and names that look like the seams between items, and the ends of lists
NASTY = ['},{"a":{"S":"x"}}', '}, {"a": {"S": "x"}}', '"}]', "}]", "\\", '\\"', '"',
         '],"Count":1,"Items":[', '"Responses":{"t1":[', "é\u2028😀", "\u0000", "}\n]"]


def _whole(raw: bytes, path: tuple[str, ...]) -> tuple[list[Any], Any]:
    """The plain way: the whole body parsed; the list at ``path`` and the rest."""
    whole = orjson.loads(raw)
    node = whole
    for name in path[:-1]:
        node = node[name]
    items = node[path[-1]]
    node[path[-1]] = []
    return items, whole


def _same_or_refused(raw: bytes, path: tuple[str, ...], count: bool) -> bool:
    """The split gives what the plain way gives, or is refused (None); True if split."""
    items, rest = _whole(raw, path)
    split = split_items(raw, path, count)
    if split is None:
        return False
    slices, got_rest = split
    assert type(slices) is ItemSlices
    assert got_rest == rest
    assert list(slices.items()) == items
    return True


def _nasty_item(i: int) -> dict[str, Any]:
    """Item ``i``: nasty strings and names everywhere, ending in a list of maps."""
    text = NASTY[i % len(NASTY)]
    return {
        "pk": {"S": "p"}, "n": {"N": str(i)},
        text or "x": {"S": text + text},
        'a"b\\c': {"L": [{"S": text}, {"M": {"x": {"S": text}}}]},
        "last": {"L": [{"M": {"k": {"S": text}}}, {"M": {"k": {"S": str(i)}}}]},
    }


# ------------------------------------------------------------------ split_items


@writers
def test_a_batch_answer_with_its_members_in_any_order_splits_into_its_items(
        write: Writer) -> None:
    """``UnprocessedKeys`` (a list of keys shaped like items) before or after the items,
    a ``ConsumedCapacity`` list (a list of objects ending in ``}]``) after them: the split
    is the items, nothing of the rest taken for one, nothing of an item left out."""
    items = [_nasty_item(i) for i in range(12)]
    keys = [{"pk": {"S": "p"}, "n": {"N": str(100 + i)}} for i in range(3)]
    unprocessed = {"t1": {"Keys": keys, "ConsistentRead": True}}
    capacity = [{"TableName": "t1", "CapacityUnits": 6.0, "Table": {"CapacityUnits": 6.0}}]
    # After the items, several unprocessed keys make seams past the list's end: the
    # split is refused (parsed whole), correct but not split.
    _same_or_refused(write({"Responses": {"t1": items}, "UnprocessedKeys": unprocessed,
                            "ConsumedCapacity": capacity}), ("Responses", "t1"), False)
    for answer in (
        {"Responses": {"t1": items}, "UnprocessedKeys": {"t1": {"Keys": keys[:1]}},
         "ConsumedCapacity": capacity},
        {"UnprocessedKeys": unprocessed, "ConsumedCapacity": capacity,
         "Responses": {"t1": items}},
        {"ConsumedCapacity": capacity, "Responses": {"t1": items}, "UnprocessedKeys": {}},
    ):
        raw = write(answer)
        assert _same_or_refused(raw, ("Responses", "t1"), count=False)


@writers
def test_a_query_answer_of_nasty_items_splits_into_its_items(write: Writer) -> None:
    items = [_nasty_item(i) for i in range(12)]
    answer = {"LastEvaluatedKey": {"pk": {"S": '"Items":['}, "n": {"N": "11"}},
              "Items": items, "Count": 12, "ScannedCount": 40,
              "ConsumedCapacity": {"TableName": "t1", "CapacityUnits": 2.5}}
    assert _same_or_refused(write(answer), ("Items",), count=True)


@writers
def test_the_last_item_ending_in_maps_named_like_type_tags(write: Writer) -> None:
    """A map in a list whose first attribute is named like a type tag makes a seam the
    search takes for one between items; in the last item (whose end is searched for
    separately) and in a batch answer (no Count to check). Refused or read right."""
    tagged = {"L": [{"M": {tag: {"S": tag}}} for tag in ("S", "N", "M", "L", "NULL")]}
    for items in (
        [{"pk": {"S": "a"}}, {"pk": {"S": "b"}, "z": tagged}],
        [{"pk": {"S": "a"}, "z": tagged}, {"pk": {"S": "b"}}],
        [{"pk": {"S": "a"}, "z": {"L": [tagged, tagged]}}],
        [{"pk": {"S": "a"}, "z": {"M": {"S": tagged}}}, {"pk": {"S": "b"}, "z": tagged}],
    ):
        _same_or_refused(write({"Responses": {"t1": items}, "UnprocessedKeys": {}}),
                         ("Responses", "t1"), count=False)
        _same_or_refused(write({"Count": len(items), "Items": items, "ScannedCount": 9}),
                         ("Items",), count=True)


def test_items_without_attributes_are_never_merged_with_their_neighbours() -> None:
    """``{}`` (a projection of attributes an item lacks) has no first attribute: the seam
    before it is not found. With a Count it is refused; without one (a batch answer),
    the slice holding two items falls back to the whole answer."""
    for items in ([{}, {"a": {"S": "1"}}], [{"a": {"S": "1"}}, {}, {"a": {"S": "2"}}],
                  [{"a": {"S": "1"}}, {}], [{}, {}], [{"a": {"S": "1"}}, {}, {}]):
        for write in WRITERS.values():
            raw = write({"Count": len(items), "Items": items})
            split = _same_or_refused(raw, ("Items",), count=True)
            assert split == ({} not in items[1:])  # refused where a seam is missed
            _same_or_refused(write({"Responses": {"t1": items}}), ("Responses", "t1"), False)


def test_binary_values_in_any_spelling_refuse_the_split() -> None:
    """Binary values are base64 on the wire, bytes once parsed (``_parsed``): a split
    would hand out base64 text. Refused in every writer's spelling."""
    items = [{"a": {"S": "x" * 10}}, {"a": {"B": "AAE="}}, {"a": {"BS": ["AA=="]}}]
    for write in WRITERS.values():
        for item in items[1:]:
            raw = write({"Count": 2, "Items": [items[0], item]})
            assert split_items(raw, ("Items",), count=True) is None


def test_the_list_asked_for_is_found_by_its_whole_name() -> None:
    """A table named like the start of another's name, an attribute named ``Items``
    (whose value is an AttributeValue, never a list), ``"Items":[`` inside strings."""
    other = [{"pk": {"S": "o"}}]
    raw = orjson.dumps({"Responses": {"t1x": other, "t1": [{"pk": {"S": "a"}}]}})
    assert split_items(raw, ("Responses", "t1"), count=False) is None  # not the first
    raw = orjson.dumps({"Responses": {"t1x": other}})
    assert split_items(raw, ("Responses", "t1"), count=False) is None
    item = {"Items": {"L": [{"S": '"Items":[{"a":{"S":"b"}}]'}]}, "Count": {"N": "3"}}
    raw = orjson.dumps({"Items": [item, item, item], "Count": 3})
    assert _same_or_refused(raw, ("Items",), count=True)


def test_a_batch_answer_for_two_tables_keeps_the_other_tables_items() -> None:
    """split_items promises the answer without the items at ``path``. With the asked
    table's list first and another table's after it, the search for the end of the last
    item runs on into the other table's list and the rest it gives has lost that list:
    the slice holding the seam does not parse, the items are read the general way from
    there, and the whole parse is kept (``ItemSlices.whole``) for the caller to take the
    answer from. (Before: the other table's items were gone from the rest, unseen.)"""
    raw = orjson.dumps({"Responses": {
        "t1": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}],
        "t2": [{"pk": {"S": "c"}}, {"pk": {"S": "d"}}]}, "UnprocessedKeys": {}})
    split = split_items(raw, ("Responses", "t1"), count=False)
    items, rest = _whole(raw, ("Responses", "t1"))
    assert rest["Responses"]["t2"]  # the plain way keeps t2's items
    assert split is not None  # (split, and the seam met when read)
    slices, _ = split
    assert list(slices.items()) == items
    assert slices.whole == orjson.loads(raw)


def test_a_page_with_another_list_after_its_items_keeps_it() -> None:
    """A page whose Count passes the split's check although the split ran on into a
    list of items after ``Items`` (a hostile server's: its Count counts one seam too
    many): read into models, the page is the whole parse's, that list kept."""
    page = {"Count": 3, "Items": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}],
            "Extra": [{"pk": {"S": "c"}}, {"pk": {"S": "d"}}]}
    assert split_items(orjson.dumps(page), ("Items",), count=True) is not None
    raw = orjson.dumps(page)

    def decode(item: dict[str, Any]) -> Any:
        return ("model", item)

    read = _answer(raw, {"TableName": "t1"}, page_reader(decode, "t1"))
    assert read == {**page, "Items": [decode(i) for i in page["Items"]]}


async def test_get_many_answered_another_tables_items_says_so() -> None:
    """A server answering a one-table batch get with items of a table not asked (after
    the asked one's, so the split runs on into them): a DynormError naming it, never
    those items dropped unseen, nor a KeyError."""
    stored = [_row_item(n) for n in range(3)]

    def answer(operation: str, payload: Request) -> bytes:
        ((table, _),) = payload["RequestItems"].items()
        return orjson.dumps({"Responses": {table: stored, "intruder": stored[:2]}})

    async with dynorm.connect(transport=Bodies(answer)):
        with pytest.raises(dynorm.DynormError, match="'intruder'"):
            await Row.get_many([("p", n) for n in range(3)])


# ------------------------------------------------------------------ page_reader


@writers
def test_a_page_read_into_models_or_slices_is_the_page_parsed_whole(write: Writer) -> None:
    items = [_nasty_item(i) for i in range(20)]
    raw = write({"Count": 20, "Items": items, "ScannedCount": 20})
    payload: Request = {"TableName": "t1"}
    plain = _answer(raw, payload, None)

    def decode(item: dict[str, Any]) -> Any:
        return ("model", item)

    eager = _answer(raw, payload, page_reader(decode, "t1"))
    assert list(eager["Items"]) == [decode(i) for i in plain["Items"]]
    lazy = _answer(raw, payload, page_reader(None, "t1"))
    assert len(lazy["Items"]) == 20
    if type(lazy["Items"]) is ItemSlices:
        assert list(lazy["Items"].cut(7).items()) == plain["Items"][:7]
    else:
        assert lazy["Items"][:7] == plain["Items"][:7]
    other = _answer(raw, {"TableName": "t2"}, page_reader(decode, "t1"))
    assert other == _parsed(raw)


# ------------------------------------------------------------------ end to end


class Row(Model, table="hostile_rows"):
    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    text: str = ""
    notes: list[dict[str, str]] = []


def _row_item(n: int) -> dict[str, Any]:
    """A stored Row: strings that look like seams, a last attribute that is a list of
    maps whose first attribute is named like a type tag (``S``) in every other item from
    30 on (a query's page holding one is refused: its Count disagrees)."""
    text = NASTY[n % len(NASTY)]
    note = ({"S": {"S": text}, "k": {"S": str(n)}} if n % 2 and n >= 30
            else {"k": {"S": text}, "S": {"S": str(n)}})
    return {"pk": {"S": "p"}, "n": {"N": str(n)}, "_type": {"S": "Row"},
            "text": {"S": f"{text}{n}"}, "notes": {"L": [{"M": note}, {"M": note}]}}


class Bodies:
    """A transport answering with crafted bodies, read like the fast transport's: the
    body handed to the task's answer reader (`answer_reader`) if it has one."""

    accepts_json_fragments = False

    def __init__(self, answer: Callable[[str, Request], bytes]) -> None:
        self.answer = answer
        self.calls: list[str] = []

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def call(self, operation: str, payload: Request) -> Response:
        self.calls.append(operation)
        raw = self.answer(operation, payload)
        return _answer(raw, payload, answer_reader(operation))


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each answer was split (True) or refused, by the readers of both kinds."""
    seen: list[bool] = []

    def split(*args: Any, **kwargs: Any) -> Any:
        out = split_items(*args, **kwargs)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(answers, "split_items", split)
    monkeypatch.setattr(batch_get, "split_items", split)
    return seen


def _general(items: list[dict[str, Any]]) -> list[Row]:
    meta = meta_of(Row)
    return [Row.model_validate(meta.decode_item(i)) for i in items]


@writers
async def test_get_many_files_each_item_under_its_key_every_way_written(
        write: Writer, splits: list[bool]) -> None:
    """Answers in the writer's spelling, keys left unprocessed on the first ask (listed
    before the items), a capacity list after them: each key gets its own item."""
    stored = {n: _row_item(n) for n in range(0, 60, 2)}  # odd keys: no item
    asked_once: set[int] = set()

    def answer(operation: str, payload: Request) -> bytes:
        assert operation == "BatchGetItem"
        ((table, entry),) = payload["RequestItems"].items()
        later = []
        rows = []
        for key in entry["Keys"]:
            n = int(key["n"]["N"])
            if n % 3 == 0 and n not in asked_once:
                asked_once.add(n)
                later.append(key)
            elif n in stored:
                rows.append(stored[n])
        return write({
            "UnprocessedKeys": {table: {"Keys": later}} if later else {},
            "Responses": {table: rows[::-1]},
            "ConsumedCapacity": [{"TableName": table, "CapacityUnits": 1.0}]})

    transport = Bodies(answer)
    async with dynorm.connect(transport=transport):
        got = await Row.get_many([("p", n) for n in range(60)],
                                 retry=dynorm.RetryPolicy(max_attempts=3, base_delay=0))
    expected = {n: r for n, r in zip(stored, _general(list(stored.values())), strict=True)}
    assert got == [expected.get(n) for n in range(60)]
    assert transport.calls.count("BatchGetItem") == 2
    assert any(splits)


@writers
async def test_a_query_reads_the_same_items_every_way_written(
        write: Writer, splits: list[bool]) -> None:
    items = [_row_item(n) for n in range(40)]

    def answer(operation: str, payload: Request) -> bytes:
        assert operation == "Query"
        start = int(payload.get("ExclusiveStartKey", {"n": {"N": "-1"}})["n"]["N"]) + 1
        page = items[start:start + payload.get("Limit", 15)]
        out: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
        if start + len(page) < len(items):
            out["LastEvaluatedKey"] = {"pk": page[-1]["pk"], "n": page[-1]["n"]}
        return write(out)

    expected = _general(items)
    async with dynorm.connect(transport=Bodies(answer)):
        query = Row.query(Row.pk == "p").page_size(15)
        assert await query.to_list() == expected
        assert [r async for r in query] == expected
        assert [r async for r in query.limit(17)] == expected[:17]
        assert [r async for p in query.pages() for r in p.items] == expected
    assert any(splits) and not all(splits)
