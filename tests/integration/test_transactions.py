"""Transactions against the moto server: atomicity, reasons, versions, limits, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    InvalidTransaction,
    ItemNotFound,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    TransactionCanceled,
    Version,
    transact_get,
    transaction,
)
from tests.support.fault_proxy import FaultConfig, FaultProxy

events: list[str] = []


class Account(Model, table="tx_accounts"):
    account_id: Annotated[str, PartitionKey]
    owner: str = "me"
    balance: int = 0
    status: str = "open"
    version: Annotated[int, Version] = 0

    async def before_save(self) -> None:
        events.append(f"before_save {self.account_id}")

    async def after_save(self) -> None:
        events.append(f"after_save {self.account_id}")

    async def before_delete(self) -> None:
        events.append(f"before_delete {self.account_id}")

    async def after_delete(self) -> None:
        events.append(f"after_delete {self.account_id}")


class Order(Model, table="tx_orders"):
    user_id: Annotated[str, PartitionKey]
    order_id: Annotated[str, SortKey]
    total: int = 0
    state: str = "new"


TABLES = pytest.mark.dynorm_tables([Account, Order])


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    events.clear()


@asynccontextmanager
async def proxied(server: LocalServer, config: FaultConfig) -> AsyncIterator[FaultProxy]:
    retry = dynorm.RetryPolicy(max_attempts=3, base_delay=0.001)
    async with FaultProxy(server.endpoint_url, config) as proxy, dynorm.connect(
            endpoint_url=proxy.url, region="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local", retry=retry):
        yield proxy


@TABLES
async def test_commit_across_two_tables(dynorm_connection: Any) -> None:
    a = await Account(account_id="a1", balance=100).save()
    gone = await Account(account_id="a2").save()
    events.clear()
    order = Order(user_id="u1", order_id="o1", total=30)
    async with transaction() as tx:
        tx.save(order)
        tx.update(a, Account.balance.add(-30), condition=Account.balance >= 30)
        tx.delete(gone)
        tx.check(Order, ("u1", "o0"), Order.state.not_exists())
        assert len(tx) == 4
    assert (await Order.get("u1", "o1")).total == 30
    fresh = await Account.get("a1")
    assert (fresh.balance, fresh.version) == (70, 2)
    assert a.version == 2 and a.balance == 100  # version bumped, fields not refreshed
    assert await Account.find_one("a2") is None
    assert events == ["before_delete a2", "after_delete a2"]


@TABLES
async def test_canceled_transaction_writes_nothing_and_names_the_failure(
        dynorm_connection: Any) -> None:
    await Account(account_id="a1", balance=5).save()
    acct = await Account.get("a1")
    with pytest.raises(TransactionCanceled) as info:
        async with transaction() as tx:
            tx.save(Order(user_id="u1", order_id="o1"))
            tx.save(Account(account_id="a9", balance=1))
            tx.update(acct, Account.balance.add(-10), condition=Account.balance >= 10)
    error = info.value
    assert isinstance(error, dynorm.ServiceError)
    assert [r.code for r in error.reasons] == [None, None, "ConditionalCheckFailed"]
    (failed,) = error.failed
    assert (failed.index, failed.action, failed.model) == (2, "update", Account)
    assert failed.key == {"account_id": {"S": "a1"}}
    assert isinstance(failed.item, Account) and failed.item.balance == 5
    assert not failed.version_conflict
    assert "update Account (account_id='a1'): ConditionalCheckFailed" in str(error)
    assert "1 of 3 action(s) failed" in str(error)
    # Atomic: neither the order nor the new account exist, and nothing ran after_save.
    assert await Order.find_one("u1", "o1") is None
    assert await Account.find_one("a9") is None
    assert "after_save a9" not in events
    assert acct.version == 1  # unchanged: the transaction did not happen


@TABLES
async def test_update_of_missing_item_reports_not_found(dynorm_connection: Any) -> None:
    ghost = Account(account_id="nobody")
    with pytest.raises(TransactionCanceled) as info:
        async with transaction() as tx:
            tx.update(ghost, Account.balance.add(1))
    (reason,) = info.value.failed
    assert isinstance(reason.error, ItemNotFound)
    assert "does not exist" in str(info.value)


@TABLES
async def test_concurrent_writers_exactly_one_wins(dynorm_connection: Any) -> None:
    await Account(account_id="a1", balance=10).save()
    first, second = await Account.get("a1"), await Account.get("a1")

    async def write(copy: Account, amount: int) -> str:
        try:
            async with transaction(retry=dynorm.RetryPolicy(max_attempts=1)) as tx:
                copy.balance += amount
                tx.save(copy)
                tx.save(Order(user_id=copy.account_id, order_id=f"o{amount}"))
        except TransactionCanceled as exc:
            return f"lost: {exc}"
        return "won"

    results = await asyncio.gather(write(first, 1), write(second, 2))
    assert sorted(r[:4] for r in results) == ["lost", "won"]
    stored = await Account.get("a1")
    assert stored.version == 2
    winner, loser = (first, second) if results[0] == "won" else (second, first)
    assert stored.balance == winner.balance
    assert loser.version == 1 and winner.version == 2
    # The loser's message names the item and both versions.
    lost = next(r for r in results if r.startswith("lost"))
    assert "save" not in lost and "put Account (account_id='a1'): version conflict" in lost
    assert "this copy has version 1, the table has version 2" in lost
    orders = await Order.query(Order.user_id == "a1").to_list()
    assert len(orders) == 1  # the loser's order was not written either


@TABLES
async def test_version_conflict_reason_carries_both_versions(dynorm_connection: Any) -> None:
    old = await Account(account_id="a1").save()
    stale = await Account.get("a1")
    await old.save()  # version 2 now
    with pytest.raises(TransactionCanceled) as info:
        async with transaction() as tx:
            tx.check(stale)  # "unchanged since I read it"
            tx.save(Order(user_id="u1", order_id="o1"))
    (reason,) = info.value.failed
    assert reason.action == "check" and reason.version_conflict
    assert isinstance(reason.error, dynorm.VersionConflict)
    assert (reason.error.expected, reason.error.actual) == (1, 2)
    assert isinstance(reason.item, Account) and reason.item.version == 2
    assert await Order.find_one("u1", "o1") is None


@TABLES
async def test_new_item_saved_twice_conflicts(dynorm_connection: Any) -> None:
    await Account(account_id="a1").save()
    with pytest.raises(TransactionCanceled) as info:
        async with transaction() as tx:
            tx.save(Account(account_id="a1"))  # version 0: must not exist
    (reason,) = info.value.failed
    assert reason.version_conflict
    assert "this copy has version 0, the table has version 1" in str(info.value)


@TABLES
async def test_limits_are_checked_before_sending(dynorm_connection: Any) -> None:
    tx = transaction()
    for i in range(100):
        tx.save(Order(user_id="u1", order_id=f"o{i:03}"))
    with pytest.raises(InvalidTransaction, match="at most 100 actions"):
        tx.save(Order(user_id="u1", order_id="o100"))
    with pytest.raises(InvalidTransaction,
                       match=r"Order \(user_id='u1', order_id='o007'\) in table 'tx_orders' "
                             r"is already in this transaction \(a put\)"):
        tx.delete(Order(user_id="u1", order_id="o007"))
    await tx.commit()  # the 100 valid actions still go through together
    assert len(await Order.query(Order.user_id == "u1").to_list()) == 100


@TABLES
async def test_four_megabytes_is_refused(dynorm_connection: Any) -> None:
    big = "x" * 390_000
    with pytest.raises(InvalidTransaction, match="over DynamoDB's 4194304"):
        async with transaction() as tx:
            for i in range(11):
                tx.save(Account(account_id=f"a{i}", owner=big))
    assert await Account.find_one("a0") is None


@TABLES
async def test_nothing_is_sent_when_the_block_raises(dynorm_server: LocalServer,
                                                     dynorm_connection: Any) -> None:
    async with proxied(dynorm_server, FaultConfig()) as proxy:
        with pytest.raises(RuntimeError):
            async with transaction() as tx:
                tx.save(Account(account_id="a1"))
                raise RuntimeError("changed my mind")
        with pytest.raises(InvalidTransaction, match="aborted"):
            tx.save(Account(account_id="a2"))
    assert [op for op, _ in proxy.requests] == []
    assert await Account.find_one("a1") is None
    assert events == []  # before_save runs at commit, which never happened


@TABLES
async def test_conflicts_are_retried_with_the_same_token(dynorm_server: LocalServer,
                                                         dynorm_connection: Any) -> None:
    async with proxied(dynorm_server, FaultConfig(transaction_conflicts=2)) as proxy:
        acct = Account(account_id="a1")
        async with transaction(retry=dynorm.RetryPolicy(max_attempts=4, base_delay=0.001)) as tx:
            tx.save(acct)
            tx.save(Order(user_id="u1", order_id="o1"))
        sent = [p for op, p in proxy.requests if op == "TransactWriteItems"]
        assert len(sent) == 3
        assert {p["ClientRequestToken"] for p in sent} == {tx.token}
        assert sent[0] == sent[1] == sent[2]
        assert acct.version == 1

        proxy.config.transaction_conflicts = 5
        with pytest.raises(TransactionCanceled) as info:
            once_more = dynorm.RetryPolicy(max_attempts=2, base_delay=0.001)
            async with transaction(retry=once_more) as tx2:
                tx2.save(Account(account_id="a2"))
        assert info.value.conflict
        assert [r.code for r in info.value.reasons] == ["TransactionConflict"]
    assert (await Account.get("a1")).version == 1
    assert await Account.find_one("a2") is None


@TABLES
async def test_transact_get(dynorm_connection: Any) -> None:
    await Account(account_id="a1", balance=3).save()
    await Order(user_id="u1", order_id="o1", total=9).save()
    acct, order, missing = await transact_get(
        (Account, "a1"), (Order, ("u1", "o1")), (Order, ("u1", "nope")))
    assert isinstance(acct, Account) and acct.balance == 3
    assert isinstance(order, Order) and order.total == 9
    assert missing is None
    with pytest.raises(InvalidTransaction, match="at most 100"):
        await transact_get(*[(Account, f"a{i}") for i in range(101)])
    with pytest.raises(InvalidTransaction, match="asked twice"):
        await transact_get((Account, "a1"), (Account, "a1"))
    assert await transact_get() == ()
