"""A small S3 client for exports: PUT, GET (whole or by ranges), ListObjectsV2, DELETE.

It signs with dynorm's own SigV4 signer (service ``s3``, the payload's SHA-256 in
``x-amz-content-sha256``, ``Content-MD5`` on uploads so S3 checks what it stored) and
sends over dynorm's keep-alive HTTP client, like the fast transport does for DynamoDB.
Requests are retried on 5xx, ``SlowDown`` and lost connections (every request here is
idempotent: an object written twice is the same object).

Endpoint: ``endpoint_url`` if given, else ``AWS_ENDPOINT_URL_S3``, else the connection's
endpoint when it has one (a local server: moto serves S3 on its DynamoDB port; path-style
URLs), else AWS's regional endpoint (virtual-hosted URLs, ``bucket.s3.<region>...``).

Credentials and region: the connection's own (its transport's ``credentials()`` and
``region``), so S3 requests act as the same identity, found once in the same order,
refreshed the same way, as the DynamoDB calls; no second AWS credential chain. Without
a connection, a loopback endpoint gets dummy credentials.

Proxies as botocore uses them: ``HTTPS_PROXY`` for an ``https`` endpoint, ``HTTP_PROXY``
for an ``http`` one (lower-case names too), none for a host ``NO_PROXY`` names; a
proxied request goes through ``aiohttp`` (``CONNECT`` for https), the others over
dynorm's own client. TLS trusts what botocore trusts (``AWS_CA_BUNDLE``, certifi).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import ssl
import time
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from dynorm.backup.errors import S3Error
from dynorm.exceptions import ConnectionNotConfigured
from dynorm.transport._config import ssl_context
from dynorm.transport._http import HTTPClient, HTTPError
from dynorm.transport._sigv4 import SigV4Signer, host_from_url
from dynorm.transport.base import RetryPolicy

if TYPE_CHECKING:
    import aiohttp

    from dynorm.connection import Connection

__all__ = ["CredentialSource", "S3Client", "S3Storage", "canonical_query",
           "connection_credentials", "connection_region", "proxy_for", "s3_endpoint"]

log = logging.getLogger(__name__)

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _quote(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def canonical_query(params: dict[str, str]) -> str:
    """The canonical (and sent) query string: names sorted, names and values encoded."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def s3_endpoint(connection: Connection | None, endpoint_url: str | None) -> tuple[str, bool]:
    """``(endpoint, path_style)`` for S3 requests (see the module docstring)."""
    explicit = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
    if explicit:
        return explicit.rstrip("/"), True
    if connection is not None and connection.endpoint_url:
        return connection.endpoint_url.rstrip("/"), True
    region = connection_region(connection)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://s3.{region}.{suffix}", False


Credentials3 = tuple[str, str, str | None]
#: What signs a request: an async function returning (access key, secret key, token).
CredentialSource = Callable[[], Awaitable[Credentials3]]


def _transport(connection: Connection | None) -> Any:
    """The connection's transport (with ``regions=``, the current Region's), or None (no
    connection, or not open)."""
    if connection is None:
        return None
    try:
        transport = getattr(connection, "transport", None)
    except ConnectionNotConfigured:
        return None
    router = getattr(connection, "router", None)
    if router is not None:
        return router.transports[router.current]
    return transport


def connection_region(connection: Connection | None) -> str:
    """The region S3 requests are signed for: the connection's transport's (resolved as
    for DynamoDB: argument, environment, profile), else the connection's, else
    ``AWS_REGION``/``AWS_DEFAULT_REGION``, else ``us-east-1``."""
    region = getattr(_transport(connection), "region", None) or (
        connection.region if connection is not None else None)
    return region or os.environ.get("AWS_REGION") or os.environ.get(
        "AWS_DEFAULT_REGION") or "us-east-1"


def connection_credentials(connection: Connection | None, endpoint_url: str
                           ) -> CredentialSource:
    """The credentials of the connection's transport (``await transport.credentials()``,
    refreshed by it); dummy ones for a loopback endpoint when there is no connection or
    its transport has none (a test double)."""

    async def get() -> Credentials3:
        method = getattr(_transport(connection), "credentials", None)
        if method is not None:
            found = await method()
            return found.access_key, found.secret_key, found.token
        if _is_loopback(endpoint_url):
            return "local", "local", None  # local servers check no signature
        raise S3Error(
            "S3: no credentials: use S3 within an open dynorm connection (whose "
            "credentials S3 requests are signed with), e.g. `async with dynorm.connect():`",
            code="NoCredentials")

    return get


def proxy_for(url: str) -> str | None:
    """The proxy botocore would send a request to ``url`` through: the ``<scheme>_proxy``
    environment variable of the URL's scheme (``HTTPS_PROXY``, ``HTTP_PROXY``, either
    case), unless ``NO_PROXY`` names its host; a proxy without a scheme is ``http://``."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None
    try:
        if urllib.request.proxy_bypass(parts.netloc):
            return None
    except (TypeError, OSError):
        pass
    if proxy.startswith(("http:", "https:")):
        return proxy
    return "http:" + proxy if proxy.startswith("//") else "http://" + proxy


class S3Client:
    """Signed requests to one S3 endpoint."""

    def __init__(self, endpoint_url: str, region: str, *, path_style: bool = True,
                 retry: RetryPolicy | None = None, concurrency: int = 16,
                 credentials: CredentialSource | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.path_style = path_style
        self.retry = retry or RetryPolicy(max_attempts=6)
        self._signer = SigV4Signer(region, "s3")
        self._credentials = credentials or connection_credentials(None, endpoint_url)
        self._clients: dict[str, HTTPClient] = {}
        self._proxied: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None
        self._concurrency = concurrency
        parts = urlsplit(endpoint_url)
        self._scheme = parts.scheme
        self._authority = parts.netloc
        self._base_path = parts.path.rstrip("/")

    def _target(self, bucket: str, key: str) -> tuple[str, str]:
        """``(origin, path)`` of an object (``key=""``: the bucket)."""
        quoted = _quote(key, safe="-_.~/")
        if self.path_style:
            path = f"{self._base_path}/{bucket}/{quoted}" if key else f"{self._base_path}/{bucket}"
            return f"{self._scheme}://{self._authority}", path
        return f"{self._scheme}://{bucket}.{self._authority}", f"{self._base_path}/{quoted}"

    def _ssl(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl_context(None)
        return self._tls

    def _client(self, origin: str) -> HTTPClient:
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = HTTPClient(
                origin, limit=self._concurrency, read_timeout=120.0,
                ssl_context=self._ssl() if origin.startswith("https:") else None)
        return client

    async def request(self, method: str, bucket: str, key: str = "", *,
                      params: dict[str, str] | None = None, body: bytes = b"",
                      headers: dict[str, str] | None = None
                      ) -> tuple[int, dict[str, str], bytes]:
        """One request, retried on 5xx and lost connections; error answers are raised
        as `S3Error` except 404, which is returned."""
        attempt = 0
        while True:
            attempt += 1
            try:
                status, answer_headers, data = await self._send(method, bucket, key, params,
                                                                body, headers or {})
            except HTTPError as exc:
                if attempt >= self.retry.max_attempts:
                    raise S3Error(f"S3 {method} {bucket}/{key}: no answer from "
                                  f"{self.endpoint_url}: {exc}", key=key) from exc
                reason = str(exc)
            else:
                if status < 300 or status in (404, 416):
                    return status, answer_headers, data
                error = _error(method, bucket, key, status, data)
                if (status < 500 and error.code != "SlowDown") or (
                        attempt >= self.retry.max_attempts):
                    raise error
                reason = f"{error.code} (HTTP {status})"
            delay = self.retry.delay(attempt)
            log.debug("S3 %s %s/%s: %s, retry in %.2fs", method, bucket, key, reason, delay)
            await asyncio.sleep(delay)

    def prepare(self, method: str, bucket: str, key: str, params: dict[str, str] | None,
                body: bytes, extra: dict[str, str], credentials: tuple[str, str, str | None],
                timestamp: str) -> tuple[str, str, dict[str, str]]:
        """``(origin, request target, headers)`` of a signed request (pure)."""
        origin, path = self._target(bucket, key)
        query = canonical_query(params) if params else ""
        access, secret, token = credentials
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        headers = {"host": host_from_url(origin + "/"), "x-amz-date": timestamp,
                   "x-amz-content-sha256": payload_hash, **extra}
        if token:
            headers["x-amz-security-token"] = token
        headers["authorization"] = self._signer.authorization(
            method, path, query, list(headers.items()), payload_hash, access, secret,
            timestamp)
        return origin, (f"{path}?{query}" if query else path), headers

    async def _send(self, method: str, bucket: str, key: str, params: dict[str, str] | None,
                    body: bytes, extra: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        credentials = await self._credentials()
        timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        origin, target, headers = self.prepare(method, bucket, key, params, body, extra,
                                               credentials, timestamp)
        proxy = proxy_for(origin)
        if proxy is not None:
            return await self._send_proxied(proxy, method, origin + target, headers, body)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        length = f"Content-Length: {len(body)}\r\n" if body or method == "PUT" else ""
        request = f"{method} {target} HTTP/1.1\r\n{head}{length}\r\n".encode()
        return await self._client(origin).request(request, body)

    async def _send_proxied(self, proxy: str, method: str, url: str,
                            headers: dict[str, str], body: bytes
                            ) -> tuple[int, dict[str, str], bytes]:
        """One request through ``proxy`` (aiohttp: the absolute URL to an http proxy,
        ``CONNECT`` for https; credentials in the proxy URL become
        ``Proxy-Authorization``)."""
        import aiohttp  # behind a proxy only
        from yarl import URL

        if self._proxied is None or self._proxied.closed:
            self._proxied = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._concurrency, ssl=self._ssl()
                                               if url.startswith("https:") else True),
                timeout=aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=120.0),
                auto_decompress=False, trust_env=False,
                headers={"Accept-Encoding": "identity"})
        try:
            async with self._proxied.request(
                    method, URL(url, encoded=True), headers=headers, proxy=proxy,
                    data=body if body or method == "PUT" else None) as response:
                data = await response.read()
                answer = {name.lower(): value for name, value in response.headers.items()}
                return response.status, answer, data
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise HTTPError(f"through the proxy {_without_password(proxy)}: "
                            f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._proxied is not None:
            await self._proxied.close()
            self._proxied = None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _error(method: str, bucket: str, key: str, status: int, body: bytes) -> S3Error:
    code, message = str(status), body[:200].decode("utf-8", "replace")
    try:
        root = ElementTree.fromstring(body) if body else None
    except ElementTree.ParseError:
        root = None
    if root is not None:
        code = root.findtext("Code") or code
        message = root.findtext("Message") or message
    where = f"{bucket}/{key}" if key else bucket
    return S3Error(f"S3 {method} {where}: {code}: {message} (HTTP {status})", code=code,
                   status=status, key=key or bucket)


class S3Storage:
    """``s3://bucket/prefix`` as a `dynorm.backup.storage.Storage`."""

    def __init__(self, bucket: str, prefix: str = "", *, connection: Connection | None = None,
                 endpoint_url: str | None = None) -> None:
        self.bucket: str | None = bucket
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        endpoint, path_style = s3_endpoint(connection, endpoint_url)
        self.client = S3Client(endpoint, connection_region(connection), path_style=path_style,
                               credentials=connection_credentials(connection, endpoint))

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r}, endpoint={self.client.endpoint_url!r})"

    def full_key(self, key: str) -> str:
        """The bucket key of a location-relative key."""
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes) -> None:
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        await self.client.request("PUT", self.bucket_name, self.full_key(key), body=data,
                                  headers={"content-md5": digest})

    async def get(self, key: str) -> bytes | None:
        status, _, data = await self.client.request("GET", self.bucket_name, self.full_key(key))
        return None if status == 404 else data

    async def chunks(self, key: str, size: int = 8 << 20) -> AsyncIterator[bytes]:
        full = self.full_key(key)
        start = 0
        while True:
            span = f"bytes={start}-{start + size - 1}"
            status, headers, data = await self.client.request(
                "GET", self.bucket_name, full, headers={"range": span})
            if status == 404:
                raise S3Error(f"S3 GET {self.bucket}/{full}: no such key", code="NoSuchKey",
                              status=404, key=full)
            if status == 416:  # an empty object has no byte 0
                return
            if data:
                yield data
            if status == 200:
                return  # the server sent the whole object
            total = headers.get("content-range", "").rpartition("/")[2]
            start += len(data)
            if not data or not total.isdigit() or start >= int(total):
                return

    async def list(self, prefix: str = "") -> list[str]:
        full = self.full_key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        keys: list[str] = []
        params = {"list-type": "2", "prefix": full}
        strip = len(self.prefix) + 1 if self.prefix else 0
        while True:
            _, _, body = await self.client.request("GET", self.bucket_name, params=params)
            root = ElementTree.fromstring(body)
            for contents in root.iter(f"{_NS}Contents"):
                found = contents.findtext(f"{_NS}Key") or ""
                keys.append(found[strip:])
            token = root.findtext(f"{_NS}NextContinuationToken")
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return sorted(keys)
            params = {**params, "continuation-token": token}

    async def delete(self, key: str) -> None:
        await self.client.request("DELETE", self.bucket_name, self.full_key(key))

    async def create_bucket(self) -> None:
        """Create the bucket (for tests and local servers; an existing one is fine)."""
        region = self.client.region
        body = b"" if region == "us-east-1" else (
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            f"<LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        ).encode()
        try:
            await self.client.request("PUT", self.bucket_name, body=body)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def close(self) -> None:
        await self.client.close()
