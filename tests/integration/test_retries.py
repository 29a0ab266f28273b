"""Throttling and 5xx are retried with backoff; after the budget a typed error.

A tiny HTTP server on 127.0.0.1 plays DynamoDB: it answers the first N calls with an
error and then with a real JSON body, so the retry path runs over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from aiohttp import web

import dynorm
from dynorm import Model, PartitionKey
from tests.support.loopback import serve


class Thing(Model, table="things"):
    id: Annotated[str, PartitionKey]


class FlakyServer:
    def __init__(self) -> None:
        self.failures: list[tuple[int, str]] = []
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await request.read()
        if self.failures:
            status, code = self.failures.pop(0)
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"}
            return web.Response(status=status, body=json.dumps(body),
                                content_type="application/x-amz-json-1.0")
        body = {"Item": {"id": {"S": "k"}}}
        return web.Response(body=json.dumps(body), content_type="application/x-amz-json-1.0")


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyServer, str]]:
    server = FlakyServer()
    async with serve(server.handle) as port:
        yield server, f"http://127.0.0.1:{port}"


def connect(url: str, attempts: int) -> dynorm.Connection:
    return dynorm.connect(endpoint_url=url, region="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s",
                          retry=dynorm.RetryPolicy(max_attempts=attempts, base_delay=0.001))


async def test_throttling_and_5xx_are_retried(flaky: tuple[FlakyServer, str]) -> None:
    server, url = flaky
    server.failures = [(400, "ProvisionedThroughputExceededException"),
                       (500, "InternalServerError"), (400, "ThrottlingException")]
    async with connect(url, attempts=4):
        thing = await Thing.get("k")
    assert thing.id == "k"
    assert server.calls == 4


async def test_retries_exhausted_raise_throttled(flaky: tuple[FlakyServer, str]) -> None:
    server, url = flaky
    server.failures = [(400, "ProvisionedThroughputExceededException")] * 5
    async with connect(url, attempts=3):
        with pytest.raises(dynorm.Throttled, match="retries exhausted") as info:
            await Thing.get("k")
    assert info.value.code == "ProvisionedThroughputExceededException"
    assert server.calls == 3


async def test_5xx_exhausted_raise_server_error(flaky: tuple[FlakyServer, str]) -> None:
    server, url = flaky
    server.failures = [(500, "InternalServerError")] * 3
    async with connect(url, attempts=2):
        with pytest.raises(dynorm.ServerError):
            await Thing.get("k")
    assert server.calls == 2


async def test_validation_errors_are_not_retried(flaky: tuple[FlakyServer, str]) -> None:
    server, url = flaky
    server.failures = [(400, "ValidationException")]
    async with connect(url, attempts=5):
        with pytest.raises(dynorm.RequestRejected):
            await Thing.get("k")
    assert server.calls == 1
