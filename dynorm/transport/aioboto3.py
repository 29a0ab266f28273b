"""The aioboto3 transport: aioboto3's low-level DynamoDB (and Streams) client.

botocore's own retries are switched off: each call is one attempt, and the connection's
`RetryPolicy` is the only retry (`dynorm.Connection.call`). botocore's
errors become dynorm's: ``ServiceError`` subclasses with ``status``, ``TransportError``
saying whether the request may have reached the server.
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
    RequestRejected,
    ServiceError,
    Throttled,
    TransportError,
    error_for_code,
)
from dynorm.transport._config import ProfileNotFound
from dynorm.transport._credentials import Botocore, Credentials, no_credentials
from dynorm.transport.base import STREAM_OPERATIONS

__all__ = ["Aioboto3Transport", "make_session"]

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


def _profile_not_found(exc: botocore.exceptions.ProfileNotFound) -> ProfileNotFound:
    return ProfileNotFound(str(exc.kwargs.get("profile")), None)


def make_session(**settings: str | None) -> aioboto3.Session:
    """An ``aioboto3.Session`` from ``connect()``'s settings (``aws_access_key_id``,
    ``profile_name``...); a profile in neither AWS file is `ProfileNotFound`."""
    try:
        return aioboto3.Session(**settings)
    except botocore.exceptions.ProfileNotFound as exc:
        raise _profile_not_found(exc) from exc


class Aioboto3Transport:
    """Sends requests through one reused aioboto3 client.

    Args:
        session: an ``aioboto3.Session`` (credentials and region come from it).
        region: the AWS region (default: the session's, else ``us-east-1``).
        endpoint_url: a DynamoDB-compatible endpoint (local servers); None for AWS.
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
        max_pool_connections: int = 64,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._aws_session = session
        self.region = region or session.region_name or "us-east-1"
        self.endpoint_url = endpoint_url
        self._config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._credential_source: Botocore | None = None

    async def credentials(self) -> Credentials:
        """The session's current credentials (botocore refreshes temporary ones): what
        other AWS services dynorm talks to sign with (`dynorm.backup`'s S3 requests).

        Raises:
            TransportError: the session has none.
        """
        if self._credential_source is None:
            self._credential_source = Botocore(session=self._aws_session)
        found = await self._credential_source.fetch()
        if found is None:
            raise no_credentials()
        return found

    def __repr__(self) -> str:
        return f"Aioboto3Transport(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    async def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            async with self._lock:
                client = self._clients.get(service)
                if client is None:
                    try:
                        client = await self._stack.enter_async_context(
                            self._aws_session.client(
                                service,
                                region_name=self.region,
                                endpoint_url=self.endpoint_url,
                                config=self._config,
                            )
                        )
                    except botocore.exceptions.ProfileNotFound as exc:
                        raise _profile_not_found(exc) from exc
                    self._clients[service] = client
        return client

    async def open(self) -> None:
        """Create the DynamoDB client now rather than on the first call."""
        await self._client("dynamodb")

    async def close(self) -> None:
        self._clients.clear()
        await self._stack.aclose()

    async def call(self, operation: str, payload: Request) -> Response:
        """One attempt (the connection retries): botocore's answer, or dynorm's error."""
        service = "dynamodbstreams" if operation in STREAM_OPERATIONS else "dynamodb"
        method = getattr(await self._client(service), _method_name(operation))
        try:
            response: Response = await method(**payload)
            return response
        except botocore.exceptions.ClientError as exc:
            raise _translate(exc, operation) from exc
        except botocore.exceptions.ParamValidationError as exc:
            raise RequestRejected(str(exc), code="ParamValidationError",
                                  operation=operation) from exc
        except _CONNECTION_ERRORS as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}",
                                 sent=not isinstance(exc, _UNSENT)) from exc
        except botocore.exceptions.BotoCoreError as exc:  # e.g. no credentials
            raise TransportError(f"{operation}: {type(exc).__name__}: {exc}",
                                 sent=False, retryable=False) from exc


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
    return cls(message, code=code, operation=operation, response=body, status=status)
