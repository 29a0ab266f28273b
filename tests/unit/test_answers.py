"""The fast transport's reading of an answer body: the binary pre-check."""

from __future__ import annotations

import pytest

from dynorm.transport._answers import decode_binary, has_binary


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"Item":{"b":{"B":"AAE="}}}', True),
    (b'{"Item":{"b":{"BS":["AAE="]}}}', True),
    (b'{"Item":{"b":{"BOOL":true},"s":{"S":"BSX"}}}', False),
    (b'{"Items":[]}', False),
    (b'{"Item":{"s":{"S":"B"}}}', True),  # a false alarm only costs the walk
])
def test_has_binary_finds_every_binary_tag(body: bytes, expected: bool) -> None:
    assert has_binary(body) is expected


def test_decode_binary_turns_base64_values_into_bytes_only_under_their_tags() -> None:
    answer = {"Item": {"b": {"B": "AAE="}, "bs": {"BS": ["AAE=", "Ag=="]},
                       "s": {"S": "B"}, "m": {"M": {"B": {"S": "text"}}}}}
    decode_binary(answer)
    assert answer == {"Item": {"b": {"B": b"\x00\x01"}, "bs": {"BS": [b"\x00\x01", b"\x02"]},
                               "s": {"S": "B"}, "m": {"M": {"B": {"S": "text"}}}}}
