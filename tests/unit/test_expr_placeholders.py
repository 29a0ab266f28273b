"""Placeholders: one allocator per request, every name and value a placeholder."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dynorm.codec.core import compile_codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import (
    Path,
    Placeholders,
    compile_projection,
    to_key_condition,
)


class Address(BaseModel):
    city: str
    street: str = ""


class Doc(BaseModel):
    address: Address
    tags: list[str] = []
    matrix: list[list[int]] = []


def p(name: str, tp: Any) -> Path:
    return Path((name,), compile_codec(tp))


DOC = Path(("doc",), compile_codec(Doc))


def test_names_are_numbered_in_order_and_reused() -> None:
    ph = Placeholders()
    assert ph.name("a") == "#n0"
    assert ph.name("b") == "#n1"
    assert ph.name("a") == "#n0"
    assert ph.to_request() == {"ExpressionAttributeNames": {"#n0": "a", "#n1": "b"}}


def test_values_are_numbered_and_never_merged() -> None:
    ph = Placeholders()
    assert ph.value({"N": "1"}) == ":v0"
    assert ph.value({"N": "1"}) == ":v1"
    assert ph.to_request() == {"ExpressionAttributeValues": {":v0": {"N": "1"}, ":v1": {"N": "1"}}}


def test_empty_allocator_gives_empty_request() -> None:
    assert Placeholders().to_request() == {}


def test_only_values() -> None:
    ph = Placeholders()
    ph.value({"S": "x"})
    assert ph.to_request() == {"ExpressionAttributeValues": {":v0": {"S": "x"}}}


@pytest.mark.parametrize(
    "attr",
    ["name", "status", "size", "data", "a.b", "#x", "with space", "ünïcödé", ":v0", "a[0]"],
)
def test_any_name_is_a_placeholder(attr: str) -> None:
    ph = Placeholders()
    assert ph.path(Path((attr,), compile_codec(int))) == "#n0"
    assert ph.names == {"#n0": attr}


def test_nested_map_path() -> None:
    ph = Placeholders()
    assert ph.path(DOC.address.city) == "#n0.#n1.#n2"
    assert ph.names == {"#n0": "doc", "#n1": "address", "#n2": "city"}


def test_list_indexes_are_literal() -> None:
    ph = Placeholders()
    assert ph.path(DOC.tags[2]) == "#n0.#n1[2]"
    assert ph.path(DOC.matrix[1][0]) == "#n0.#n2[1][0]"


def test_repeated_segment_reuses_name() -> None:
    ph = Placeholders()
    same = Path(("a", "a", "a"), compile_codec(Any))
    assert ph.path(same) == "#n0.#n0.#n0"
    assert ph.names == {"#n0": "a"}


def test_empty_name_is_refused() -> None:
    with pytest.raises(ExpressionError, match="empty"):
        Placeholders().name("")


def test_key_condition_and_filter_share_one_allocator() -> None:
    user_id, age, name = p("user_id", str), p("age", int), p("name", str)
    ph = Placeholders()
    key = to_key_condition(user_id == "u1", partition_attr="user_id", sort_attr=None)
    assert key.compile(ph) == "#n0 = :v0"
    assert ((age > 3) & (name == "x")).compile(ph) == "#n1 > :v1 AND #n2 = :v2"
    assert compile_projection([user_id, name], ph) == "#n0, #n2"
    assert ph.to_request() == {
        "ExpressionAttributeNames": {"#n0": "user_id", "#n1": "age", "#n2": "name"},
        "ExpressionAttributeValues": {
            ":v0": {"S": "u1"},
            ":v1": {"N": "3"},
            ":v2": {"S": "x"},
        },
    }


def test_same_request_compiles_identically() -> None:
    def build() -> tuple[str, dict[str, Any]]:
        ph = Placeholders()
        text = ((p("a", int) > 1) | (DOC.address.city == "x")).compile(ph)
        return text, ph.to_request()

    assert build() == build()


# ---------------------------------------------------------------------------- projections


def test_projection_order_and_duplicates() -> None:
    ph = Placeholders()
    a, b = p("a", int), p("b", int)
    assert compile_projection([b, a, b, p("a", int)], ph) == "#n0, #n1"
    assert ph.names == {"#n0": "b", "#n1": "a"}


def test_projection_nested_and_indexed() -> None:
    ph = Placeholders()
    text = compile_projection([p("name", str), DOC.address.city, DOC.tags[0]], ph)
    assert text == "#n0, #n1.#n2.#n3, #n1.#n4[0]"


def test_projection_drops_paths_inside_another() -> None:
    ph = Placeholders()
    assert compile_projection([DOC.address.city, DOC, DOC.tags[1]], ph) == "#n0"
    assert ph.names == {"#n0": "doc"}


def test_projection_needs_paths() -> None:
    with pytest.raises(ExpressionError, match="at least one"):
        compile_projection([], Placeholders())
    with pytest.raises(ExpressionError, match="attribute paths"):
        compile_projection(["name"], Placeholders())  # type: ignore[list-item]
