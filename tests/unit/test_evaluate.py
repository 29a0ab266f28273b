"""``_evaluate``: DynamoDB's semantics on wire values, as DynamoDB Local applies them.

Each case here was first seen as a disagreement between ``Condition.matches`` and the
server in tests/integration/test_differential_types.py.
"""

from __future__ import annotations

import pytest

from dynorm._types import AttributeValue
from dynorm.expressions import _evaluate as ev


@pytest.mark.parametrize(("container", "sub", "expected"), [
    (b"\x01\x02\x03", b"\x02\x03", True),   # a byte subsequence (the known bug)
    (b"\x01\x02\x03", b"\x01\x02\x03", True),
    (b"\xff\x00", b"\x00", True),
    (b"\x00", b"", True),                   # the empty value is in every value
    (b"", b"", True),
    (b"\x01\x02\x03", b"\x01\x03", False),  # not contiguous
    (b"\x02", b"\x02\x03", False),
])
def test_contains_on_binary_is_a_byte_substring(container: bytes, sub: bytes,
                                                expected: bool) -> None:
    assert ev.contains({"B": container}, {"B": sub}) is expected


def test_contains_on_binary_reads_base64_too() -> None:
    assert ev.contains({"B": "AQID"}, {"B": "AgM="}) is True  # b"\x01\x02\x03", b"\x02\x03"


@pytest.mark.parametrize(("container", "operand"), [
    ({"B": b"ab"}, {"S": "a"}),   # a string in bytes: false (types differ)
    ({"S": "ab"}, {"B": b"a"}),   # bytes in a string: false
    ({"B": b"1"}, {"N": "1"}),
])
def test_contains_needs_the_same_scalar_type(container: AttributeValue,
                                             operand: AttributeValue) -> None:
    assert ev.contains(container, operand) is False


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0), ("a", 1), ("é", 1), ("\u07ff", 1), ("\uffff", 1),
    ("\U00010000", 2),      # outside the BMP: two UTF-16 code units
    ("\U0001f600x", 3),
])
def test_size_of_a_string_counts_utf16_code_units(text: str, expected: int) -> None:
    assert ev.size_of({"S": text}) == expected


@pytest.mark.parametrize(("op", "operands", "rejected"), [
    ("<", [None, {"N": "1"}], False),
    ("<", [None, {"S": "a"}], False),
    ("<", [None, {"B": b"a"}], False),
    ("<", [None, {"BOOL": True}], True),
    (">=", [None, {"NULL": True}], True),
    ("<=", [None, {"SS": ["a"]}], True),
    (">", [None, {"L": []}], True),
    ("<", [None, {"M": {}}], True),
    ("=", [None, {"M": {}}], False),
    ("<>", [None, {"SS": ["a"]}], False),
    ("BETWEEN", [None, {"N": "1"}, {"N": "2"}], False),
    ("BETWEEN", [None, {"N": "1"}, {"N": "1"}], False),
    ("BETWEEN", [None, {"N": "2"}, {"N": "1"}], True),           # low above high
    ("BETWEEN", [None, {"S": "\U00010000"}, {"S": "\uffff"}], True),  # by code point
    ("BETWEEN", [None, {"S": "\uffff"}, {"S": "\U00010000"}], False),
    ("BETWEEN", [None, {"N": "1"}, {"S": "a"}], True),           # bounds of two types
    ("BETWEEN", [None, {"BOOL": True}, {"BOOL": True}], True),   # not ordered
    ("BETWEEN", [None, None, {"BOOL": True}], True),
    ("BETWEEN", [None, None, {"N": "1"}], False),
    ("begins_with", [None, {"S": "a"}], False),
    ("begins_with", [None, {"B": b"a"}], False),
    ("begins_with", [None, {"N": "1"}], True),
    ("begins_with", [None, {"SS": ["a"]}], True),
    ("contains", [None, {"SS": ["a"]}], False),
    ("contains", [None, {"M": {}}], False),
    ("attribute_type", [None, {"S": "NS"}], False),
    ("attribute_type", [None, {"S": "ns"}], True),
    ("attribute_type", [None, {"S": "X"}], True),
])
def test_rejection(op: str, operands: list[AttributeValue | None], rejected: bool) -> None:
    assert (ev.rejection(op, operands) is not None) is rejected


def test_matches_refuses_what_dynamodb_refuses() -> None:
    """Conditions assembled from the classes directly (the builders refuse these already):
    matches() must not answer for an expression the server never evaluates."""
    from dynorm import ExpressionError
    from dynorm.codec.core import compile_codec
    from dynorm.expressions.conditions import BeginsWith, Between, Compare, IsType
    from dynorm.expressions.operands import Value
    from dynorm.expressions.paths import Path

    flag = Path(("flag",), compile_codec(bool))
    item = {"flag": {"BOOL": True}}
    for cond in (Compare("<", flag, Value({"BOOL": False})),
                 Between(flag, Value({"N": "1"}), Value({"S": "a"})),
                 BeginsWith(flag, Value({"N": "1"})),
                 IsType(flag, "BOOLEAN")):
        with pytest.raises(ExpressionError, match="DynamoDB refuses"):
            cond.matches(item)
    assert Compare("=", flag, Value({"BOOL": True})).matches(item)
