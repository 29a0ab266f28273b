"""Stream records as typed change events.

A DynamoDB Streams record (from ``GetRecords`` or from a Lambda event) becomes a
[`ChangeEvent`][dynorm.streams.ChangeEvent] whose images are model instances decoded with the
model's codec::

    ChangeEvent(kind="modify", old=User(user_id="u1", age=3), new=User(user_id="u1", age=4),
                keys={"user_id": "u1"}, sequence_number="1100...", ...)

What each stream view type gives:

================== =========================== ============================ ===============
view type          insert                      modify                       remove
================== =========================== ============================ ===============
NEW_AND_OLD_IMAGES ``new``                     ``old`` and ``new``          ``old``
NEW_IMAGE          ``new``                     ``new``                      keys only
OLD_IMAGE          keys only                   ``old``                      ``old``
KEYS_ONLY          keys only                   keys only                    keys only
================== =========================== ============================ ===============

``keys`` is always filled; an image the view type does not carry is ``None``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import pydantic

from dynorm.exceptions import DynormError, ValidationFailed
from dynorm.schema.classes import meta_of
from dynorm.schema.partial import partial_value
from dynorm.security import ready_to_read

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "ChangeEvent",
    "EventKind",
    "FailedRecord",
    "StreamError",
    "decode_record",
    "load_keys",
    "pick_model",
]

M = TypeVar("M", bound="Model")

EventKind = Literal["insert", "modify", "remove"]
"""What happened to the item."""

_KINDS: dict[str, EventKind] = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


class StreamError(DynormError):
    """A stream cannot be read: the table has no stream, a record is malformed, ..."""


@dataclass(frozen=True)
class ChangeEvent(Generic[M]):
    """One change of one item, decoded with its model.

    Attributes:
        kind: ``"insert"``, ``"modify"`` or ``"remove"``.
        model: the model class the table belongs to.
        keys: the item's key values by field name (``{"user_id": "u1"}``), always present.
        old: the item before the change (modify/remove, when the view type carries it).
        new: the item after the change (insert/modify, when the view type carries it).
        sequence_number: the record's sequence number (a decimal string; compare as int).
        approximate_creation_time: when the change was made (aware, UTC; second or
            millisecond precision depending on the source).
        table: the physical table name (connection prefix included).
        shard_id: the shard the record came from (``None`` in the Lambda adapter).
        record: the raw record, as received.
    """

    kind: EventKind
    model: type[M]
    keys: dict[str, Any]
    old: M | None
    new: M | None
    sequence_number: str
    approximate_creation_time: datetime
    table: str
    shard_id: str | None = None
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class FailedRecord:
    """A record that could not be delivered, as passed to ``on_error`` callbacks.

    Attributes:
        reason: ``"invalid"`` (an image does not fit the model: the record is skipped
            and checkpointed past), ``"handler"`` (a handler failed on every attempt).
        error: the exception (``ValidationFailed`` for invalid records).
        model: the model class of the record's table.
        table: the physical table name.
        keys: the item's key attributes in wire form (``{"user_id": {"S": "u1"}}``).
        sequence_number: the record's sequence number.
        shard_id: the shard (``None`` in the Lambda adapter).
        event: the decoded event (``None`` for invalid records).
        handler: the qualified name of the failing handler (``None`` for invalid records).
        attempts: how many times the handler ran.
        stopped: True when the failure stopped the shard (``on_failure="stop"``).
        record: the raw record.
    """

    reason: Literal["invalid", "handler"]
    error: BaseException
    model: type[Model]
    table: str
    keys: dict[str, Any]
    sequence_number: str
    shard_id: str | None = None
    event: ChangeEvent[Any] | None = None
    handler: str | None = None
    attempts: int = 0
    stopped: bool = False
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_time(value: Any) -> datetime:
    """ApproximateCreationDateTime as an aware UTC datetime.

    botocore gives a datetime; the raw JSON API and Lambda events give epoch seconds.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, (int, float, Decimal)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except ValueError:
            return parse_time(datetime.fromisoformat(value))
    raise StreamError(f"unreadable ApproximateCreationDateTime: {value!r}")


def lambda_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda event image (JSON, binary as base64 text) in botocore's form (bytes)."""
    return {name: _unbase64(av) for name, av in image.items()}


def _unbase64(av: Any) -> Any:
    if not isinstance(av, dict) or len(av) != 1:
        return av
    (tag, value), = av.items()
    if tag == "B" and isinstance(value, str):
        return {"B": base64.b64decode(value)}
    if tag == "BS":
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value]}
    if tag == "M":
        return {"M": {k: _unbase64(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_unbase64(v) for v in value]}
    return av


_key_adapters: dict[tuple[type[Model], str], pydantic.TypeAdapter[Any]] = {}


def pick_model(models: Sequence[type[Model]], record: Mapping[str, Any]) -> type[Model] | None:
    """The model a record belongs to, among the models sharing its table; None when the
    record is another entity's (single-table design) -- not ours, not an error.

    With entities, the image's entity attribute decides; KEYS_ONLY records carry no image,
    so the key templates decide (a key must parse with exactly one model's templates).
    """
    if len(models) == 1 and meta_of(models[0]).entity is None:
        return models[0]
    data = record.get("dynamodb") or {}
    image = data.get("NewImage") or data.get("OldImage")
    if image is not None:
        for model in models:
            meta = meta_of(model)
            if meta.entity is None or image.get(meta.entity_attr) == {"S": meta.entity}:
                return model
        return None
    keys = data.get("Keys") or {}
    fitting = [m for m in models if _keys_fit(m, keys)]
    return fitting[0] if len(fitting) == 1 else None


def _keys_fit(model: type[Model], keys: Mapping[str, Any]) -> bool:
    for k in meta_of(model).key_attrs:
        av = keys.get(k.attr)
        if av is None:
            return False
        if k.template is not None:
            try:
                k.template.parse(str(av.get("S", "")))
            except DynormError:
                return False
    return True


def decode_keys(model: type[Model], keys: Mapping[str, Any]) -> dict[str, Any]:
    """Key values by field name, validated to the fields' types where they fit.

    Keys computed by templates give back the fields they were made from.
    """
    out: dict[str, Any] = {}
    for k in meta_of(model).key_attrs:
        av = keys.get(k.attr)
        if av is None:
            continue
        if k.template is not None:
            try:
                parts = k.template.parse(str(av.get("S", "")))
            except DynormError:
                out[k.attr] = av.get("S")
                continue
            for name, text in parts.items():
                if not k.template.lossless(name):
                    continue  # the key holds it only in part (e.g. the day): see the images
                try:
                    out[name] = partial_value(model, name, text)
                except pydantic.ValidationError:
                    out[name] = text
            continue
        raw = k.codec.decode(av)
        adapter = _key_adapters.get((model, k.field))
        if adapter is None:
            annotation = model.model_fields[k.field].annotation
            adapter = pydantic.TypeAdapter(annotation if annotation is not None else Any)
            _key_adapters[(model, k.field)] = adapter
        try:
            out[k.field] = adapter.validate_python(raw)
        except pydantic.ValidationError:
            out[k.field] = raw  # the images will fail too and report it
    return out


async def load_keys(model: type[Model], record: Mapping[str, Any]) -> None:
    """Load the data keys the record's encrypted values need (a KMS keyring), before
    `decode_record()`; a keyring that cannot answer raises (the record is not skipped)."""
    meta = meta_of(model)
    if not meta.loading:
        return
    data = record.get("dynamodb") if isinstance(record, Mapping) else None
    if isinstance(data, Mapping):
        images = [data[k] for k in ("NewImage", "OldImage") if isinstance(data.get(k), dict)]
        await ready_to_read(meta.loading, images)


def decode_record(
    model: type[M], record: Mapping[str, Any], *, table: str, shard_id: str | None = None
) -> ChangeEvent[M]:
    """Decode one stream record (botocore form: binary values as bytes).

    Args:
        model: the model of the record's table.
        record: the record (``eventName``, ``dynamodb.{Keys,NewImage,OldImage,...}``).
        table: the physical table name, for messages.
        shard_id: the shard the record was read from.

    Raises:
        ValidationFailed: an image does not fit the model (naming table and key).
        StreamError: the record is not a DynamoDB Streams record.
    """
    try:
        kind = _KINDS[record["eventName"]]
        data = record["dynamodb"]
        sequence = str(data["SequenceNumber"])
    except (KeyError, TypeError) as exc:
        raise StreamError(f"not a DynamoDB Streams record (missing {exc}): {record!r:.200}"
                          ) from exc
    keys = data.get("Keys") or {}
    when = data.get("ApproximateCreationDateTime")
    created = parse_time(when) if when is not None else datetime.now(timezone.utc)
    try:
        new = model.from_item(data["NewImage"]) if "NewImage" in data else None
        old = model.from_item(data["OldImage"]) if "OldImage" in data else None
    except ValidationFailed as exc:
        # Name the physical table (prefix included) where the record came from.
        exc.table = table
        raise
    return ChangeEvent(
        kind=kind,
        model=model,
        keys=decode_keys(model, keys),
        old=old,
        new=new,
        sequence_number=sequence,
        approximate_creation_time=created,
        table=table,
        shard_id=shard_id,
        record=record,
    )
