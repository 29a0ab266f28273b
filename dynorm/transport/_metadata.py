"""The credential sources that ask an endpoint: containers, web identity (STS), EC2 IMDS.

Each speaks the same wire format as botocore 1.40 (``botocore.utils``'s
``ContainerMetadataFetcher`` and ``InstanceMetadataFetcher``, ``botocore.credentials``'
``AssumeRoleWithWebIdentityCredentialFetcher``), with the same timeouts and attempts,
over dynorm's own HTTP client:

* **container**: ``GET`` ``http://169.254.170.2`` + ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``
  (ECS) or ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (a loopback address or one of the
  container hosts), with ``Authorization`` from ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``
  (read at every fetch: EKS Pod Identity rotates it) or ``AWS_CONTAINER_AUTHORIZATION_TOKEN``;
  JSON ``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``; 3 attempts, 2 s
  timeout, 1 s apart.
* **web identity**: STS ``AssumeRoleWithWebIdentity`` (query protocol, ``POST`` form,
  unsigned: the token is the proof), the token file read at every fetch; STS at
  ``https://sts.<region>.amazonaws.com`` unless ``AWS_ENDPOINT_URL_STS`` (or the other
  configured-endpoint settings) say otherwise; XML answer.
* **IMDS**: ``PUT /latest/api/token`` (IMDSv2; 21600 s TTL), then ``GET
  /latest/meta-data/iam/security-credentials/`` for the role name and ``GET`` that path +
  the role for the JSON credentials; IMDSv1 (no token) only when the token ``PUT`` is
  refused with 403/404/405 or times out, and not with ``ec2_metadata_v1_disabled``.
  ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (or ``_ENDPOINT_MODE=IPv6``) moves it,
  ``AWS_METADATA_SERVICE_TIMEOUT``/``_NUM_ATTEMPTS`` (1 s, 1) bound it. Credentials that
  arrive already close to expiry are used a few minutes longer (botocore's "static
  stability": EC2 hands out new ones before the old expire).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from dynorm.exceptions import ConnectionNotConfigured, TransportError
from dynorm.transport._config import STANDARD_REGION, AwsConfig
from dynorm.transport._credentials import Botocore, Credentials, Source, parse_time
from dynorm.transport._http import HTTPClient, HTTPError
from dynorm.transport._sigv4 import host_from_url

__all__ = ["Container", "InstanceMetadata", "WebIdentity", "container", "http_request",
           "instance_metadata", "web_identity"]

#: Where ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` points (ECS's agent).
CONTAINER_HOST = "169.254.170.2"
_CONTAINER_HOSTS = frozenset({CONTAINER_HOST, "169.254.170.23", "fd00:ec2::23", "localhost"})
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


async def http_request(method: str, url: str, headers: dict[str, str], body: bytes = b"", *,
                       timeout: float, tls: Any = None) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body). Raises ``HTTPError``."""
    parts = urlsplit(url)
    context = tls() if parts.scheme == "https" and tls is not None else None
    client = HTTPClient(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", limit=1,
                        connect_timeout=timeout, read_timeout=timeout, ssl_context=context)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_from_url(url)}",
             *(f"{name}: {value}" for name, value in headers.items()),
             f"Content-Length: {len(body)}", "Connection: close", "", ""]
    try:
        status, _, answer = await client.request("\r\n".join(lines).encode(), body)
    finally:
        await client.close()
    return status, answer


def _fields(data: dict[str, Any], names: tuple[str, ...], where: str) -> list[str]:
    missing = [name for name in names if not isinstance(data.get(name), str)]
    if missing:
        raise TransportError(f"CredentialRetrievalError: {where} answered without "
                             f"{', '.join(missing)}", sent=False, retryable=True)
    return [data[name] for name in names]


# ------------------------------------------------------------------------------ containers


class Container:
    """ECS/EKS container credentials (see the module's docstring)."""

    name = "container-role"
    poll: float | None = None
    ATTEMPTS = 3
    TIMEOUT = 2.0
    PAUSE = 1.0

    def __init__(self, url: str, environ: Any) -> None:
        self.url = url
        self._environ = environ

    def _headers(self) -> dict[str, str]:
        env = self._environ
        headers = {"Accept": "application/json"}
        token = None
        if "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" in env:
            path = env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
            try:
                with open(path) as file:
                    token = file.read()
            except OSError as exc:
                raise TransportError(
                    f"CredentialRetrievalError: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
                    f"{path} cannot be read: {exc}", sent=False, retryable=True) from exc
        elif "AWS_CONTAINER_AUTHORIZATION_TOKEN" in env:
            token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        if token is not None:
            if "\r" in token or "\n" in token:
                raise ConnectionNotConfigured(
                    "Connection: the container authorization token holds a line break, "
                    "which no HTTP header may: correct AWS_CONTAINER_AUTHORIZATION_TOKEN"
                    "(_FILE)")
            headers["Authorization"] = token
        return headers

    async def fetch(self) -> Credentials:
        error = ""
        for attempt in range(self.ATTEMPTS):
            if attempt:
                await asyncio.sleep(self.PAUSE)
            try:
                status, body = await http_request("GET", self.url, self._headers(),
                                                  timeout=self.TIMEOUT)
            except HTTPError as exc:
                error = str(exc)
                continue
            if status != 200:
                error = f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
                continue
            try:
                data = json.loads(body)
            except ValueError:
                error = "an answer that is not JSON"
                continue
            key, secret, token, expiration = _fields(
                data, ("AccessKeyId", "SecretAccessKey", "Token", "Expiration"), self.url)
            return Credentials(key, secret, token, parse_time(expiration), self.name)
        raise TransportError(f"CredentialRetrievalError: container credentials from "
                             f"{self.url}: {error}", sent=False, retryable=True)


def container(config: AwsConfig) -> Container | None:
    """The container source, when ``AWS_CONTAINER_CREDENTIALS_(RELATIVE|FULL)_URI`` is set."""
    env = config.environ
    if "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" in env:
        return Container(f"http://{CONTAINER_HOST}{env['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']}",
                         env)
    if "AWS_CONTAINER_CREDENTIALS_FULL_URI" not in env:
        return None
    url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    host = urlsplit(url).hostname or ""
    if host not in _CONTAINER_HOSTS:
        import ipaddress

        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConnectionNotConfigured(
                f"Connection: AWS_CONTAINER_CREDENTIALS_FULL_URI={url}: credentials are "
                f"fetched only from a loopback address or one of "
                f"{', '.join(sorted(_CONTAINER_HOSTS))} (as botocore does)")
    return Container(url, env)


# ---------------------------------------------------------------------------- web identity


class WebIdentity:
    """STS ``AssumeRoleWithWebIdentity`` with a token file (EKS IRSA)."""

    name = "assume-role-with-web-identity"
    poll: float | None = None
    TIMEOUT = 10.0

    def __init__(self, token_file: str, role_arn: str, session_name: str | None, url: str,
                 tls: Any) -> None:
        self.token_file = token_file
        self.role_arn = role_arn
        self.session_name = session_name or f"dynorm-session-{int(time.time())}"
        self.url = url
        self._tls = tls

    async def fetch(self) -> Credentials:
        try:
            with open(self.token_file) as file:
                token = file.read()
        except OSError as exc:
            raise TransportError(f"CredentialRetrievalError: the web identity token file "
                                 f"{self.token_file} cannot be read: {exc}",
                                 sent=False, retryable=True) from exc
        body = urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                          "RoleArn": self.role_arn, "RoleSessionName": self.session_name,
                          "WebIdentityToken": token}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            status, answer = await http_request("POST", self.url, headers, body,
                                                timeout=self.TIMEOUT, tls=self._tls)
        except HTTPError as exc:
            raise TransportError(f"CredentialRetrievalError: STS at {self.url}: {exc}",
                                 sent=False, retryable=True) from exc
        values = _xml_values(answer)
        if status != 200:
            code = values.get("Code", f"HTTP {status}")
            raise TransportError(
                f"{code}: AssumeRoleWithWebIdentity for {self.role_arn} refused by STS "
                f"({self.url}): {values.get('Message', '')}", sent=False,
                retryable=status >= 500 or code == "IDPCommunicationError")
        key, secret, session_token, expiration = _fields(
            values, ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"),
            f"STS at {self.url}")
        return Credentials(key, secret, session_token, parse_time(expiration), self.name)


def _xml_values(raw: bytes) -> dict[str, str]:
    """Leaf element texts by local name (the answer has each name once)."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        return {"Message": raw[:200].decode("utf-8", "replace")}
    return {element.tag.rpartition("}")[2]: (element.text or "").strip()
            for element in root.iter() if len(element) == 0}


def sts_url(config: AwsConfig, region: str | None) -> str | None:
    """STS's endpoint: the configured one, else the regional one; None when botocore's
    endpoint rules are needed (FIPS, dual-stack, another partition) or a proxy is set."""
    configured = config.endpoint_url("sts")
    if configured:
        return configured
    if any(config.environ.get(v) for v in _PROXY_VARIABLES) or config.flag(
            "use_fips_endpoint", "AWS_USE_FIPS_ENDPOINT") or config.flag(
            "use_dualstack_endpoint", "AWS_USE_DUALSTACK_ENDPOINT"):
        return None
    if region is None:
        return "https://sts.amazonaws.com/"
    if not STANDARD_REGION.fullmatch(region):
        return None
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}/"


def web_identity(config: AwsConfig, region: str | None, tls: Any) -> Source | None:
    """The web identity source (environment first, then the profile, as botocore)."""
    def setting(key: str, variable: str) -> str | None:
        if not config.explicit_profile and variable in config.environ:
            return config.environ[variable]
        value = config.profile.get(key)
        return value if isinstance(value, str) else None

    token_file = setting("web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE")
    if not token_file:
        return None
    role_arn = setting("role_arn", "AWS_ROLE_ARN")
    if not role_arn:
        raise ConnectionNotConfigured(
            f"Connection: web identity is configured (token file {token_file}) but no role: "
            "set AWS_ROLE_ARN or the profile's role_arn")
    url = sts_url(config, region)
    if url is None:
        return Botocore(profile=config.profile_name if config.explicit_profile else None)
    return WebIdentity(token_file, role_arn, setting("role_session_name",
                                                     "AWS_ROLE_SESSION_NAME"), url, tls)


# ------------------------------------------------------------------------------------ IMDS


class InstanceMetadata:
    """EC2 instance-role credentials from IMDS (see the module's docstring)."""

    name = "iam-role"
    poll: float | None = None
    TOKEN_TTL = "21600"
    #: botocore's ``ec2_credential_refresh_window`` (the advisory window).
    WINDOW = 15 * 60

    def __init__(self, base_url: str, timeout: float, attempts: int, v1_disabled: bool) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.v1_disabled = v1_disabled

    async def _token(self) -> str | None:
        """The IMDSv2 session token; None means "use IMDSv1" (botocore's rules)."""
        for _ in range(self.attempts):
            try:
                status, body = await http_request(
                    "PUT", self.base_url + "latest/api/token",
                    {"x-aws-ec2-metadata-token-ttl-seconds": self.TOKEN_TTL},
                    timeout=self.timeout)
            except HTTPError as exc:
                if "timed out waiting" in str(exc):
                    return None  # answered too slowly: an IMDSv1-only proxy, perhaps
                continue
            if status == 200:
                return body.decode()
            if status in (403, 404, 405):
                return None
            if status == 400:
                raise _NoCredentials
        return None

    async def _get(self, path: str, token: str | None, json_body: bool) -> bytes:
        if token is None and self.v1_disabled:
            raise TransportError(
                "MetadataRetrievalError: no IMDSv2 token, and IMDSv1 is disabled "
                "(ec2_metadata_v1_disabled)", sent=False, retryable=True)
        headers = {"x-aws-ec2-metadata-token": token} if token is not None else {}
        for _ in range(self.attempts):
            try:
                status, body = await http_request("GET", self.base_url + path, headers,
                                                  timeout=self.timeout)
            except HTTPError:
                continue
            if status == 200 and body:
                if not json_body:
                    return body
                try:
                    json.loads(body)
                except ValueError:
                    continue
                return body
        raise _NoCredentials

    async def fetch(self) -> Credentials | None:
        path = "latest/meta-data/iam/security-credentials/"
        try:
            token = await self._token()
            role = (await self._get(path, token, False)).decode().strip().splitlines()[0]
            data = json.loads(await self._get(path + role, token, True))
        except _NoCredentials:
            return None
        if not all(isinstance(data.get(k), str) for k in
                   ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")):
            return None  # e.g. {"Code": ..., "Message": ...}: the role cannot be assumed
        expiry = parse_time(data["Expiration"])
        window = self.WINDOW + random.randint(120, 600)
        if time.time() >= expiry - window:
            expiry = time.time() + window  # botocore's extension, see the module docstring
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data["Token"],
                           expiry, self.name)


class _NoCredentials(Exception):
    """IMDS gave no usable answer: the instance has no credentials for us."""


def instance_metadata(config: AwsConfig) -> InstanceMetadata | None:
    """The IMDS source, unless ``AWS_EC2_METADATA_DISABLED=true``."""
    if config.environ.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true":
        return None
    mode = config.get("ec2_metadata_service_endpoint_mode",
                      "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
    if mode is not None and mode.lower() not in ("ipv4", "ipv6"):
        raise ConnectionNotConfigured(
            f"Connection: ec2_metadata_service_endpoint_mode {mode!r} is neither 'IPv4' "
            "nor 'IPv6'")
    ipv6 = mode.lower() == "ipv6" if mode else config.flag("imds_use_ipv6",
                                                           "AWS_IMDS_USE_IPV6")
    base = config.get("ec2_metadata_service_endpoint", "AWS_EC2_METADATA_SERVICE_ENDPOINT") \
        or ("http://[fd00:ec2::254]/" if ipv6 else "http://169.254.169.254/")
    try:
        timeout = float(config.get("metadata_service_timeout",
                                   "AWS_METADATA_SERVICE_TIMEOUT") or 1)
        attempts = int(config.get("metadata_service_num_attempts",
                                  "AWS_METADATA_SERVICE_NUM_ATTEMPTS") or 1)
    except ValueError as exc:
        raise ConnectionNotConfigured(
            f"Connection: metadata_service_timeout / metadata_service_num_attempts must be "
            f"numbers: {exc}") from None
    return InstanceMetadata(base, timeout, attempts,
                            config.flag("ec2_metadata_v1_disabled",
                                        "AWS_EC2_METADATA_V1_DISABLED"))
