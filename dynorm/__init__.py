"""dynorm: an async object mapper for Amazon DynamoDB built on Pydantic v2."""

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
from dynorm.fields import TTL, PartitionKey, SortKey, Version
from dynorm.indexes import GlobalIndex, LocalIndex, Projection
from dynorm.local import LocalServer, local
from dynorm.model import BoundIndex, Model, create_tables
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
from dynorm.transport import MockTransport, RetryPolicy, Transport

__version__ = "0.1.0"

__all__ = [
    "TTL",
    "Attr",
    "BoundIndex",
    "ChangeEvent",
    "CheckpointStore",
    "Condition",
    "ConditionFailed",
    "Connection",
    "ConnectionNotConfigured",
    "DynormError",
    "EncodingError",
    "ExpressionError",
    "FailedRecord",
    "GlobalIndex",
    "InMemoryCheckpoints",
    "InvalidKey",
    "ItemNotFound",
    "ItemTooLarge",
    "LocalIndex",
    "LocalServer",
    "MockTransport",
    "Model",
    "PartitionKey",
    "Path",
    "Projection",
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
    "Throttled",
    "Transport",
    "TransportError",
    "ValidationFailed",
    "Version",
    "VersionConflict",
    "attr",
    "close",
    "configure",
    "connect",
    "create_tables",
    "get_connection",
    "local",
]
