"""Run a listener's subscriptions inside AWS Lambda (DynamoDB Streams event source).

```python
listener = StreamListener(User)

@listener.on(User, "insert")
async def welcome(event: ChangeEvent[User]) -> None: ...

handler = sync_lambda_handler(listener, connect={})   # the Lambda entry point
```

Lambda reads the shards and keeps the checkpoints; the adapter decodes each record
of the batch into the same [`ChangeEvent`][dynorm.streams.ChangeEvent] and runs the same
handlers, in order. Enable *ReportBatchItemFailures* on the event source mapping: the
result lists the sequence number of the first record whose handlers failed (after their
retries, with ``on_failure="stop"``) and of every record after it, which were not
delivered, so Lambda retries from there and order is kept. Records that do not fit
the model go to the ``on_error`` callbacks and count as done.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from dynorm.connection import Connection, _current, get_connection
from dynorm.exceptions import ConnectionNotConfigured
from dynorm.schema.classes import meta_of
from dynorm.security import DecryptionFailed
from dynorm.streams.events import (
    FailedRecord,
    StreamError,
    decode_record,
    lambda_image,
    load_keys,
    pick_model,
)

if TYPE_CHECKING:
    from dynorm.model import Model
    from dynorm.streams.listener import StreamListener

__all__ = ["AsyncLambdaHandler", "lambda_handler", "sync_lambda_handler", "table_from_arn"]

log = logging.getLogger(__name__)

AsyncLambdaHandler = Callable[[Mapping[str, Any], Any], Awaitable[dict[str, Any]]]
"""``async (event, context) -> {"batchItemFailures": [...]}``."""


def table_from_arn(arn: str) -> str:
    """The table name in ``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL``.

    Raises:
        StreamError: the ARN is not a DynamoDB stream or table ARN.
    """
    _, sep, rest = arn.partition(":table/")
    name = rest.split("/", 1)[0]
    if not sep or not name or not arn.startswith("arn:"):
        raise StreamError(f"not a DynamoDB stream ARN: {arn!r}")
    return name


def _prefix(table_prefix: str | None) -> str:
    if table_prefix is not None:
        return table_prefix
    try:
        return get_connection().table_prefix
    except ConnectionNotConfigured:
        return os.environ.get("DYNORM_TABLE_PREFIX", "")


def lambda_handler(
    listener: StreamListener, *, table_prefix: str | None = None
) -> AsyncLambdaHandler:
    """An async Lambda handler running ``listener``'s subscriptions on stream events.

    Args:
        listener: the listener whose models, handlers and error callbacks to use.
        table_prefix: how physical table names map to models' (``prefix + table``);
            default: the current connection's prefix, else ``DYNORM_TABLE_PREFIX``.

    Returns:
        ``async (event, context) -> {"batchItemFailures": [{"itemIdentifier": seq}, ...]}``.
    """

    async def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        prefix = _prefix(table_prefix)
        models: dict[str, list[type[Model]]] = {}
        for m in listener.models:
            models.setdefault(prefix + meta_of(m).table_name, []).append(m)
        dispatcher = listener.dispatcher
        failures: list[dict[str, str]] = []
        for raw in event.get("Records", []):
            data = raw.get("dynamodb") or {}
            seq = str(data.get("SequenceNumber", ""))
            if failures:  # not delivered: Lambda sends them again after the failed one
                failures.append({"itemIdentifier": seq})
                continue
            dispatcher.metrics.records += 1
            record = _botocore_form(raw)
            table = ""
            model: type[Model] | None = None
            try:
                table = table_from_arn(str(raw.get("eventSourceARN", "")))
                candidates = models.get(table)
                if candidates is None:
                    raise StreamError(f"no model of this listener uses table {table!r} "
                                      f"(models: {sorted(models)})")
                model = pick_model(candidates, record)
            except Exception as exc:  # not a record of these models: skipped
                log.error("skipping stream record %s: %s", seq, exc)
                continue
            if model is None:
                continue  # another entity's item in a shared table: not ours
            loading = True
            try:
                await load_keys(model, record)
                loading = False
                change = decode_record(model, record, table=table)
            except Exception as exc:  # invalid: report and count as done
                if loading and not isinstance(exc, DecryptionFailed):
                    # data keys (KMS) or values (S3) that cannot be had now: the batch
                    # is retried, not skipped (as StreamListener retries the shard)
                    raise
                await dispatcher.report(FailedRecord(
                    reason="invalid", error=exc, model=model, table=table,
                    keys=dict(data.get("Keys") or {}), sequence_number=seq, record=raw,
                ))
                continue
            failed = await dispatcher.deliver(change)
            if failed is not None:
                failures.append({"itemIdentifier": seq})
        if failures:
            log.warning("reporting %d record(s) from sequence %s as failed", len(failures),
                        failures[0]["itemIdentifier"])
        return {"batchItemFailures": failures}

    return handle


def sync_lambda_handler(
    listener: StreamListener,
    *,
    table_prefix: str | None = None,
    connect: Mapping[str, Any] | None = None,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """The same handler for Lambda's Python runtime (a plain function).

    One event loop and (with ``connect``) one connection serve every invocation of the
    execution environment: both are made on the first invocation and kept while Lambda
    keeps the environment, so later invocations pay no loop set-up, no new connection
    and no new TLS handshake. Lambda freezes the process between invocations; nothing
    runs on the loop meanwhile.

    Args:
        listener: as for [`lambda_handler()`][dynorm.streams.lambda_handler].
        table_prefix: as for [`lambda_handler()`][dynorm.streams.lambda_handler].
        connect: settings of the [`Connection`][dynorm.Connection] the handlers use
            (``{}`` for the defaults from the environment), opened on the first
            invocation and kept; None opens none (the handlers then use the
            connection of ``dynorm.configure()``, if any).
    """
    handle = lambda_handler(listener, table_prefix=table_prefix)
    kept = _Kept()

    async def once(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if connect is None:
            return await handle(event, context)
        if kept.connection is None:
            kept.connection = await Connection(**connect).open()
        token = _current.set(kept.connection)  # this invocation's task only
        try:
            return await handle(event, context)
        finally:
            _current.reset(token)

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if kept.loop is None or kept.loop.is_closed():
            kept.loop = asyncio.new_event_loop()
            kept.connection = None  # a connection belongs to the loop it was opened on
        return kept.loop.run_until_complete(once(event, context))

    return handler


class _Kept:
    """The event loop and connection of one execution environment (see above)."""

    __slots__ = ("connection", "loop")

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connection: Connection | None = None


def _botocore_form(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda record with binary values decoded from base64 (as botocore gives them)."""
    data = dict(record.get("dynamodb") or {})
    for name in ("Keys", "NewImage", "OldImage"):
        if name in data:
            data[name] = lambda_image(data[name])
    return {**record, "dynamodb": data}
