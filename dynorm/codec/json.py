"""DynamoDB's JSON wire form: compact UTF-8 JSON with ``bytes`` as base64.

The fast transport serializes requests with `dumps()`; the model layer uses it too,
for the 400 KB size check (the JSON text of an item is never smaller than DynamoDB's size
of it) and for items written in batches, whose JSON then travels as a pre-encoded
`Fragment` instead of a tree of dicts.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

__all__ = ["Fragment", "dumps", "loads"]

_b64encode = base64.b64encode
_orjson_dumps = orjson.dumps

#: Pre-encoded JSON placed as-is into what `dumps()` writes.
Fragment = orjson.Fragment

loads = orjson.loads


def _default(value: Any) -> Any:
    """JSON for what the codec leaves as Python objects: bytes (base64) and sets."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, bytes as base64."""
    return _orjson_dumps(value, default=_default)
