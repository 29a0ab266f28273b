"""DynamoDB Streams as typed change events: a polling listener and a Lambda adapter.

* [`StreamListener`][dynorm.streams.StreamListener] — subscribe async handlers per model and
  kind; ``run()`` reads the shards (parents before children), checkpoints after each batch,
  shares shards between workers through leases when the checkpoint store supports them.
* [`ChangeEvent`][dynorm.streams.ChangeEvent] — what a handler receives (``kind``, ``old``,
  ``new``, ``keys``...).
* [`InMemoryCheckpoints`][dynorm.streams.InMemoryCheckpoints],
  [`TableCheckpoints`][dynorm.streams.TableCheckpoints] — where progress is kept.
* [`lambda_handler()`][dynorm.streams.lambda_handler],
  [`sync_lambda_handler()`][dynorm.streams.sync_lambda_handler] — the same handlers in AWS
  Lambda.

Guarantees: at least once, in order per shard (see ``docs/streams.md``).
"""

from dynorm.streams.checkpoints import Checkpoint, CheckpointStore, InMemoryCheckpoints
from dynorm.streams.dispatch import FailurePolicy, StreamMetrics
from dynorm.streams.events import ChangeEvent, EventKind, FailedRecord, StreamError
from dynorm.streams.lambda_ import lambda_handler, sync_lambda_handler
from dynorm.streams.leases import Lease, LeaseStore
from dynorm.streams.listener import StreamListener
from dynorm.streams.shards import Shard, StreamNotEnabled, order_shards, ready_shards
from dynorm.streams.table import TableCheckpoints

__all__ = [
    "ChangeEvent",
    "Checkpoint",
    "CheckpointStore",
    "EventKind",
    "FailedRecord",
    "FailurePolicy",
    "InMemoryCheckpoints",
    "Lease",
    "LeaseStore",
    "Shard",
    "StreamError",
    "StreamListener",
    "StreamMetrics",
    "StreamNotEnabled",
    "TableCheckpoints",
    "lambda_handler",
    "order_shards",
    "ready_shards",
    "sync_lambda_handler",
]
