"""Blocking connections: an async `Connection` opened on a portal of its own.

```python
with dynorm.blocking.connect(region="eu-west-1"):      # a block (this thread)
    ...
dynorm.blocking.configure(endpoint_url="http://127.0.0.1:8000")   # app start-up
dynorm.blocking.close()                                             # app shutdown
```

As in the async API, a ``with connect()`` block is current in the thread (the context)
that entered it, and ``configure()`` sets the process-wide default every other thread
falls back to: a WSGI app configures once, and every request thread uses that
connection (one event loop thread, one pool of HTTP connections).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

from typing_extensions import Self, Unpack

from dynorm import connection as _async
from dynorm._types import Request, Response
from dynorm.blocking._portal import Label, Portal
from dynorm.connection import Connection, ConnectionSettings
from dynorm.exceptions import ConnectionNotConfigured
from dynorm.local import Backend
from dynorm.local import local as _async_local

__all__ = [
    "BlockingConnection",
    "close",
    "configure",
    "connect",
    "current",
    "get_connection",
    "local",
]

T = TypeVar("T")

#: The connection of this thread's (context's) ``with connect()`` block, if any.
_current: contextvars.ContextVar[BlockingConnection | None] = contextvars.ContextVar(
    "dynorm_blocking_connection", default=None)
#: The process-wide default that configure() opened.
_configured: BlockingConnection | None = None


class BlockingConnection:
    """A connection for blocking code: the async `Connection`, opened and used on a
    portal (an event loop in a background thread of its own).

    Make one with [`connect()`][dynorm.blocking.connect], [`configure()`][dynorm.blocking.configure]
    or [`local()`][dynorm.blocking.local]. Any number of threads may use it at once.

    """

    def __init__(self, manager: AbstractAsyncContextManager[Connection]) -> None:
        self._manager = manager
        self._connection = manager if isinstance(manager, Connection) else None
        self._portal: Portal | None = None
        self._tokens: list[contextvars.Token[BlockingConnection | None]] = []

    def __repr__(self) -> str:
        return f"Blocking{self._connection or 'Connection(not open)'!r}"

    @property
    def connection(self) -> Connection:
        """The async `Connection` this one runs: its ``table_prefix``, ``cursor_secret``,
        ``table_name()``..."""
        if self._connection is None:
            raise ConnectionNotConfigured("this blocking connection is not open yet")
        return self._connection

    @property
    def is_open(self) -> bool:
        """True between ``open()`` (or entering ``with``) and ``close()``."""
        return self._portal is not None

    def open(self) -> Self:
        """Start the portal and open the connection on it (idempotent)."""
        if self._portal is not None:
            return self
        portal = Portal()
        try:
            # The manager's own context change (it makes itself current) stays in the
            # task that entered it; every call sets the connection in its own context.
            self._connection = portal.run(self._manager.__aenter__(),
                                          contextvars.copy_context())
        except BaseException:
            portal.close()
            raise
        self._portal = portal
        return self

    def close(self) -> None:
        """Close the connection and stop its portal (idempotent)."""
        global _configured
        portal, self._portal = self._portal, None
        if portal is not None:
            try:
                portal.run(self._manager.__aexit__(None, None, None),
                           contextvars.copy_context())
            finally:
                portal.close()
        if _configured is self:
            _configured = None

    def __enter__(self) -> Self:
        self.open()
        self._tokens.append(_current.set(self))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _current.reset(self._tokens.pop())
        self.close()

    # ------------------------------------------------------------------ running

    def context(self) -> contextvars.Context:
        """A copy of the caller's context with this connection current (for async code)."""
        context = contextvars.copy_context()
        context.run(_async._current.set, self.connection)
        return context

    def run(self, coro: Coroutine[Any, Any, T], *, twin_of: str = "") -> T:
        """Run a dynorm coroutine on this connection and return its result: the escape
        hatch for async code that has no blocking twin (``conn.run(some_coroutine())``).

        Raises:
            BlockingCallInEventLoop: called from async code running on a portal.
            ConnectionNotConfigured: the connection is not open.
        """
        portal = self._portal
        if portal is None:
            coro.close()
            raise ConnectionNotConfigured(
                "this blocking connection is not open: use `with dynorm.blocking.connect()` "
                "or its open()")
        return portal.run(coro, self.context(), twin_of)

    def _run_twin(self, coro: Coroutine[Any, Any, T], twin_of: Label) -> T:
        """`run()` for the twins (one call less per operation, the label made only for
        an error)."""
        portal = self._portal
        if portal is None:
            return self.run(coro)  # raises ConnectionNotConfigured
        context = contextvars.copy_context()
        context.run(_async._current.set, self._connection)
        return portal.run(coro, context, twin_of)

    def iterate(self, source: AsyncIterator[T], *,
                twin_of: Label = "") -> Generator[T, None, None]:
        """A blocking iterator over an async iterator of dynorm's, stepped on this
        connection."""
        portal = self._portal
        if portal is None:
            raise ConnectionNotConfigured("this blocking connection is not open")
        return portal.iterate(source, self.context(), twin_of)

    def call(self, operation: str, payload: Request, *, model: type | None = None
             ) -> Response:
        """Send one DynamoDB operation, retried as `Connection.call` does (the
        low-level escape hatch: ``conn.call("DescribeTable", {"TableName": ...})``).
        Capacity totals and hooks are the async connection's: ``conn.connection.capacity``,
        ``conn.connection.on_response(hook)``."""
        return self.run(self.connection.call(operation, payload, model=model),
                        twin_of="dynorm.get_connection().call")


def current(twin_of: str = "") -> BlockingConnection:
    """The current blocking connection: this thread's ``with connect()`` block, else
    ``configure()``'s.

    Raises:
        ConnectionNotConfigured: neither is open.
    """
    connection = _current.get() or _configured
    if connection is None:
        what = f"{twin_of}(): " if twin_of else ""
        raise ConnectionNotConfigured(
            f"{what}dynorm's blocking API has no connection in this thread: wrap your code "
            "in `with dynorm.blocking.connect(...)` (or `dynorm.blocking.local()`), or call "
            "`dynorm.blocking.configure(...)` at start-up for every thread (a `with` block "
            "is current only in the thread that entered it, and a connection of the async "
            "API, `dynorm.connect()`/`configure()`, serves `await` code only)")
    return connection


def get_connection() -> BlockingConnection:
    """The current blocking connection: this thread's ``with connect()`` block, else
    ``configure()``'s.

    Raises:
        ConnectionNotConfigured: neither is open.
    """
    return current()


def connect(**settings: Unpack[ConnectionSettings]) -> BlockingConnection:
    """A blocking connection, used as ``with dynorm.blocking.connect(...):`` (the same
    settings as [`dynorm.connect()`][dynorm.connect]; see `Connection`)."""
    return BlockingConnection(Connection(**settings))


def configure(**settings: Unpack[ConnectionSettings]) -> BlockingConnection:
    """Open a blocking connection and make it the default of every thread (app start-up).

    Closes the default set by an earlier ``configure()``. The same settings as
    [`dynorm.configure()`][dynorm.configure].
    """
    global _configured
    if _configured is not None:
        _configured.close()
    connection = BlockingConnection(Connection(**settings)).open()
    _configured = connection
    return connection


def close() -> None:
    """Close the current blocking connection (app shutdown). Safe to call twice."""
    connection = _current.get() or _configured
    if connection is not None:
        connection.close()


@contextlib.contextmanager
def local(backend: Backend = "moto", **settings: Unpack[ConnectionSettings]
          ) -> Iterator[BlockingConnection]:
    """Start an embedded server, connect to it, stop it on exit: the blocking twin of
    [`dynorm.local()`][dynorm.local.local] (same arguments)."""
    with BlockingConnection(_async_local(backend, **settings)) as connection:
        yield connection
