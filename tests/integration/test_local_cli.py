"""`python -m dynorm.local` serves other processes; the embedded servers' own promises."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import pytest

import dynorm
from dynorm import DynamoDBLocalServer, LocalServer, Model, PartitionKey
from dynorm.local import BACKENDS, EndpointServer
from tests.support.loopback import free_port


class Ping(Model, table="ping"):
    id: Annotated[str, PartitionKey]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_serves_another_process(backend: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dynorm.local", "--port", str(port),
                             "--backend", backend],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # printed once the server answers
        assert f"({backend}) at http://127.0.0.1:{port}" in banner, banner
        async with dynorm.connect(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1"):
            await Ping.create_table()
            await Ping(id="x").save()
            assert (await Ping.get("x")).id == "x"
    finally:
        proc.terminate()  # SIGTERM: the child server (a JVM for dynamodb-local) stops too
        _, err = proc.communicate(timeout=30)
    assert "RuntimeWarning" not in err
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel lists them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_dynamodb_local_listens_on_loopback_only() -> None:
    """DynamoDB Local's own command line listens on every interface; dynorm's doesn't."""
    with DynamoDBLocalServer() as server:
        addresses = _listening_addresses(server.port)
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, v4 and mapped
    assert addresses and addresses <= loopback, addresses


async def test_reset_of_a_server_you_run_deletes_every_table(dynorm_server: LocalServer) -> None:
    dynorm_server.reset()
    server = EndpointServer(dynorm_server.endpoint_url + "/")
    async with server.connect():
        await Ping.create_table()
        for name in ("reset_a", "reset_b"):
            await dynorm.get_connection().call("CreateTable", {
                "TableName": name, "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]})
        server.reset()
        assert (await dynorm.get_connection().call("ListTables", {}))["TableNames"] == []
    server.stop()  # a server you run is never stopped here
    assert EndpointServer(server.endpoint_url).reset() is None
