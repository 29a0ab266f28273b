"""A shopping cart whose checkout is ONE DynamoDB transaction.

Run it on the embedded local backend: ``python examples/shopping_cart.py``.

Checkout must not sell stock that is not there, must not lose the order, and must not
leave the cart full after the order exists. One ``dynorm.transaction()`` does all of it,
all or nothing:

* per cart line, an update of the product: ``stock - quantity``, on condition that
  ``stock >= quantity`` (the stock check and the decrement are one action);
* a put of the order, on condition that no order with that id exists;
* a delete of every cart line.

A checkout that asks for more than is in stock is canceled as a whole; the
``TransactionCanceled`` error has one reason per action, naming the one that failed.
A transaction holds at most 100 actions, so a cart here is limited to 49 lines.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated

import dynorm
from dynorm import Model, PartitionKey, SortKey, attr
from dynorm.write.transaction import TransactionCanceled


class Product(Model, table="cart-products"):
    sku: Annotated[str, PartitionKey]
    name: str
    price: Decimal
    stock: int


class CartLine(Model, table="cart-lines"):
    user_id: Annotated[str, PartitionKey]
    sku: Annotated[str, SortKey]
    quantity: int


class Order(Model, table="cart-orders"):
    order_id: Annotated[str, PartitionKey]
    user_id: str
    lines: dict[str, int]
    total: Decimal
    placed: datetime


class EmptyCart(Exception):
    pass


async def add_to_cart(user_id: str, sku: str, quantity: int) -> None:
    await CartLine.update_item((user_id, sku), attr(CartLine.quantity).add(quantity),
                               upsert=True)


async def checkout(user_id: str) -> Order:
    """Turn the cart into an order in one transaction. Raises TransactionCanceled."""
    query = CartLine.query(attr(CartLine.user_id) == user_id).consistent()
    lines = await query.to_list()
    if not lines:
        raise EmptyCart(user_id)
    if len(lines) > 49:
        raise ValueError("a cart of more than 49 lines does not fit in one transaction")
    products = await dynorm.get_many(Product, [line.sku for line in lines],
                                     consistent=True)
    order = Order(order_id=str(uuid.uuid4()), user_id=user_id,
                  placed=datetime.now(timezone.utc),
                  lines={line.sku: line.quantity for line in lines}, total=Decimal(0))
    async with dynorm.transaction() as tx:
        for line, product in zip(lines, products, strict=True):
            if product is None:
                raise LookupError(f"product {line.sku} is no longer sold")
            order.total += product.price * line.quantity
            tx.update(product, attr(Product.stock).add(-line.quantity),
                      condition=attr(Product.stock) >= line.quantity)
            tx.delete(line)
        tx.save(order, condition=attr(Order.order_id).not_exists())
    return order


async def main() -> dict[str, object]:
    await dynorm.create_tables(Product, CartLine, Order)
    await Product(sku="tea", name="Green tea", price=Decimal("4.50"), stock=10).save()
    await Product(sku="mug", name="Mug", price=Decimal("12.00"), stock=2).save()

    await add_to_cart("ada", "tea", 3)
    await add_to_cart("ada", "mug", 1)
    await add_to_cart("ada", "tea", 1)  # ADD: now 4 teas
    order = await checkout("ada")
    print(f"ada's order: {order.lines} total {order.total}")
    stock = {p.sku: p.stock for p in await Product.scan().to_list()}
    print("stock after ada:", stock, "| ada's cart:",
          await CartLine.query(attr(CartLine.user_id) == "ada").count(), "lines")

    await add_to_cart("bob", "tea", 2)
    await add_to_cart("bob", "mug", 5)  # only 1 mug left
    try:
        await checkout("bob")
    except TransactionCanceled as exc:
        print("bob's checkout canceled; one reason per action:")
        for reason in exc.reasons:
            print("  ", reason.describe())
        (failed,) = exc.failed
        print("failed:", failed.action, failed.model.__name__, failed.code,
              "| stored stock:",
              failed.item.stock if isinstance(failed.item, Product) else None)
    stock_after = {p.sku: p.stock for p in await Product.scan().to_list()}
    print("stock unchanged:", stock_after, "| bob's cart kept:",
          await CartLine.query(attr(CartLine.user_id) == "bob").count(), "lines")
    return {"order": order, "stock": stock_after}


async def run() -> None:
    async with dynorm.local():
        await main()


if __name__ == "__main__":
    asyncio.run(run())
