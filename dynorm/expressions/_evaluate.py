"""DynamoDB's comparison semantics on wire values, for ``Condition.matches``.

The rules, as the server applies them:

* values of different types are never equal and never ordered (the comparison is
  false, not an error, when an attribute's type differs from the operand's);
* ``N`` compares as a decimal (``{"N": "1.0"} == {"N": "1"}``), ``S`` by code point
  (the same order as UTF-8 bytes, not UTF-16's: ``"\uffff" < "\U00010000"``), ``B`` by
  unsigned bytes; only these three are ordered;
* sets are equal when they hold the same elements, in any order; lists compare element
  by element in order, maps key by key;
* ``size`` is defined for S, B, sets, L and M only; the size of a string is its length
  in UTF-16 code units (a character outside the BMP counts 2), of bytes their number;
* ``contains`` is a substring test on S and on B (bytes), membership in a set (the
  operand of the set's element type) and element equality in a list;
* ``begins_with`` takes S or B, and is false on any other attribute type.

Some expressions are refused before any item is read (ValidationException): a literal
operand that an operator cannot take, see `rejection()`. Checked against DynamoDB
Local (AWS's own emulator) by tests/integration/test_differential_types.py.

Binary values may be ``bytes`` (as boto returns them) or base64 text (raw JSON).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from dynorm._types import AttributeValue

__all__ = ["begins_with", "contains", "equal", "order", "rejection", "resolve", "size_of"]

ORDERED = ("N", "S", "B")
TYPE_NAMES = ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M")
_ORDER_OPS = ("<", "<=", ">", ">=")


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
    """``size(path)``: UTF-16 code units of S, bytes of B, elements of sets/L/M; else None."""
    tag, raw = _split(av)
    if tag == "B":
        return len(_bytes(raw))
    if tag == "S":
        return len(raw.encode("utf-16-le")) // 2
    if tag in ("SS", "NS", "BS", "L", "M"):
        return len(raw)
    return None


def contains(container: AttributeValue, operand: AttributeValue) -> bool:
    """``contains(path, operand)``: substring of S or B, member of a set, element of L."""
    tc, rc = _split(container)
    to, ro = _split(operand)
    if tc == "S":
        return to == "S" and ro in rc
    if tc == "B":
        return to == "B" and _bytes(ro) in _bytes(rc)
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


def rejection(op: str, operands: Sequence[AttributeValue | None]) -> str | None:
    """Why DynamoDB refuses ``op`` with these operands before reading any item, or None.

    ``op`` is a comparison, ``"BETWEEN"``, ``"IN"``, ``"begins_with"``, ``"contains"`` or
    ``"attribute_type"``; ``operands`` are in expression order, each the literal value
    or None for a path or ``size(path)`` (known per item only, so never refused).
    ``IN``, ``contains``, ``=`` and ``<>`` take literals of every type.
    """
    last = operands[-1] if operands else None
    if op in _ORDER_OPS or op == "BETWEEN":
        for av in operands:
            if av is not None and _split(av)[0] not in ORDERED:
                return f"{op}: a {_split(av)[0]} value is not ordered (only N, S and B are)"
        if op == "BETWEEN" and len(operands) == 3:
            lo, hi = operands[1], operands[2]
            if lo is not None and hi is not None:
                if _split(lo)[0] != _split(hi)[0]:
                    return "BETWEEN: the bounds have different types"
                if (order(lo, hi) or 0) > 0:
                    return "BETWEEN: the low bound is above the high bound"
    elif last is None:
        return None
    elif op == "begins_with" and _split(last)[0] not in ("S", "B"):
        return f"begins_with: the prefix must be S or B, not {_split(last)[0]}"
    elif op == "attribute_type" and (_split(last)[0] != "S" or last["S"] not in TYPE_NAMES):
        return f"attribute_type: {last!r} is not one of {', '.join(TYPE_NAMES)}"
    return None
