"""pydynox (Rust core, async): its low-level client, ``data.plain`` dicts in, plain dicts
out (its fastest path; its Model layer adds to it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydynox import DynamoDBClient

from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, MAX_SCORE, REGION, TABLE, Bench, plain

# pydynox logs a WARNING for every call slower than its threshold (100 ms): on a loaded
# machine that is most calls of a busy round, printed to stderr by logging's last resort
# and paid for inside the timed region. Its errors are still shown.
logging.getLogger("pydynox").setLevel(logging.ERROR)


class Pydynox(Contender):
    """Its client takes no CA file (``ca_bundle`` unused): its Rust TLS stack (rustls with
    the platform's roots) reads SSL_CERT_FILE when the client is made."""

    returns = "dicts of Python values"

    async def open(self, url: str, tx_url: str) -> None:
        def client(endpoint: str) -> DynamoDBClient:
            return DynamoDBClient(region=REGION, access_key=CREDS["aws_access_key_id"],
                                  secret_key=CREDS["aws_secret_access_key"],
                                  endpoint_url=endpoint)

        self.client = client(url)
        self.tx_client = client(tx_url)

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.put_item(TABLE, plain(m))

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            assert await self.client.get_item(TABLE, {"pk": pk, "sk": sk}) is not None

    async def update(self, items: Sequence[Bench]) -> None:
        for m in items:
            await self.client.update_item(
                TABLE, {"pk": m.pk, "sk": m.sk},
                update_expression="SET #sc = #sc + :one, #st = :st",
                condition_expression="attribute_exists(#pk) AND #sc < :max",
                expression_attribute_names={"#sc": "score", "#st": "status", "#pk": "pk"},
                expression_attribute_values={":one": 1, ":st": "seen", ":max": MAX_SCORE},
                return_values="ALL_NEW")

    async def query(self, pk: str, page_size: int | None) -> int:
        count = 0
        async for _ in self.client.query(TABLE, "#pk = :pk",
                                         expression_attribute_names={"#pk": "pk"},
                                         expression_attribute_values={":pk": pk},
                                         page_size=page_size):
            count += 1
        return count

    async def scan(self, segments: int) -> int:
        # pydynox's own parallel scan: all segments at once, every item in one list.
        items, _ = await self.client.parallel_scan(TABLE, total_segments=segments)
        return len(items)

    async def batch_write(self, items: Sequence[Bench]) -> None:
        # pydynox splits into calls of 25 and retries unprocessed items itself.
        await self.client.batch_write(TABLE, put_items=[plain(m) for m in items])

    async def batch_get(self, keys: Sequence[Key]) -> int:
        found = await self.client.batch_get(TABLE, [{"pk": pk, "sk": sk} for pk, sk in keys])
        return len(found)

    async def transaction(self, items: Sequence[Bench]) -> None:
        await self.tx_client.transact_write(
            [{"type": "put", "table": TABLE, "item": plain(m)} for m in items])
