"""Update actions: exact UpdateExpression text, section order, and build-time checks."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from dynorm.codec.core import compile_codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import (
    Path,
    Placeholders,
    UpdateAction,
    compile_update,
    list_append,
)


class Address(BaseModel):
    city: str
    visits: int = 0


def p(name: str, tp: Any) -> Path:
    return Path((name,), compile_codec(tp))


N, NAME, PRICE = p("n", int), p("name", str), p("price", Decimal)
TAGS, NUMS, LOG = p("tags", set[str]), p("nums", set[int]), p("log", list[str])
NICK, WHEN, ADDR, DATA = (
    p("nick", str | None),
    p("when", datetime),
    p("address", Address),
    p("data", Any),
)


def compiled(*actions: UpdateAction) -> tuple[str, dict[str, Any]]:
    ph = Placeholders()
    return compile_update(actions, ph), ph.to_request()


def test_set_value() -> None:
    assert compiled(NAME.set("Ann")) == (
        "SET #n0 = :v0",
        {
            "ExpressionAttributeNames": {"#n0": "name"},
            "ExpressionAttributeValues": {":v0": {"S": "Ann"}},
        },
    )


def test_set_encodes_with_the_codec() -> None:
    when = datetime(2026, 11, 25, 1, 38, 29, tzinfo=timezone.utc)
    assert compiled(WHEN.set(when))[1]["ExpressionAttributeValues"] == {
        ":v0": {"S": "2026-11-25T01:38:29.000000Z"}
    }
    assert compiled(TAGS.set({"b", "a"}))[1]["ExpressionAttributeValues"] == {
        ":v0": {"SS": ["a", "b"]}
    }
    assert compiled(ADDR.set(Address(city="Oslo")))[1]["ExpressionAttributeValues"] == {
        ":v0": {"M": {"city": {"S": "Oslo"}, "visits": {"N": "0"}}}
    }


def test_set_path_and_nested() -> None:
    assert compiled(ADDR.city.set(NAME)) == (
        "SET #n0.#n1 = #n2",
        {"ExpressionAttributeNames": {"#n0": "address", "#n1": "city", "#n2": "name"}},
    )
    assert compiled(LOG[2].set("x"))[0] == "SET #n0[2] = :v0"


def test_arithmetic() -> None:
    assert compiled(N.set(N + 1)) == (
        "SET #n0 = #n0 + :v0",
        {
            "ExpressionAttributeNames": {"#n0": "n"},
            "ExpressionAttributeValues": {":v0": {"N": "1"}},
        },
    )
    assert compiled(N.set(N - 2))[0] == "SET #n0 = #n0 - :v0"
    assert compiled(N.set(1 + N))[0] == "SET #n0 = :v0 + #n0"
    assert compiled(N.set(10 - N))[0] == "SET #n0 = :v0 - #n0"
    assert compiled(N.set(ADDR.visits + N))[0] == "SET #n0 = #n1.#n2 + #n0"
    assert compiled(PRICE.set(PRICE + Decimal("0.5")))[1]["ExpressionAttributeValues"] == {
        ":v0": {"N": "0.5"}
    }


def test_if_not_exists() -> None:
    assert compiled(N.set(N.if_not_exists(0) + 1)) == (
        "SET #n0 = if_not_exists(#n0, :v0) + :v1",
        {
            "ExpressionAttributeNames": {"#n0": "n"},
            "ExpressionAttributeValues": {":v0": {"N": "0"}, ":v1": {"N": "1"}},
        },
    )
    assert compiled(NAME.set(NAME.if_not_exists("x")))[0] == "SET #n0 = if_not_exists(#n0, :v0)"


def test_append_prepend() -> None:
    assert compiled(LOG.append(["a", "b"])) == (
        "SET #n0 = list_append(#n0, :v0)",
        {
            "ExpressionAttributeNames": {"#n0": "log"},
            "ExpressionAttributeValues": {":v0": {"L": [{"S": "a"}, {"S": "b"}]}},
        },
    )
    assert compiled(LOG.prepend(["a"]))[0] == "SET #n0 = list_append(:v0, #n0)"
    text, req = compiled(LOG.set(list_append(LOG.if_not_exists([]), ["a"])))
    assert text == "SET #n0 = list_append(if_not_exists(#n0, :v0), :v1)"
    assert req["ExpressionAttributeValues"] == {":v0": {"L": []}, ":v1": {"L": [{"S": "a"}]}}


def test_remove() -> None:
    assert compiled(NICK.remove(), LOG[0].remove()) == (
        "REMOVE #n0, #n1[0]",
        {"ExpressionAttributeNames": {"#n0": "nick", "#n1": "log"}},
    )


def test_add_and_delete() -> None:
    assert compiled(N.add(5)) == (
        "ADD #n0 :v0",
        {
            "ExpressionAttributeNames": {"#n0": "n"},
            "ExpressionAttributeValues": {":v0": {"N": "5"}},
        },
    )
    assert compiled(NUMS.add({3, 1}))[1]["ExpressionAttributeValues"] == {":v0": {"NS": ["1", "3"]}}
    assert compiled(TAGS.delete({"x"})) == (
        "DELETE #n0 :v0",
        {
            "ExpressionAttributeNames": {"#n0": "tags"},
            "ExpressionAttributeValues": {":v0": {"SS": ["x"]}},
        },
    )
    assert compiled(ADDR.visits.add(1))[0] == "ADD #n0.#n1 :v0"


def test_sections_in_fixed_order_actions_in_given_order() -> None:
    text, req = compiled(
        TAGS.delete({"x"}),
        N.add(1),
        NICK.remove(),
        NAME.set("b"),
        PRICE.set(PRICE - 1),
    )
    assert text == "SET #n0 = :v0, #n1 = #n1 - :v1 REMOVE #n2 ADD #n3 :v2 DELETE #n4 :v3"
    assert req["ExpressionAttributeNames"] == {
        "#n0": "name",
        "#n1": "price",
        "#n2": "nick",
        "#n3": "n",
        "#n4": "tags",
    }


def test_reserved_and_odd_names() -> None:
    assert compiled(p("size", int).add(1), p("a.b#c", str).set("x"))[1][
        "ExpressionAttributeNames"
    ] == {"#n0": "a.b#c", "#n1": "size"}


def test_set_none() -> None:
    assert compiled(NICK.set(None))[1]["ExpressionAttributeValues"] == {":v0": {"NULL": True}}
    assert compiled(DATA.set(None))[1]["ExpressionAttributeValues"] == {":v0": {"NULL": True}}
    with pytest.raises(ExpressionError, match=r"name is not nullable; .*name\.remove\(\)"):
        NAME.set(None)


def test_action_exposes_its_path() -> None:
    assert N.add(1).path is N
    assert NAME.set("x").path is NAME
    assert [str(x) for x in N.set(N.if_not_exists(0) + ADDR.visits).paths()] == [
        "n",
        "n",
        "address.visits",
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: N.set("x"), "n: expected int, got str 'x'"),
        (lambda: TAGS.set(set()), "no empty sets"),
        (lambda: TAGS.add(set()), "empty set"),
        (lambda: TAGS.delete(set()), "empty set"),
        (lambda: NAME.add("x"), "ADD works on numbers and sets; name stores str"),
        (lambda: LOG.add(["x"]), "ADD works on numbers and sets"),
        (lambda: N.add("1"), "expected int"),
        (lambda: TAGS.add({1}), "expected str"),
        (lambda: N.delete({1}), "DELETE removes elements from a set"),
        (lambda: DATA.add("x"), "ADD takes a number or a set"),
        (lambda: DATA.delete(1), "DELETE takes a set"),
        (lambda: NAME + 1, "arithmetic needs a number attribute, not str"),
        (lambda: N + "x", "expected int"),
        (lambda: N.set(N + 1 + 2), "one \\+ or - per SET value"),
        (lambda: N.set(LOG.size()), "cannot be used in an update"),
        (lambda: NAME.append(["x"]), "list_append needs a list attribute"),
        (lambda: LOG.append("x"), "expected list"),
        (lambda: DATA.append("x"), "list_append takes a list"),
        (lambda: list_append([1], [2]), "one side must be a list attribute"),
        (lambda: N.if_not_exists("x"), "expected int"),
    ],
)
def test_build_time_errors(build: Any, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        build()


@pytest.mark.parametrize(
    "actions",
    [
        (N.set(1), N.add(1)),
        (ADDR.set(Address(city="x")), ADDR.city.set("y")),
        (ADDR.city.remove(), ADDR.remove()),
        (LOG[0].set("x"), LOG.append(["y"])),
        (LOG[1].set("x"), LOG[1].remove()),
    ],
)
def test_overlapping_paths_are_refused(actions: tuple[UpdateAction, ...]) -> None:
    with pytest.raises(ExpressionError, match="overlapping paths"):
        compiled(*actions)


def test_siblings_do_not_overlap() -> None:
    assert (
        compiled(ADDR.city.set("x"), ADDR.visits.add(1), LOG[0].set("a"), LOG[1].remove())[0]
        == "SET #n0.#n1 = :v0, #n2[0] = :v1 REMOVE #n2[1] ADD #n0.#n3 :v2"
    )


def test_empty_and_non_actions() -> None:
    with pytest.raises(ExpressionError, match="at least one action"):
        compile_update([], Placeholders())
    with pytest.raises(ExpressionError, match="condition goes in condition="):
        compile_update([N > 1], Placeholders())  # type: ignore[list-item]
