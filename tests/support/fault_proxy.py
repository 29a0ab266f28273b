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

General faults, for every operation in ``fault_operations`` (None: all), each with its
own rate (one random draw per request picks at most one of them):

=================  ====================================================================
``throttling``     400 ThrottlingException, not forwarded (nothing happened)
``throughput``     400 ProvisionedThroughputExceededException, not forwarded
``server_error``   500 InternalServerError, not forwarded
``unavailable``    503 ServiceUnavailable, not forwarded
``drop_before``    the connection is cut before forwarding (nothing happened)
``drop_after``     forwarded, the server applied it, *then* the connection is cut: the
                   client cannot know that its write happened (``proxy.applied_unseen``)
``delay``          forwarded after ``delay_seconds``
=================  ====================================================================

``honour_tokens`` makes the proxy behave as DynamoDB does with a TransactWriteItems
``ClientRequestToken`` (moto ignores the token): a repeat of a successful call with the
same token and the same body is answered with the first success and not forwarded
(``stats.token_replays``); the same token with another body gets
IdempotentParameterMismatchException.

``limits`` (a :class:`tests.support.hot_partitions.PartitionLimits`) enforces per-partition-key
write and read units, scaled down: requests beyond them are answered
ProvisionedThroughputExceededException (a batch's writes come back unprocessed), as
DynamoDB does for a hot partition (``stats.partition_throttled``).

``stats`` counts everything: requests received, forwarded, and each fault by kind
(``stats.faults``). ``max_faults`` caps the number of general faults injected.

Randomness comes from ``random.Random(seed)``, so a failing run can be replayed. Every
request is recorded (``proxy.requests``: operation and parsed payload as received).

```python
async with FaultProxy(server.endpoint_url, FaultConfig(unprocessed_rate=0.3, seed=7)) as proxy:
    async with dynorm.connect(endpoint_url=proxy.url, ...):
        ...
```
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["FAULT_KINDS", "FaultConfig", "FaultProxy", "Stats", "faulty_connection"]

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
    # General faults (rates are per request; their sum must not exceed 1).
    throttling_rate: float = 0.0
    throughput_rate: float = 0.0
    server_error_rate: float = 0.0
    unavailable_rate: float = 0.0
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    delay_rate: float = 0.0
    delay_seconds: float = 0.05
    fault_operations: frozenset[str] | None = None
    max_faults: int | None = None
    honour_tokens: bool = False
    #: per-partition-key limits (tests/support/hot_partitions.py), or None
    limits: Any = None

    def fault_rates(self) -> list[tuple[str, float]]:
        return [("throttling", self.throttling_rate), ("throughput", self.throughput_rate),
                ("server_error", self.server_error_rate), ("unavailable", self.unavailable_rate),
                ("drop_before", self.drop_before_rate), ("drop_after", self.drop_after_rate),
                ("delay", self.delay_rate)]

    @classmethod
    def mixed(cls, rate: float, *, seed: int = 0, delay_seconds: float = 0.002,
              operations: frozenset[str] | None = None, **more: Any) -> FaultConfig:
        """``rate`` of all requests faulted, spread evenly over the seven kinds."""
        share = rate / 7
        return cls(seed=seed, throttling_rate=share, throughput_rate=share,
                   server_error_rate=share, unavailable_rate=share, drop_before_rate=share,
                   drop_after_rate=share, delay_rate=share, delay_seconds=delay_seconds,
                   fault_operations=operations, **more)


FAULT_KINDS = ("throttling", "throughput", "server_error", "unavailable", "drop_before",
               "drop_after", "delay")


@dataclass
class Stats:
    requests: int = 0
    forwarded: int = 0
    throttled: int = 0
    unprocessed_writes: int = 0
    unprocessed_keys: int = 0
    conflicts: int = 0
    token_replays: int = 0
    token_mismatches: int = 0
    partition_throttled: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    @property
    def injected(self) -> int:
        """Every fault injected: general ones, throttles, unprocessed entries, conflicts."""
        return (sum(self.faults.values()) + self.throttled + self.unprocessed_writes
                + self.unprocessed_keys + self.conflicts)

    def summary(self) -> str:
        faults = ", ".join(f"{k}={v}" for k, v in self.faults.items() if v)
        return (f"requests={self.requests} forwarded={self.forwarded} "
                f"throttled(batch)={self.throttled} unprocessed_writes={self.unprocessed_writes} "
                f"unprocessed_keys={self.unprocessed_keys} conflicts={self.conflicts} "
                f"token_replays={self.token_replays} [{faults}]")


class FaultProxy:
    """An aiohttp server on 127.0.0.1 forwarding to ``upstream`` with faults injected."""

    def __init__(self, upstream: str, config: FaultConfig | None = None, *,
                 port: int = 0, shutdown_timeout: float = 60.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port  # 0: any free port; a fixed one lets a stopped proxy come back
        #: seconds stop() waits for requests under way (small: a hard kill)
        self.shutdown_timeout = shutdown_timeout
        self.config = config or FaultConfig()
        self.random = random.Random(self.config.seed)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        #: (operation, payload) of calls the server applied but whose answer was cut.
        self.applied_unseen: list[tuple[str, dict[str, Any]]] = []
        self.stats = Stats()
        self._tokens: dict[str, tuple[str, int, bytes, str]] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> FaultProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None,
                                     shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
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

    def quiet(self) -> None:
        """Stop injecting anything (keep forwarding and counting)."""
        cfg = self.config
        for name in ("unprocessed_rate", "throttle_rate", "throttling_rate", "throughput_rate",
                     "server_error_rate", "unavailable_rate", "drop_before_rate",
                     "drop_after_rate", "delay_rate"):
            setattr(cfg, name, 0.0)
        cfg.unprocessed = None
        cfg.transaction_conflicts = 0

    def reseed(self, seed: int) -> None:
        self.config.seed = seed
        self.random = random.Random(seed)

    # ------------------------------------------------------------------ handling

    def _pick_fault(self, operation: str) -> str | None:
        cfg = self.config
        if cfg.fault_operations is not None and operation not in cfg.fault_operations:
            return None
        rates = cfg.fault_rates()
        if not any(rate for _, rate in rates):
            return None  # draw nothing: seeded sequences of the older options stay the same
        if cfg.max_faults is not None and sum(self.stats.faults.values()) >= cfg.max_faults:
            return None
        draw = self.random.random()
        for kind, rate in rates:
            if draw < rate:
                return kind
            draw -= rate
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        payload: dict[str, Any] = json.loads(body) if body else {}
        self.requests.append((operation, payload))
        self.stats.requests += 1
        self.stats.by_operation[operation] = self.stats.by_operation.get(operation, 0) + 1
        limits = self.config.limits
        if limits is not None and not limits.admit(operation, payload):
            self.stats.partition_throttled += 1
            return _error(400, "ProvisionedThroughputExceededException",
                          "The level of configured provisioned throughput for one or more "
                          "global secondary indexes or partitions of the table was exceeded "
                          "(a hot partition simulated by FaultProxy)")
        fault = self._pick_fault(operation)
        if fault is not None:
            self.stats.faults[fault] += 1
        if fault == "throttling":
            return _error(400, "ThrottlingException", "Rate of requests exceeds the allowed "
                          "throughput (injected by FaultProxy)")
        if fault == "throughput":
            return _error(400, "ProvisionedThroughputExceededException",
                          "The level of configured provisioned throughput for the table was "
                          "exceeded (injected by FaultProxy)")
        if fault == "server_error":
            return _error(500, "InternalServerError", "Internal server error (injected)")
        if fault == "unavailable":
            return _error(503, "ServiceUnavailable", "Service unavailable (injected)")
        if fault == "drop_before":
            return self._drop(request)
        if fault == "delay":
            await asyncio.sleep(self.config.delay_seconds)
        response = await self._answer(request, operation, payload, body)
        if limits is not None and response.status == 200 and isinstance(response.body, bytes):
            limits.charge(operation, payload, response.body)
        if fault == "drop_after":
            if response.status == 200:
                self.applied_unseen.append((operation, payload))
            return self._drop(request)
        return response

    def _drop(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never reaches the client: the socket is gone

    async def _answer(self, request: web.Request, operation: str, payload: dict[str, Any],
                      body: bytes) -> web.Response:
        cfg = self.config
        token = payload.get("ClientRequestToken") if operation == "TransactWriteItems" else None
        if token and cfg.honour_tokens:
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            seen = self._tokens.get(token)
            if seen is not None:
                if seen[0] != digest:
                    self.stats.token_mismatches += 1
                    return _error(400, "IdempotentParameterMismatchException",
                                  "The request uses the same client token as a previous, but "
                                  "non-identical request (injected by FaultProxy)")
                self.stats.token_replays += 1
                return web.Response(status=seen[1], body=seen[2], content_type=seen[3])
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
        if token and cfg.honour_tokens and status == 200:
            self._tokens[token] = (digest, status, data, ctype)
        return web.Response(status=status, body=data, content_type=ctype)

    def _withhold(self, table: str, entry: dict[str, Any]) -> bool:
        cfg = self.config
        if cfg.unprocessed is not None and cfg.unprocessed(table, entry):
            return True
        if cfg.limits is not None and cfg.limits.withhold(table, entry):
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


@asynccontextmanager
async def faulty_connection(
    server: Any, config: FaultConfig, models: Sequence[Any] = (), *,
    transport: str = "fast", max_attempts: int = 4, base_delay: float = 0.001,
    max_delay: float = 0.02, **settings: Any,
) -> AsyncIterator[tuple[FaultProxy, Any]]:
    """Wipe ``server`` (a :class:`dynorm.LocalServer`), create ``models``' tables without
    faults, then open a current connection through a :class:`FaultProxy` with ``config``.

    Yields ``(proxy, connection)``.
    """
    import dynorm  # the proxy itself does not need dynorm

    server.reset()
    async with server.connect(transport=transport):
        for model in models:
            await model.create_table()
    retry = dynorm.RetryPolicy(max_attempts=max_attempts, base_delay=base_delay,
                               max_delay=max_delay)
    options: dict[str, Any] = {"region": "us-east-1", "aws_access_key_id": "local",
                               "aws_secret_access_key": "local", **settings}
    async with FaultProxy(server.endpoint_url, config) as proxy, dynorm.connect(
            endpoint_url=proxy.url, retry=retry, transport=transport, **options) as conn:
        yield proxy, conn
