"""The Transport Protocol and the retry policy every transport shares."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dynorm._types import Request, Response

__all__ = ["STREAM_OPERATIONS", "RetryPolicy", "Transport"]

#: Operations served by the DynamoDB Streams endpoint rather than DynamoDB's.
STREAM_OPERATIONS = frozenset({"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"})


@runtime_checkable
class Transport(Protocol):
    """Sends one DynamoDB operation.

    ``operation`` is the API name (``"PutItem"``); ``payload`` its parameters in the
    API's own names. Returns the parsed response. Raises a
    :class:`~dynorm.exceptions.ServiceError` subclass when DynamoDB answers with an
    error and :class:`~dynorm.exceptions.TransportError` when it does not answer.
    """

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
