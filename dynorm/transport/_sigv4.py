"""AWS Signature Version 4 for DynamoDB's JSON API, without botocore.

Only what a POST with a body needs: the canonical request (method, normalized path,
canonical query, canonical headers, signed headers, payload SHA-256), the string to
sign and the signature. The derived signing key is cached per (secret, date, region,
service), so a call costs two SHA-256 digests and one HMAC.

The rules follow botocore's ``SigV4Auth`` exactly (``tests/unit/test_sigv4.py`` signs a
few hundred generated requests with both and compares the ``Authorization`` headers):
header names lower-cased and sorted, values trimmed with inner whitespace collapsed,
repeated headers joined by ``,``, ``expect``/``transfer-encoding``/``user-agent``/
``x-amzn-trace-id`` left unsigned, ``host`` taken from the URL (default port dropped)
when not given.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

__all__ = ["SigV4Signer", "amz_date", "host_from_url", "normalize_path"]

_UNSIGNED = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_sha256 = hashlib.sha256
_hmac_new = hmac.new


def amz_date(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC (the ``X-Amz-Date`` header)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


def host_from_url(url: str) -> str:
    """The ``host`` header value for a URL: lower-case, without a default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def normalize_path(path: str) -> str:
    """The canonical URI: dot segments and empty segments removed, then URI-encoded."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if out:
                    out.pop()
            else:
                out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return quote(first + "/".join(out) + last, safe="/~")


def canonical_query(query: str) -> str:
    """The canonical query string of a URL's (already encoded) query, as botocore sorts it."""
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class SigV4Signer:
    """Signs requests for one region and service (``dynamodb`` signs Streams calls too).

    ```python
    signer = SigV4Signer("eu-west-1", "dynamodb")
    auth = signer.authorization("POST", "/", "", headers, payload_hash,
                                access_key, secret_key, "20240101T000000Z")
    ```
    """

    __slots__ = ("_keys", "_scope_tail", "region", "service")

    def __init__(self, region: str, service: str) -> None:
        self.region = region
        self.service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._keys: dict[tuple[str, str], bytes] = {}

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """The derived key for ``date`` (``YYYYMMDD``), cached."""
        cache_key = (secret_key, date)
        key = self._keys.get(cache_key)
        if key is None:
            k = _hmac_new(f"AWS4{secret_key}".encode(), date.encode(), _sha256).digest()
            k = _hmac_new(k, self.region.encode(), _sha256).digest()
            k = _hmac_new(k, self.service.encode(), _sha256).digest()
            key = _hmac_new(k, b"aws4_request", _sha256).digest()
            if len(self._keys) > 8:  # old dates and rotated secrets
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def authorization(
        self,
        method: str,
        canonical_uri: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        payload_hash: str,
        access_key: str,
        secret_key: str,
        timestamp: str,
    ) -> str:
        """The ``Authorization`` header value.

        Args:
            method: the HTTP method.
            canonical_uri: the normalized path (see `normalize_path`).
            query: the canonical query string (``""`` for DynamoDB).
            headers: every header sent, as (name, value) pairs in any order and case,
                including ``host`` and ``x-amz-date`` (and ``x-amz-security-token``).
            payload_hash: hex SHA-256 of the body.
            access_key: the credentials.
            secret_key: the secret of that access key.
            timestamp: the ``X-Amz-Date`` value.
        """
        grouped: dict[str, list[str]] = {}
        for name, value in headers:
            lname = name.lower()
            if lname in _UNSIGNED:
                continue
            grouped.setdefault(lname, []).append(" ".join(value.split()))
        names = sorted(grouped)
        signed = ";".join(names)
        canonical_headers = "".join(f"{n}:{','.join(grouped[n])}\n" for n in names)
        canonical = (
            f"{method.upper()}\n{canonical_uri}\n{query}\n{canonical_headers}\n"
            f"{signed}\n{payload_hash}"
        )
        return self._header(canonical, signed, access_key, secret_key, timestamp)

    def _header(self, canonical: str, signed: str, access_key: str, secret_key: str,
                timestamp: str) -> str:
        """Sign a canonical request: the string to sign, the signature, the header value."""
        date = timestamp[:8]
        scope = date + self._scope_tail
        to_sign = (
            f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n"
            f"{_sha256(canonical.encode()).hexdigest()}"
        )
        signature = _hmac_new(
            self.signing_key(secret_key, date), to_sign.encode(), _sha256
        ).hexdigest()
        return (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )

    def authorization_sorted(
        self,
        canonical_uri: str,
        headers: list[tuple[str, str]],
        payload_hash: str,
        access_key: str,
        secret_key: str,
        timestamp: str,
    ) -> str:
        """`authorization` for a POST whose headers are already canonical.

        ``headers``: lower-case names, sorted, unique, values already trimmed (the
        transport's fixed header set). Skips the grouping and sorting.
        """
        signed = ";".join([n for n, _ in headers])
        canonical_headers = "".join([f"{n}:{v}\n" for n, v in headers])
        canonical = (
            f"POST\n{canonical_uri}\n\n{canonical_headers}\n{signed}\n{payload_hash}"
        )
        return self._header(canonical, signed, access_key, secret_key, timestamp)


def sign_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    timestamp: str,
    signer: SigV4Signer | None = None,
) -> dict[str, str]:
    """The headers to add to a request (``X-Amz-Date``, token, ``Authorization``).

    The general form used by the differential test; the transport calls
    `SigV4Signer.authorization` with headers it already has in canonical form.
    """
    given = [(n, v) for n, v in headers
             if n.lower() not in ("authorization", "x-amz-date", "x-amz-security-token")]
    added = {"X-Amz-Date": timestamp}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
    all_headers = given + list(added.items())
    if not any(n.lower() == "host" for n, _ in all_headers):
        all_headers.append(("host", host_from_url(url)))
    parts = urlsplit(url)
    signer = signer or SigV4Signer(region, service)
    added["Authorization"] = signer.authorization(
        method,
        normalize_path(parts.path),
        canonical_query(parts.query),
        all_headers,
        _sha256(body).hexdigest(),
        access_key,
        secret_key,
        timestamp,
    )
    return added
