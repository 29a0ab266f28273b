"""A loopback HTTP proxy in front of the moto server that injects DynamoDB's rarer answers.

moto never returns UnprocessedItems/UnprocessedKeys, never throttles and never reports
transaction conflicts. The proxy forwards each request to the real server and, as
configured, changes what happens on the way:

* ``unprocessed_rate`` / ``unprocessed``: BatchWriteItem writes (BatchGetItem keys) chosen
  at random with this probability, or by the ``unprocessed`` predicate, are *removed from
  the forwarded request* and returned as UnprocessedItems (UnprocessedKeys). So an item
  reported unprocessed has really not been written: a test that finds it on the server
  afterwards has found a bug, not a proxy artefact.
* ``throttle_rate``: answer this share of calls with ProvisionedThroughputExceededException
  without forwarding them.
* ``transaction_conflicts``: answer this many TransactWriteItems calls with a
  TransactionCanceledException whose reasons are all ``TransactionConflict``, without
  forwarding them.

Randomness comes from ``random.Random(seed)``, so a failing run can be replayed. Every
request is recorded (``proxy.requests``: operation and parsed payload as received).

```python
async with FaultProxy(server.endpoint_url, FaultConfig(unprocessed_rate=0.3, seed=7)) as proxy:
    async with dynorm.connect(endpoint_url=proxy.url, ...):
        ...
```
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["FaultConfig", "FaultProxy"]

JSON = "application/x-amz-json-1.0"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"

#: (table, item-or-key) -> True to mark this write/read unprocessed every time.
Selector = Callable[[str, dict[str, Any]], bool]


@dataclass
class FaultConfig:
    """What the proxy does to requests; change fields between calls as a test goes."""

    seed: int = 0
    unprocessed_rate: float = 0.0
    unprocessed: Selector | None = None
    throttle_rate: float = 0.0
    throttle_operations: frozenset[str] = frozenset({"BatchWriteItem", "BatchGetItem"})
    transaction_conflicts: int = 0


@dataclass
class Stats:
    forwarded: int = 0
    throttled: int = 0
    unprocessed_writes: int = 0
    unprocessed_keys: int = 0
    conflicts: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


class FaultProxy:
    """An aiohttp server on 127.0.0.1 forwarding to ``upstream`` with faults injected."""

    def __init__(self, upstream: str, config: FaultConfig | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.config = config or FaultConfig()
        self.random = random.Random(self.config.seed)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.stats = Stats()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> FaultProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reseed(self, seed: int) -> None:
        self.config.seed = seed
        self.random = random.Random(seed)

    # ------------------------------------------------------------------ handling

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        payload: dict[str, Any] = json.loads(body) if body else {}
        self.requests.append((operation, payload))
        self.stats.by_operation[operation] = self.stats.by_operation.get(operation, 0) + 1
        cfg = self.config
        if operation in cfg.throttle_operations and self.random.random() < cfg.throttle_rate:
            self.stats.throttled += 1
            return _error(400, "ProvisionedThroughputExceededException",
                          "The level of configured provisioned throughput for the table was "
                          "exceeded (injected by FaultProxy)")
        if operation == "TransactWriteItems" and cfg.transaction_conflicts > 0:
            cfg.transaction_conflicts -= 1
            self.stats.conflicts += 1
            reasons = [{"Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item (injected)"}
                       for _ in payload.get("TransactItems", [])]
            return _error(400, "TransactionCanceledException",
                          "Transaction cancelled, please refer cancellation reasons for "
                          "specific reasons [TransactionConflict]",
                          CancellationReasons=reasons)
        if operation == "BatchWriteItem":
            return await self._batch(request, payload, "RequestItems", "UnprocessedItems")
        if operation == "BatchGetItem":
            return await self._batch(request, payload, "RequestItems", "UnprocessedKeys")
        status, data, ctype = await self._forward(request, body)
        return web.Response(status=status, body=data, content_type=ctype)

    def _withhold(self, table: str, entry: dict[str, Any]) -> bool:
        cfg = self.config
        if cfg.unprocessed is not None and cfg.unprocessed(table, entry):
            return True
        return cfg.unprocessed_rate > 0 and self.random.random() < cfg.unprocessed_rate

    async def _batch(self, request: web.Request, payload: dict[str, Any], field_in: str,
                     field_out: str) -> web.Response:
        keep: dict[str, Any] = {}
        held: dict[str, Any] = {}
        for table, spec in payload[field_in].items():
            if field_out == "UnprocessedItems":
                writes = spec
                kept = []
                for write in writes:
                    body = (write.get("PutRequest", {}).get("Item")
                            or write.get("DeleteRequest", {}).get("Key"))
                    if self._withhold(table, body):
                        held.setdefault(table, []).append(write)
                        self.stats.unprocessed_writes += 1
                    else:
                        kept.append(write)
                if kept:
                    keep[table] = kept
            else:
                kept_keys = []
                for key in spec["Keys"]:
                    if self._withhold(table, key):
                        held.setdefault(table, {**spec, "Keys": []})["Keys"].append(key)
                        self.stats.unprocessed_keys += 1
                    else:
                        kept_keys.append(key)
                if kept_keys:
                    keep[table] = {**spec, "Keys": kept_keys}
        if keep:
            forwarded = {**payload, field_in: keep}
            status, data, ctype = await self._forward(request, json.dumps(forwarded).encode())
            if status != 200:
                return web.Response(status=status, body=data, content_type=ctype)
            answer = json.loads(data)
        else:
            answer = {"Responses": {}} if field_out == "UnprocessedKeys" else {}
        merged = dict(answer.get(field_out) or {})
        for table, value in held.items():
            if field_out == "UnprocessedItems":
                merged[table] = [*merged.get(table, []), *value]
            else:
                prior = merged.get(table)
                merged[table] = value if prior is None else {
                    **prior, "Keys": [*prior["Keys"], *value["Keys"]]}
        answer[field_out] = merged
        # The body changed: no x-amz-crc32 header (botocore checks it when present).
        return web.Response(status=200, body=json.dumps(answer), content_type=JSON)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, bytes, str]:
        assert self._session is not None
        self.stats.forwarded += 1
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("x-amz-target", "content-type", "authorization",
                                    "x-amz-date", "x-amz-security-token")}
        async with self._session.post(self.upstream + "/", data=body, headers=headers) as resp:
            data = await resp.read()
            ctype = resp.headers.get("Content-Type", JSON).split(";")[0]
            return resp.status, data, ctype


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"__type": _PREFIX + code, "message": message, **extra}
    return web.Response(status=status, body=json.dumps(body), content_type=JSON)
