"""`python -m dynorm.local` serves other processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey
from tests.support.loopback import free_port


class Ping(Model, table="ping"):
    id: Annotated[str, PartitionKey]


async def test_serves_another_process() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dynorm.local", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        async with dynorm.connect(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1"):
            await Ping.create_table()
            await Ping(id="x").save()
            assert (await Ping.get("x")).id == "x"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "RuntimeWarning" not in err
