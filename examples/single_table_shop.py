"""Single-table design: users, addresses, orders and order lines in ONE table.

Access patterns served:

* a user with their addresses and orders: one Query on ``pk = USER#<id>``
  (a Collection);
* a user's orders in a date range: ``sk BETWEEN ORDER#<from> AND ORDER#<to>...``;
* orders by status, newest first: the overloaded index ``gsi1`` (``STATUS#<status>``);
* open orders only: the sparse index ``gsi2`` (an order leaves it when ``open_since``
  becomes None);
* addresses by city: ``gsi1`` again, overloaded with ``CITY#<city>`` keys.

Run it on the embedded backend: ``python examples/single_table_shop.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum

import dynorm
from dynorm import (
    Collection,
    GlobalIndex,
    KeyTemplate,
    Model,
    PartitionKey,
    SortKey,
    attr,
)

TABLE = "shop"


class Status(str, Enum):
    OPEN = "open"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class User(Model, table=TABLE, entity="user"):
    user_id: str
    name: str
    email: str

    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("PROFILE")


class Address(Model, table=TABLE, entity="address"):
    user_id: str
    label: str
    city: str
    zip_code: str

    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("ADDRESS#{label}")
    by_city = GlobalIndex(
        partition_key=KeyTemplate("CITY#{city}", attribute="gsi1pk"),
        sort_key=KeyTemplate("ZIP#{zip_code}#{user_id}", attribute="gsi1sk"),
        name="gsi1",
    )


class Order(Model, table=TABLE, entity="order"):
    user_id: str
    order_id: str
    created: datetime
    status: Status = Status.OPEN
    total: Decimal
    open_since: datetime | None = None

    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("ORDER#{created:%Y-%m-%d}#{order_id}")
    by_status = GlobalIndex(
        partition_key=KeyTemplate("STATUS#{status}", attribute="gsi1pk"),
        sort_key=KeyTemplate("{created}#{order_id}", attribute="gsi1sk"),
        name="gsi1",
    )
    open_orders = GlobalIndex(  # sparse: only orders with open_since appear
        partition_key=KeyTemplate("OPEN", attribute="gsi2pk"),
        sort_key=KeyTemplate("{open_since}#{order_id}", attribute="gsi2sk"),
        name="gsi2",
    )


class OrderLine(Model, table=TABLE, entity="line"):
    user_id: str
    order_id: str
    sku: str
    quantity: int

    pk = PartitionKey("USER#{user_id}")
    sk = SortKey("LINE#{order_id}#{sku}")


DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


async def seed() -> None:
    # one table, merged indexes
    await dynorm.create_tables(User, Address, Order, OrderLine)
    await User(user_id="u1", name="Ada", email="ada@example.com").save()
    await Address(user_id="u1", label="home", city="Paris", zip_code="75001").save()
    await Address(user_id="u1", label="work", city="Lyon", zip_code="69001").save()
    for i in range(5):
        created = DAY + timedelta(days=i)
        await Order(user_id="u1", order_id=f"o{i}", created=created,
                    total=Decimal(10 * i + 5), open_since=created).save()
        await OrderLine(user_id="u1", order_id=f"o{i}", sku="tea",
                        quantity=i + 1).save()


async def main() -> dict[str, object]:
    await seed()

    everything = await Collection(User, Address, Order).query(user_id="u1").fetch()
    user = everything.one(User)
    print("user:", user.name, "| addresses:",
          [a.city for a in everything.of(Address)], "| orders:",
          [o.order_id for o in everything.of(Order)])

    week = await Order.query(
        attr(Order.user_id) == "u1",
        attr(Order.created).between(DAY + timedelta(days=1), DAY + timedelta(days=3)),
    ).to_list()
    print("orders on days 2-4:", [o.order_id for o in week])

    shipped = await Order.get(user_id="u1", created=DAY + timedelta(days=1),
                              order_id="o1")
    # index keys rewritten in step
    await shipped.update(attr(Order.status).set(Status.SHIPPED),
                         attr(Order.open_since).remove())
    newest_open = await Order.by_status.query(
        attr(Order.status) == Status.OPEN,
    ).reverse().to_list()
    print("open by status, newest first:", [o.order_id for o in newest_open])
    # the whole sparse index, oldest first
    sparse = await Order.open_orders.query().to_list()
    print("sparse open-orders index:", [o.order_id for o in sparse])

    in_paris = await Address.by_city.query(attr(Address.city) == "Paris").to_list()
    print("addresses in Paris:", [a.label for a in in_paris])
    return {
        "user": user,
        "orders": everything.of(Order),
        "week": week,
        "open": newest_open,
        "sparse": sparse,
        "paris": in_paris,
    }


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
