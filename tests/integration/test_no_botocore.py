"""A cold start on the fast transport never imports botocore (issue 18): a fresh process
doing ``import dynorm`` + ``connect()`` (credentials and region from the environment, as
on AWS Lambda) + one GetItem loads neither botocore, boto3, aiobotocore, aioboto3 nor
aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dynorm import LocalServer

SDK = ("botocore", "boto3", "aiobotocore", "aioboto3", "aiohttp")
ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent("""
    import asyncio, json, sys

    import dynorm

    async def main(url: str) -> None:
        async with dynorm.connect(endpoint_url=url, region="us-east-1") as conn:
            answer = await conn.call(
                "GetItem", {"TableName": "no_botocore", "Key": {"pk": {"S": "a"}}})
            source = conn.transport.credential_source
        loaded = sorted({name.split(".")[0] for name in sys.modules} & set(SDK))
        print(json.dumps({"item": answer.get("Item"), "loaded": loaded, "source": source}))

    SDK = %r
    asyncio.run(main(sys.argv[1]))
""")


def run_cold(server: LocalServer, program: str) -> subprocess.CompletedProcess[str]:
    """``program`` in a fresh process with Lambda's kind of environment (credentials and
    region in variables, no AWS files), after a table ``no_botocore`` holding item "a"."""

    async def seed() -> None:
        server.reset()
        async with server.connect() as conn:
            await conn.call("CreateTable", {
                "TableName": "no_botocore", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
            await conn.call("PutItem", {"TableName": "no_botocore",
                                        "Item": {"pk": {"S": "a"}, "v": {"S": "x"}}})

    asyncio.run(seed())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DYNORM_", "BOTO_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIALAMBDA", AWS_SECRET_ACCESS_KEY="secret",
               AWS_SESSION_TOKEN="token", AWS_REGION="us-east-1",
               PYTHONPATH=str(ROOT), HOME=str(ROOT / "tests"))
    return subprocess.run([sys.executable, "-c", program, server.endpoint_url], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_connect_and_get_load_no_aws_sdk(dynorm_server: LocalServer) -> None:
    result = run_cold(dynorm_server, PROGRAM % (SDK,))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["item"] == {"pk": {"S": "a"}, "v": {"S": "x"}}
    assert report["source"] == "env"
    assert report["loaded"] == [], f"the cold start imported {report['loaded']}"


#: What a program that reads and writes single items never needs (issue 18 item 2).
ON_FIRST_USE = ("dynorm.streams", "dynorm.testing", "dynorm.tables",
                "dynorm.write.batch", "dynorm.write.transaction", "dynorm.read.batch_get",
                "dynorm.read.transact_get", "dynorm.blocking", "dynorm.transport.aioboto3",
                "dynorm.cli", "dynorm.backup", "dynorm.migrate", "typer", "rich", "moto",
                # the local servers' HTTP helpers; pydantic's URL types (~30 ms in all)
                "dynorm.local._wire", "urllib.request", "http.client", "pydantic.networks",
                "dynorm.collection")

#: What a program that only gets items by key never needs: queries, scans and writes
#: load their modules (and request types) on their first call.
AFTER_FIRST_GET = ("dynorm.read.query", "dynorm.read.builder", "dynorm.read.pagination",
                   "dynorm.write.items", "dynorm.schema.prepare", "dynorm.schema.settings",
                   "dynorm.expressions.operations", "dynorm.expressions.conditions",
                   "dynorm.expressions.operands", "dynorm.expressions.updates",
                   "dynorm.expressions.keys", "dynorm.transport.regions",
                   "dynorm.transport.origin")

MODEL_PROGRAM = textwrap.dedent("""
    import asyncio, json, sys
    from typing import Annotated

    import dynorm
    from dynorm import Model, PartitionKey

    class Item(Model, table="no_botocore"):
        pk: Annotated[str, PartitionKey]
        v: str

    def loaded(names=None) -> list[str]:
        return sorted(m for m in names or ON_FIRST_USE if m in sys.modules)

    async def main(url: str) -> None:
        async with dynorm.connect(endpoint_url=url, region="us-east-1"):
            item = await Item.get("a")
            after_get = loaded(AFTER_FIRST_GET)
            await Item(pk="b", v="y").save()
            found = await Item.query(Item.pk == "b").to_list()
            before = loaded()
            async with dynorm.transaction() as tx:   # loads the transaction module now
                tx.save(Item(pk="c", v="z"))
        print(json.dumps({"v": item.v, "found": [f.v for f in found], "before": before,
                          "after": loaded(), "after_get": after_get}))

    ON_FIRST_USE = %r
    AFTER_FIRST_GET = %r
    asyncio.run(main(sys.argv[1]))
""")


def test_single_item_programs_load_only_what_they_use(dynorm_server: LocalServer) -> None:
    result = run_cold(dynorm_server, MODEL_PROGRAM % (ON_FIRST_USE, AFTER_FIRST_GET))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["v"] == "x" and report["found"] == ["y"]
    assert report["before"] == [], f"loaded before first use: {report['before']}"
    assert report["after"] == ["dynorm.write.transaction"]
    assert report["after_get"] == [], f"loaded by a get: {report['after_get']}"
