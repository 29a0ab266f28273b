"""The aioboto3 transport: aioboto3's low-level DynamoDB (and Streams) client.

botocore's own retries are switched off (one attempt per call) so that dynorm's
:class:`RetryPolicy` is the only one: it retries throttling, 5xx and connection
failures with exponential backoff and full jitter, then raises a dynorm error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
import botocore.exceptions
from aiobotocore.config import AioConfig

from dynorm._types import Request, Response
from dynorm.exceptions import (
    RETRYABLE_CODES,
    RequestRejected,
    ServiceError,
    Throttled,
    TransportError,
    error_for_code,
)
from dynorm.transport.base import STREAM_OPERATIONS, RetryPolicy, settle_ambiguous

__all__ = ["Aioboto3Transport"]

log = logging.getLogger(__name__)

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.HTTPClientError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)

#: Connection errors raised before the request could have left: never applied.
_UNSENT: tuple[type[BaseException], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
)

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def _method_name(operation: str) -> str:
    return _SNAKE.sub("_", operation).lower()


class Aioboto3Transport:
    """Sends requests through one reused aioboto3 client.

    Args:
        session: an ``aioboto3.Session`` (credentials and region come from it).
        region: the AWS region (default: the session's, else ``us-east-1``).
        endpoint_url: a DynamoDB-compatible endpoint (local servers); None for AWS.
        retry: the retry policy.
        max_pool_connections: HTTP connections kept open for concurrent calls.
        connect_timeout: seconds.
        read_timeout: seconds to wait for an answer.
    """

    accepts_json_fragments = False  # botocore serializes plain dicts itself

    def __init__(
        self,
        session: aioboto3.Session,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        retry: RetryPolicy | None = None,
        max_pool_connections: int = 64,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._session = session
        self.region = region or session.region_name or "us-east-1"
        self.endpoint_url = endpoint_url
        self.retry = retry or RetryPolicy()
        self._config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Aioboto3Transport(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    async def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            async with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = await self._stack.enter_async_context(
                        self._session.client(
                            service,
                            region_name=self.region,
                            endpoint_url=self.endpoint_url,
                            config=self._config,
                        )
                    )
                    self._clients[service] = client
        return client

    async def open(self) -> None:
        """Create the DynamoDB client now rather than on the first call."""
        await self._client("dynamodb")

    async def close(self) -> None:
        self._clients.clear()
        await self._stack.aclose()

    async def call(self, operation: str, payload: Request) -> Response:
        service = "dynamodbstreams" if operation in STREAM_OPERATIONS else "dynamodb"
        method = getattr(await self._client(service), _method_name(operation))
        attempt = 0
        uncertain = False  # an earlier attempt may have been applied without our seeing it
        while True:
            attempt += 1
            try:
                response: Response = await method(**payload)
                return response
            except botocore.exceptions.ClientError as exc:
                error = _translate(exc, operation)
                if uncertain:
                    error.ambiguous = True
                    settled = settle_ambiguous(operation, payload, error)
                    if settled is not None:
                        log.debug("%s: condition failed on the write's own lost attempt: done",
                                  operation)
                        return settled
                if error.code not in RETRYABLE_CODES:
                    raise error from exc
                uncertain = uncertain or _status(exc) >= 500
                if attempt >= self.retry.max_attempts:
                    error.ambiguous = uncertain
                    raise error from exc
                delay = self.retry.delay(attempt)
                log.debug("%s: %s, retry %d in %.3fs", operation, error.code, attempt, delay)
            except botocore.exceptions.ParamValidationError as exc:
                raise RequestRejected(str(exc), code="ParamValidationError",
                                      operation=operation) from exc
            except _CONNECTION_ERRORS as exc:
                uncertain = uncertain or not isinstance(exc, _UNSENT)
                if attempt >= self.retry.max_attempts:
                    raise TransportError(
                        f"{operation}: no answer from {self.endpoint_url or 'DynamoDB'} after "
                        f"{attempt} attempt(s): {type(exc).__name__}: {exc}"
                    ) from exc
                delay = self.retry.delay(attempt)
                log.debug("%s: %s, retry %d in %.3fs", operation, type(exc).__name__, attempt,
                          delay)
            except botocore.exceptions.BotoCoreError as exc:
                raise TransportError(f"{operation}: {type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(delay)


def _status(exc: botocore.exceptions.ClientError) -> int:
    status: int = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    return status


def _translate(exc: botocore.exceptions.ClientError, operation: str) -> ServiceError:
    body = exc.response
    err = body.get("Error", {})
    code = err.get("Code", "")
    status = body.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    cls = error_for_code(code, status)
    message = err.get("Message", "") or str(exc)
    if cls is Throttled:
        message += " (retries exhausted)"
    error = cls(message, code=code, operation=operation)
    error.response = body
    return error
