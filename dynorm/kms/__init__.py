"""AWS KMS as the keyring of encrypted fields: `KmsKeyring`.

Data keys come from KMS ``GenerateDataKey`` (AES-256) and are unwrapped with ``Decrypt``,
both over dynorm's own SigV4 signer and keep-alive HTTP client (JSON 1.1,
``X-Amz-Target: TrentService.<Op>``); the `Keyring` cache bounds the calls: one
``GenerateDataKey`` per ``max_uses`` values or ``max_age`` seconds, one ``Decrypt`` per data
key met in reads while it is cached.

Endpoint: ``endpoint_url`` if given, else ``AWS_ENDPOINT_URL_KMS``, else the connection's
endpoint when it is a local server (moto serves KMS on its DynamoDB port), else
``https://kms.<region>.amazonaws.com``. Credentials: dynorm's credential chain (the
same sources as the fast transport); a loopback endpoint without any gets dummy ones.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Mapping
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

from dynorm.codec.json import dumps, loads
from dynorm.connection import get_connection
from dynorm.exceptions import ConnectionNotConfigured
from dynorm.security import DecryptionFailed, Keyring, KeyringError
from dynorm.transport._config import load_config, ssl_context
from dynorm.transport._credentials import (
    CredentialRefresher,
    Credentials,
    Static,
    find_source,
    no_credentials,
)
from dynorm.transport._http import HTTPClient, HTTPError
from dynorm.transport._sigv4 import SigV4Signer, host_from_url, normalize_path
from dynorm.transport.base import RetryPolicy

__all__ = ["KmsKeyring"]

log = logging.getLogger(__name__)

_CONTENT_TYPE = "application/x-amz-json-1.1"
#: KMS answers that mean "this wrapped key does not open here" (a value's problem, not
#: the service's): reading the value raises DecryptionFailed.
_UNOPENABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_RETRYABLE = frozenset({"ThrottlingException", "KMSInternalException",
                        "DependencyTimeoutException", "LimitExceededException"})


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class KmsKeyring(Keyring):
    """Data keys from AWS KMS: ``Annotated[str, Encrypted(KmsKeyring("alias/app"))]``.

    Args:
        key_id: the KMS key that wraps new data keys (id, ARN, alias name or alias ARN).
            Values written under an earlier key still read after it changes: KMS finds
            the key from the wrapped data key itself (symmetric keys).
        region: the key's region (default: the connection's).
        endpoint_url: a KMS-compatible endpoint (see the module docstring).
        encryption_context: extra KMS encryption context bound to every data key (shown
            in CloudTrail; an IAM condition can require it). dynorm adds
            ``{"dynorm": "data-key"}``.
        max_age: seconds a data key is used and an unwrapped one cached (`Keyring`).
        max_uses: values per data key (`Keyring`).
        retry: retries of throttled or failed KMS calls.
    """

    kind = b"K"

    def __init__(self, key_id: str, *, region: str | None = None,
                 endpoint_url: str | None = None,
                 encryption_context: Mapping[str, str] | None = None,
                 max_age: float = 300.0, max_uses: int = 100_000,
                 retry: RetryPolicy | None = None) -> None:
        super().__init__(max_age=max_age, max_uses=max_uses)
        if not key_id:
            raise ValueError("KmsKeyring needs a key id, ARN or alias")
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.encryption_context = {**(encryption_context or {}), "dynorm": "data-key"}
        self.retry = retry or RetryPolicy(max_attempts=5)
        self._client: HTTPClient | None = None
        self._endpoint: tuple[str, str, str] | None = None  # url, region, host
        self._signer: SigV4Signer | None = None
        self._refresher: CredentialRefresher | None = None

    def __repr__(self) -> str:
        return f"KmsKeyring({self.key_id!r})"

    # ------------------------------------------------------------------ keys

    async def _generate(self) -> tuple[bytes, bytes]:
        answer = await self._call("GenerateDataKey", {
            "KeyId": self.key_id, "KeySpec": "AES_256",
            "EncryptionContext": self.encryption_context,
        })
        plain = base64.b64decode(answer["Plaintext"])
        return plain, self.kind + base64.b64decode(answer["CiphertextBlob"])

    async def _unwrap(self, wrapped: bytes) -> bytes:
        try:
            answer = await self._call("Decrypt", {
                "CiphertextBlob": base64.b64encode(wrapped[1:]).decode("ascii"),
                "EncryptionContext": self.encryption_context,
            })
        except _KmsError as exc:
            if exc.code in _UNOPENABLE:
                raise DecryptionFailed(f"KMS cannot decrypt its data key ({exc.code})",
                                       model="", table="", key={}, field="") from None
            raise
        return base64.b64decode(answer["Plaintext"])

    # ------------------------------------------------------------------ calls

    def _resolve(self) -> tuple[str, str, str]:
        if self._endpoint is None:
            try:
                conn = get_connection()
            except ConnectionNotConfigured:
                conn = None
            region = (self.region or (conn.region if conn is not None else None)
                      or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                      or "us-east-1")
            url = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_KMS")
            if not url and conn is not None and conn.endpoint_url and _is_loopback(
                    conn.endpoint_url):
                url = conn.endpoint_url
            if not url:
                suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
                url = f"https://kms.{region}.{suffix}"
            self._endpoint = (url.rstrip("/"), region, host_from_url(url))
            self._signer = SigV4Signer(region, "kms")
        return self._endpoint

    async def _credentials(self, url: str) -> Credentials:
        if self._refresher is None:
            config = load_config()
            source: Any = find_source(config, region=self._resolve()[1],
                                      tls=lambda: ssl_context(config))
            if source is None or (_is_loopback(url) and not os.environ.get(
                    "AWS_ACCESS_KEY_ID")):
                if not _is_loopback(url):
                    raise no_credentials()
                source = Static(Credentials("local", "local", None, None, "explicit"))
            self._refresher = CredentialRefresher(source)
        return await self._refresher.get()

    async def _call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One KMS operation, retried on throttling, 5xx and lost connections."""
        import asyncio

        url, _, host = self._resolve()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(url, host, operation, payload)
            except _KmsError as exc:
                if (exc.code not in _RETRYABLE and exc.status < 500) or (
                        attempt >= self.retry.max_attempts):
                    raise
            except (HTTPError, OSError, asyncio.TimeoutError) as exc:
                if attempt >= self.retry.max_attempts:
                    raise KeyringError(f"{self!r}: KMS {operation} got no answer from {url} "
                                       f"after {attempt} attempts: {exc}") from exc
            await asyncio.sleep(self.retry.delay(attempt))

    async def _once(self, url: str, host: str, operation: str, payload: dict[str, Any]
                    ) -> dict[str, Any]:
        credentials = await self._credentials(url)
        body = dumps(payload)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = f"TrentService.{operation}"
        signed = [("content-type", _CONTENT_TYPE), ("host", host), ("x-amz-date", stamp)]
        if credentials.token:
            signed.append(("x-amz-security-token", credentials.token))
        signed.append(("x-amz-target", target))
        assert self._signer is not None
        parts = urlsplit(url)
        authorization = self._signer.authorization_sorted(
            normalize_path(parts.path or "/"), signed, sha256(body).hexdigest(),
            credentials.access_key, credentials.secret_key, stamp)
        head = "".join(f"{k}: {v}\r\n" for k, v in signed)
        if self._client is None:
            self._client = HTTPClient(f"{parts.scheme}://{parts.netloc}", limit=16,
                                      ssl_context=ssl_context(load_config())
                                      if parts.scheme == "https" else None)
        status, _, raw = await self._client.request(
            f"POST {parts.path or '/'} HTTP/1.1\r\n{head}Authorization: {authorization}\r\n"
            f"Content-Length: {len(body)}\r\nAccept-Encoding: identity\r\n\r\n".encode(), body)
        try:
            answer: dict[str, Any] = loads(raw) if raw else {}
        except ValueError:
            answer = {}
        if status == 200:
            return answer
        code = str(answer.get("__type", f"HTTP {status}")).rsplit("#", 1)[-1]
        message = answer.get("message") or answer.get("Message") or raw[:200].decode(
            "utf-8", "replace")
        raise _KmsError(f"{self!r}: KMS {operation} failed: {code}: {message}", code=code,
                        status=status)

    async def close(self) -> None:
        """Close the HTTP connections (the cache is kept)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._refresher is not None:
            await self._refresher.close()
            self._refresher = None


class _KmsError(KeyringError):
    """KMS answered with an error (``code``: its ``__type``; ``status``: HTTP)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

