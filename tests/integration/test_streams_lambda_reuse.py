"""``sync_lambda_handler`` keeps one event loop and one connection per execution
environment (issue 18): later invocations reuse both, and handlers that call DynamoDB
write through that connection. Fed with AWS SAM CLI's sample stream event (an oracle
read from ../shared/external-oracles, never copied)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import LocalServer, Model, PartitionKey
from dynorm.streams import ChangeEvent, StreamListener, sync_lambda_handler

ORACLE = (Path(__file__).resolve().parents[3] / "shared" / "external-oracles" / "lambda"
          / "aws-sam-cli" / "DynamoDBUpdate.json")


class Message(Model, table="lambda_reuse_messages"):
    Id: Annotated[int, PartitionKey]
    Message: str | None = None


class Seen(Model, table="lambda_reuse_seen"):
    sequence: Annotated[str, PartitionKey]
    kind: str
    message_id: int


def sam_event() -> dict[str, Any]:
    text = ORACLE.read_text("utf-8")
    for name, value in {"region": "us-east-1", "partition": "aws",
                        "account_id": "123456789012", "table": "lambda_reuse_messages"}.items():
        text = text.replace("{{{" + name + "}}}", value)
    event: dict[str, Any] = json.loads(text)
    return event


@pytest.mark.skipif(not ORACLE.exists(), reason="the shared Lambda oracles are not here")
def test_one_loop_and_one_connection_serve_every_invocation(dynorm_server: LocalServer
                                                            ) -> None:
    dynorm_server.reset()
    settings: dict[str, Any] = {"endpoint_url": dynorm_server.endpoint_url,
                                "region": "us-east-1", "aws_access_key_id": "local",
                                "aws_secret_access_key": "local"}

    async def setup() -> None:
        async with dynorm.connect(**settings):
            await dynorm.create_tables(Message, Seen)

    asyncio.run(setup())
    listener = StreamListener(Message)
    connections: list[int] = []
    loops: list[int] = []

    @listener.on(Message)
    async def record(event: ChangeEvent[Message]) -> None:
        connections.append(id(dynorm.get_connection()))
        loops.append(id(asyncio.get_running_loop()))
        await Seen(sequence=event.sequence_number, kind=event.kind,
                   message_id=event.keys["Id"]).save()

    handler = sync_lambda_handler(listener, table_prefix="", connect=settings)
    event = sam_event()
    records = len(event["Records"])
    for _ in range(3):
        assert handler(event, None) == {"batchItemFailures": []}
    assert len(connections) == 3 * records
    assert len(set(connections)) == 1 and len(set(loops)) == 1

    async def stored() -> list[Seen]:
        async with dynorm.connect(**settings):
            return await Seen.scan().to_list()

    seen = asyncio.run(stored())
    assert sorted(s.sequence for s in seen) == sorted(
        r["dynamodb"]["SequenceNumber"] for r in event["Records"])
    assert {s.kind for s in seen} == {"insert", "modify", "remove"}
    assert {s.message_id for s in seen} == {101}
    # The invocation's connection does not leak into code that runs outside it.
    with pytest.raises(dynorm.ConnectionNotConfigured):
        dynorm.get_connection()
