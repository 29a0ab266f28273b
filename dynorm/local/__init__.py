"""The embedded local backend: a DynamoDB-compatible server on 127.0.0.1 (moto).

```python
async with dynorm.local():          # starts a server, connects, stops it on exit
    await User.create_table()
```

Or serve other processes: ``python -m dynorm.local --port 8000``.
Needs the ``local`` extra (``pip install 'dynorm[local]'``). No AWS account, no Docker.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from dynorm.connection import Connection
from dynorm.exceptions import DynormError

__all__ = ["LocalServer", "local"]

log = logging.getLogger(__name__)

#: Credentials the local server accepts (it checks none); never real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """A moto DynamoDB server running in a background thread of this process.

    Args:
        host: the interface to listen on (loopback by default).
        port: the port; 0 picks a free one.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalServer:
        """Start serving (idempotent). Returns self."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise DynormError(
                    "the embedded backend needs moto's server: pip install 'dynorm[local]'"
                ) from exc
            if self.port == 0:
                self.port = _free_port(self.host)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
            server.start()
            self._server = server
            log.info("local DynamoDB server listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); all data is lost."""
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None

    def reset(self) -> None:
        """Delete every table and item (moto's reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def connect(self, **settings: Any) -> Connection:
        """A connection to this server (dummy credentials, ``us-east-1`` unless given)."""
        options: dict[str, Any] = {"region": "us-east-1", **LOCAL_CREDENTIALS, **settings}
        return Connection(endpoint_url=self.endpoint_url, **options)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def local(**settings: Any) -> AsyncIterator[Connection]:
    """Start an embedded server, connect dynorm to it, and stop it on exit.

    Keyword arguments go to :class:`~dynorm.Connection` (e.g. ``table_prefix``).
    """
    server = LocalServer().start()
    try:
        async with server.connect(**settings) as connection:
            yield connection
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m dynorm.local``: serve until interrupted."""
    import argparse  # only for the command line

    parser = argparse.ArgumentParser(prog="python -m dynorm.local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = LocalServer(args.host, args.port).start()
    url = server.endpoint_url
    print(f"dynorm local DynamoDB at {url}  (export DYNORM_ENDPOINT_URL={url})", flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()

