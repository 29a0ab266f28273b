"""Each credential source of the fast transport against a local fake of its endpoint
(tests/support/credential_fakes.py, 127.0.0.1), end to end: the keys a DynamoDB request
is signed with, refreshes before expiry, and calls made while a refresh is running."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from dynorm.exceptions import ConnectionNotConfigured, TransportError
from dynorm.transport import _credentials, _metadata
from dynorm.transport.fast import FastTransport
from tests.support.aws_env import AwsFiles, isolate
from tests.support.credential_fakes import FakeAws, fake_aws
from tests.support.loopback import serve

_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    return isolate(monkeypatch, tmp_path)


@pytest.fixture
def fake() -> Iterator[FakeAws]:
    with fake_aws() as server:
        yield server


class DynamoDB:
    """Answers every call with ``{}`` and keeps the signing headers it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        self.seen.append((match.group(1) if match else "",
                          request.headers.get("X-Amz-Security-Token")))
        return web.json_response({}, content_type="application/x-amz-json-1.0")


@pytest.fixture
async def dynamodb() -> AsyncIterator[tuple[DynamoDB, str]]:
    server = DynamoDB()
    async with serve(server.handle) as port:
        yield server, f"http://127.0.0.1:{port}"


async def signed_with(url: str, server: DynamoDB, **settings: Any
                      ) -> tuple[str, str | None, str | None]:
    """Open a fast transport (the chain decides), make one call: (key, token, source)."""
    transport = FastTransport(endpoint_url=url, **settings)
    try:
        await transport.open()
        await transport.call("GetItem", {"TableName": "t", "Key": {}})
        return (*server.seen[-1], transport.credential_source)
    finally:
        await transport.close()


async def test_environment_like_lambda(files: AwsFiles, monkeypatch: pytest.MonkeyPatch,
                                       dynamodb: tuple[DynamoDB, str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIALAMBDA")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "lambda-token")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    server, url = dynamodb
    assert await signed_with(url, server) == ("ASIALAMBDA", "lambda-token", "env")
    assert FastTransport(endpoint_url=url).region == "eu-west-3"


async def test_shared_files(files: AwsFiles, monkeypatch: pytest.MonkeyPatch,
                            dynamodb: tuple[DynamoDB, str]) -> None:
    files.write(config="[profile dev]\nregion = ap-southeast-2\n"
                "aws_access_key_id = AKIACONFIG\naws_secret_access_key = s\n",
                credentials="[default]\naws_access_key_id = AKIADEFAULT\n"
                "aws_secret_access_key = s\naws_session_token = tok\n")
    server, url = dynamodb
    assert await signed_with(url, server) == ("AKIADEFAULT", "tok", "shared-credentials-file")
    assert await signed_with(url, server, profile="dev") == ("AKIACONFIG", None, "config-file")
    assert FastTransport(endpoint_url=url, profile="dev").region == "ap-southeast-2"
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert (await signed_with(url, server))[0] == "AKIACONFIG"
    with pytest.raises(Exception) as caught:
        FastTransport(endpoint_url=url, profile="missing")
    assert type(caught.value).__name__ == "ProfileNotFound"


async def test_container_full_uri_with_token_file(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch, dynamodb: tuple[DynamoDB, str],
        fake: FakeAws) -> None:
    """Lambda SnapStart / EKS Pod Identity: a full URI and a token file read each time."""
    fake.container_token = "pod-token-1"
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{fake.url}/container/v1")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                       files.token_file("pod-token-1"))
    server, url = dynamodb
    assert await signed_with(url, server) == ("ASIACONT1", "container-token-1",
                                              "container-role")
    request = fake.requests[-1]
    assert (request["method"], request["path"]) == ("GET", "/container/v1")
    assert request["headers"]["Accept"] == "application/json"
    fake.container_token = "pod-token-2"   # rotated on disk
    files.token_file("pod-token-2")
    assert (await signed_with(url, server))[0] == "ASIACONT2"


async def test_container_relative_uri_and_token(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch, fake: FakeAws) -> None:
    """ECS: the relative URI is fetched from the agent's address (here the fake's)."""
    monkeypatch.setattr(_metadata, "CONTAINER_HOST", f"127.0.0.1:{fake.port}")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/container/ecs?id=1")
    fake.container_token = "ecs-token"
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-token")
    source = _credentials.find_source(_load())
    credentials = await source.fetch()
    assert credentials.access_key == "ASIACONT1"
    assert credentials.expiry == pytest.approx(time.time() + 3600, abs=5)
    assert fake.requests[-1]["path"] == "/container/ecs?id=1"
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
    monkeypatch.setattr(_metadata.Container, "PAUSE", 0.01)
    with pytest.raises(TransportError, match=r"HTTP 401") as caught:
        await _credentials.find_source(_load()).fetch()
    assert caught.value.sent is False
    assert fake.counts["container"] == 1 and len(fake.requests) == 4  # 3 attempts
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "bad\r\nX: y")
    with pytest.raises(ConnectionNotConfigured, match="line break"):
        await _credentials.find_source(_load()).fetch()


async def test_web_identity(files: AwsFiles, monkeypatch: pytest.MonkeyPatch,
                            dynamodb: tuple[DynamoDB, str], fake: FakeAws) -> None:
    """EKS IRSA: the token file's JWT exchanged at STS, unsigned."""
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", files.token_file("web-token"))
    monkeypatch.setenv("AWS_ROLE_ARN", fake.role_arn)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-a")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake.url)
    server, url = dynamodb
    assert await signed_with(url, server) == ("ASIASTS1", "sts-token-1",
                                              "assume-role-with-web-identity")
    request = fake.requests[-1]
    assert request["method"] == "POST" and "Authorization" not in request["headers"]
    assert request["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert b"RoleSessionName=pod-a" in request["body"]
    assert b"Version=2011-06-15" in request["body"]
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/other")
    transport = FastTransport(endpoint_url=url)
    with pytest.raises(TransportError, match="InvalidIdentityToken: AssumeRoleWithWebIdentity"):
        await transport.open()
    await transport.close()


async def test_instance_metadata_v2(files: AwsFiles, monkeypatch: pytest.MonkeyPatch,
                                    dynamodb: tuple[DynamoDB, str], fake: FakeAws) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url)
    server, url = dynamodb
    assert await signed_with(url, server) == ("ASIAIMDS1", "imds-token-1", "iam-role")
    steps = [(r["method"], r["path"]) for r in fake.requests]
    assert steps == [("PUT", "/latest/api/token"),
                     ("GET", "/latest/meta-data/iam/security-credentials/"),
                     ("GET", "/latest/meta-data/iam/security-credentials/ec2-role")]
    assert fake.requests[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert all(r["headers"]["x-aws-ec2-metadata-token"] == "imds-token-1"
               for r in fake.requests[1:])


async def test_instance_metadata_v1_fallback_and_disabled(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch, fake: FakeAws) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url)
    fake.imds_v1_only = True  # the token PUT is refused with 403
    assert (await _credentials.find_source(_load()).fetch()).access_key == "ASIAIMDS1"
    assert "x-aws-ec2-metadata-token" not in fake.requests[-1]["headers"]
    monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
    with pytest.raises(TransportError, match="IMDSv1 is disabled"):
        await _credentials.find_source(_load()).fetch()
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert _credentials.find_source(_load()) is None


async def test_no_instance_metadata_means_no_credentials(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.loopback import free_port

    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    transport = FastTransport(endpoint_url="http://127.0.0.1:1")
    with pytest.raises(TransportError, match="Unable to locate credentials"):
        await transport.open()
    await transport.close()


def _load() -> Any:
    from dynorm.transport._config import load_config

    return load_config()


# --------------------------------------------------------------- refreshing, end to end


async def test_refresh_before_expiry_while_calls_go_on(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch, dynamodb: tuple[DynamoDB, str],
        fake: FakeAws) -> None:
    """Container credentials valid for an hour: 14 minutes before expiry one refresh runs
    while twenty concurrent calls sign with the still-valid keys; once expired, calls
    wait for the (single) refresh and sign with the new keys."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{fake.url}/container")
    server, url = dynamodb
    transport = FastTransport(endpoint_url=url)
    await transport.open()
    clock = {"offset": 0.0}
    monkeypatch.setattr(_credentials, "_now", lambda: time.time() + clock["offset"])

    async def burst() -> set[str]:
        before = len(server.seen)
        await asyncio.gather(*(transport.call("GetItem", {"TableName": "t", "Key": {}})
                               for _ in range(20)))
        return {key for key, _ in server.seen[before:]}

    try:
        assert await burst() == {"ASIACONT1"}
        clock["offset"] = 3600 - 14 * 60          # the advisory window
        transport._credentials_until = 0.0       # (the transport reads the real clock)
        fake.delay = 0.5
        started = time.monotonic()
        assert await burst() == {"ASIACONT1"}    # nobody waited for the refresh...
        assert time.monotonic() - started < 0.45
        assert fake.counts["container"] == 1     # ...which is still running
        for _ in range(100):
            if fake.counts.get("container") == 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        assert await burst() == {"ASIACONT2"}
        clock["offset"] = 2 * 3600 + 1            # expired
        transport._credentials_until = 0.0
        fake.delay, fake.lifetime = 0.2, 4 * 3600.0
        assert await burst() == {"ASIACONT3"}    # all waited, for one refresh
        assert fake.counts["container"] == 3
    finally:
        await transport.close()


async def test_a_session_passed_in_is_used_through_botocore(
        files: AwsFiles, dynamodb: tuple[DynamoDB, str]) -> None:
    import aioboto3

    session = aioboto3.Session(aws_access_key_id="AKIASESSION", aws_secret_access_key="s",
                               region_name="sa-east-1")
    server, url = dynamodb
    transport = FastTransport(session, endpoint_url=url)
    assert transport.region == "sa-east-1"
    try:
        await transport.open()
        await transport.call("GetItem", {"TableName": "t", "Key": {}})
    finally:
        await transport.close()
    assert server.seen[-1] == ("AKIASESSION", None)
    assert transport.credential_source == "botocore"


async def test_credential_process_falls_back_to_botocore(
        files: AwsFiles, dynamodb: tuple[DynamoDB, str]) -> None:
    import sys

    script = files.token_file(
        'import json; print(json.dumps({"Version": 1, "AccessKeyId": "AKIAPROCESS", '
        '"SecretAccessKey": "s", "SessionToken": "process-token"}))', "process.py")
    files.write(config=f"[default]\ncredential_process = {sys.executable} {script}\n")
    server, url = dynamodb
    assert await signed_with(url, server) == ("AKIAPROCESS", "process-token", "botocore")


async def test_web_identity_over_tls_trusts_the_ca_bundle(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """STS is reached over HTTPS with the certificates the transport trusts
    (``AWS_CA_BUNDLE``); an untrusted server is refused."""
    from tests.support.loopback import self_signed

    cert, server_ctx = self_signed(tmp_path)

    async def sts(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["Action"] == "AssumeRoleWithWebIdentity"
        return web.Response(content_type="text/xml", text=(
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
            "<Credentials><AccessKeyId>ASIATLS</AccessKeyId><SecretAccessKey>s"
            "</SecretAccessKey><SessionToken>t</SessionToken>"
            "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
            "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"))

    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", files.token_file("jwt"))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")
    async with serve(sts, ssl_context=server_ctx) as port:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"https://127.0.0.1:{port}")
        transport = FastTransport(endpoint_url="http://127.0.0.1:1")
        with pytest.raises(TransportError, match=r"(?i)certificate"):
            await transport.open()
        await transport.close()
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        transport = FastTransport(endpoint_url="http://127.0.0.1:1")
        await transport.open()
        assert transport._access_key == "ASIATLS"
        await transport.close()
