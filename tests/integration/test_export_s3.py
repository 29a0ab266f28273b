"""S3 requests of exports and imports: signed with the dynorm connection's credentials and
region (no second AWS credential chain), and sent through ``HTTP(S)_PROXY`` unless
``NO_PROXY`` names the host, as botocore does. moto serves S3 on its DynamoDB port; a
forward proxy on 127.0.0.1 records what goes through it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from dynorm import LocalServer
from dynorm.backup import export_table, import_table
from dynorm.backup.s3 import S3Storage
from tests.support.backup_data import Everything, fill, scan_all

pytestmark = pytest.mark.only_on("moto", reason="moto serves S3 on its DynamoDB port; "
                                 "DynamoDB Local has no S3")

KEY = "AKIDFROMTHECONNECTION"


class Recorded:
    def __init__(self) -> None:
        #: (request line, headers lower-cased) of each request received
        self.requests: list[tuple[str, dict[str, str]]] = []


@asynccontextmanager
async def forward_proxy() -> AsyncIterator[tuple[str, Recorded]]:
    """A plain-HTTP forward proxy (absolute-form requests, one per connection: the
    answer ends when the connection closes)."""
    seen = Recorded()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (f.partition(":") for f in fields if f)}
            seen.requests.append((line, headers))
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, url, version = line.split(" ")
            assert url.startswith("http://"), line  # absolute form
            authority, _, path = url[7:].partition("/")
            host, _, port = authority.partition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
            kept = "".join(f"{f}\r\n" for f in fields if f and not f.lower().startswith(
                ("connection:", "proxy-")))
            up_writer.write(f"{method} /{path} {version}\r\n{kept}Connection: close\r\n"
                            "\r\n".encode("latin-1") + body)
            answer = await up_reader.read()  # until the server closes
            up_writer.close()
            writer.write(answer)  # and this connection closes too: the answer's end
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        await server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@asynccontextmanager
async def tunnel_proxy() -> AsyncIterator[tuple[str, Recorded]]:
    """A forward proxy for https: ``CONNECT host:port``, then bytes both ways."""
    seen = Recorded()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *fields = head.decode("latin-1").split("\r\n")
        seen.requests.append((line, {k.strip().lower(): v.strip() for k, _, v in
                                     (f.partition(":") for f in fields if f)}))
        method, target, _ = line.split(" ")
        assert method == "CONNECT", line
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()


@asynccontextmanager
async def tls_in_front(upstream: str, cert: Path, key: Path) -> AsyncIterator[str]:
    """``https://127.0.0.1:<port>`` terminating TLS in front of ``upstream``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    host, _, port = upstream.removeprefix("http://").partition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def s3_requests(seen: Recorded) -> list[tuple[str, dict[str, str]]]:
    """The S3 requests among those recorded (DynamoDB's are POSTs with X-Amz-Target)."""
    return [(line, h) for line, h in seen.requests if "x-amz-target" not in h]


@pytest.mark.parametrize("transport", ["fast", "aioboto3"])
async def test_s3_requests_use_the_connections_credentials_and_the_proxy(
        dynorm_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        transport: str) -> None:
    dynorm_server.reset()
    # another identity in the environment: the connection's explicit keys must win
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMTHEENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    async with dynorm_server.connect(aws_access_key_id=KEY, aws_secret_access_key="secret",
                                     region="eu-west-1", transport=transport) as conn:
        await Everything.create_table()
        await fill(12)
        async with forward_proxy() as (proxy, seen):
            monkeypatch.setenv("HTTP_PROXY", proxy)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            storage = S3Storage("bk-proxied", connection=conn)
            try:
                await storage.create_bucket()
            finally:
                await storage.close()
            result = await export_table(Everything, "s3://bk-proxied/p", segments=2)
            done = await import_table("s3://bk-proxied/p", "bk_copy", create=True)
            monkeypatch.delenv("HTTP_PROXY")
        assert result.item_count == 12 and done.items == 12
        assert len(await scan_all(conn, "bk_copy")) == 12
    requests = s3_requests(seen)
    endpoint = dynorm_server.endpoint_url
    # every S3 request went through the proxy (absolute URLs to the server) ...
    lines = [line for line, _ in requests]
    assert any(line.startswith(f"PUT {endpoint}/bk-proxied/p/AWSDynamoDB/") for line in lines)
    assert any(line.startswith(f"GET {endpoint}/bk-proxied?") for line in lines)  # a list
    assert len(requests) >= 2 + result.files * 2  # bucket, data files, manifests, reads
    # ... signed as the connection: its key and region, for the s3 service
    for _, headers in requests:
        assert f"Credential={KEY}/" in headers["authorization"]
        assert "/eu-west-1/s3/aws4_request" in headers["authorization"]


async def test_no_proxy_names_the_hosts_s3_requests_reach_directly(
        dynorm_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dynorm_server.reset()
    async with dynorm_server.connect(transport="fast") as conn:
        await Everything.create_table()
        await fill(5)
        async with forward_proxy() as (proxy, seen):
            monkeypatch.setenv("HTTP_PROXY", proxy)
            monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
            storage = S3Storage("bk-direct", connection=conn)
            try:
                await storage.create_bucket()
            finally:
                await storage.close()
            result = await export_table(Everything, "s3://bk-direct", segments=1)
        assert result.item_count == 5
        assert seen.requests == []


async def test_https_s3_goes_through_https_proxy_with_connect(
        dynorm_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An https endpoint (TLS in front of moto, a throwaway CA trusted through
    AWS_CA_BUNDLE) is reached through HTTPS_PROXY's CONNECT tunnel."""
    from benchmarks.https import make_certs

    ca, cert, key = make_certs(tmp_path)
    dynorm_server.reset()
    async with dynorm_server.connect(transport="fast") as conn:
        await Everything.create_table()
        await fill(5)
        async with tls_in_front(dynorm_server.endpoint_url, cert, key) as https_url, \
                tunnel_proxy() as (proxy, seen):
            monkeypatch.setenv("HTTPS_PROXY", proxy)
            monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
            for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
                monkeypatch.delenv(name, raising=False)
            storage = S3Storage("bk-tls", connection=conn, endpoint_url=https_url)
            try:
                await storage.create_bucket()
            finally:
                await storage.close()
            result = await export_table(Everything, "s3://bk-tls/x", segments=1,
                                        s3_endpoint_url=https_url)
            done = await import_table("s3://bk-tls/x", "bk_copy", create=True,
                                      s3_endpoint_url=https_url)
        assert result.item_count == 5 and done.items == 5
    target = https_url.removeprefix("https://")
    assert seen.requests and all(line == f"CONNECT {target} HTTP/1.1"
                                 for line, _ in seen.requests)
