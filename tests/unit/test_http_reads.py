"""Socket reads of the fast transport's HTTP client land in one reused buffer per client.

asyncio's default read (``recv(256 KB)`` into a fresh bytes object) makes glibc map and
unmap memory at every read in a process that never freed a large block: measured 145 ->
90 µs of client CPU per small GetItem in a fresh process. These tests keep the reused
buffer correct: each read is copied out before the next lands in it.
"""

from __future__ import annotations

import asyncio

from dynorm.transport._http import READ_SIZE, HTTPClient, _Connection


def _answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _feed(conn: _Connection, data: bytes) -> None:
    """What asyncio's selector transport does for a BufferedProtocol, one read at a time."""
    while data:
        buf = conn.get_buffer(-1)
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        data = data[n:]
        conn.buffer_updated(n)


def test_connections_of_a_client_share_one_buffer_and_keep_their_own_bytes() -> None:
    async def main() -> None:
        client = HTTPClient("http://127.0.0.1:1")
        loop = asyncio.get_running_loop()
        a, b = _Connection(client._read), _Connection(client._read)
        assert a.get_buffer(-1) is b.get_buffer(-1)
        assert len(a.get_buffer(-1)) == READ_SIZE <= 128 * 1024  # glibc's mmap threshold
        a.waiter, b.waiter = loop.create_future(), loop.create_future()
        body_a, body_b = b'{"Item": {"pk": {"S": "a"}}}', b"{}" + b" " * (3 * READ_SIZE)
        whole_a = _answer(body_a)
        _feed(a, whole_a[:20])          # a's answer arrives in two reads,
        _feed(b, _answer(body_b))       # b's (several reads of the buffer) in between
        assert not a.waiter.done()
        _feed(a, whole_a[20:])
        status, headers, got_a = a.waiter.result()
        assert (status, got_a) == (200, body_a) and type(got_a) is bytes
        assert headers["content-length"] == str(len(body_a))
        assert b.waiter.result()[2] == body_b

    asyncio.run(main())
