"""dynorm: an async object mapper for Amazon DynamoDB built on Pydantic v2.

What you construct, declare, call or catch is importable from here; the names dynorm
only hands you (``Query``, ``Page``, ``Transaction``...) are in `dynorm.types`, for
annotations.
"""

from typing import TYPE_CHECKING, Any

from dynorm.collection import Collection
from dynorm.connection import Connection, close, configure, connect, get_connection
from dynorm.exceptions import (
    ConditionFailed,
    ConnectionNotConfigured,
    DynormError,
    EncodingError,
    ExpressionError,
    InvalidKey,
    ItemNotFound,
    ItemTooLarge,
    LocalServerError,
    PartialCopy,
    RequestRejected,
    ResourceInUse,
    SchemaError,
    ServerError,
    ServiceError,
    TableNotFound,
    Throttled,
    TransportError,
    ValidationFailed,
    VersionConflict,
)
from dynorm.expressions import Attr, Condition, Path, attr
from dynorm.local import DynamoDBLocalServer, LocalServer, MotoServer, local, local_server
from dynorm.model import Model, create_tables
from dynorm.read.batch_get import BatchGetFailed, batch_get, get_many
from dynorm.read.pagination import InvalidCursor
from dynorm.read.transact_get import transact_get
from dynorm.schema.fields import TTL, PartitionKey, SortKey, Version
from dynorm.schema.indexes import GlobalIndex, LocalIndex, Projection
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings
from dynorm.schema.templates import KeyTemplate
from dynorm.tables import ApplyProgress, Change, Plan, PlanError, apply, plan
from dynorm.transport import MockTransport, RetryPolicy
from dynorm.write.batch import BatchWriteFailed, InvalidBatch, batch
from dynorm.write.transaction import InvalidTransaction, TransactionCanceled, transaction

if TYPE_CHECKING:
    from dynorm.streams import (
        ChangeEvent,
        CheckpointStore,
        FailedRecord,
        InMemoryCheckpoints,
        StreamError,
        StreamListener,
        StreamNotEnabled,
        TableCheckpoints,
    )

# The blocking API (dynorm.blocking, issue 19): last, it wraps everything above.
from dynorm import blocking as blocking
from dynorm.blocking import BlockingCallInEventLoop

__version__ = "0.1.0"

# The stream listener is loaded on first use: most programs never need it, and its
# modules are a tenth of dynorm's import time.
_STREAM_NAMES = frozenset({
    "ChangeEvent", "CheckpointStore", "FailedRecord", "InMemoryCheckpoints", "StreamError",
    "StreamListener", "StreamNotEnabled", "TableCheckpoints",
})


def __getattr__(name: str) -> Any:
    if name in _STREAM_NAMES:
        import dynorm.streams

        value = getattr(dynorm.streams, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dynorm' has no attribute {name!r}")

__all__ = [
    "TTL",
    "ApplyProgress",
    "Attr",
    "BatchGetFailed",
    "BatchWriteFailed",
    "BlockingCallInEventLoop",
    "Change",
    "ChangeEvent",
    "CheckpointStore",
    "Collection",
    "Condition",
    "ConditionFailed",
    "Connection",
    "ConnectionNotConfigured",
    "DynamoDBLocalServer",
    "DynormError",
    "EncodingError",
    "ExpressionError",
    "FailedRecord",
    "GlobalIndex",
    "InMemoryCheckpoints",
    "InvalidBatch",
    "InvalidCursor",
    "InvalidKey",
    "InvalidTransaction",
    "ItemNotFound",
    "ItemTooLarge",
    "KeyTemplate",
    "LocalIndex",
    "LocalServer",
    "LocalServerError",
    "MockTransport",
    "Model",
    "MotoServer",
    "OnDemand",
    "PartialCopy",
    "PartitionKey",
    "Path",
    "Plan",
    "PlanError",
    "Projection",
    "Provisioned",
    "RequestRejected",
    "ResourceInUse",
    "RetryPolicy",
    "SchemaError",
    "ServerError",
    "ServiceError",
    "SortKey",
    "StreamError",
    "StreamListener",
    "StreamNotEnabled",
    "TableCheckpoints",
    "TableNotFound",
    "TableSettings",
    "Throttled",
    "TransactionCanceled",
    "TransportError",
    "ValidationFailed",
    "Version",
    "VersionConflict",
    "apply",
    "attr",
    "batch",
    "batch_get",
    "close",
    "configure",
    "connect",
    "create_tables",
    "get_connection",
    "get_many",
    "local",
    "local_server",
    "plan",
    "transact_get",
    "transaction",
]
