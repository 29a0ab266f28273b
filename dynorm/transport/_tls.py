"""TLS for `dynorm.transport._http` without asyncio's SSL layer.

asyncio's ``SSLProtocol`` is pure Python and general (flow control, renegotiation,
shutdown handshakes, buffered protocols, app-data queues): per DynamoDB call it costs
more client CPU than the whole HTTP exchange around it. A DynamoDB client needs much
less: one request written at a time per connection, one answer read. `TLSProtocol`
runs the TLS state machine of an ``ssl.SSLObject`` over two ``ssl.MemoryBIO``
buffers itself, on a plain TCP transport: the handshake when connected, each request
encrypted and written with one ``transport.write``, each batch of received bytes (read
into a buffer the caller reuses, not a fresh 256 KB bytes object per read as asyncio's
default) decrypted with as few ``read`` calls as fit, and whatever OpenSSL queues to send after a
read (TLS 1.3 key updates, alerts) flushed at once. Certificates and host names are
checked by OpenSSL exactly as with ``loop.create_connection(ssl=context)``: the same
``SSLContext`` wraps the buffers.

The inner protocol (the HTTP connection) sees an ``asyncio.Transport``-like object
(`TLSTransport`) that takes plain bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

__all__ = ["TLSProtocol", "TLSTransport"]

#: Decrypted bytes asked of OpenSSL per read call (one TLS record is at most 16 KB).
_READ_SIZE = 65_536


class TLSTransport:
    """What the inner protocol writes to: encrypts, then writes to the TCP transport."""

    __slots__ = ("_tls",)

    def __init__(self, tls: TLSProtocol) -> None:
        self._tls = tls

    def write(self, data: bytes) -> None:
        self._tls.write(data)

    def is_closing(self) -> bool:
        raw = self._tls.raw
        return raw is None or raw.is_closing()

    def close(self) -> None:
        self._tls.close()

    def abort(self) -> None:
        raw = self._tls.raw
        if raw is not None:
            raw.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls.sslobj
        raw = self._tls.raw
        return default if raw is None else raw.get_extra_info(name, default)


class TLSProtocol(asyncio.BufferedProtocol):
    """A TLS client connection over a plain TCP transport; ``inner`` gets the plain bytes.

    ``handshake`` is done when the connection is ready (``inner.connection_made`` has
    been called) or failed (an ``ssl.SSLError`` or ``ConnectionError``). Socket reads
    land in ``read_buffer`` and are copied into OpenSSL's input at once, so several
    connections of one event loop may share it.
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None,
                 inner: asyncio.Protocol, read_buffer: memoryview) -> None:
        self._read = read_buffer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                       server_hostname=server_hostname)
        self.inner = inner
        self.raw: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ready = False
        self._pending: list[bytes] = []  # plain bytes a write could not encrypt yet
        self._closed = False
        self._error: Exception | None = None

    # ------------------------------------------------------------ the TCP side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        self._shake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(
                f"connection closed during the TLS handshake: {exc or 'closed by the server'}"))
        if self._ready:
            self.inner.connection_lost(exc or self._error)

    def eof_received(self) -> bool | None:
        return False  # the transport closes; connection_lost follows

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read

    def buffer_updated(self, nbytes: int) -> None:
        self._incoming.write(self._read[:nbytes])
        if not self._ready:
            self._shake()
            if not self._ready:
                return
        chunks: list[bytes] = []
        sslobj = self.sslobj
        incoming = self._incoming
        try:
            while True:
                chunk = sslobj.read(_READ_SIZE)
                if not chunk:  # the server's close_notify
                    self._flush()
                    if self.raw is not None:
                        self.raw.close()
                    break
                chunks.append(chunk)
                if not incoming.pending and not sslobj.pending():
                    break  # all read: no SSLWantReadError raised and caught (~1 µs)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:  # the server's close_notify
            self._flush()
            if self.raw is not None:
                self.raw.close()
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        if self._pending:
            pending, self._pending = self._pending, []
            for part in pending:
                self.write(part)
        else:
            self._flush()
        if chunks:
            self.inner.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    # ------------------------------------------------------------ the inner side

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` and write it to the TCP transport with one write."""
        if self._pending:
            self._pending.append(data)
            return
        try:
            self.sslobj.write(data)
        except ssl.SSLWantReadError:  # a renegotiation in progress: after the next read
            self._pending.append(data)
        except ssl.SSLError as exc:
            self._fail(exc)
            return
        self._flush()

    def close(self) -> None:
        """Send close_notify (best effort) and close the TCP transport."""
        if self.raw is None or self._closed:
            return
        self._closed = True
        with contextlib.suppress(ssl.SSLError, ValueError):
            self.sslobj.unwrap()
        self._flush()
        self.raw.close()

    # ------------------------------------------------------------ helpers

    def _shake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:  # a certificate or protocol error
            self._flush()
            self._fail(exc)
            return
        self._flush()
        self._ready = True
        self.inner.connection_made(TLSTransport(self))  # type: ignore[arg-type]
        if not self.handshake.done():
            self.handshake.set_result(None)

    def _flush(self) -> None:
        if self._outgoing.pending and self.raw is not None:
            self.raw.write(self._outgoing.read())

    def _fail(self, exc: Exception) -> None:
        self._error = exc
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        if self.raw is not None:
            self.raw.abort()  # connection_lost follows, with the inner protocol told
