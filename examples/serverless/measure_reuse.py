"""What keeping the loop and the connection saves per invocation (docs/lambda.md).

    python examples/serverless/measure_reuse.py [--invocations 300]

Calls the API function's handler with ``GET /notes/{note_id}`` (one GetItem) as Lambda
would, N times as the example runs it (one loop and one connection per execution
environment, as ``sync_lambda_handler(listener, connect={})`` does too), then N times
with ``asyncio.run()`` and a connection per invocation, on each transport. Prints
the median client CPU and wall time per invocation. The server is DynamoDB Local (a
Java process: its CPU is not counted), or the one ``DYNORM_ENDPOINT_URL`` names. Plain
HTTP: on AWS each new connection also costs a TLS handshake, not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dynorm

sys.path.insert(0, str(Path(__file__).resolve().parent))   # ``notes``, as Lambda has it
api, models, runtime = (importlib.import_module(f"notes.{name}")
                        for name in ("api", "models", "runtime"))

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]
EVENT = {"version": "2.0", "rawPath": "/notes/n1", "isBase64Encoded": False,
         "requestContext": {"http": {"method": "GET", "path": "/notes/n1"},
                            "stage": "$default"}}


def connection_per_invocation(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    async def once() -> dict[str, Any]:
        async with dynorm.Connection():
            response: dict[str, Any] = await api.respond(event)
            return response
    return asyncio.run(once())


def measure(handler: Handler, n: int) -> tuple[float, float]:
    """Median (CPU, wall) seconds per invocation, after n/15 to warm up."""
    cpu, wall = [], []
    warm_up = n // 15
    for i in range(warm_up + n):
        c, w = time.process_time(), time.perf_counter()
        response = handler(EVENT, None)
        if i >= warm_up:
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        assert response["statusCode"] == 200, response
    return statistics.median(cpu), statistics.median(wall)


async def set_up(n: int) -> None:
    async with dynorm.Connection():
        await models.create_tables()
        if await models.Note.find_one("n1") is None:
            await models.Note(note_id="n1", owner="ada", title="measured",
                              updated_at=api._now()).save()
        for _ in range(3 * n):           # warm the server up (Java's JIT) first
            await models.Note.get("n1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=300)
    n = parser.parse_args().invocations
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("DYNORM_TABLE_PREFIX", "measure-")
    server = None
    if not os.environ.get("DYNORM_ENDPOINT_URL"):
        server = dynorm.local_server("dynamodb-local").start()
        os.environ["DYNORM_ENDPOINT_URL"] = server.endpoint_url
    try:
        asyncio.run(set_up(n))
        print(f"per invocation of GET /notes/n1, median of {n} (client CPU, wall):")
        for transport in ("fast", "aioboto3"):
            os.environ["DYNORM_TRANSPORT"] = transport
            for label, handler in (("one loop and connection", api.handler),
                                   ("asyncio.run + connection each time",
                                    connection_per_invocation)):
                cpu, wall = measure(handler, n)
                runtime.shutdown()
                print(f"  {transport:<8} {label:<36} {cpu * 1e3:7.2f} ms CPU "
                      f"{wall * 1e3:7.2f} ms")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
