"""Run every integration test that uses ``dynorm_connection`` on both transports.

The plugin's fixture (dynorm/testing.py) gives one connection; here it is overridden
with a parametrized one, so the whole integration suite is the oracle for both the
aioboto3 transport and the fast transport (issue 7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from dynorm import Connection, LocalServer
from dynorm.testing import fresh_connection


@pytest_asyncio.fixture(params=["aioboto3", "fast"])
async def dynorm_connection(
    dynorm_server: LocalServer, request: pytest.FixtureRequest
) -> AsyncIterator[Connection]:
    async with fresh_connection(dynorm_server, request, transport=request.param) as connection:
        yield connection
