"""dynorm: an async object mapper for Amazon DynamoDB built on Pydantic v2.

What you construct, declare, call or catch is importable from here; the names dynorm
only hands you (``Query``, ``Page``, ``Transaction``...) are in `dynorm.types`, for
annotations.
"""

import importlib
from typing import TYPE_CHECKING, Any

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
    ReplicatedWriteConflict,
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
from dynorm.expressions import Attr, Path, attr

# Imported now, though most programs never start a local server: ``dynorm.local`` is
# both the function and the module, and importing the module later would replace the
# function with it (5 ms, no third-party imports).
from dynorm.local import DynamoDBLocalServer, LocalServer, MotoServer, local, local_server
from dynorm.model import Model, create_tables
from dynorm.schema.fields import TTL, PartitionKey, SortKey, Version
from dynorm.schema.indexes import GlobalIndex, LocalIndex, Projection
from dynorm.schema.templates import KeyTemplate
from dynorm.schema.upgrade import UpgradeFailed, upgrade
from dynorm.security import (
    Compressed,
    DecryptionFailed,
    Encrypted,
    Keyring,
    KeyringError,
    LocalKeyring,
    ValueStore,
)
from dynorm.transport import MockTransport, RetryPolicy

if TYPE_CHECKING:  # loaded on first use, below
    from dynorm import blocking as blocking
    from dynorm.blocking import BlockingCallInEventLoop
    from dynorm.collection import Collection
    from dynorm.expressions import Condition
    from dynorm.iam import iam_policy
    from dynorm.kms import KmsKeyring
    from dynorm.read.batch_get import BatchGetFailed, batch_get, get_many
    from dynorm.read.pagination import InvalidCursor
    from dynorm.read.transact_get import transact_get
    from dynorm.s3values import S3Value
    from dynorm.schema.settings import OnDemand, Provisioned, TableSettings
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
    from dynorm.tables import ApplyProgress, Change, Plan, PlanError, apply, plan
    from dynorm.transport.origin import Origin, is_echo, origin_of
    from dynorm.transport.regions import FailoverPolicy, RegionEvent, RegionRouter
    from dynorm.write.batch import BatchWriteFailed, InvalidBatch, batch
    from dynorm.write.transaction import InvalidTransaction, TransactionCanceled, transaction


__version__ = "0.1.0"

# Loaded on first use (issue 18): most programs never write a batch or a
# transaction, plan a table, follow a stream or block; a Lambda cold start
# pays for what it uses only. ``dynorm.X`` and ``from dynorm import X`` work as usual.
_LAZY: dict[str, str] = {
    # dynorm.blocking
    "blocking": "dynorm.blocking",
    "BlockingCallInEventLoop": "dynorm.blocking",
    # dynorm.collection (single-table partitions of several entities)
    "Collection": "dynorm.collection",
    # dynorm.expressions.conditions (built by the first comparison of a path)
    "Condition": "dynorm.expressions",
    # dynorm.iam
    "iam_policy": "dynorm.iam",
    # dynorm.s3values
    "S3Value": "dynorm.s3values",
    # dynorm.kms
    "KmsKeyring": "dynorm.kms",
    # dynorm.read.batch_get
    "BatchGetFailed": "dynorm.read.batch_get",
    "batch_get": "dynorm.read.batch_get",
    "get_many": "dynorm.read.batch_get",
    # dynorm.read.pagination (cursors: queries and scans)
    "InvalidCursor": "dynorm.read.pagination",
    # dynorm.read.transact_get
    "transact_get": "dynorm.read.transact_get",
    # dynorm.tables
    "ApplyProgress": "dynorm.tables",
    "Change": "dynorm.tables",
    "Plan": "dynorm.tables",
    "PlanError": "dynorm.tables",
    "apply": "dynorm.tables",
    "plan": "dynorm.tables",
    # dynorm.write.batch
    "BatchWriteFailed": "dynorm.write.batch",
    "InvalidBatch": "dynorm.write.batch",
    "batch": "dynorm.write.batch",
    # dynorm.write.transaction
    "InvalidTransaction": "dynorm.write.transaction",
    "TransactionCanceled": "dynorm.write.transaction",
    "transaction": "dynorm.write.transaction",
    # dynorm.schema.settings (table settings: read when tables are made or planned)
    "OnDemand": "dynorm.schema.settings",
    "Provisioned": "dynorm.schema.settings",
    "TableSettings": "dynorm.schema.settings",
    # dynorm.transport.origin, .regions (multi-Region connections)
    "Origin": "dynorm.transport.origin",
    "is_echo": "dynorm.transport.origin",
    "origin_of": "dynorm.transport.origin",
    "FailoverPolicy": "dynorm.transport.regions",
    "RegionEvent": "dynorm.transport.regions",
    "RegionRouter": "dynorm.transport.regions",
    # dynorm.streams
    "ChangeEvent": "dynorm.streams",
    "CheckpointStore": "dynorm.streams",
    "FailedRecord": "dynorm.streams",
    "InMemoryCheckpoints": "dynorm.streams",
    "StreamError": "dynorm.streams",
    "StreamListener": "dynorm.streams",
    "StreamNotEnabled": "dynorm.streams",
    "TableCheckpoints": "dynorm.streams",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dynorm' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "blocking" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
    "Compressed",
    "Condition",
    "ConditionFailed",
    "Connection",
    "ConnectionNotConfigured",
    "DecryptionFailed",
    "DynamoDBLocalServer",
    "DynormError",
    "EncodingError",
    "Encrypted",
    "ExpressionError",
    "FailedRecord",
    "FailoverPolicy",
    "GlobalIndex",
    "InMemoryCheckpoints",
    "InvalidBatch",
    "InvalidCursor",
    "InvalidKey",
    "InvalidTransaction",
    "ItemNotFound",
    "ItemTooLarge",
    "KeyTemplate",
    "Keyring",
    "KeyringError",
    "KmsKeyring",
    "LocalIndex",
    "LocalKeyring",
    "LocalServer",
    "LocalServerError",
    "MockTransport",
    "Model",
    "MotoServer",
    "OnDemand",
    "Origin",
    "PartialCopy",
    "PartitionKey",
    "Path",
    "Plan",
    "PlanError",
    "Projection",
    "Provisioned",
    "RegionEvent",
    "RegionRouter",
    "ReplicatedWriteConflict",
    "RequestRejected",
    "ResourceInUse",
    "RetryPolicy",
    "S3Value",
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
    "UpgradeFailed",
    "ValidationFailed",
    "ValueStore",
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
    "iam_policy",
    "is_echo",
    "local",
    "local_server",
    "origin_of",
    "plan",
    "transact_get",
    "transaction",
    "upgrade",
]
