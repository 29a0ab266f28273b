"""One retry setting (issue 16): ``batch()``, ``transaction()``, ``get_many()``,
``batch_get()`` and ``Model.get_many`` take ``retry=RetryPolicy(...)`` as ``connect()``
does, and honour it: as many rounds as ``max_attempts``, no more. MockTransport, no
server; the pauses are recorded instead of slept."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    BatchGetFailed,
    BatchWriteFailed,
    MockTransport,
    Model,
    PartitionKey,
    RetryPolicy,
    ServiceError,
    Throttled,
    TransactionCanceled,
)
from dynorm.read.batch_get import BATCH_GET_RETRY
from dynorm.write.batch import BATCH_WRITE_RETRY
from dynorm.write.transaction import TRANSACTION_RETRY


class Gadget(Model, table="r_gadgets"):
    gadget_id: Annotated[str, PartitionKey]
    n: int = 0


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between rounds, recorded instead of slept."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", record)
    return slept


def unprocessed(op: str, req: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB under pressure: nothing is ever processed."""
    if op == "BatchWriteItem":
        return {"UnprocessedItems": req["RequestItems"]}
    assert op == "BatchGetItem"
    return {"Responses": {}, "UnprocessedKeys": req["RequestItems"]}


def conflict(op: str, req: dict[str, Any]) -> dict[str, Any]:
    raise ServiceError("canceled", code="TransactionCanceledException",
                       operation="TransactWriteItems",
                       response={"CancellationReasons": [{"Code": "TransactionConflict"}]})


async def _batch(retry: RetryPolicy | None) -> None:
    async with dynorm.batch(retry=retry) as b:
        b.save(Gadget(gadget_id="g1"))


async def _transaction(retry: RetryPolicy | None) -> None:
    async with dynorm.transaction(retry=retry) as tx:
        tx.save(Gadget(gadget_id="g1"))


#: (an API, what DynamoDB answers, the error once the rounds are spent, its default)
APIS: dict[str, tuple[Callable[[RetryPolicy | None], Awaitable[Any]], Any, type[Exception],
                      RetryPolicy]] = {
    "batch": (_batch, unprocessed, BatchWriteFailed, BATCH_WRITE_RETRY),
    "get_many": (lambda r: dynorm.get_many(Gadget, ["g1"], retry=r), unprocessed,
                 BatchGetFailed, BATCH_GET_RETRY),
    "Model.get_many": (lambda r: Gadget.get_many(["g1"], retry=r), unprocessed,
                       BatchGetFailed, BATCH_GET_RETRY),
    "batch_get": (lambda r: dynorm.batch_get((Gadget, "g1"), retry=r), unprocessed,
                  BatchGetFailed, BATCH_GET_RETRY),
    "transaction": (_transaction, conflict, TransactionCanceled, TRANSACTION_RETRY),
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("attempts", [1, 3])
async def test_the_policy_sets_the_rounds(api: str, attempts: int, pauses: list[float]) -> None:
    call, answer, error, _ = APIS[api]
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport):
        with pytest.raises(error):
            await call(RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.02))
    assert len(transport.requests) == attempts
    assert len(pauses) == attempts - 1
    assert all(0 <= p <= min(0.02, 0.01 * 2 ** i) for i, p in enumerate(pauses))


@pytest.mark.parametrize("api", APIS)
async def test_the_defaults_are_unchanged(api: str, pauses: list[float]) -> None:
    call, answer, error, default = APIS[api]
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport):
        with pytest.raises(error):
            await call(None)
    # as before: 10 more rounds of a batch, 3 more attempts of a conflicting transaction
    expected = 4 if api == "transaction" else 11
    assert default.max_attempts == len(transport.requests) == expected
    assert default.base_delay == 0.05
    assert default.max_delay == (1.0 if api == "transaction" else 5.0)
    assert all(0 <= p <= min(default.max_delay, 0.05 * 2 ** i) for i, p in enumerate(pauses))


async def test_throttling_that_outlasts_the_connection_costs_a_batch_round(
        pauses: list[float]) -> None:
    def throttled(op: str, req: dict[str, Any]) -> dict[str, Any]:
        raise Throttled("slow down", code="ThrottlingException", operation=op, status=400)

    transport = MockTransport(throttled)
    connection_retry = RetryPolicy(max_attempts=2, base_delay=0)
    async with dynorm.connect(transport=transport, retry=connection_retry):
        with pytest.raises(BatchGetFailed):
            await dynorm.get_many(Gadget, ["g1"], retry=RetryPolicy(max_attempts=3))
    assert len(transport.requests) == 2 * 3  # the connection's attempts, in each round


def test_the_old_keywords_are_gone() -> None:
    for old in ("max_retries", "base_delay", "max_delay"):
        with pytest.raises(TypeError):
            dynorm.batch(**{old: 1})
        with pytest.raises(TypeError):
            dynorm.transaction(**{old: 1})
    assert dynorm.batch(retry=RetryPolicy(max_attempts=2)).retry.max_attempts == 2
    assert dynorm.transaction(retry=RetryPolicy(max_attempts=2)).retry.max_attempts == 2
