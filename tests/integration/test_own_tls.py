"""dynorm's own TLS layer (`dynorm.transport._tls`) against a real TLS server on 127.0.0.1.

The HTTP client uses it for every https endpoint instead of asyncio's SSL layer (less
client CPU per call). Each test runs on both layers, so the two are held to the same
behaviour: answers of many TLS records, keep-alive connections, a server closing its
side, certificates and host names checked.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dynorm.transport import _http
from dynorm.transport._http import HTTPClient
from tests.support.loopback import self_signed, serve


@pytest.fixture(params=[True, False], ids=["own-tls", "asyncio-ssl"])
def layer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    monkeypatch.setattr(_http, "OWN_TLS", request.param)
    yield request.param


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """One certificate for 127.0.0.1 for the module (making one takes ~1 s)."""
    return self_signed(tmp_path_factory.mktemp("tls"))


def _head(port: int, length: int, host: str = "127.0.0.1") -> bytes:
    return (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {length}\r\n\r\n"
            ).encode()


def _client(port: int, cert: Path, host: str = "127.0.0.1") -> HTTPClient:
    return HTTPClient(f"https://{host}:{port}", read_timeout=10, connect_timeout=5,
                      ssl_context=ssl.create_default_context(cafile=str(cert)))


async def test_big_answers_and_keep_alive(layer: bool,
        certs: tuple[Path, ssl.SSLContext]) -> None:
    """A 3 MB answer (hundreds of TLS records, many reads) comes back byte for byte; ten
    requests share one kept-alive connection."""
    cert, server_ctx = certs
    big = bytes(range(256)) * (3 * 4096)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=big if body == b"big" else body[::-1])

    async with serve(handle, ssl_context=server_ctx) as port:
        client = _client(port, cert)
        try:
            status, _, answer = await client.request(_head(port, 3), b"big")
            assert (status, answer) == (200, big)
            for i in range(10):
                body = f"request {i}".encode() * 50
                assert (await client.request(_head(port, len(body)), body))[2] == body[::-1]
            assert len(client._all) == 1
            sslobj = next(iter(client._all)).transport.get_extra_info(  # type: ignore[union-attr]
                "ssl_object")
            assert sslobj is not None and sslobj.version() in ("TLSv1.2", "TLSv1.3")
        finally:
            await client.close()


async def test_a_server_closing_after_each_answer(layer: bool,
        certs: tuple[Path, ssl.SSLContext]) -> None:
    """``Connection: close`` answers: each is read whole, the next request opens a new
    connection."""
    cert, server_ctx = certs

    async def handle(request: web.Request) -> web.Response:
        response = web.Response(body=await request.read())
        response.force_close()
        return response

    async with serve(handle, ssl_context=server_ctx) as port:
        client = _client(port, cert)
        try:
            for i in range(3):
                body = f"n{i}".encode()
                assert (await client.request(_head(port, len(body)), body))[2] == body
            assert not client._idle
        finally:
            await client.close()


async def test_certificates_and_host_names_are_checked(layer: bool,
        certs: tuple[Path, ssl.SSLContext]) -> None:
    """An untrusted certificate, and a trusted one for another host name, are refused
    before anything is sent."""
    cert, server_ctx = certs  # for IP 127.0.0.1 only
    seen: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.Response(body=b"ok")

    async with serve(handle, ssl_context=server_ctx) as port:
        untrusting = HTTPClient(f"https://127.0.0.1:{port}", connect_timeout=5,
                                ssl_context=ssl.create_default_context())
        with pytest.raises(_http.HTTPError, match=r"cannot connect.*CERTIFICATE_VERIFY_FAILED"):
            await untrusting.request(_head(port, 2), b"hi")
        await untrusting.close()
        other_name = _client(port, cert, host="localhost")
        with pytest.raises(_http.HTTPError, match=r"cannot connect.*(?i:hostname|match)"):
            await other_name.request(_head(port, 2, "localhost"), b"hi")
        await other_name.close()
    assert seen == []


async def test_a_pooled_connection_found_closing_is_replaced_quietly(
        layer: bool, certs: tuple[Path, ssl.SSLContext]) -> None:
    """A kept-alive connection that is closing when a request picks it (the server closed
    it while the loop was busy): the request goes out on a fresh connection, not flagged
    as possibly sent twice, and the dropped one leaves no failed future behind ("Future
    exception was never retrieved")."""
    import asyncio
    import gc

    cert, server_ctx = certs
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    try:
        async with serve(handle, ssl_context=server_ctx) as port:
            client = _client(port, cert)
            try:
                assert (await client.request(_head(port, 1), b"a"))[2] == b"a"
                (idle,) = client._idle
                assert idle.transport is not None
                idle.transport.close()  # closing; connection_lost comes on a later turn
                _, headers, answer = await client.request(_head(port, 1), b"b")
                assert answer == b"b"
                assert _http.RESENT not in headers  # nothing was written to the closing one
                for _ in range(5):
                    await asyncio.sleep(0)
                del idle
                gc.collect()
            finally:
                await client.close()
    finally:
        loop.set_exception_handler(None)
    assert errors == []
