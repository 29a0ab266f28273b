"""A third oracle for the signers: a server that checks every signature.

moto's server, started with ``INITIAL_NO_AUTH_ACTION_COUNT``, authenticates each request
after the first few (which create an IAM user and its access key): it recomputes the
SigV4 signature with the user's secret and answers 403 ``SignatureDoesNotMatch`` when
they differ. Both transports then run a realistic mix of calls (non-ASCII text, a large
item, queries, batches, transactions, updates) and must be accepted, and a wrong secret
must be refused. (moto does not accept its own STS session tokens there, so temporary
credentials are covered by the botocore differential test in tests/unit/test_sigv4.py.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated

import pytest

import dynorm
from dynorm import Model, PartitionKey, SortKey
from tests.support.loopback import free_port


class Signed(Model, table="sig_items"):
    owner: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    text: str = ""
    amount: Decimal = Decimal(0)
    tags: set[str] = set()


@pytest.fixture(scope="module")
def authenticating_server() -> Iterator[tuple[str, str, str]]:
    """(endpoint, access key id, secret) of a moto server that checks signatures."""
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")  # the three IAM calls below
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        import boto3

        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="signer")
        iam.put_user_policy(UserName="signer", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="signer")["AccessKey"]
        yield url, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connect(server: tuple[str, str, str], kind: str, secret: str | None = None
             ) -> dynorm.Connection:
    url, key_id, real_secret = server
    return dynorm.connect(endpoint_url=url, region="us-east-1", aws_access_key_id=key_id,
                          aws_secret_access_key=secret or real_secret, transport=kind,
                          max_attempts=1, table_prefix=f"{kind}-")


@pytest.mark.parametrize("kind", ["fast", "aioboto3"])
async def test_every_kind_of_call_is_signed_correctly(
        authenticating_server: tuple[str, str, str], kind: str) -> None:
    async with _connect(authenticating_server, kind):
        await Signed.create_table()
        first = Signed(owner="ö/ü ✓ +=&?", seq=1, text="naïve café " * 3, tags={"ß", "∑"},
                       amount=Decimal("12.50"))
        await first.save()
        large = Signed(owner="ö/ü ✓ +=&?", seq=2, text="x" * 200_000)
        await large.save()
        assert await Signed.get(first.owner, 1) == first
        found = [s.seq async for s in Signed.query(Signed.owner == first.owner)]
        assert found == [1, 2]
        async with dynorm.batch() as b:
            for i in range(3, 40):
                b.save(Signed(owner="batch", seq=i, text=f"№{i}"))
        assert len(await dynorm.get_many(Signed, [("batch", i) for i in range(3, 40)])) == 37
        async with dynorm.transaction() as tx:
            tx.save(Signed(owner="tx", seq=1))
            tx.update(first, Signed.amount.add(Decimal("0.5")))
        await first.refresh()
        assert first.amount == Decimal("13.00")
        await large.delete()


@pytest.mark.parametrize("kind", ["fast", "aioboto3"])
async def test_a_wrong_secret_is_refused(authenticating_server: tuple[str, str, str],
                                         kind: str) -> None:
    async with _connect(authenticating_server, kind, secret="not-the-secret") as conn:
        with pytest.raises(dynorm.ServiceError, match="SignatureDoesNotMatch") as info:
            await conn.call("ListTables", {})
    assert "not-the-secret" not in str(info.value)
