"""A TLS terminator for the https scenario: its own process, so none of its CPU is the client's.

    python -m benchmarks.tls_proxy --upstream 127.0.0.1:8000 --cert server.pem \\
        --key server.key --tls-port 8443 --plain-port 8080

Accepts TLS on ``--tls-port`` and plain TCP on ``--plain-port`` (the control: the same hop
without TLS), both on 127.0.0.1, and pipes each connection's bytes to a new connection to
the upstream server and back (asyncio protocols, no parsing). The upstream closing its
side closes the client's (moto closes after every response).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl


class Upstream(asyncio.Protocol):
    """The connection to the server: its bytes go back to the client."""

    def __init__(self, client: Downstream) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.transport.close()

    def pause_writing(self) -> None:
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client.transport.resume_reading()


class Downstream(asyncio.Protocol):
    """A client's connection (TLS or plain): opens its upstream, buffering until then."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream_address = upstream
        self.upstream: Upstream | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connecting = asyncio.ensure_future(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(lambda: Upstream(self),
                                                       *self.upstream_address)
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.transport.close()
            return
        self.upstream = upstream
        for data in self.pending:
            upstream.transport.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.transport.close()

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.resume_reading()


async def serve(upstream: tuple[str, int], cert: str, key: str, tls_port: int,
                plain_port: int) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    tls = await loop.create_server(lambda: Downstream(upstream), "127.0.0.1", tls_port,
                                   ssl=context, backlog=1024)
    plain = await loop.create_server(lambda: Downstream(upstream), "127.0.0.1", plain_port,
                                     backlog=1024)
    async with tls, plain:
        await asyncio.Event().wait()  # until terminated


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tls_proxy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="host:port of the server")
    p.add_argument("--cert", required=True, help="the server certificate (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--plain-port", type=int, required=True)
    args = p.parse_args()
    host, _, port = args.upstream.rpartition(":")
    asyncio.run(serve((host, int(port)), args.cert, args.key, args.tls_port, args.plain_port))


if __name__ == "__main__":
    main()
