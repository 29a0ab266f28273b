"""Conditions: exact compiled text, build-time checks, and the pure evaluator."""

# Paths are module constants, so ruff reads `AGE == 3` as a Yoda condition.
# ruff: noqa: SIM300

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional

import pytest
from pydantic import BaseModel, Field

from dynorm.codec.core import compile_codec
from dynorm.exceptions import ExpressionError
from dynorm.expressions import (
    Condition,
    Path,
    Placeholders,
    size,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Box(BaseModel):
    size: int = 0
    label: str = ""


class Address(BaseModel):
    city: str
    zip_code: str = Field("", alias="zip")
    box: Box = Box()


def p(name: str, tp: Any) -> Path:
    return Path((name,), compile_codec(tp))


def compiled(cond: Condition) -> tuple[str, dict[str, Any]]:
    ph = Placeholders()
    return cond.compile(ph), ph.to_request()


AGE = p("age", int)
NAME = p("name", str)
STATUS = p("status", str)
TAGS = p("tags", set[str])
NUMS = p("nums", set[int])
ITEMS = p("items", list[str])
WHEN = p("when", datetime)
COLOR = p("color", Color)
LEVEL = p("level", Level)
PRICE = p("price", Decimal)
BLOB = p("blob", bytes)
ANY = p("data", Any)
ADDR = p("address", Address)
NICK = p("nick", Optional[str])  # noqa: UP045 - the Optional spelling must work too


# ---------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("cond", "text"),
    [
        (AGE == 3, "#n0 = :v0"),
        (AGE != 3, "#n0 <> :v0"),
        (AGE < 3, "#n0 < :v0"),
        (AGE <= 3, "#n0 <= :v0"),
        (AGE > 3, "#n0 > :v0"),
        (AGE >= 3, "#n0 >= :v0"),
    ],
)
def test_comparisons(cond: Condition, text: str) -> None:
    assert compiled(cond) == (
        text,
        {
            "ExpressionAttributeNames": {"#n0": "age"},
            "ExpressionAttributeValues": {":v0": {"N": "3"}},
        },
    )


def test_reflected_comparison_puts_path_first() -> None:
    assert compiled(3 < AGE)[0] == "#n0 > :v0"
    assert compiled(3 == AGE)[0] == "#n0 = :v0"  # type: ignore[arg-type]


def test_path_to_path() -> None:
    low = p("low", int)
    assert compiled(AGE >= low) == (
        "#n0 >= #n1",
        {"ExpressionAttributeNames": {"#n0": "age", "#n1": "low"}},
    )


def test_between() -> None:
    assert compiled(AGE.between(18, 65)) == (
        "#n0 BETWEEN :v0 AND :v1",
        {
            "ExpressionAttributeNames": {"#n0": "age"},
            "ExpressionAttributeValues": {":v0": {"N": "18"}, ":v1": {"N": "65"}},
        },
    )


def test_between_low_above_high_is_refused() -> None:
    with pytest.raises(ExpressionError, match="low > high"):
        AGE.between(65, 18)


def test_is_in() -> None:
    text, req = compiled(STATUS.is_in("open", "closed"))
    assert text == "#n0 IN (:v0, :v1)"
    assert req["ExpressionAttributeNames"] == {"#n0": "status"}
    assert req["ExpressionAttributeValues"] == {":v0": {"S": "open"}, ":v1": {"S": "closed"}}


def test_is_in_limits() -> None:
    text, _ = compiled(AGE.is_in(*range(100)))
    assert text.endswith(":v98, :v99)")
    with pytest.raises(ExpressionError, match="1 to 100 values, got 101"):
        AGE.is_in(*range(101))
    with pytest.raises(ExpressionError, match="got 0"):
        AGE.is_in()


def test_begins_with() -> None:
    assert compiled(NAME.begins_with("Al")) == (
        "begins_with(#n0, :v0)",
        {
            "ExpressionAttributeNames": {"#n0": "name"},
            "ExpressionAttributeValues": {":v0": {"S": "Al"}},
        },
    )
    assert compiled(BLOB.begins_with(b"\x00"))[1]["ExpressionAttributeValues"] == {
        ":v0": {"B": b"\x00"}
    }
    # A datetime is stored as a string, so a prefix of it is a string.
    assert compiled(WHEN.begins_with("2026-11"))[1]["ExpressionAttributeValues"] == {
        ":v0": {"S": "2026-11"}
    }


@pytest.mark.parametrize("bad", [lambda: AGE.begins_with("1"), lambda: NAME.begins_with(b"x")])
def test_begins_with_needs_string_or_bytes(bad: Any) -> None:
    with pytest.raises(ExpressionError, match="begins_with"):
        bad()


def test_contains_on_set_list_and_string() -> None:
    assert compiled(TAGS.contains("pro")) == (
        "contains(#n0, :v0)",
        {
            "ExpressionAttributeNames": {"#n0": "tags"},
            "ExpressionAttributeValues": {":v0": {"S": "pro"}},
        },
    )
    assert compiled(NUMS.contains(5))[1]["ExpressionAttributeValues"] == {":v0": {"N": "5"}}
    assert compiled(ITEMS.contains("x"))[1]["ExpressionAttributeValues"] == {":v0": {"S": "x"}}
    assert compiled(NAME.contains("li"))[1]["ExpressionAttributeValues"] == {":v0": {"S": "li"}}


def test_contains_type_errors() -> None:
    with pytest.raises(ExpressionError, match="tags element: expected str, got int 5"):
        TAGS.contains(5)
    with pytest.raises(ExpressionError, match="contains works on strings, sets and lists"):
        AGE.contains(1)
    with pytest.raises(ExpressionError, match="substring"):
        NAME.contains(1)


def test_exists_not_exists() -> None:
    assert compiled(NAME.exists())[0] == "attribute_exists(#n0)"
    assert compiled(NAME.not_exists()) == (
        "attribute_not_exists(#n0)",
        {"ExpressionAttributeNames": {"#n0": "name"}},
    )


def test_is_type() -> None:
    assert compiled(ANY.is_type("M")) == (
        "attribute_type(#n0, :v0)",
        {
            "ExpressionAttributeNames": {"#n0": "data"},
            "ExpressionAttributeValues": {":v0": {"S": "M"}},
        },
    )
    with pytest.raises(ExpressionError, match="one of S, SS, N"):
        ANY.is_type("MAP")


def test_size() -> None:
    assert compiled(TAGS.size() > 2) == (
        "size(#n0) > :v0",
        {
            "ExpressionAttributeNames": {"#n0": "tags"},
            "ExpressionAttributeValues": {":v0": {"N": "2"}},
        },
    )
    assert compiled(size(NAME).between(1, 3))[0] == "size(#n0) BETWEEN :v0 AND :v1"
    assert compiled(size(NAME) != size(ITEMS))[0] == "size(#n0) <> size(#n1)"
    with pytest.raises(ExpressionError, match="expected int"):
        _ = NAME.size() == "3"
    with pytest.raises(ExpressionError, match="has no size"):
        AGE.size()


# ---------------------------------------------------------------------------- names and paths


@pytest.mark.parametrize("word", ["name", "status", "size", "data", "a.b", "#hash", "sp ace"])
def test_reserved_and_odd_names(word: str) -> None:
    text, req = compiled(p(word, str) == "x")
    assert text == "#n0 = :v0"
    assert req["ExpressionAttributeNames"] == {"#n0": word}


def test_nested_paths_and_aliases() -> None:
    text, req = compiled(ADDR.zip_code == "123")
    assert text == "#n0.#n1 = :v0"
    assert req["ExpressionAttributeNames"] == {"#n0": "address", "#n1": "zip"}  # the alias


def test_field_named_like_a_method_by_brackets() -> None:
    assert compiled(ADDR.box["size"] > 1)[0] == "#n0.#n1.#n2 > :v0"
    assert compiled(ADDR.box.size() > 1)[0] == "size(#n0.#n1) > :v0"  # the method


def test_list_index_paths() -> None:
    text, req = compiled(ITEMS[3] == "x")
    assert text == "#n0[3] = :v0"
    assert req["ExpressionAttributeNames"] == {"#n0": "items"}


def test_map_key_paths() -> None:
    scores = p("scores", dict[str, int])
    assert compiled(scores["a.b"] > 1) == (
        "#n0.#n1 > :v0",
        {
            "ExpressionAttributeNames": {"#n0": "scores", "#n1": "a.b"},
            "ExpressionAttributeValues": {":v0": {"N": "1"}},
        },
    )


def test_path_cannot_be_iterated() -> None:
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(ITEMS)
    with pytest.raises(TypeError, match="contains"):
        _ = "x" in ITEMS


# ---------------------------------------------------------------------------- precedence


def test_and_or_not_parentheses() -> None:
    a, b, c = AGE > 1, NAME == "x", STATUS == "s"
    assert compiled(a & b & c)[0] == "#n0 > :v0 AND #n1 = :v1 AND #n2 = :v2"
    assert compiled(a | b | c)[0] == "#n0 > :v0 OR #n1 = :v1 OR #n2 = :v2"
    assert compiled((a | b) & c)[0] == "(#n0 > :v0 OR #n1 = :v1) AND #n2 = :v2"
    assert compiled(a | (b & c))[0] == "#n0 > :v0 OR (#n1 = :v1 AND #n2 = :v2)"
    assert (
        compiled((a & b) | (b & c))[0] == "(#n0 > :v0 AND #n1 = :v1) OR (#n1 = :v2 AND #n2 = :v3)"
    )
    assert compiled(~a)[0] == "NOT (#n0 > :v0)"
    assert compiled(~NAME.exists())[0] == "NOT attribute_exists(#n0)"
    assert compiled(~(a & b))[0] == "NOT (#n0 > :v0 AND #n1 = :v1)"
    assert compiled(~a & b)[0] == "NOT (#n0 > :v0) AND #n1 = :v1"
    assert compiled(~(a | b) | c)[0] == "NOT (#n0 > :v0 OR #n1 = :v1) OR #n2 = :v2"
    assert compiled(~AGE.between(1, 2))[0] == "NOT (#n0 BETWEEN :v0 AND :v1)"


def test_double_negation_cancels() -> None:
    a = AGE > 1
    assert ~~a is a


def test_paths_in_compile_order() -> None:
    cond = (AGE > 1) & (ADDR.city == "x") | NAME.size().between(1, 2)
    assert [str(x) for x in cond.paths()] == ["age", "address.city", "name"]


# ---------------------------------------------------------------------------- encoding


def test_datetime_is_encoded_by_the_codec() -> None:
    when = datetime(2026, 11, 25, 2, 38, 29, tzinfo=timezone(timedelta(hours=1)))
    assert compiled(WHEN < when)[1]["ExpressionAttributeValues"] == {
        ":v0": {"S": "2026-11-25T01:38:29.000000Z"}
    }


def test_enum_is_its_value() -> None:
    assert compiled(COLOR == Color.RED)[1]["ExpressionAttributeValues"] == {":v0": {"S": "red"}}
    assert compiled(LEVEL >= Level.HIGH)[1]["ExpressionAttributeValues"] == {":v0": {"N": "2"}}


def test_sets_are_sorted() -> None:
    assert compiled(TAGS == {"b", "a", "c"})[1]["ExpressionAttributeValues"] == {
        ":v0": {"SS": ["a", "b", "c"]}
    }
    assert compiled(NUMS == {3, 1, 2})[1]["ExpressionAttributeValues"] == {
        ":v0": {"NS": ["1", "2", "3"]}
    }


def test_decimal_and_nullable() -> None:
    assert compiled(PRICE == Decimal("12.50"))[1]["ExpressionAttributeValues"] == {
        ":v0": {"N": "12.50"}
    }
    assert compiled(NICK == None)[1]["ExpressionAttributeValues"] == {":v0": {"NULL": True}}  # noqa: E711


def test_any_path_encodes_by_value() -> None:
    assert compiled(ANY == {"k": [1, "x"]})[1]["ExpressionAttributeValues"] == {
        ":v0": {"M": {"k": {"L": [{"N": "1"}, {"S": "x"}]}}}
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AGE == "x", "age: expected int, got str 'x'"),
        (lambda: AGE < 1.5, "age: expected int, got float 1.5"),
        (lambda: AGE == None, r"not_exists\(\)"),  # noqa: E711
        (lambda: COLOR == "green", "expected Color member"),
        (lambda: WHEN > datetime(2026, 1, 1), "naive datetime"),
        (lambda: TAGS == set(), "empty set"),
        (lambda: AGE.between(1, "x"), "age: expected int"),
        (lambda: STATUS.is_in("a", 2), "status: expected str, got int 2"),
        (lambda: TAGS < {"a"}, "only numbers, strings and bytes are ordered"),
        (lambda: AGE == (AGE > 1), "cannot compare with a condition"),
    ],
)
def test_build_time_errors(build: Any, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        build()


def test_error_names_the_model() -> None:
    class User:  # stands in for a model class: only __name__ is used
        pass

    age = Path(("age",), compile_codec(int), owner=User, field="age")
    with pytest.raises(ExpressionError, match=r"^User\.age: expected int, got str 'x'$"):
        _ = age == "x"


# ---------------------------------------------------------------------------- truth value


def test_condition_has_no_truth_value() -> None:
    with pytest.raises(TypeError, match="no truth value"):
        bool(AGE > 3)
    with pytest.raises(TypeError, match="no truth value"):
        if AGE == 3:
            pass
    with pytest.raises(TypeError, match=r"& \| ~"):
        _ = 1 < AGE < 3
    with pytest.raises(TypeError):
        _ = (AGE > 1) and (AGE < 3)
    with pytest.raises(TypeError):
        _ = not (AGE > 1)


def test_paths_work_as_dict_keys() -> None:
    # Path == Path is a condition, but its truth is "same location" so dicts work.
    seen = {AGE: 1, NAME: 2}
    assert seen[p("age", int)] == 1
    assert p("age", int) in {AGE}
    assert bool(AGE != NAME)
    assert not bool(AGE == NAME)


def test_combining_with_non_conditions_fails() -> None:
    with pytest.raises(TypeError):
        _ = (AGE > 1) & True  # type: ignore[operator]


def test_repr_is_readable() -> None:
    assert repr(AGE > 3) == "<Compare age > {'N': '3'}>"


# ---------------------------------------------------------------------------- matches()

ITEM: dict[str, Any] = {
    "age": {"N": "30"},
    "name": {"S": "Alice"},
    "price": {"N": "12.50"},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2.0"]},
    "blobs": {"BS": [b"\x01", b"\x02"]},
    "items": {"L": [{"S": "x"}, {"N": "1"}]},
    "address": {"M": {"city": {"S": "Oslo"}, "zip": {"S": "0150"}}},
    "blob": {"B": b"\x00\x01\x02"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "uni": {"S": "\U0001f600"},
}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (AGE == 30, True),
        (AGE == 31, False),
        (AGE != 31, True),
        (AGE > 29, True),
        (AGE >= 30, True),
        (AGE < 30, False),
        (AGE <= 30, True),
        (PRICE == Decimal("12.5"), True),  # N compares as a decimal
        (PRICE > Decimal("9"), True),  # not as text ("12.50" < "9")
        (NAME == "Alice", True),
        (NAME < "Bob", True),
        (NAME > "alice", False),  # 'A' < 'a'
        (p("uni", str) > "\uffff", True),  # code point / UTF-8 order, not UTF-16
        (p("missing", int) == 1, False),
        (p("missing", int) != 1, True),  # <> with a missing attribute is true
        (p("missing", int) < 1, False),
        (p("name", Any) == 1, False),  # different types never equal
        (p("name", Any) != 1, True),
        (p("name", Any) < 1, False),  # nor ordered
        (AGE.between(30, 40), True),
        (AGE.between(31, 40), False),
        (NAME.between("A", "B"), True),
        (AGE.is_in(1, 30), True),
        (AGE.is_in(1, 2), False),
        (NAME.begins_with("Al"), True),
        (NAME.begins_with("al"), False),
        (p("blob", bytes).begins_with(b"\x00\x01"), True),
        (p("missing", str).begins_with("x"), False),
        (TAGS.contains("a"), True),
        (TAGS.contains("z"), False),
        (NUMS.contains(2), True),  # "2.0" in the set
        (p("blobs", set[bytes]).contains(b"\x02"), True),
        (ITEMS.contains("x"), True),
        (ITEMS.contains("y"), False),
        (NAME.contains("lic"), True),
        (AGE.exists(), True),
        (p("missing", int).exists(), False),
        (p("missing", int).not_exists(), True),
        (ADDR.city == "Oslo", True),
        (ADDR.city.exists(), True),
        (ADDR.box.exists(), False),
        (ITEMS[1] == p("items", list[int])[1], True),
        (ITEMS[5].exists(), False),
        (p("age", Any).is_type("N"), True),
        (p("nothing", Any).is_type("NULL"), True),
        (p("flag", bool) == True, True),  # noqa: E712
        (TAGS.size() == 2, True),
        (NAME.size() == 5, True),
        (p("blob", bytes).size() == 3, True),
        (ADDR.size() == 2, True),
        (ITEMS.size() > 1, True),
        (p("missing", str).size() == 0, False),
        (p("age", Any).size() == 2, False),  # numbers have no size
        (TAGS == {"b", "a"}, True),  # sets compare unordered
        (NUMS == {1, 2}, True),
        (p("address", Any) == {"zip": "0150", "city": "Oslo"}, True),
        ((AGE > 1) & (NAME == "Bob"), False),
        ((AGE > 1) | (NAME == "Bob"), True),
        (~(AGE > 1), False),
        (~p("missing", int).exists(), True),
    ],
)
def test_matches(cond: Condition, expected: bool) -> None:
    assert cond.matches(ITEM) is expected


def test_matches_base64_binary() -> None:
    # Raw JSON carries B as base64 text; both forms compare as bytes.
    assert (p("blob", bytes) == b"\x00\x01").matches({"blob": {"B": "AAE="}})
