"""Where and when an item was last written: the origin stamp for last-writer-wins.

```python
async with dynorm.connect(regions=["us-east-1", "us-west-2"], origin=True):
    await order.save()     # the item gets _origin = {"region": "us-east-1", "at": <ms>}

origin = dynorm.origin_of(event)          # Origin(region="us-east-1", at=datetime(...))
if dynorm.is_echo(event, "us-west-2"):    # written elsewhere, replicated here
    return
```

A connection made with ``origin=True`` (or ``origin="attribute_name"``) adds one map
attribute to every item it writes -- ``PutItem``, ``UpdateItem``, the puts of
``BatchWriteItem`` and the puts and updates of ``TransactWriteItems``, so every write
path of dynorm (save, update, upsert, batch, transaction, move) stamps it the same way:
the Region the request was sent to and the client's clock in milliseconds
(``{"region": "us-east-1", "at": 1767225600123}``). Deletes carry no stamp (there is no
item left to carry it). An item put with that attribute holding anything but a stamp (a
field stored under the same name) is refused (`EncodingError`): the stamp would replace
the field's value.

The stamp is information for readers, not the conflict resolution itself: DynamoDB's
global tables resolve concurrent writes by their own internal timestamps, which this
stamp does not set. Stream consumers use it to tell a write made in their own Region
from one replicated from elsewhere (`is_echo`), and to skip the echoes.

A restore is not a new write: `dynorm.backup.import_table` writes inside `unstamped()`,
so the items keep the stamps their export holds (and get none they did not have).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dynorm._types import Request
from dynorm.exceptions import EncodingError

__all__ = ["ORIGIN_ATTRIBUTE", "Origin", "is_echo", "origin_of", "stamp", "unstamped"]

#: The attribute an ``origin=True`` connection writes.
ORIGIN_ATTRIBUTE = "_origin"

_NAME = "#dynorm_origin"
_VALUE = ":dynorm_origin"
_PLACEHOLDER = re.compile(r"#\w+")
_SET = re.compile(r"(^|\s)SET\s+", re.IGNORECASE)
_UNSTAMPED: ContextVar[bool] = ContextVar("dynorm_unstamped", default=False)


@contextmanager
def unstamped() -> Iterator[None]:
    """Writes made inside (and in tasks started inside) get no origin stamp: items are
    written exactly as given, keeping any stamp they hold. For restores, which put back
    items as they were, not new writes (`dynorm.backup.import_table` uses it)."""
    token = _UNSTAMPED.set(True)
    try:
        yield
    finally:
        _UNSTAMPED.reset(token)


@dataclass(frozen=True)
class Origin:
    """The Region and time of an item's last stamped write.

    Attributes:
        region: the Region the write was sent to.
        at: the writing client's clock (UTC, millisecond precision).
    """

    region: str
    at: datetime

    @property
    def millis(self) -> int:
        """``at`` in milliseconds since the epoch, as stored."""
        return int(self.at.timestamp() * 1000)


def _value(region: str, millis: int) -> dict[str, Any]:
    return {"M": {"region": {"S": region}, "at": {"N": str(millis)}}}


def _put(item: Any, attribute: str, value: dict[str, Any], table: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    held = item.get(attribute)
    if held is not None and _stamp_fields(held) is None:
        # a field stored under the stamp's name: the stamp would replace its value
        raise EncodingError(
            f"table {table!r}: the item holds attribute {attribute!r} as data "
            f"({next(iter(held), '?')}), and the connection's origin stamp (origin=) is "
            "written to that attribute, which would lose the value; name the stamp's "
            "attribute otherwise (connect(origin='...')) or store the field under another "
            "name (Field(alias=...))")
    return {**item, attribute: value}


def _stamp_fields(av: Any) -> Mapping[str, Any] | None:
    """The fields of a stamp's value (``{"region": {"S"}, "at": {"N"}}``), else None."""
    fields = av.get("M") if isinstance(av, Mapping) else None
    if not isinstance(fields, Mapping) or set(fields) != {"region", "at"}:
        return None
    return fields


def _update(body: Mapping[str, Any], attribute: str, value: dict[str, Any]
            ) -> dict[str, Any]:
    expression = str(body.get("UpdateExpression") or "")
    names = body.get("ExpressionAttributeNames") or {}
    if any(names.get(p) == attribute for p in _PLACEHOLDER.findall(expression)) or (
            re.search(rf"(?<![#:\w]){re.escape(attribute)}(?!\w)", expression)):
        # the update expression names an attribute under the stamp's name: a field, or
        # dynorm's own (entity marker, schema version, migration marker); a condition
        # reading the stamp (last-writer-wins) is fine
        raise EncodingError(
            f"table {body.get('TableName')!r}: this update writes attribute "
            f"{attribute!r}, and the connection's origin stamp (origin=) is written to "
            "that attribute too, which would replace the value; name the stamp's "
            "attribute otherwise (connect(origin='...'); dynorm's own attributes such "
            "as '_type', '_schema' and '_migrations' cannot be used)")
    assignment = f"{_NAME} = {_VALUE}"
    match = _SET.search(expression)
    if match:
        expression = (expression[:match.end()] + assignment + ", "
                      + expression[match.end():])
    else:
        expression = f"SET {assignment} {expression}".strip()
    return {**body, "UpdateExpression": expression,
            "ExpressionAttributeNames": {**(body.get("ExpressionAttributeNames") or {}),
                                         _NAME: attribute},
            "ExpressionAttributeValues": {**(body.get("ExpressionAttributeValues") or {}),
                                          _VALUE: value}}


def stamp(operation: str, payload: Request, attribute: str, region: str, millis: int
          ) -> Request:
    """``payload`` with the origin stamp on every item it writes (a new dict; the
    payload itself is not changed). Other operations come back as they are, and every
    operation inside `unstamped()`."""
    if _UNSTAMPED.get():
        return payload
    value = _value(region, millis)
    if operation == "PutItem":
        return {**payload, "Item": _put(payload.get("Item"), attribute, value,
                                        payload.get("TableName"))}
    if operation == "UpdateItem":
        return _update(payload, attribute, value)
    if operation == "BatchWriteItem":
        requests = {}
        for table, writes in (payload.get("RequestItems") or {}).items():
            requests[table] = [
                {"PutRequest": {**w["PutRequest"],
                                "Item": _put(w["PutRequest"].get("Item"), attribute, value,
                                             table)}}
                if isinstance(w, Mapping) and "PutRequest" in w else w
                for w in writes
            ]
        return {**payload, "RequestItems": requests}
    if operation == "TransactWriteItems":
        actions = []
        for action in payload.get("TransactItems") or ():
            if "Put" in action:
                put = action["Put"]
                action = {"Put": {**put, "Item": _put(put.get("Item"), attribute, value,
                                                      put.get("TableName"))}}
            elif "Update" in action:
                action = {"Update": _update(action["Update"], attribute, value)}
            actions.append(action)
        return {**payload, "TransactItems": actions}
    return payload


def origin_of(source: Any, attribute: str = ORIGIN_ATTRIBUTE) -> Origin | None:
    """The origin stamp of a wire item, a stream record or a `ChangeEvent` (its new
    image, else its old one); ``None`` when it carries none.

    Args:
        source: ``{"attr": {"S": ...}, ...}``, a DynamoDB Streams record, or a
            ``ChangeEvent`` (whose ``record`` is read).
        attribute: the stamp's attribute (``origin=`` of the connection).
    """
    record = getattr(source, "record", source)
    if not isinstance(record, Mapping):
        return None
    images = record.get("dynamodb")
    if isinstance(images, Mapping):
        item = images.get("NewImage") or images.get("OldImage") or {}
    else:
        item = record
    stamp_value = item.get(attribute) if isinstance(item, Mapping) else None
    fields = stamp_value.get("M") if isinstance(stamp_value, Mapping) else None
    if not isinstance(fields, Mapping):
        return None
    try:
        region = fields["region"]["S"]
        millis = int(fields["at"]["N"])
    except (KeyError, TypeError, ValueError):
        return None
    return Origin(region, datetime.fromtimestamp(millis / 1000, tz=timezone.utc))


def is_echo(source: Any, region: str, attribute: str = ORIGIN_ATTRIBUTE) -> bool:
    """Whether a change seen in ``region``'s stream was written in another Region (and
    replicated here): a consumer that handles each change once, in the Region that
    made it, skips these. A change without a stamp is not an echo."""
    record = getattr(source, "record", source)
    if isinstance(record, Mapping) and record.get("eventName") == "REMOVE":
        return False  # a delete carries no stamp: its old image's is another write's
    origin = origin_of(source, attribute)
    return origin is not None and origin.region != region
