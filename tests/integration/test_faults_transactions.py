"""Transactions through faults and cut connections: one token per transaction, so a
retry is never applied twice by a server that honours ClientRequestToken.

What is observable here: every attempt of a transaction carries the same token and the
same body, and against the proxy in ``honour_tokens`` mode (which answers a repeated
token as DynamoDB documents) unguarded increments committed through lost answers are
applied exactly once. Then the same run without the proxy's help: DynamoDB Local honours
the token itself, as AWS does, so each transaction is applied once; moto ignores it, so
the lost answers show up as doubles there (which is why the token matters).
"""

from __future__ import annotations

from typing import Annotated

import pytest

from dynorm import LocalServer, Model, PartitionKey, RetryPolicy, ServerError, TransportError
from dynorm.write.transaction import TransactionCanceled, transaction
from tests.support.fault_proxy import FaultConfig, faulty_connection
from tests.support.figures import record

TX = frozenset({"TransactWriteItems"})


class Wallet(Model, table="ft_wallets"):
    wallet_id: Annotated[str, PartitionKey]
    coins: int = 0


async def transfer_rounds(rounds: int) -> tuple[int, int]:
    done = unknown = 0
    for i in range(rounds):
        try:
            async with transaction(retry=RetryPolicy(max_attempts=4, base_delay=0.001)) as tx:
                tx.update(Wallet(wallet_id="a"), Wallet.coins.add(-1))
                tx.update(Wallet(wallet_id="b"), Wallet.coins.add(1))
                tx.update(Wallet(wallet_id=f"log{i}"), Wallet.coins.add(1))
            done += 1
        except (TransportError, ServerError, TransactionCanceled):
            unknown += 1
    return done, unknown


async def seed_wallets(rounds: int) -> None:
    for name in ("a", "b", *(f"log{i}" for i in range(rounds))):
        await Wallet(wallet_id=name).save()


async def test_token_keeps_retries_exactly_once(dynorm_server: LocalServer) -> None:
    config = FaultConfig.mixed(0.35, seed=99, operations=TX, honour_tokens=True)
    async with faulty_connection(dynorm_server, config, [Wallet], max_attempts=8) as (proxy, _):
        proxy.quiet()
        await seed_wallets(40)
        config.__dict__.update(FaultConfig.mixed(0.35, seed=99, operations=TX,
                                                 honour_tokens=True).__dict__)
        done, unknown = await transfer_rounds(40)
        sent = [p for op, p in proxy.requests if op == "TransactWriteItems"]
        by_token: dict[str, list[dict]] = {}
        for payload in sent:
            by_token.setdefault(payload["ClientRequestToken"], []).append(payload)
        assert len(by_token) == 40  # one token per transaction...
        assert all(len({repr(p) for p in group}) == 1 for group in by_token.values())  # ...
        assert proxy.stats.token_replays > 0 and proxy.stats.faults["drop_after"] > 0
    async with dynorm_server.connect(transport="fast"):
        a = await Wallet.get("a", consistent=True)
        b = await Wallet.get("b", consistent=True)
        logs = [(await Wallet.get(f"log{i}", consistent=True)).coins for i in range(40)]
    assert unknown == 0 and done == 40
    assert logs == [1] * 40  # each transaction applied exactly once
    assert (a.coins, b.coins) == (-40, 40)
    record("transactions_token", proxy, transactions=40, committed=done,
           retries_answered_by_token=proxy.stats.token_replays, double_applied=0)


async def lost_answers_run(server: LocalServer) -> list[int]:
    """10 transactions, half of whose answers are lost (the server did apply them)."""
    config = FaultConfig(seed=4, drop_after_rate=0.5, fault_operations=TX)
    async with faulty_connection(server, config, [Wallet], max_attempts=8) as (proxy, _):
        proxy.quiet()
        await seed_wallets(10)
        config.drop_after_rate = 0.5
        done, _ = await transfer_rounds(10)
        assert proxy.stats.faults["drop_after"] > 0
    assert done == 10
    async with server.connect(transport="fast"):
        return [(await Wallet.get(f"log{i}", consistent=True)).coins for i in range(10)]


@pytest.mark.only_on("dynamodb-local", reason="moto ignores ClientRequestToken")
async def test_server_honours_the_token_a_retry_applies_once(dynorm_server: LocalServer) -> None:
    """What AWS does: a retried transaction with the same token is applied once."""
    assert await lost_answers_run(dynorm_server) == [1] * 10


@pytest.mark.only_on("moto", reason="moto ignores ClientRequestToken (AWS honours it)")
async def test_without_token_support_retries_would_double(dynorm_server: LocalServer) -> None:
    """The control: moto ignores the token, and the lost answers then show up as doubles.
    (If this starts failing, moto learned the token: rejoice and drop this test.)"""
    assert max(await lost_answers_run(dynorm_server)) > 1
