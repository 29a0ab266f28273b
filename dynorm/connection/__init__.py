"""The connection: which server, which credentials, which table-name prefix.

```python
async with dynorm.connect(region="eu-west-1"):          # a block
    ...
await dynorm.configure(endpoint_url="http://127.0.0.1:8000")   # app start-up
await dynorm.close()                                             # app shutdown
```

The current connection belongs to the task (a ``ContextVar``): an ``async with
dynorm.connect(...)`` block is current inside that task and the tasks it starts, never in
another task that runs meanwhile. ``connect()`` blocks nest and restore the previous one
on exit. ``configure()`` sets the process-wide default that every task without a block of
its own falls back to (a web app's start-up). Defaults come from the standard AWS
environment variables (``AWS_REGION``/``AWS_DEFAULT_REGION``, credentials, profiles) plus
``DYNORM_ENDPOINT_URL``, ``DYNORM_TABLE_PREFIX`` and ``DYNORM_TRANSPORT``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast
from urllib.parse import urlsplit

from typing_extensions import Unpack

from dynorm._types import Request, Response
from dynorm.connection.attempts import send
from dynorm.exceptions import (
    ConnectionNotConfigured,
    ServerError,
    Throttled,
    TransportError,
)
from dynorm.observe.calls import CallRecord, Hook, Observer, Telemetry
from dynorm.observe.capacity import CapacityTotals
from dynorm.observe.limits import CapacityLimit
from dynorm.schema.classes import meta_of
from dynorm.transport._config import ProfileNotFound
from dynorm.transport.base import RetryPolicy, Transport

if TYPE_CHECKING:
    import aioboto3

    from dynorm.transport.regions import FailoverPolicy, RegionRouter

# The Regions' router and the origin stamp (dynorm.transport.regions, .origin) are loaded
# by the connections that ask for them (regions=, origin=): a single-Region program's
# cold start does not create their classes (issue 18).

__all__ = [
    "Connection",
    "ConnectionSettings",
    "close",
    "configure",
    "connect",
    "get_connection",
]

log = logging.getLogger(__name__)
_observe_log = logging.getLogger("dynorm.observe")  # its DEBUG records: one per call

#: Errors left after the transport's own retries that are still worth another round:
#: BatchWriteItem's puts and deletes carry no condition, so sending one again is harmless
#: even when the first attempt was applied and only its answer was lost (and reads are
#: always safe to repeat).
ROUND_ERRORS = (Throttled, ServerError, TransportError)

#: The connection of the running task's ``connect()`` block, if any.
_current: ContextVar[Connection | None] = ContextVar("dynorm_connection", default=None)
#: The process-wide default that configure() opened (and only it replaces).
_configured: Connection | None = None


def _router_of(transport: object) -> RegionRouter | None:
    """``transport`` if it is a `RegionRouter` (whose module is loaded if one exists)."""
    regions = sys.modules.get("dynorm.transport.regions")
    if regions is not None and isinstance(transport, regions.RegionRouter):
        return cast("RegionRouter", transport)
    return None


class ConnectionSettings(TypedDict, total=False):
    """The keyword arguments of `Connection`, ``connect()``, ``configure()`` and
    ``dynorm.local()``, typed: a misspelt setting (``regin=``) is a type error."""

    region: str | None
    endpoint_url: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_session_token: str | None
    profile: str | None
    session: aioboto3.Session | None
    table_prefix: str | None
    max_attempts: int
    retry: RetryPolicy | None
    transport: Transport | Literal["fast", "aioboto3"] | None
    cursor_secret: str | bytes | None
    capacity: bool
    telemetry: bool | Telemetry
    regions: Sequence[str] | None
    endpoints: Mapping[str, str] | None
    failover: FailoverPolicy | None
    origin: bool | str


class Connection:
    """An open line to DynamoDB that every model operation uses.

    Args:
        region: AWS region; default from the environment, else ``us-east-1``.
        endpoint_url: a DynamoDB-compatible endpoint; default ``DYNORM_ENDPOINT_URL``.
        aws_access_key_id: explicit credentials; by default the AWS credential chain
            decides (for a loopback endpoint without any credentials, dummy ones are used).
        aws_secret_access_key: the secret of ``aws_access_key_id``.
        aws_session_token: a session token for temporary credentials.
        profile: an AWS profile name.
        session: an existing ``aioboto3.Session`` to take credentials and region from.
        table_prefix: prepended to every table name (``"staging-"``); default
            ``DYNORM_TABLE_PREFIX``.
        max_attempts: attempts per request for throttling/5xx/connection errors.
        retry: a full `RetryPolicy` (overrides ``max_attempts``).
        transport: ``"fast"`` (dynorm's own SigV4 signer and HTTP client: several times
            less client CPU per call), ``"aioboto3"`` (botocore's client), or a ready
            `Transport` (e.g. ``MockTransport``), in which case the other network
            settings are ignored. Default: ``DYNORM_TRANSPORT``, else ``"fast"``.
        cursor_secret: key that signs pagination cursors; default
            ``DYNORM_CURSOR_SECRET``, else a random per-process key.
        capacity: ask DynamoDB what each call consumed (``ReturnConsumedCapacity``) and
            add it up in `capacity` (docs/observability.md). Off by default: requests are
            then sent unchanged.
        telemetry: ``True`` for OpenTelemetry spans and metrics through the global
            tracer and meter providers (needs ``dynorm[otel]``), or a
            `dynorm.observe.OpenTelemetry` made with providers of your own.
        regions: several Regions, in order of preference: every call goes to the first
            healthy one and fails over to the next on Region-level failures, probing the
            failed Region to fail back (`dynorm.transport.regions`; docs/multi-region.md).
            ``region`` is then the first of them.
        endpoints: per Region, its endpoint URL (default: ``endpoint_url`` for none,
            AWS's endpoint of the Region).
        failover: when a Region counts as failed and how it is probed (`FailoverPolicy`).
        origin: stamp every written item with the Region and time of the write
            (``True``: attribute ``_origin``; a string: that attribute), for
            last-writer-wins readers and stream consumers (`dynorm.transport.origin`).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile: str | None = None,
        session: aioboto3.Session | None = None,
        table_prefix: str | None = None,
        max_attempts: int = 8,
        retry: RetryPolicy | None = None,
        transport: Transport | Literal["fast", "aioboto3"] | None = None,
        cursor_secret: str | bytes | None = None,
        capacity: bool = False,
        telemetry: bool | Telemetry = False,
        regions: Sequence[str] | None = None,
        endpoints: Mapping[str, str] | None = None,
        failover: FailoverPolicy | None = None,
        origin: bool | str = False,
    ) -> None:
        self._regions: tuple[str, ...] = ()
        if regions is not None or endpoints:
            from dynorm.transport.regions import check_regions

            self._regions = check_regions(regions, region, endpoints, transport)
        self._endpoints = dict(endpoints or {})
        self._failover = failover
        #: the origin stamp's attribute (``origin=``), or None for no stamp
        self.origin: str | None = None
        if origin is True:
            from dynorm.transport.origin import ORIGIN_ATTRIBUTE

            self.origin = ORIGIN_ATTRIBUTE
        elif origin:
            self.origin = origin
        region = self._regions[0] if self._regions else region
        self.region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        )
        self.endpoint_url = endpoint_url or os.environ.get("DYNORM_ENDPOINT_URL") or None
        self.table_prefix = (
            table_prefix if table_prefix is not None else os.environ.get("DYNORM_TABLE_PREFIX", "")
        )
        self.retry = retry or RetryPolicy(max_attempts=max_attempts)
        secret = cursor_secret or os.environ.get("DYNORM_CURSOR_SECRET") or os.urandom(32)
        self.cursor_secret = secret.encode() if isinstance(secret, str) else secret
        self._credentials = (aws_access_key_id, aws_secret_access_key, aws_session_token)
        self._profile = profile
        self._aws_session = session
        kind: str = transport if isinstance(transport, str) else ""
        kind = kind or os.environ.get("DYNORM_TRANSPORT") or "fast"
        if kind not in ("fast", "aioboto3"):
            raise ValueError(f"transport must be 'fast', 'aioboto3' or a Transport, not {kind!r}")
        self._transport_kind = kind
        self._transport = None if isinstance(transport, str) else transport
        self._router = _router_of(transport)
        self._previous: list[Connection | None] = []
        self._open = False
        #: Consumed capacity added up (with ``capacity=True``): `CapacityTotals`.
        self.capacity = CapacityTotals()
        self._observer = Observer(capacity=capacity, totals=self.capacity,
                                  telemetry=_telemetry(telemetry))

    def __repr__(self) -> str:
        # Never credentials: reprs end up in logs.
        return (
            f"Connection(region={self.region!r}, endpoint_url={self.endpoint_url!r}, "
            f"table_prefix={self.table_prefix!r}, open={self._open})"
        )

    @property
    def is_open(self) -> bool:
        """True between ``open()`` (or entering ``async with``) and ``close()``."""
        return self._open

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise ConnectionNotConfigured("this connection is not open: use `async with` or open()")
        return self._transport

    @property
    def accepts_json_fragments(self) -> bool:
        """True when the transport takes pre-encoded JSON fragments inside payloads."""
        return self.transport.accepts_json_fragments and self.origin is None

    async def open(self) -> Connection:
        """Create the client (idempotent). Called by ``async with`` and ``configure()``."""
        if self._open:
            return self
        if self._transport is None:
            try:
                transport = self._make_transport()
                await transport.open()
            except ProfileNotFound as exc:
                raise self._profile_not_found(exc) from exc
            self._transport = transport
            self._router = _router_of(transport)
        self._open = True
        return self

    def _profile_not_found(self, exc: ProfileNotFound) -> ConnectionNotConfigured:
        """A profile in neither AWS file, as dynorm's error: which, from where, the fix."""
        profile = exc.profile
        if self._profile is not None:
            source = f"profile={self._profile!r}"
        else:
            variable = exc.source if exc.source not in (None, "profile=") else (
                "AWS_PROFILE" if os.environ.get("AWS_PROFILE") else "AWS_DEFAULT_PROFILE")
            source = f"{variable}={os.environ.get(str(variable), profile)}"
        return ConnectionNotConfigured(
            f"Connection: the AWS profile {profile!r} ({source}) is not in ~/.aws/config or "
            f"~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE): correct the "
            f"name, create it with `aws configure --profile {profile}`, or "
            + ("pass another profile=" if self._profile is not None
               else f"unset {source.split('=')[0]}")
        )

    @property
    def router(self) -> RegionRouter | None:
        """The Regions' router of a connection given ``regions=`` (its ``current``
        Region, ``events``...), else ``None``."""
        return self._router

    def _make_transport(self) -> Transport:
        if self._regions:
            from dynorm.transport.regions import RegionRouter

            return RegionRouter({r: self._region_transport(
                r, self._endpoints.get(r, self.endpoint_url)) for r in self._regions},
                self._failover)
        return self._region_transport(self.region, self.endpoint_url)

    def _region_transport(self, region: str | None, endpoint_url: str | None) -> Transport:
        key, secret, token = self._credentials
        if self._aws_session is None and key is None and _is_loopback(endpoint_url) and (
                not _env_credentials()):
            key, secret = "local", "local"  # local servers check no signature
        if self._transport_kind == "fast":
            from dynorm.transport.fast import FastTransport

            # no botocore here: the fast transport finds credentials itself
            return FastTransport(self._aws_session, region=region,
                                 endpoint_url=endpoint_url, aws_access_key_id=key,
                                 aws_secret_access_key=secret, aws_session_token=token,
                                 profile=None if self._aws_session is not None else self._profile)
        from dynorm.transport.aioboto3 import Aioboto3Transport, make_session

        session = self._aws_session or make_session(
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
            region_name=region, profile_name=self._profile)
        return Aioboto3Transport(session, region=region, endpoint_url=endpoint_url)

    async def close(self) -> None:
        """Close the client and forget it (idempotent)."""
        if self._transport is not None and self._open:
            await self._transport.close()
        self._open = False
        global _configured
        if _current.get() is self:
            _current.set(None)
        if _configured is self:
            _configured = None

    async def __aenter__(self) -> Connection:
        await self.open()
        self._previous.append(_current.get())
        _current.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        previous = self._previous.pop()
        await self.close()
        _current.set(previous)

    def table_name(self, name: str) -> str:
        """The physical table name: the prefix plus the model's table name."""
        return self.table_prefix + name

    def on_request(self, hook: Hook) -> Hook:
        """Call ``hook(event)`` before each attempt of each call (a `CallEvent`: operation,
        tables, index, model, attempt); usable as a decorator. See `remove_hook`."""
        self._observer.add_hook("request", hook)
        return hook

    def on_response(self, hook: Hook) -> Hook:
        """Call ``hook(event)`` after each attempt (a `CallEvent` with its ``duration``,
        ``capacity`` and ``error`` code); usable as a decorator."""
        self._observer.add_hook("response", hook)
        return hook

    def remove_hook(self, hook: Hook) -> None:
        """Stop calling ``hook``."""
        self._observer.remove_hook(hook)

    def rate_limit(self, table: str | type, *, read: float | None = None,
                   write: float | None = None) -> CapacityLimit:
        """Limit every call on a table through this connection to about ``read`` and
        ``write`` capacity units per second (token buckets, slowed down by throttling:
        `dynorm.observe.limits`). ``table``: a model class or its table name (the
        connection's prefix is added). Both None: remove the limit."""
        name = table if isinstance(table, str) else meta_of(table).table_name
        return self._observer.limit(self.table_name(name), read, write)

    @property
    def telemetry(self) -> Telemetry | None:
        """The connection's telemetry (``telemetry=``), or None."""
        return self._observer.telemetry

    def span(self, name: str, attributes: dict[str, Any] | None = None
             ) -> AbstractContextManager[Any]:
        """A parent span for the calls made inside the block (``with conn.span(...):``),
        when the connection has telemetry; otherwise a block that does nothing."""
        telemetry = self._observer.telemetry
        if telemetry is None:
            return nullcontext()
        return telemetry.span(name, attributes or {})

    async def call(self, operation: str, payload: Request, *,
                   model: type | None = None) -> Response:
        """Send one operation, retrying where DynamoDB says to retry (`_attempts`);
        watched by the connection's hooks, capacity totals and telemetry when it has any
        (``model``: the model class making the call, for them)."""
        observer = self._observer
        if observer.active or _observe_log.isEnabledFor(logging.DEBUG):
            return await observer.call(self._attempts, operation, payload, model)
        return await self._attempts(operation, payload, None)

    async def _attempts(self, operation: str, payload: Request,
                        record: CallRecord | None) -> Response:
        """Send one operation, retrying where DynamoDB says to retry
        (`dynorm.connection.attempts.send`)."""
        return await send(self, operation, payload, record)


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _env_credentials() -> bool:
    return any(
        os.environ.get(v)
        for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                  "AWS_WEB_IDENTITY_TOKEN_FILE")
    )


def _telemetry(telemetry: bool | Telemetry) -> Telemetry | None:
    if telemetry is True:
        try:
            from dynorm.observe.otel import OpenTelemetry
        except ImportError as exc:
            raise ConnectionNotConfigured(
                "Connection: telemetry=True needs OpenTelemetry's API, which is not "
                "installed: pip install 'dynorm[otel]' (plus an SDK and exporter to send "
                "spans and metrics somewhere, e.g. opentelemetry-sdk)") from exc
        return OpenTelemetry()
    return telemetry or None


def connect(**settings: Unpack[ConnectionSettings]) -> Connection:
    """A connection to use as ``async with dynorm.connect(...):`` (see `Connection`)."""
    return Connection(**settings)


async def configure(**settings: Unpack[ConnectionSettings]) -> Connection:
    """Open a connection and make it the default for the whole process (app start-up).

    Every task without a ``connect()`` block of its own uses it. Closes the default
    connection set by an earlier ``configure()``.
    """
    global _configured
    if _configured is not None:
        await _configured.close()
    connection = await Connection(**settings).open()
    _configured = connection
    return connection


async def close() -> None:
    """Close the current connection (app shutdown). Safe to call twice."""
    current = _current.get() or _configured
    if current is not None:
        await current.close()


def get_connection() -> Connection:
    """The current connection: this task's ``connect()`` block, else ``configure()``'s.

    Raises:
        ConnectionNotConfigured: no ``connect()`` block or ``configure()`` is active.
    """
    current = _current.get()
    if current is not None:
        return current
    if _configured is not None:
        return _configured
    raise ConnectionNotConfigured()
