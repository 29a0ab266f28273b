"""Transactions and batches as plain ``with`` blocks.

```python
with dynorm.blocking.transaction() as tx:      # one TransactWriteItems on exit
    tx.save(order)
    tx.update(account, Account.balance.add(-10))
with dynorm.blocking.batch() as b:             # BatchWriteItem, 25 per call
    for row in rows:
        b.save(row)
```

The block holds the async `Transaction` or `BatchWriter` and runs every method of it on
the connection's loop, where the object lives: a batch sends its chunks from there while
the block goes on adding writes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import ParamSpec, Self

from dynorm import batch as _async_batch
from dynorm import transaction as _async_transaction
from dynorm.blocking._connection import BlockingConnection, current
from dynorm.blocking._twins import _kind, _Twin, blocking, generate, on_portal
from dynorm.types import BatchWriter, Transaction

__all__ = ["BlockingBatch", "BlockingTransaction", "batch", "object_surface", "transaction"]

P = ParamSpec("P")
A = TypeVar("A")
B = TypeVar("B")


def object_surface(cls: type) -> dict[str, str]:
    """The public methods of ``cls``: name -> ``"coroutine"``, ``"iterator"`` or
    ``"plain"`` (properties and attributes aside)."""
    surface: dict[str, str] = {}
    for name in dir(cls):
        value = inspect.getattr_static(cls, name)
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        surface[name] = _kind(value) or "plain"
    return surface


class _ContextTwin(_Twin):
    """A twin of an async context manager, bound to the connection it was entered on."""

    if not TYPE_CHECKING:
        __slots__ = ("_bound",)

        def __init__(self, target: Any) -> None:
            self._target = target
            self._bound: BlockingConnection | None = None

    def _label(self, name: str) -> str:
        return f"dynorm.blocking.{type(self._target).__name__}.{name}"

    def _connection(self, name: str) -> BlockingConnection:
        return self._bound or current(self._label(name))

    def __enter__(self) -> Self:
        label = self._label("__enter__")
        self._bound = conn = current(label)
        conn.run(self._target.__aenter__(), twin_of=label)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._connection("__exit__").run(self._target.__aexit__(exc_type, exc, tb),
                                         twin_of=self._label("__exit__"))


class BlockingTransaction(_ContextTwin):
    """``with dynorm.blocking.transaction() as tx:``: a `Transaction`, blocking.

    ``tx.save()``, ``tx.delete()``, ``tx.update()`` and ``tx.check()`` add actions as in
    the async one; a clean exit commits (``tx.commit()``), an exception discards them.
    """

    if TYPE_CHECKING:
        def __init__(self, transaction: Transaction) -> None:
            self.check = on_portal(transaction.check)
            self.delete = on_portal(transaction.delete)
            self.save = on_portal(transaction.save)
            self.update = on_portal(transaction.update)
            self.commit = blocking(transaction.commit)
            self._target = transaction

    @property
    def token(self) -> str:
        """The ClientRequestToken (idempotency) the transaction is sent with."""
        token: str = self._target.token
        return token

    def __len__(self) -> int:
        return len(self._target)


class BlockingBatch(_ContextTwin):
    """``with dynorm.blocking.batch() as b:``: a `BatchWriter`, blocking.

    ``b.save()`` and ``b.delete()`` add writes as in the async one; chunks go out from
    the connection's loop while the block runs, and the exit waits for all of them
    (``BatchWriteFailed`` names the writes not made).
    """

    if TYPE_CHECKING:
        def __init__(self, writer: BatchWriter) -> None:
            self.delete = on_portal(writer.delete)
            self.save = on_portal(writer.save)
            self.flush = blocking(writer.flush)
            self._target = writer

    @property
    def written(self) -> int:
        """How many writes have succeeded so far."""
        written: int = self._target.written
        return written


def _factory_twin(fn: Callable[P, A], twin: Callable[[A], B]) -> Callable[P, B]:
    """The blocking twin of a factory of async context managers: the same parameters."""
    @functools.wraps(fn)
    def make(*args: P.args, **kwargs: P.kwargs) -> B:
        return twin(fn(*args, **kwargs))

    make.__doc__ = (f"A plain ``with`` block: the blocking twin of dynorm.{fn.__name__}() "
                    f"(the same arguments).\n\n{fn.__doc__}")
    make.__module__ = __name__
    return make


generate(BlockingTransaction, (Transaction,), object_surface(Transaction), bound=False)
generate(BlockingBatch, (BatchWriter,), object_surface(BatchWriter), bound=False)

transaction = _factory_twin(_async_transaction, BlockingTransaction)
"""A write transaction as a plain ``with`` block: the blocking twin of
[`dynorm.transaction()`][dynorm.transaction], with the same arguments.

```python
with dynorm.blocking.transaction() as tx:
    tx.save(order)
    tx.delete(cart_item)
```
"""

batch = _factory_twin(_async_batch, BlockingBatch)
"""A batch of writes as a plain ``with`` block: the blocking twin of
[`dynorm.batch()`][dynorm.batch], with the same arguments.

```python
with dynorm.blocking.batch() as b:
    for row in rows:
        b.save(row)
```
"""
