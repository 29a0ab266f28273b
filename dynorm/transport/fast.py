"""The lean transport: dynorm's JSON posted straight to DynamoDB's JSON API.

botocore's per-call machinery (event hooks, request serialization and validation,
endpoint rules, user-agent building, its SigV4, shape-walking response parsing) is most
of an aioboto3 call's client CPU. dynorm already builds the exact request body and
decodes AttributeValues with its own codec, so this transport only:

* serializes the request dict with orjson (`dynorm.codec.json`), writing ``bytes``
  as base64 (the ``B``/``BS`` wire form) and pre-encoded items (``Fragment``) as they
  are;
* signs it with `dynorm.transport._sigv4` (signing key cached per day);
* POSTs it over keep-alive connections (`dynorm.transport._http`, or an
  ``aiohttp`` session when a proxy is configured) with
  ``X-Amz-Target: DynamoDB_20120810.<Op>`` (``DynamoDBStreams_20120810.<Op>`` for the
  stream operations);
* verifies ``x-amz-crc32``, parses the body, and turns base64 ``B``/``BS`` values back
  into ``bytes`` (only when the body holds a binary value at all);
* maps ``__type`` error codes to dynorm's exceptions with the same classes, messages,
  ``.code``, ``.operation`` and ``.response`` as `Aioboto3Transport`;
* makes one attempt per call: a bad checksum or a lost connection is a
  ``TransportError`` saying whether the request may have reached the server; the
  connection retries (`dynorm.Connection.call`).

Credentials and region are found the way botocore finds them, in botocore's order, and
without importing it for the common sources: explicit keys, the environment, the shared
files' static keys, container credentials, web identity (STS) and EC2 instance metadata
(`dynorm.transport._credentials`); temporary ones are refreshed in the background before
they expire. SSO, ``credential_process``, assume-role profiles and a session passed in go
through botocore's own chain (public methods only), imported then. TLS trusts what
botocore trusts (``AWS_CA_BUNDLE``, a profile's ``ca_bundle``, certifi's bundle).

Differences from `Aioboto3Transport` a caller can see: responses are DynamoDB's
JSON as sent (timestamps such as ``CreationDateTime`` are epoch seconds rather than
``datetime``; no ``ResponseMetadata`` key on success), and no client-side parameter
validation happens (DynamoDB's own ``ValidationException`` answers instead).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
import zlib
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from dynorm._gc import PAUSE_BYTES, settled
from dynorm._types import Request, Response
from dynorm.codec.json import dumps, loads
from dynorm.exceptions import TransportError
from dynorm.transport._answers import decode_binary, error_answer, has_binary
from dynorm.transport._config import STANDARD_REGION, AwsConfig, load_config, ssl_context
from dynorm.transport._credentials import (
    Botocore,
    CredentialRefresher,
    Credentials,
    Source,
    find_source,
    no_credentials,
)
from dynorm.transport._http import RESENT, HTTPClient, HTTPError
from dynorm.transport._sigv4 import SigV4Signer, host_from_url, normalize_path
from dynorm.transport.base import (
    STREAM_OPERATIONS,
    AnswerReader,
    adds_up_when_repeated,
    answer_reader,
)

if TYPE_CHECKING:

    import aiohttp

__all__ = ["FastTransport"]

log = logging.getLogger(__name__)

_CONTENT_TYPE = "application/x-amz-json-1.0"


def aws_endpoints(region: str) -> tuple[str, str]:
    """DynamoDB's and DynamoDB Streams' public endpoints for a region."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return (f"https://dynamodb.{region}.{suffix}/",
            f"https://streams.dynamodb.{region}.{suffix}/")


def needs_botocore_endpoints(config: AwsConfig, region: str) -> bool:
    """True when the endpoints are not the standard ones: FIPS or dual-stack endpoints are
    asked for (environment or profile), or the region is in another partition."""
    if not STANDARD_REGION.fullmatch(region):
        return True
    return config.flag("use_fips_endpoint", "AWS_USE_FIPS_ENDPOINT") or config.flag(
        "use_dualstack_endpoint", "AWS_USE_DUALSTACK_ENDPOINT")


def _session_setting(session: Any, name: str) -> str | None:
    """``region_name``/``profile_name`` of an aioboto3 (boto3) session, or of a botocore
    one (``get_config_variable``), through public attributes only."""
    value = getattr(session, f"{name}_name", None)
    if value is None and callable(getattr(session, "get_config_variable", None)):
        value = session.get_config_variable(name)
    return value if isinstance(value, str) else None


class _Endpoint:
    """One endpoint's pre-computed request parts."""

    __slots__ = ("canonical_uri", "client", "host", "origin", "path", "prefix", "signer",
                 "url")

    def __init__(self, url: str, prefix: str, region: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path or "/"
        self.client: HTTPClient | None = None
        self.host = host_from_url(url)
        self.canonical_uri = normalize_path(parts.path or "/")
        self.prefix = prefix
        # DynamoDB Streams signs as "dynamodb" too (its signingName).
        self.signer = SigV4Signer(region, "dynamodb")


class FastTransport:
    """Sends dynorm's request dicts to DynamoDB's JSON API with its own SigV4 signer.

    Args:
        session: an ``aioboto3.Session`` (or a ``botocore.session.Session``) to take
            credentials and the default region from, through botocore's chain; None (the
            default) finds them without botocore where it can (see
            [Credentials and region](configuration.md#credentials-and-region)).
        region: the AWS region (default: the session's, else ``AWS_REGION``,
            ``AWS_DEFAULT_REGION``, the profile's ``region``, else ``us-east-1``).
        endpoint_url: a DynamoDB-compatible endpoint (local servers; it then serves the
            stream operations too); None for AWS's public endpoints.
        aws_access_key_id: explicit credentials (without ``session``).
        aws_secret_access_key: the secret of ``aws_access_key_id``.
        aws_session_token: the session token of explicit temporary credentials.
        profile: an AWS profile name (without ``session``).
        max_pool_connections: HTTP connections kept open for concurrent calls.
        connect_timeout: seconds.
        read_timeout: seconds to wait for an answer.
        http: ``"builtin"`` (a minimal keep-alive HTTP/1.1 client, the least CPU per
            call) or ``"aiohttp"`` (an ``aiohttp.ClientSession`` honouring the
            ``HTTP(S)_PROXY`` environment variables). Default: aiohttp when a proxy
            variable is set, else builtin.

    Raises:
        ConnectionNotConfigured: a configuration file cannot be read, or the profile named
            (``profile``, ``AWS_PROFILE``) is in neither file (its ``__cause__`` then says
            which).
    """

    #: Payloads may hold pre-encoded JSON (``dynorm.codec.json.Fragment``): batches send items
    #: encoded once, for the size check, instead of trees of dicts.
    accepts_json_fragments = True

    def __init__(
        self,
        session: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile: str | None = None,
        max_pool_connections: int = 64,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        http: Literal["builtin", "aiohttp"] | None = None,
    ) -> None:
        if http is None:
            proxied = any(os.environ.get(v) for v in (
                "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"))
            http = "aiohttp" if proxied else "builtin"
        self.http = http
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._aws_session = session
        self._explicit = (aws_access_key_id, aws_secret_access_key, aws_session_token)
        if session is not None:
            named = _session_setting(session, "profile")
            profile = None if named == "default" else named
        self._config = load_config(profile)
        self.region = (region or (_session_setting(session, "region") if session is not None
                                  else None) or self._config.region or "us-east-1")
        self.endpoint_url = endpoint_url
        #: FIPS, dual-stack or another partition: botocore's endpoint rules give the URLs,
        #: once, when the transport opens (see `_resolve_endpoints`).
        self._ask_botocore = False
        if endpoint_url:
            main = streams = endpoint_url
        else:
            main, streams = aws_endpoints(self.region)
            # botocore's configured endpoints (AWS_ENDPOINT_URL_DYNAMODB..., the profile's)
            explicit_main = self._config.endpoint_url("dynamodb")
            explicit_streams = self._config.endpoint_url("dynamodb_streams")
            # (botocore's answer honours these settings too)
            self._ask_botocore = not (explicit_main and explicit_streams) and (
                needs_botocore_endpoints(self._config, self.region))
            main = explicit_main or main
            streams = explicit_streams or streams
        self._main = _Endpoint(main, "DynamoDB_20120810.", self.region)
        self._streams = _Endpoint(streams, "DynamoDBStreams_20120810.", self.region)
        self._clients: dict[str, HTTPClient] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self._max_pool_connections = max_pool_connections
        self._http: aiohttp.ClientSession | None = None
        self._refresher: CredentialRefresher | None = None
        self._access_key = ""
        self._secret_key = ""
        self._token: str | None = None
        self._credentials_until = 0.0  # time.time() from which the refresher is asked
        self._second = -1
        self._amz_date = ""

    def __repr__(self) -> str:
        return f"FastTransport(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Find the credentials and set up HTTP now rather than on the first call."""
        if self._ask_botocore:
            await self._resolve_endpoints()
        if self.http == "aiohttp":
            self._ensure_http()
        else:
            for endpoint in (self._main, self._streams):
                self._client(endpoint)
        await self._update_credentials()

    async def _resolve_endpoints(self) -> None:
        """The endpoint URLs botocore's rules give for this configuration (FIPS,
        dual-stack, the isolated partitions): one client of each service is made and
        closed, a one-time cost of tens of milliseconds (and botocore's import)."""
        urls = []
        session = self._aws_session
        for service in ("dynamodb", "dynamodbstreams"):
            if session is not None and not callable(getattr(session, "create_client", None)):
                async with session.client(service, region_name=self.region) as client:
                    urls.append(client.meta.endpoint_url)
                continue
            if session is None:
                import botocore.session

                profile = self._config.profile_name if self._config.explicit_profile else None
                session = botocore.session.Session(profile=profile)
            # no credentials are looked up for this: the keys given are never used
            client = session.create_client(service, region_name=self.region,
                                           aws_access_key_id="unused",
                                           aws_secret_access_key="unused")
            urls.append(client.meta.endpoint_url)
            client.close()
        self._main = _Endpoint(urls[0], "DynamoDB_20120810.", self.region)
        self._streams = _Endpoint(urls[1], "DynamoDBStreams_20120810.", self.region)
        self._ask_botocore = False
        log.debug("endpoints from botocore's rules: %s, %s", *urls)

    def _client(self, endpoint: _Endpoint) -> HTTPClient:
        origin = endpoint.origin
        client = self._clients.get(origin)
        if client is None:
            client = HTTPClient(origin, limit=self._max_pool_connections,
                                connect_timeout=self._connect_timeout,
                                read_timeout=self._read_timeout,
                                ssl_context=self._tls() if origin.startswith("https:") else None)
            self._clients[origin] = client
        endpoint.client = client
        return client

    def _ensure_http(self) -> aiohttp.ClientSession:
        import aiohttp  # behind a proxy only

        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_pool_connections, keepalive_timeout=30, ttl_dns_cache=300,
                ssl=self._tls(),
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout,
                                              sock_read=self._read_timeout),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                headers={"Accept-Encoding": "identity"},
                trust_env=True,
            )
        return self._http

    def _tls(self) -> ssl.SSLContext:
        """Certificates as botocore verifies them: ``AWS_CA_BUNDLE`` or the profile's
        ``ca_bundle``, else certifi's bundle (botocore's own without certifi)."""
        if self._ssl_context is None:
            self._ssl_context = ssl_context(self._config)
        return self._ssl_context

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        self._main.client = self._streams.client = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._refresher is not None:
            await self._refresher.close()

    # ------------------------------------------------------------------ credentials

    def _source(self) -> Source:
        if self._aws_session is not None:
            return Botocore(session=self._aws_session)
        key, secret, token = self._explicit
        source = find_source(self._config, access_key=key, secret_key=secret, token=token,
                             region=self.region, tls=self._tls)
        if source is None:
            raise no_credentials()
        return source

    @property
    def credential_source(self) -> str | None:
        """Where the credentials come from, in botocore's names: ``explicit``, ``env``,
        ``shared-credentials-file``, ``config-file``, ``container-role``,
        ``assume-role-with-web-identity``, ``iam-role`` or ``botocore`` (its own chain);
        None before the transport opens."""
        return self._refresher.source.name if self._refresher is not None else None

    async def credentials(self) -> Credentials:
        """The credentials calls are signed with now (refreshed as for calls): what other
        AWS services dynorm talks to sign with (`dynorm.backup`'s S3 requests), so they
        act as the same identity."""
        refresher = self._refresher
        if refresher is None:
            refresher = self._refresher = CredentialRefresher(self._source())
        return await refresher.get()

    async def _update_credentials(self) -> None:
        """The refresher's current credentials (it refreshes them in the background)."""
        refresher = self._refresher
        if refresher is None:
            refresher = self._refresher = CredentialRefresher(self._source())
        credentials = await refresher.get()
        self._access_key = credentials.access_key
        self._secret_key = credentials.secret_key
        self._token = credentials.token
        self._credentials_until = refresher.check_at

    # ------------------------------------------------------------------ calls

    def _timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return self._amz_date

    def _headers(
        self, endpoint: _Endpoint, operation: str, body: bytes, timestamp: str
    ) -> dict[str, str]:
        target = endpoint.prefix + operation
        token = self._token
        signed: list[tuple[str, str]] = [
            ("content-type", _CONTENT_TYPE),
            ("host", endpoint.host),
            ("x-amz-date", timestamp),
            ("x-amz-target", target),
        ]
        headers = {
            "Host": endpoint.host,
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Date": timestamp,
            "X-Amz-Target": target,
        }
        if token:
            signed.insert(3, ("x-amz-security-token", token))  # keeps the list sorted
            headers["X-Amz-Security-Token"] = token
        headers["Authorization"] = endpoint.signer.authorization_sorted(
            endpoint.canonical_uri, signed, sha256(body).hexdigest(),
            self._access_key, self._secret_key, timestamp,
        )
        return headers

    async def call(self, operation: str, payload: Request) -> Response:
        """One attempt (the connection retries): the parsed answer, or the error.

        Raises:
            ServiceError: DynamoDB's error answer (``status`` set; ``ambiguous`` when the
                HTTP client had to send the request twice).
            TransportError: no usable answer; ``sent`` says whether the request may
                have reached the server.
        """
        if self._ask_botocore:  # not opened through open()
            await self._resolve_endpoints()
        endpoint = self._streams if operation in STREAM_OPERATIONS else self._main
        body = dumps(payload)
        if time.time() >= self._credentials_until:
            await self._update_credentials()
        headers = self._headers(endpoint, operation, body, self._timestamp())
        resent = False
        if self.http == "builtin":
            client = endpoint.client or self._client(endpoint)
            head = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
            try:
                status, answer_headers, raw = await client.request(
                    f"POST {endpoint.path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n"
                    "Accept-Encoding: identity\r\n\r\n".encode(), body,
                    # a stale connection may have taken the request: never a second count
                    operation != "UpdateItem" or not adds_up_when_repeated(operation, payload))
            except (HTTPError, asyncio.TimeoutError, OSError) as exc:
                unsent = isinstance(exc, HTTPError) and str(exc).startswith("cannot connect")
                raise TransportError(f"{type(exc).__name__}: {exc}", sent=not unsent) from exc
            crc = answer_headers.get("x-amz-crc32")
            request_id = answer_headers.get("x-amzn-requestid")
            resent = RESENT in answer_headers
        else:
            status, raw, crc, request_id = await self._post_aiohttp(endpoint, body, headers)
        if crc is not None and zlib.crc32(raw) != int(crc):
            raise TransportError(f"x-amz-crc32 mismatch (header {crc}, body {zlib.crc32(raw)})")
        if status == 200:
            read = answer_reader(operation)
            try:
                return (_answer(raw, payload, read) if len(raw) < PAUSE_BYTES
                        else settled(_answer, raw, payload, read))
            except ValueError as exc:
                raise TransportError(f"unreadable response body: {exc}") from exc
        # Sent twice by the HTTP client (a kept-alive connection closed under it): the
        # first may have been applied.
        raise error_answer(operation, status, raw, request_id, ambiguous=resent)

    async def _post_aiohttp(self, endpoint: _Endpoint, body: bytes, headers: dict[str, str]
                            ) -> tuple[int, bytes, str | None, str | None]:
        """POST through aiohttp (a proxy is configured): status, body, CRC, request id."""
        import aiohttp

        http = self._http or self._ensure_http()
        try:
            async with http.post(endpoint.url, data=body, headers=headers) as response:
                return (response.status, await response.read(),
                        response.headers.get("x-amz-crc32"),
                        response.headers.get("x-amzn-requestid"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", sent=not isinstance(
                exc, aiohttp.ClientConnectorError)) from exc


def _answer(raw: bytes, payload: Request, read: AnswerReader | None) -> Response:
    """A successful answer: read by the caller's reader if it gave one (it gets the body,
    and may parse it its own way: `dynorm.transport.base.answers_read_by`), else parsed."""
    if read is not None:
        return read(payload, raw, _parsed)
    return _parsed(raw)


def _parsed(raw: bytes) -> Response:
    """An answer's body parsed (binary values as bytes)."""
    parsed: Response = loads(raw)
    if has_binary(raw):
        decode_binary(parsed)
    return parsed
