"""A minimal keep-alive HTTP/1.1 client for one host: POST a body, read the answer.

DynamoDB's JSON API needs one request shape (POST, a few headers, a body) and answers
with ``Content-Length`` (chunked and read-until-close answers are handled too). A
general client such as aiohttp spends more CPU per call than the whole rest of a
dynorm call (request objects, header multidicts, tracing hooks, a task per request);
this one writes the request with one ``transport.write`` and parses the head with
``bytes.split``, on an ``asyncio.Protocol`` per pooled connection. Over https on
asyncio's loop, TLS is dynorm's own thin layer (`dynorm.transport._tls`) rather than
asyncio's general ``SSLProtocol``.

Not handled (the transport then uses aiohttp): proxies (``HTTP(S)_PROXY``).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import Any
from urllib.parse import urlsplit

from dynorm._aio import within
from dynorm.transport._tls import TLSProtocol

__all__ = ["RESENT", "HTTPClient", "HTTPError"]


#: Pseudo-header set on an answer to a request that was sent a second time (see
#: `HTTPClient.request`).
RESENT = ":resent"


#: Bytes one socket read may return, into a buffer each `HTTPClient` reuses. asyncio's
#: default (``recv(256 KB)``, a fresh bytes object per read) makes glibc map and unmap
#: memory for every read: ~10 µs of CPU per answer, more than parsing it.
READ_SIZE = 65_536


#: Whether https connections on asyncio's own event loop use dynorm's TLS layer
#: (`dynorm.transport._tls`, less client CPU per call) rather than asyncio's
#: ``SSLProtocol``. Other loops (uvloop) keep their own, compiled, TLS.
OWN_TLS = True


class HTTPError(ConnectionError):
    """The connection failed, closed early or timed out, or the answer was malformed."""


class _Unsent(HTTPError):
    """The pooled connection was already closing: nothing was written to it."""


class _Connection(asyncio.Protocol, asyncio.BufferedProtocol):
    """One keep-alive connection. Socket reads land in ``read_buffer`` (shared by the
    connections of an `HTTPClient`: each read is copied out before the loop does anything
    else); dynorm's TLS layer hands over decrypted bytes with ``data_received``."""

    __slots__ = ("_buffer", "_chunked", "_head", "_length", "_read", "_timer", "closed",
                 "got_data", "keep_alive", "transport", "waiter")

    def __init__(self, read_buffer: memoryview) -> None:
        self._read = read_buffer
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self._buffer = bytearray()
        self._head: tuple[int, dict[str, str]] | None = None
        self._length = -1
        self._chunked = False
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.keep_alive = True
        self.got_data = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self._head is not None and self._length < 0 and not self._chunked:
                status, headers = self._head  # read-until-close body: complete now
                waiter.set_result((status, headers, bytes(self._buffer)))
            else:
                waiter.set_exception(HTTPError(f"connection closed before the answer ended: "
                                               f"{exc or 'closed by the server'}"))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        self.got_data = True
        self._buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            result = self._parse()
        except Exception as exc:  # malformed answer
            self.keep_alive = False
            waiter.set_exception(HTTPError(f"unreadable HTTP answer: {exc}"))
            return
        if result is not None:
            waiter.set_result(result)

    def _parse(self) -> tuple[int, dict[str, str], bytes] | None:
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            del buffer[:end + 4]
            version, code, *_ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = headers.get("content-length")
            self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            self._length = int(length) if length is not None and not self._chunked else -1
            connection = headers.get("connection", "").lower()
            self.keep_alive = (connection != "close" and version == "HTTP/1.1") or (
                connection == "keep-alive")
            if self._length < 0 and not self._chunked:
                self.keep_alive = False  # body ends when the server closes
            self._head = (int(code), headers)
        status, headers = self._head
        if self._chunked:
            body = self._dechunk()
            if body is None:
                return None
        elif self._length >= 0:
            if len(buffer) < self._length:
                return None
            body = bytes(buffer[:self._length])
            del buffer[:self._length]
        else:
            return None
        self._head = None
        return status, headers, body

    def _dechunk(self) -> bytes | None:
        buffer = self._buffer
        parts: list[bytes] = []
        pos = 0
        while True:
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                return None
            size = int(bytes(buffer[pos:end]).split(b";", 1)[0], 16)
            start = end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", end)
                if trailer_end < 0:
                    if buffer[start:start + 2] == b"\r\n":
                        trailer_end = end
                    else:
                        return None
                del buffer[:trailer_end + 4]
                return b"".join(parts)
            if len(buffer) < start + size + 2:
                return None
            parts.append(bytes(buffer[start:start + size]))
            pos = start + size + 2

    def timed_out(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(HTTPError("timed out waiting for the answer"))
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()


class HTTPClient:
    """Keep-alive connections to one ``http(s)://host[:port]``, at most ``limit`` at once."""

    def __init__(self, url: str, *, limit: int = 64, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0, ssl_context: _ssl.SSLContext | None = None
                 ) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: _ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl_context or _ssl.create_default_context()
        self._idle: list[_Connection] = []
        self._limit = asyncio.Semaphore(limit)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._all: set[_Connection] = set()
        self._read = memoryview(bytearray(READ_SIZE))  # see `_Connection`

    async def _open_tls(self, context: _ssl.SSLContext) -> tuple[asyncio.Transport, _Connection]:
        """A TCP connection with dynorm's own TLS layer (`dynorm.transport._tls`) on it,
        handshake done."""
        loop = asyncio.get_running_loop()
        conn = _Connection(self._read)
        tls = TLSProtocol(context, self.host, conn, self._read)
        raw, _ = await loop.create_connection(lambda: tls, self.host, self.port)
        try:
            await tls.handshake
        except BaseException:
            raw.abort()
            raise
        return raw, conn

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if self._ssl is not None and OWN_TLS and type(loop).__module__.startswith("asyncio"):
                _, conn = await within(self._open_tls(self._ssl), self._connect_timeout,
                                       discard=lambda made: made[0].close())
            else:
                _, conn = await within(
                    loop.create_connection(lambda: _Connection(self._read), self.host,
                                           self.port, ssl=self._ssl,
                                           server_hostname=self.host if self._ssl else None),
                    self._connect_timeout, discard=lambda made: made[0].close())
        except (OSError, asyncio.TimeoutError) as exc:
            raise HTTPError(f"cannot connect to {self.host}:{self.port}: "
                            f"{type(exc).__name__}: {exc}") from exc
        self._all.add(conn)
        return conn

    async def request(self, head: bytes, body: bytes, resend: bool = True
                      ) -> tuple[int, dict[str, str], bytes]:
        """Send ``head`` (request line and headers, ending in an empty line) and ``body``.

        Returns (status, lower-cased headers, body). A reused connection that the server
        had closed is replaced once at no cost to the caller's retry budget. Unless the
        connection was already known to be closing (nothing was written to it), the
        server may have read the request before it closed that connection, so the answer
        then carries the pseudo-header `RESENT` (``":resent"``, not a valid header name):
        a caller sending a non-idempotent request must treat its outcome as possibly the
        second application (see ``FastTransport``). With ``resend=False`` (a request that
        must not be applied twice) such a request is not sent again: the `HTTPError` is
        raised.
        """
        async with self._limit:
            maybe_sent = False
            for attempt in (0, 1):
                idle = self._idle
                conn = None
                while idle:
                    candidate = idle.pop()
                    if not candidate.closed:
                        conn = candidate
                        break
                    self._all.discard(candidate)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect()
                try:
                    answer = await self._exchange(conn, head, body)
                    if maybe_sent:
                        answer[1][RESENT] = "1"
                    return answer
                except HTTPError as exc:
                    maybe_sent = not isinstance(exc, _Unsent)
                    self._all.discard(conn)
                    if conn.transport is not None:
                        conn.transport.abort()
                    if (reused and not conn.got_data and attempt == 0
                            and (resend or not maybe_sent)):
                        continue  # a stale keep-alive connection: try a fresh one
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, conn: _Connection, head: bytes, body: bytes
                        ) -> tuple[int, dict[str, str], bytes]:
        conn.got_data = False
        transport = conn.transport
        if transport is None or transport.is_closing():
            # Before the waiter exists: the connection's close must not fail a future
            # nobody awaits ("Future exception was never retrieved").
            raise _Unsent("connection closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        conn.waiter = waiter
        timer = loop.call_later(self._read_timeout, conn.timed_out)
        transport.write(head + body)
        try:
            result: tuple[int, dict[str, str], bytes] = await waiter
        finally:
            timer.cancel()
            conn.waiter = None
        if conn.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            self._all.discard(conn)
            transport.close()
        return result

    async def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()
