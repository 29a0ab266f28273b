"""Answers split into one slice of JSON per item (`dynorm.read.answers.split_items`),
parsed item by item instead of whole. Whenever a split is given, its items and the rest
of the answer are exactly what parsing the whole answer gives; where the split cannot be
trusted it is refused (None: parsed whole). Checked over generated items meant to fool
the search for item boundaries: strings holding ``},{"a":{"S":``, quotes and
backslashes, maps in lists whose first attribute is named like a type tag, attribute
names that look like JSON, answers with keys left unprocessed after the items."""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm.read.answers as answers
from dynorm.read.answers import ItemSlices, split_items
from dynorm.transport._answers import has_binary

#: short answers split too (`SPLIT_BYTES`): the examples here are short
pytestmark = pytest.mark.usefixtures("split_every_answer")


TAGS = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
#: text that looks like the seams between items, inside values and names
NASTY = ['},{"a":{"S":"x"}', '"},{"', "\\", '"', "}]", '],"Count":3', '{"S":', "é€😀",
         '"Items":[', "},", "\n"]
text = st.one_of(st.sampled_from(NASTY), st.text(max_size=6),
                 st.lists(st.sampled_from(NASTY), max_size=3).map("".join))
name = st.one_of(st.sampled_from(TAGS), text.filter(bool))


def _values(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    scalar = st.one_of(
        text.map(lambda s: {"S": s}),
        st.integers(-10**6, 10**6).map(lambda n: {"N": str(n)}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(text, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
    )
    if depth == 0:
        return scalar
    inner = _values(depth - 1)
    return st.one_of(
        scalar,
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(name, inner, max_size=3).map(lambda v: {"M": v}),
    )


item = st.dictionaries(name, _values(2), min_size=1, max_size=5)


def _check(raw: bytes, key: tuple[str, ...], count: bool) -> bool:
    whole = orjson.loads(raw)
    split = split_items(raw, key, count)
    if split is None:
        return False
    slices, rest = split
    assert type(slices) is ItemSlices
    items = whole
    for k in key:
        items = items[k]
    assert list(slices.items()) == items  # the same items, in order
    expected_rest = orjson.loads(raw)
    node = expected_rest
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = []
    assert rest == expected_rest  # and the same rest of the answer
    return True


@settings(max_examples=int(os.environ.get("DYNORM_SLICE_EXAMPLES", 300)), deadline=None)
@given(st.lists(item, max_size=6), st.booleans(), st.sampled_from(["orjson", "ascii", "spaced"]))
def test_a_query_answer_split_into_items_is_the_answer_parsed_whole(
        items: list[dict[str, Any]], last_key: bool, writer: str) -> None:
    answer: dict[str, Any] = {"Count": len(items), "Items": items, "ScannedCount": 9}
    if last_key and items:
        answer["LastEvaluatedKey"] = {"pk": {"S": '},{"a":{"S":'}, "sk": {"N": "1"}}
    # JSON written three ways: compact (DynamoDB, dynalite), escaped to ASCII, with
    # spaces after commas and colons (moto)
    raw = (orjson.dumps(answer) if writer == "orjson"
           else json.dumps(answer, separators=(",", ":")).encode() if writer == "ascii"
           else json.dumps(answer).encode())
    split = _check(raw, ("Items",), count=True)
    # refused only where it must be: nothing to split, binary values (or what looks like
    # them), a seam inside an item that looks like one between items
    assert split or not items or has_binary(raw) or any(
        _tag_named_map_in_list(i) for i in items)


@settings(max_examples=int(os.environ.get("DYNORM_SLICE_EXAMPLES", 200)), deadline=None)
@given(st.lists(item, min_size=1, max_size=5), st.lists(item, max_size=3))
def test_a_batch_answer_split_into_items_leaves_the_unprocessed_keys_alone(
        items: list[dict[str, Any]], unprocessed: list[dict[str, Any]]) -> None:
    answer = {"Responses": {"t1": items},
              "UnprocessedKeys": {"t1": {"Keys": unprocessed}} if unprocessed else {}}
    raw = orjson.dumps(answer)
    _check(raw, ("Responses", "t1"), count=False)


def _tag_named_map_in_list(attributes: dict[str, Any]) -> bool:
    """A map in a list whose first attribute is named like a type tag, anywhere in an
    item (``attributes``: name -> AttributeValue): a seam the boundary search cannot tell
    from one between items (the split is then refused)."""

    def av(value: dict[str, Any], in_list: bool) -> bool:
        ((tag, inner),) = value.items()
        if tag == "M":
            return bool(in_list and inner and next(iter(inner)) in TAGS) or (
                _tag_named_map_in_list(inner))
        if tag == "L":
            return any(av(v, True) for v in inner)
        return False

    return any(av(v, False) for v in attributes.values())


def test_answers_that_cannot_be_split_are_parsed_whole() -> None:
    assert split_items(b'{"Count":0,"Items":[],"ScannedCount":0}', ("Items",), True) is None
    assert split_items(b'{"Count":1,"Items":[{"b":{"B":"AAE="}}],"ScannedCount":1}',
                       ("Items",), True) is None  # binary: decoded on parsing
    assert split_items(b'{"Count":2,"Items":[{"a":{"S":"x"}}],"ScannedCount":1}',
                       ("Items",), True) is None  # its Count disagrees
    assert split_items(b'{"Item":{"a":{"S":"x"}}}', ("Items",), True) is None
    # a map in a list whose first attribute is named S: one item seen as two, refused
    raw = orjson.dumps({"Count": 1, "Items": [
        {"l": {"L": [{"S": "x"}, {"M": {"S": {"S": "y"}}}]}}], "ScannedCount": 1})
    assert split_items(raw, ("Items",), True) is None


def test_a_slice_that_does_not_parse_falls_back_to_the_whole_answer() -> None:
    raw = orjson.dumps({"Count": 3, "Items": [{"a": {"N": str(i)}} for i in range(3)]})
    split = split_items(raw, ("Items",), True)
    assert split is not None
    slices = split[0]
    slices[1] = memoryview(b'{"a":')  # (as if the split had been wrong)
    assert list(slices.items()) == [{"a": {"N": str(i)}} for i in range(3)]


def test_only_answers_of_at_least_split_bytes_are_split(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A short answer's tree fits in the processor's caches: parsed whole (splitting it
    costs more, measured); from `SPLIT_BYTES` on, split."""
    monkeypatch.setattr(answers, "SPLIT_BYTES", answers.PAUSE_BYTES)
    def answer(n: int) -> bytes:
        return orjson.dumps({"Count": n, "Items": [{"a": {"S": "x" * 90}}] * n})
    assert split_items(answer(3), ("Items",), True) is None
    big = answer(400)
    assert len(big) >= answers.SPLIT_BYTES
    split = split_items(big, ("Items",), True)
    assert split is not None and len(split[0]) == 400
