"""The floor for dynorm's aioboto3 transport: aioboto3's low-level client with hand-written
request dicts and the hand-written per-field encoder (``data.wire``); reads return wire dicts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aioboto3

from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, TABLE, Bench, wire

CONCURRENCY = 8  # batch calls in flight, as dynorm's batch() and get_many() default


class RawAioboto3(Contender):
    returns = "wire dicts (AttributeValues, as botocore parses them)"

    async def open(self, url: str, tx_url: str) -> None:
        session = aioboto3.Session(region_name=REGION, **CREDS)
        verify = {"verify": self.ca_bundle} if self.ca_bundle else {}
        self._cm = session.client("dynamodb", endpoint_url=url, **verify)
        self.client = await self._cm.__aenter__()
        self._tx_cm = session.client("dynamodb", endpoint_url=tx_url, **verify)
        self.tx_client = await self._tx_cm.__aenter__()

    async def close(self) -> None:
        await self._tx_cm.__aexit__(None, None, None)
        await self._cm.__aexit__(None, None, None)

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.put_item(TableName=TABLE, Item=wire(m))

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            response = await self.client.get_item(
                TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"N": str(sk)}})
            assert "Item" in response

    async def update(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.update_item(
                TableName=TABLE, Key={"pk": {"S": m.pk}, "sk": {"N": str(m.sk)}},
                UpdateExpression="SET #sc = #sc + :one, #st = :st",
                ConditionExpression="attribute_exists(#pk) AND #sc < :max",
                ExpressionAttributeNames={"#sc": "score", "#st": "status", "#pk": "pk"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":st": {"S": "seen"},
                                           ":max": {"N": str(MAX_SCORE)}},
                ReturnValues="ALL_NEW")

    async def query(self, pk: str, page_size: int | None) -> int:
        count = 0
        kwargs: dict[str, Any] = {"TableName": TABLE, "KeyConditionExpression": "#pk = :pk",
                                  "ExpressionAttributeNames": {"#pk": "pk"},
                                  "ExpressionAttributeValues": {":pk": {"S": pk}}}
        if page_size:
            kwargs["Limit"] = page_size
        while True:
            page = await self.client.query(**kwargs)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def scan(self, segments: int) -> int:
        async def segment(i: int) -> int:
            count = 0
            kwargs: dict[str, Any] = {"TableName": TABLE, "Segment": i,
                                      "TotalSegments": segments}
            while True:
                page = await self.client.scan(**kwargs)
                count += len(page["Items"])
                if "LastEvaluatedKey" not in page:
                    return count
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        return sum(await asyncio.gather(*(segment(i) for i in range(segments))))

    async def batch_write(self, items: Sequence[Bench]) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def send(chunk: Sequence[Bench]) -> None:
            async with sem:
                request = {TABLE: [{"PutRequest": {"Item": wire(m)}} for m in chunk]}
                attempt = 0
                while request:
                    response = await self.client.batch_write_item(RequestItems=request)
                    request = response.get("UnprocessedItems") or {}
                    attempt += 1
                    if request:
                        await asyncio.sleep(min(1.0, 0.05 * 2 ** attempt))

        await asyncio.gather(*(send(items[i:i + 25]) for i in range(0, len(items), 25)))

    async def batch_get(self, keys: Sequence[Key]) -> int:
        sem = asyncio.Semaphore(CONCURRENCY)
        found: list[dict[str, Any]] = []  # every item held, as the other contenders do

        async def fetch(chunk: Sequence[Key]) -> None:
            async with sem:
                request: dict[str, Any] = {TABLE: {"Keys": [
                    {"pk": {"S": pk}, "sk": {"N": str(sk)}} for pk, sk in chunk]}}
                while request:
                    response = await self.client.batch_get_item(RequestItems=request)
                    found.extend(response["Responses"].get(TABLE, ()))
                    request = response.get("UnprocessedKeys") or {}

        await asyncio.gather(*(fetch(keys[i:i + 100]) for i in range(0, len(keys), 100)))
        return len(found)

    async def transaction(self, items: Sequence[Bench]) -> None:
        await self.tx_client.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": wire(m)}} for m in items])
