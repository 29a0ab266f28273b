"""The Transport Protocol and the retry policy every transport shares."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable

from dynorm._types import Request, Response
from dynorm.exceptions import ServiceError

__all__ = ["STREAM_OPERATIONS", "RetryPolicy", "Transport", "settle_ambiguous"]

#: Operations served by the DynamoDB Streams endpoint rather than DynamoDB's.
STREAM_OPERATIONS = frozenset({"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"})


@runtime_checkable
class Transport(Protocol):
    """Sends one DynamoDB operation.

    ``operation`` is the API name (``"PutItem"``); ``payload`` its parameters in the
    API's own names. Returns the parsed response. Raises a
    `ServiceError` subclass when DynamoDB answers with an
    error and `TransportError` when it does not answer.
    """

    #: True when the transport serializes payloads with orjson, so batches may put
    #: pre-encoded items (``orjson.Fragment``) in them; False sends plain dicts.
    accepts_json_fragments: bool

    async def open(self) -> None:
        """Get ready to send (credentials, connections); called once by the connection."""
        ...

    async def call(self, operation: str, payload: Request) -> Response: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for throttling, 5xx and connection failures: exponential backoff, full jitter.

    Attempt ``n`` (from 1) waits ``uniform(0, min(max_delay, base_delay * 2**(n-1)))``.

    Args:
        max_attempts: total attempts including the first (1 = never retry).
        base_delay: seconds; the cap of the first pause.
        max_delay: seconds; no pause is longer.
    """

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, cap)


# ---------------------------------------------------------------------------- lost answers


def _canonical(value: Any) -> Any:
    """A wire value in a form where equal DynamoDB values compare equal (numbers as
    decimals, sets unordered, binary as bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == "N":
                try:
                    return ("N", Decimal(inner).normalize())
                except (InvalidOperation, TypeError):
                    return ("N", inner)
            if tag == "NS":
                return ("NS", frozenset(_canonical({"N": v})[1] for v in inner))
            if tag in ("SS", "BS"):
                return (tag, frozenset(bytes(v) if isinstance(v, (bytearray, memoryview))
                                       else v for v in inner))
            if tag == "B" and isinstance(inner, (bytearray, memoryview)):
                return ("B", bytes(inner))
            if tag == "L":
                return ("L", tuple(_canonical(v) for v in inner))
            if tag == "M":
                return ("M", _canonical(inner))
        return {k: _canonical(v) for k, v in value.items()}
    return value


def settle_ambiguous(operation: str, payload: Request, error: ServiceError) -> Response | None:
    """The success answer for a retried write whose lost first attempt evidently applied.

    A conditional write is retried after an attempt that got no usable answer (the
    connection dropped after sending, a 5xx). If that attempt was applied, the retry
    meets its own effect and fails the condition. DynamoDB sends the stored item with
    the failure (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), and for two kinds
    of write that item settles the question:

    * ``PutItem`` (no ``ReturnValues``): the stored item is exactly the item this put
      writes, so the put's effect holds; answered as a success.
    * ``DeleteItem`` (no ``ReturnValues``): no item is stored under the key any more, so
      the delete's effect holds; answered as a success.

    Anything else (an ``UpdateItem``, whose result cannot be recomputed here, or a
    stored item that differs) stays an error, marked ``ambiguous``.
    """
    if error.code != "ConditionalCheckFailedException":
        return None
    if payload.get("ReturnValues", "NONE") != "NONE":
        return None
    if payload.get("ReturnValuesOnConditionCheckFailure") != "ALL_OLD":
        return None  # without the stored item nothing can be told
    stored = error.response.get("Item")
    if operation == "PutItem":
        if stored is not None and _canonical(stored) == _canonical(payload.get("Item")):
            return {}
    elif operation == "DeleteItem" and stored is None:
        return {}
    return None
