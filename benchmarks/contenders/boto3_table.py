"""boto3's Table resource (synchronous, what people write by hand): ``data.plain`` dicts in,
boto3's TypeSerializer/TypeDeserializer on the wire, plain dicts out. Runs blocking in the
benchmark's process and is measured plainly."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from boto3.dynamodb.conditions import Key as KeyCond

from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, TABLE, Bench, plain


class Boto3Table(Contender):
    sync = True
    returns = "dicts of Python values (Decimal numbers)"

    async def open(self, url: str, tx_url: str) -> None:
        session = boto3.Session(region_name=REGION, **CREDS)
        self.resource = session.resource("dynamodb", endpoint_url=url,
                                         verify=self.ca_bundle or None)
        self.table = self.resource.Table(TABLE)
        # The resource's client takes Python values too (boto3 injects its serializer).
        self.tx_client = session.resource("dynamodb", endpoint_url=tx_url).meta.client

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            self.table.put_item(Item=plain(m))

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            assert "Item" in self.table.get_item(Key={"pk": pk, "sk": sk})

    async def update(self, items: Sequence[Bench]) -> None:
        for m in items:
            self.table.update_item(
                Key={"pk": m.pk, "sk": m.sk},
                UpdateExpression="SET #sc = #sc + :one, #st = :st",
                ConditionExpression=Attr("pk").exists() & Attr("score").lt(MAX_SCORE),
                ExpressionAttributeNames={"#sc": "score", "#st": "status"},
                ExpressionAttributeValues={":one": 1, ":st": "seen"},
                ReturnValues="ALL_NEW")

    async def query(self, pk: str, page_size: int | None) -> int:
        count = 0
        kwargs: dict[str, Any] = {"KeyConditionExpression": KeyCond("pk").eq(pk)}
        if page_size:
            kwargs["Limit"] = page_size
        while True:
            page = self.table.query(**kwargs)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def scan(self, segments: int) -> int:
        # boto3's documented way to a parallel scan: one thread per segment.
        def segment(i: int) -> int:
            count = 0
            kwargs: dict[str, Any] = {"Segment": i, "TotalSegments": segments}
            while True:
                page = self.table.scan(**kwargs)
                count += len(page["Items"])
                if "LastEvaluatedKey" not in page:
                    return count
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(segments) as pool:
            return sum(pool.map(segment, range(segments)))

    async def batch_write(self, items: Sequence[Bench]) -> None:
        with self.table.batch_writer() as writer:
            for m in items:
                writer.put_item(Item=plain(m))

    async def batch_get(self, keys: Sequence[Key]) -> int:
        found: list[dict[str, Any]] = []  # every item held, as the other contenders do
        for i in range(0, len(keys), 100):
            request: dict[str, Any] = {TABLE: {"Keys": [{"pk": pk, "sk": sk}
                                                        for pk, sk in keys[i:i + 100]]}}
            while request:
                response = self.resource.batch_get_item(RequestItems=request)
                found.extend(response["Responses"].get(TABLE, ()))
                request = response.get("UnprocessedKeys") or {}
        return len(found)

    async def transaction(self, items: Sequence[Bench]) -> None:
        self.tx_client.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": plain(m)}} for m in items])
