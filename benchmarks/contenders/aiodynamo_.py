"""aiodynamo (async, aiohttp, its own SigV4): ``data.plain`` dicts in, plain dicts out."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
from aiodynamo.client import Client
from aiodynamo.credentials import Key as AwsKey
from aiodynamo.credentials import StaticCredentials
from aiodynamo.expressions import F, HashKey
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.models import BatchGetRequest, BatchWriteRequest, ReturnValues
from aiodynamo.operations import Put
from aiodynamo.utils import dy2py
from yarl import URL

from benchmarks.contenders import Contender, Key
from benchmarks.data import MAX_SCORE, REGION, TABLE, Bench, plain

CONCURRENCY = 8


class Aiodynamo(Contender):
    returns = "dicts of Python values (Decimal numbers)"

    async def open(self, url: str, tx_url: str) -> None:
        # aiohttp builds its default SSL context when imported: a CA file is passed as a
        # context of its own.
        connector = (aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=self.ca_bundle))
                     if self.ca_bundle else None)
        self.session = aiohttp.ClientSession(connector=connector)
        creds = StaticCredentials(AwsKey("local", "local"))
        # Decimal numbers, as the others (aiodynamo's default is float).
        self.client = Client(AIOHTTP(self.session), creds, REGION, URL(url),
                             numeric_type=Decimal)
        self.tx_client = Client(AIOHTTP(self.session), creds, REGION, URL(tx_url),
                                numeric_type=Decimal)

    async def close(self) -> None:
        await self.session.close()

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.put_item(TABLE, plain(m))

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            await self.client.get_item(TABLE, {"pk": pk, "sk": sk})

    async def update(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.update_item(
                TABLE, {"pk": m.pk, "sk": m.sk},
                F("score").change(1) & F("status").set("seen"),
                condition=F("pk").exists() & F("score").lt(MAX_SCORE),
                return_values=ReturnValues.all_new)

    async def query(self, pk: str, page_size: int | None) -> int:
        count, start = 0, None
        while True:
            page = await self.client.query_single_page(TABLE, HashKey("pk", pk),
                                                       start_key=start, limit=page_size)
            count += len(page.items)
            start = page.last_evaluated_key
            if not start:
                return count

    async def scan(self, segments: int) -> int:
        # aiodynamo's scan() takes no segments: its own scan_single_page() with Segment and
        # TotalSegments added, through its send_request() and dy2py().
        async def segment(i: int) -> int:
            count, start = 0, None
            while True:
                payload: dict[str, Any] = {"TableName": TABLE, "Segment": i,
                                           "TotalSegments": segments}
                if start:
                    payload["ExclusiveStartKey"] = start
                response = await self.client.send_request(action="Scan", payload=payload)
                count += len([dy2py(item, Decimal) for item in response["Items"]])
                start = response.get("LastEvaluatedKey")
                if not start:
                    return count

        return sum(await asyncio.gather(*(segment(i) for i in range(segments))))

    async def batch_write(self, items: Sequence[Bench]) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def send(chunk: list[dict[str, Any]]) -> None:
            async with sem:
                while chunk:
                    result = await self.client.batch_write(
                        {TABLE: BatchWriteRequest(items_to_put=chunk)})
                    chunk = result[TABLE].unput_items if TABLE in result else []

        await asyncio.gather(*(send([plain(m) for m in items[i:i + 25]])
                               for i in range(0, len(items), 25)))

    async def batch_get(self, keys: Sequence[Key]) -> int:
        sem = asyncio.Semaphore(CONCURRENCY)
        found: list[dict[str, Any]] = []  # every item held, as the other contenders do

        async def fetch(chunk: list[dict[str, Any]]) -> None:
            async with sem:
                while chunk:
                    response = await self.client.batch_get(
                        {TABLE: BatchGetRequest(keys=chunk)})
                    found.extend(response.items.get(TABLE, ()))
                    chunk = response.unprocessed_keys.get(TABLE, [])

        await asyncio.gather(*(
            fetch([{"pk": pk, "sk": sk} for pk, sk in keys[i:i + 100]])
            for i in range(0, len(keys), 100)))
        return len(found)

    async def transaction(self, items: Sequence[Bench]) -> None:
        await self.tx_client.transact_write_items([Put(TABLE, plain(m)) for m in items])
