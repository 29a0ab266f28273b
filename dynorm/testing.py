"""pytest plugin (registered automatically as ``dynorm``): a local server and fresh tables.

```python
import pytest

@pytest.mark.dynorm_tables([User, Order])     # created empty before the test
async def test_signup(dynorm_connection):
    await User(user_id="u1", name="Ada").save()
```

* ``dynorm_server`` (session): an embedded server on 127.0.0.1, started once. Which one:
  ``DYNORM_TEST_BACKEND=moto`` (default) or ``dynamodb-local`` (AWS's emulator, Java);
  ``DYNORM_TEST_ENDPOINT_URL`` uses a server you run yourself instead (any
  DynamoDB-compatible one: tests delete every table on it).
* ``dynorm_connection`` (per test, async): wipes the server, opens a connection as the
  current one, creates the tables of the ``dynorm_tables`` marker, closes afterwards.
  Pass the models as a list: pytest takes ``mark(SomeClass)`` with one class argument
  as decorating that class.

Needs pytest-asyncio and the ``local`` extra (for moto).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from dynorm.connection import Connection
from dynorm.local import BACKENDS, EndpointServer, LocalServer, local_server

__all__ = ["dynorm_connection", "dynorm_server", "fresh_connection", "server_from_env"]

_async_fixture: Callable[[Any], Any]
try:
    import pytest_asyncio

    _async_fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - the plugin is loaded wherever dynorm is
    _async_fixture = pytest.fixture


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dynorm_tables([models]): create these models' tables for the test"
    )


def server_from_env() -> LocalServer:
    """The (not yet started) server the environment asks for.

    ``DYNORM_TEST_ENDPOINT_URL`` wins (a server you run: an
    [`EndpointServer`][dynorm.local.EndpointServer]); else ``DYNORM_TEST_BACKEND`` names the
    embedded backend (``moto`` by default).
    """
    external = os.environ.get("DYNORM_TEST_ENDPOINT_URL")
    if external:
        return EndpointServer(external)
    backend = os.environ.get("DYNORM_TEST_BACKEND") or "moto"
    if backend not in BACKENDS:
        raise pytest.UsageError(
            f"DYNORM_TEST_BACKEND={backend!r}: choose one of {', '.join(BACKENDS)}"
        )
    return local_server(backend)


@pytest.fixture(scope="session")
def dynorm_server() -> Iterator[LocalServer]:
    """A local DynamoDB-compatible server shared by the whole test session."""
    server = server_from_env()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def fresh_connection(
    server: LocalServer, request: pytest.FixtureRequest, **settings: Any
) -> AsyncIterator[Connection]:
    """Wipe the server, connect (``settings`` go to Connection), create the marked tables.

    For your own variants of ``dynorm_connection`` (e.g. another transport).
    """
    server.reset()
    async with server.connect(max_attempts=3, **settings) as connection:
        marker = request.node.get_closest_marker("dynorm_tables")
        for arg in marker.args if marker else ():
            for model in arg if isinstance(arg, (list, tuple)) else (arg,):
                await model.create_table()
        yield connection


@_async_fixture  # type: ignore[untyped-decorator]
async def dynorm_connection(
    dynorm_server: LocalServer, request: pytest.FixtureRequest
) -> AsyncIterator[Connection]:
    """A fresh, empty server state and an open current connection for one test."""
    async with fresh_connection(dynorm_server, request) as connection:
        yield connection
