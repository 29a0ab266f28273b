"""The integration suite runs on any DynamoDB-compatible server, on both transports.

* The server: moto by default; ``DYNORM_TEST_BACKEND=dynamodb-local`` runs the suite on
  AWS's DynamoDB Local (``.ci/run`` does both). A test that holds on one emulator only
  carries ``@pytest.mark.only_on("moto", reason=...)`` (or ``"dynamodb-local"``) saying
  why, and is skipped elsewhere. On a backend other than moto, tests that never touch
  the shared server (they start their own, or need none) are deselected: the moto run
  already covers them.
* The transport: the plugin's ``dynorm_connection`` fixture (dynorm/testing.py) gives
  one connection; here it is overridden with a parametrized one, so the whole
  integration suite is the oracle for both the aioboto3 transport and the fast
  transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from dynorm import Connection, DynamoDBLocalServer, LocalServer
from dynorm.testing import fresh_connection
from tests.support.backend import BACKEND


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "only_on(backend, reason): true on this emulator only, and why"
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    deselected = []
    for item in items:
        marker = item.get_closest_marker("only_on")
        if marker is not None:
            backend, reason = marker.args[0], marker.kwargs.get("reason", "")
            assert reason, f"{item.nodeid}: only_on({backend!r}) needs a reason"
            if backend != BACKEND:
                item.add_marker(
                    pytest.mark.skip(reason=f"true on {backend} only: {reason}")
                )
        if BACKEND != "moto" and "dynorm_server" not in item.fixturenames:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        dropped = set(map(id, deselected))
        items[:] = [item for item in items if id(item) not in dropped]


@pytest_asyncio.fixture
async def raw_conn(dynorm_server: LocalServer) -> AsyncIterator[Connection]:
    """An emptied server and a fast-transport connection making one attempt per call:
    for tests of the server itself (raw payloads are sent as written, Binary as base64).
    """
    dynorm_server.reset()
    async with dynorm_server.connect(transport="fast", max_attempts=1) as connection:
        yield connection


@pytest_asyncio.fixture(params=["aioboto3", "fast"])
async def dynorm_connection(
    dynorm_server: LocalServer, request: pytest.FixtureRequest
) -> AsyncIterator[Connection]:
    async with fresh_connection(
        dynorm_server, request, transport=request.param
    ) as connection:
        yield connection


@pytest.fixture(scope="session")
def west_server(dynorm_server: LocalServer) -> Iterator[LocalServer]:
    """The server of a second "Region" (us-west-2) for the multi-Region tests: on
    moto the session's server (moto keeps each Region's tables apart, by the
    request's signature); on DynamoDB Local (one database for every Region), a
    second one."""
    if BACKEND == "moto":
        yield dynorm_server
        return
    if BACKEND != "dynamodb-local":
        pytest.skip("needs an embedded backend to start a second Region's server")
    server = DynamoDBLocalServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
