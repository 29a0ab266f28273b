"""DynamoDB's comparison semantics on wire values, for ``Condition.matches``.

The rules, as the server applies them:

* values of different types are never equal and never ordered;
* ``N`` compares as a decimal (``{"N": "1.0"} == {"N": "1"}``), ``S`` by code point
  (the same order as UTF-8 bytes), ``B`` by bytes; only these three are ordered;
* sets are equal when they hold the same elements, in any order; lists and maps
  compare element by element;
* ``size`` is defined for S, B, sets, L and M only.

Binary values may be ``bytes`` (as boto returns them) or base64 text (raw JSON).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dynorm._types import AttributeValue

__all__ = ["begins_with", "contains", "equal", "order", "resolve", "size_of"]


def resolve(
    item: Mapping[str, AttributeValue], elements: tuple[str | int, ...]
) -> AttributeValue | None:
    """The value at a path in a wire item, or None when any step is missing."""
    cur: AttributeValue | None = item.get(elements[0])  # type: ignore[arg-type]
    for e in elements[1:]:
        if cur is None:
            return None
        if isinstance(e, int):
            lst = cur.get("L")
            if lst is None or e >= len(lst):
                return None
            cur = lst[e]
        else:
            m = cur.get("M")
            if m is None:
                return None
            cur = m.get(e)
    return cur


def _split(av: AttributeValue) -> tuple[str, Any]:
    for tag, raw in av.items():
        return tag, raw
    raise ValueError("empty AttributeValue")


def _bytes(raw: Any) -> bytes:
    return base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)


def _scalar(tag: str, raw: Any) -> Any:
    """A hashable, correctly ordered Python form of one S, N or B value."""
    if tag == "N":
        return Decimal(raw)
    if tag == "B":
        return _bytes(raw)
    return raw


def equal(a: AttributeValue, b: AttributeValue) -> bool:
    """DynamoDB ``=`` between two present values."""
    ta, ra = _split(a)
    tb, rb = _split(b)
    if ta != tb:
        return False
    if ta in ("N", "B"):
        return bool(_scalar(ta, ra) == _scalar(tb, rb))
    if ta in ("SS", "NS", "BS"):
        return {_scalar(ta[0], x) for x in ra} == {_scalar(ta[0], x) for x in rb}
    if ta == "L":
        return len(ra) == len(rb) and all(equal(x, y) for x, y in zip(ra, rb, strict=True))
    if ta == "M":
        return bool(ra.keys() == rb.keys()) and all(equal(ra[k], rb[k]) for k in ra)
    return bool(ra == rb)  # S, BOOL, NULL


def order(a: AttributeValue, b: AttributeValue) -> int | None:
    """-1, 0 or 1 comparing two values of one ordered type (N, S, B); None otherwise."""
    ta, ra = _split(a)
    tb, rb = _split(b)
    if ta != tb or ta not in ("N", "S", "B"):
        return None
    x, y = _scalar(ta, ra), _scalar(tb, rb)
    return int(x > y) - int(x < y)


def size_of(av: AttributeValue) -> int | None:
    """``size(path)``: characters of S, bytes of B, elements of sets/L/M; else None."""
    tag, raw = _split(av)
    if tag == "B":
        return len(_bytes(raw))
    if tag in ("S", "SS", "NS", "BS", "L", "M"):
        return len(raw)
    return None


def contains(container: AttributeValue, operand: AttributeValue) -> bool:
    """``contains(path, operand)``: substring of S, member of a set, element of L."""
    tc, rc = _split(container)
    to, ro = _split(operand)
    if tc == "S":
        return to == "S" and ro in rc
    if tc in ("SS", "NS", "BS"):
        if to != tc[0]:
            return False
        wanted = _scalar(to, ro)
        return any(_scalar(to, x) == wanted for x in rc)
    if tc == "L":
        return any(equal(x, operand) for x in rc)
    return False


def begins_with(value: AttributeValue, prefix: AttributeValue) -> bool:
    """``begins_with(path, prefix)`` on S or B values of the same type."""
    tv, rv = _split(value)
    tp, rp = _split(prefix)
    if tv != tp or tv not in ("S", "B"):
        return False
    if tv == "S":
        return bool(rv.startswith(rp))
    return _bytes(rv).startswith(_bytes(rp))
