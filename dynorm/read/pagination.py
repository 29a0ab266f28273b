"""Pages and signed cursors.

A cursor is an opaque URL-safe string that encodes where the next page starts (a
DynamoDB ``ExclusiveStartKey``) together with the table, index and model it belongs
to, signed with HMAC-SHA256 under the connection's ``cursor_secret``. A web client can
hand it back but cannot read a forged key into it or reuse it for another model.

A query's cursor is also bound to the key value queried: its position must lie in the
key range of the query it is handed to (`check_position()`). The partition key value
must be the same (a cursor of ``User.query(User.org == "a")`` is refused by a query of
``org == "b"``), and the sort key must satisfy the query's sort-key condition, which
may differ from the one the cursor came from (``created >= now - 1 day``, recomputed on
every request, keeps paging while the position stays inside it). A position outside
the range is the real hazard: DynamoDB refuses it, and an emulator may answer items of
the wrong range. Filters, projection, direction and limit are not bound: a cursor is a
position in the key range, not a snapshot of the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dynorm._types import Item, Response
from dynorm.exceptions import DynormError
from dynorm.expressions import KeyCondition
from dynorm.observe.capacity import Capacity, parse_capacity

__all__ = [
    "DONE",
    "InvalidCursor",
    "Page",
    "check_position",
    "decode_cursor",
    "decode_positions",
    "encode_cursor",
    "encode_positions",
    "read_capacity",
]

T = TypeVar("T")


class InvalidCursor(DynormError, ValueError):
    """A cursor was altered, forged, signed with another secret, or made for another query."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results.

    Attributes:
        items: the models of this page.
        cursor: pass to ``.page(cursor=...)`` for the next page; None on the last page.
        capacity: what the page's requests consumed, with ``connect(capacity=True)``
            (else None).
    """

    items: Sequence[T]
    cursor: str | None
    capacity: Capacity | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def read_capacity(operation: str, response: Response,
                  before: Capacity | None = None) -> Capacity | None:
    """The capacity a Query or Scan answer reports, added to ``before`` (earlier pages)."""
    raw = response.get("ConsumedCapacity")
    if not raw:
        return before
    (capacity,) = parse_capacity(operation, raw)
    return capacity if before is None else before + capacity


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jsonable(key: Item) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, av in key.items():
        ((tag, value),) = av.items()
        out[name] = {"B64": _b64(bytes(value))} if tag == "B" else av
    return out


def _wire(key: dict[str, Any]) -> Item:
    out: Item = {}
    for name, av in key.items():
        if not isinstance(av, dict) or len(av) != 1:
            raise InvalidCursor("cursor holds a malformed key")
        ((tag, value),) = av.items()
        if tag == "B64":
            out[name] = {"B": _unb64(value)}
        elif tag in ("S", "N") and isinstance(value, str):
            out[name] = {tag: value}
        else:
            raise InvalidCursor("cursor holds a malformed key")
    return out


def _sign(data: dict[str, Any], secret: bytes) -> str:
    payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{_b64(mac)}"


def encode_cursor(key: Item, scope: str, secret: bytes) -> str:
    """Sign ``key`` for ``scope`` (e.g. ``"Score/scores/by_game"``)."""
    return _sign({"s": scope, "k": _jsonable(key)}, secret)


#: A position of `encode_positions()`: the stream is read to its end.
DONE = "done"


def encode_positions(positions: Sequence[Item | str | None], scope: str,
                     secret: bytes) -> str:
    """Sign several streams' positions (a scatter-gather read's shards) as one cursor:
    each a start key, None (not started) or `DONE`."""
    state = [p if p is None or p == DONE else _jsonable(p)  # type: ignore[arg-type]
             for p in positions]
    return _sign({"s": scope, "p": state}, secret)


def decode_positions(cursor: str, scope: str, secret: bytes,
                     count: int) -> list[Item | str | None]:
    """The ``count`` positions in a cursor of `encode_positions()`.

    Raises:
        InvalidCursor: bad signature, bad shape, or a cursor of another scope.
    """
    data = _verified(cursor, scope, secret)
    state = data.get("p")
    if not isinstance(state, list) or len(state) != count:
        raise InvalidCursor("cursor holds no positions for this query")
    if not all(p is None or p == DONE or isinstance(p, dict) for p in state):
        raise InvalidCursor("cursor holds a malformed position")
    return [p if p is None or p == DONE else _wire(p) for p in state]


def decode_cursor(cursor: str, scope: str, secret: bytes) -> Item:
    """The start key in ``cursor``.

    Raises:
        InvalidCursor: bad signature, bad shape, or a cursor of another scope.
    """
    data = _verified(cursor, scope, secret)
    if not isinstance(data.get("k"), dict):
        raise InvalidCursor("cursor holds no key for this query")
    return _wire(data["k"])


def _verified(cursor: str, scope: str, secret: bytes) -> dict[str, Any]:
    payload, _, mac = cursor.partition(".")
    try:
        expected = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:16]
        if not mac or not hmac.compare_digest(expected, _unb64(mac)):
            raise InvalidCursor("cursor signature does not match: it was altered or forged")
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeError) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("cursor is not a dynorm cursor") from exc
    if not isinstance(data, dict):
        raise InvalidCursor("cursor is not a dynorm cursor")
    if data.get("s") != scope:
        raise InvalidCursor(
            f"cursor belongs to {data.get('s')!r}, not to {scope!r}: cursors only continue "
            "the query they came from"
        )
    return data


def check_position(start: Item, key: KeyCondition, model: str) -> None:
    """Refuse a cursor's start key that lies outside the key range of the query it is
    handed to: another partition key value, or a sort key the query's sort-key
    condition excludes.

    Raises:
        InvalidCursor: naming the model and the key attribute.
    """
    name, _ = key.partition
    where = f"index {key.index_name!r}" if key.index_name else "the table"
    if not KeyCondition(key.partition, None, key.index_name).matches(start):
        raise InvalidCursor(
            f"{model}: cursor was made by a query of another {name!r} value (partition "
            f"key of {where}): a cursor only continues the query of the key value it "
            "came from; start that query without a cursor"
        )
    if key.sort is not None and not key.matches(start):
        sort = next(iter(key.sort.paths())).name
        raise InvalidCursor(
            f"{model}: cursor's position lies outside this query's condition on sort key "
            f"{sort!r} of {where}: a cursor continues only a query whose key range holds "
            "its position; start this query without a cursor"
        )
