"""The one retry loop of dynorm (`send`), behind `Connection.call`.

The transport makes a single attempt; this loop decides what is tried again and what
an uncertain outcome means (docs/reliability.md): throttling and 5xx answers and lost
connections are retried after a `RetryPolicy` pause; a lost answer makes the outcome
uncertain, and an uncertain write is settled (`settle_ambiguous`), raised as ambiguous,
or, for an unconditional counting update (`adds_up_when_repeated`), never repeated. A
multi-Region connection picks each attempt's Region here and stamps the write's origin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from dynorm._types import Request, Response
from dynorm.exceptions import (
    ServiceError,
    TableNotFound,
    TransportError,
    is_retryable,
    may_have_applied,
)
from dynorm.observe.calls import CallRecord, table_names
from dynorm.transport.base import NOT_REPEATED, adds_up_when_repeated, settle_ambiguous

if TYPE_CHECKING:
    from dynorm.connection import Connection

__all__ = ["explain_missing_table", "send"]

log = logging.getLogger("dynorm.connection")


async def send(conn: Connection, operation: str, payload: Request,
           record: CallRecord | None) -> Response:
    """Send one operation, retrying where DynamoDB says to retry.

    The one retry loop of dynorm: the transport makes a single attempt; throttling,
    5xx answers and lost connections are tried again after an exponential, jittered
    pause (`RetryPolicy`) until the attempts are spent. A failure that may
    hide an applied write (a 5xx, an answer lost after sending) makes the outcome
    uncertain: a conditional put or delete whose retry then meets its own effect is
    settled as a success (`settle_ambiguous`); anything else is raised with
    ``ambiguous`` set.

    Raises:
        ServiceError: DynamoDB's answer (a subclass per code), when not retryable or
            still there after the last attempt.
        TransportError: no answer after the last attempt.
    """
    transport = conn.transport
    router, origin = conn._router, conn.origin
    if router is not None or origin is not None:  # loaded by the connections that use them
        from dynorm.transport.origin import stamp
        from dynorm.transport.regions import READ_OPERATIONS, STRANDED, stranded
    region, body, stamped, millis = "", payload, None, 0
    attempt = 0
    uncertain = False  # an earlier attempt may have been applied without our seeing it
    while True:
        attempt += 1
        try:
            if router is not None or origin is not None:
                if router is not None and (
                        not (uncertain and region) or operation in READ_OPERATIONS):
                    region = router.choose(operation, payload)  # else: keep it
                if origin is not None and stamped != (region or conn.region):
                    stamped = region or conn.region
                    millis = millis or int(time.time() * 1000)  # one time per call
                    body = stamp(operation, payload, origin, stamped or "", millis)
            if record is None:
                if router is None:
                    return await transport.call(operation, body)
                return await router.call_in(region, operation, body)
            record.sending(attempt)
            response = await (transport.call(operation, body) if router is None
                              else router.call_in(region, operation, body))
            record.answered(response)
            return response
        except ServiceError as error:
            if record is not None:
                record.failed(error)
            if isinstance(error, TableNotFound):
                explain_missing_table(conn, operation, payload, error)
            if uncertain or error.ambiguous:
                error.ambiguous = True
                settled = settle_ambiguous(operation, body, error)
                if settled is not None:
                    log.debug("%s: condition failed on the write's own lost attempt: "
                              "done", operation)
                    return settled
            if not is_retryable(error):
                raise
            uncertain = uncertain or may_have_applied(error)
            if uncertain and adds_up_when_repeated(operation, body):
                error.ambiguous = True
                error.args = (f"{error} [{NOT_REPEATED}]",)
                raise
            if router is not None and stranded(router, operation, region, uncertain):
                error.ambiguous = True
                error.args = (f"{error} [{STRANDED.format(region=region)}]",)
                raise
            if attempt >= conn.retry.max_attempts:
                error.ambiguous = uncertain
                raise
            reason = f"{error.code} (HTTP {error.status})"
        except TransportError as error:
            if record is not None:
                record.failed(error)
            if not error.retryable:
                raise
            uncertain = uncertain or error.sent
            if uncertain and adds_up_when_repeated(operation, body):
                raise TransportError(f"{operation}: {error} [{NOT_REPEATED}]", sent=True,
                                     retryable=False) from error.__cause__ or error
            if router is not None and stranded(router, operation, region, uncertain):
                raise TransportError(
                    f"{operation}: {error} [{STRANDED.format(region=region)}]",
                    sent=True, retryable=False) from error.__cause__ or error
            if attempt >= conn.retry.max_attempts:
                raise TransportError(
                    f"{operation}: no answer from {conn.endpoint_url or 'DynamoDB'} after "
                    f"{attempt} attempt(s): {error}", sent=uncertain, retryable=False,
                ) from error.__cause__ or error
            reason = str(error)
        delay = conn.retry.delay(attempt)
        log.debug("%s: %s, retry %d in %.3fs", operation, reason, attempt, delay)
        await asyncio.sleep(delay)


def explain_missing_table(conn: Connection, operation: str, payload: Request,
                      error: TableNotFound) -> None:
    """Name the table(s) of a ResourceNotFoundException and the fix in ``str(error)``
    (its ``code``, ``message`` and ``operation`` stay DynamoDB's)."""
    tables = table_names(payload)
    if not tables or operation in ("DescribeTimeToLive", "DescribeContinuousBackups"):
        return
    names = ", ".join(repr(t) for t in tables)
    what = f"table {names}" if len(tables) == 1 else f"one of the tables {names}"
    index = payload.get("IndexName")
    if index:
        what += f" or its index {index!r}"
    prefix = (f" (with the connection's table_prefix {conn.table_prefix!r})"
              if conn.table_prefix and all(t.startswith(conn.table_prefix) for t in tables)
              else "")
    where = f" at {conn.endpoint_url}" if conn.endpoint_url else (
        f" in {conn.region}" if conn.region else "")
    text = f"{operation}: {what}{prefix} does not exist{where} (or is still being created)"
    if operation not in ("DeleteTable", "DescribeTable"):
        text += (": create it first, e.g. `await YourModel.create_table()` (or "
                 "`dynorm.create_tables(...)`) at start-up")
        if index:
            text += ("; for a missing index on an existing table, add it (UpdateTable) "
                     "or re-create the table")
    error.args = (f"{text} [{error.code}: {error.message}]",)
