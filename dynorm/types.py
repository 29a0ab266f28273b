"""Type-only names: what dynorm hands you, for annotations.

You never construct or declare these: dynorm returns them (or, for `Transport` and
`ConnectionSettings`, expects them). Import them from here to name them in annotations:

```python
from dynorm.types import Page, Query

async def first_page(query: Query[User]) -> Page[User]:
    return await query.page(size=20)
```

- `Query`, `Scan`: a query or scan builder (`Model.query()`, `Model.scan()`, and the
  same on an index); `BoundIndex`: a secondary index seen from its model
  (`User.by_email`); `Page`: one page of results and the cursor after it (`.page()`,
  `.pages()`); `ShardedQuery`: a scatter-gather query of a sharded index
  (`GlobalIndex(..., shards=N)`).
- `CollectionQuery`: a query of a collection's partition (`Collection(...).query()`);
  `CollectionResult`: its items by entity (`await query.fetch()`).
- `Transaction`: a write transaction being built (`dynorm.transaction()`);
  `CancellationReason`: why one of its actions was canceled
  (`TransactionCanceled.reasons`).
- `BatchWriter`: a batch of writes being built (`dynorm.batch()`); `FailedWrite`: one of
  its writes that was not made (`BatchWriteFailed.failed`).
- `Capacity`: what one call consumed on one table (`page.capacity`,
  `tx.capacity`, `batch.capacity`, with ``connect(capacity=True)``), in
  `CapacityUnits`; `CapacityTotals`: a connection's running totals
  (`connection.capacity`); `CallEvent`: what ``connection.on_request`` /
  ``on_response`` hooks receive.
- `Transport`: the Protocol a connection sends requests through
  (`connect(transport=...)`); `ConnectionSettings`: the keyword arguments of `connect()`
  as a TypedDict.

What you construct or declare is imported from `dynorm` itself (`Model`, `KeyTemplate`,
`RetryPolicy`, `MockTransport`, `Collection`...).
"""

from dynorm.collection import CollectionQuery, CollectionResult
from dynorm.connection import ConnectionSettings
from dynorm.observe.calls import CallEvent
from dynorm.observe.capacity import Capacity, CapacityTotals, CapacityUnits
from dynorm.read.pagination import Page
from dynorm.read.query import BoundIndex, Query, Scan
from dynorm.read.scatter import ShardedQuery
from dynorm.schema.transactions import CancellationReason
from dynorm.transport.base import Transport
from dynorm.write.batch import BatchWriter, FailedWrite
from dynorm.write.transaction import Transaction

__all__ = [
    "BatchWriter",
    "BoundIndex",
    "CallEvent",
    "CancellationReason",
    "Capacity",
    "CapacityTotals",
    "CapacityUnits",
    "CollectionQuery",
    "CollectionResult",
    "ConnectionSettings",
    "FailedWrite",
    "Page",
    "Query",
    "Scan",
    "ShardedQuery",
    "Transaction",
    "Transport",
]
