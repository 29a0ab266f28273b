"""Every error dynorm raises, rooted at `DynormError`.

The tree (classes defined next to the feature that raises them are marked with it)::

    DynormError
    ├── SchemaError              a model declaration is wrong (raised at class creation)
    ├── ConnectionNotConfigured  an operation ran before dynorm.connect()/configure()
    ├── LocalServerError         an embedded server cannot start (moto, Java, npm missing)
    ├── EncodingError            a value cannot be written (wrong type, NaN, > 38 digits, ...)
    │   ├── InvalidKey           a key is missing, empty or of the wrong type
    │   └── ItemTooLarge         the encoded item is over DynamoDB's 400 KB
    ├── ExpressionError          a condition, update or projection cannot be built
    ├── ValidationFailed         data read back does not fit the model
    │   └── UpgradeFailed        an old item cannot be upgraded, a newer one read  (upgrade)
    ├── PartialCopy              a write needs what a partial (projected) copy did not read
    ├── DecryptionFailed         an encrypted/compressed value does not open  (security)
    ├── KeyringError             no data key: KMS refused or did not answer  (security)
    ├── ItemNotFound             Model.get() found nothing
    ├── InvalidCursor            a page cursor was altered or belongs elsewhere  (pagination)
    ├── InvalidTransaction       over 100 actions / 4 MB, one item twice  (transaction)
    ├── InvalidBatch             a batch used wrongly (closed, versioned model)  (batch)
    ├── BatchWriteFailed         writes left unmade when retries ran out; ``.failed``  (batch)
    ├── BatchGetFailed           keys left unread when retries ran out; ``.missing``  (batch)
    ├── StreamError              a stream cannot be read as asked  (streams)
    │   └── StreamNotEnabled     the table has no stream  (streams)
    ├── PlanError                a plan has blocking changes or is stale (tables)
    ├── BlockingCallInEventLoop  a blocking call from code on its own event loop  (blocking)
    ├── TransferError            an export, import, backup or restore cannot go on  (backup)
    │   ├── S3Error              S3 answered with an error  (backup)
    │   └── UnsupportedOperation the server lacks the operation (DynamoDB Local)  (backup)
    ├── TransportError           no answer from the server (connection failed, retries spent)
    └── ServiceError             DynamoDB answered with an error (``.code``, ``.message``)
        ├── ConditionFailed          a ConditionExpression was false (``.item`` if returned)
        │   └── VersionConflict      the stored version differs (optimistic locking)
        ├── TransactionCanceled      a transaction was refused; ``.reasons``  (transaction)
        ├── TableNotFound            ResourceNotFoundException
        ├── ResourceInUse            ResourceInUseException (e.g. the table already exists)
        ├── Throttled                throttling went on after every retry
        ├── ReplicatedWriteConflict  another Region wrote the item at once (MRSC); retried
        ├── RequestRejected          ValidationException and other client-side 400s
        └── ServerError              a 5xx went on after every retry

AWS error codes are turned into these classes by one table, `ERROR_CODES`,
and the original exception is kept as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_CODES",
    "NOT_APPLIED_CODES",
    "RETRYABLE_CODES",
    "ConditionFailed",
    "ConnectionNotConfigured",
    "DynormError",
    "EncodingError",
    "ExpressionError",
    "InvalidKey",
    "ItemNotFound",
    "ItemTooLarge",
    "LocalServerError",
    "PartialCopy",
    "ReplicatedWriteConflict",
    "RequestRejected",
    "ResourceInUse",
    "SchemaError",
    "ServerError",
    "ServiceError",
    "TableNotFound",
    "Throttled",
    "TransportError",
    "ValidationFailed",
    "VersionConflict",
    "error_for_code",
    "is_retryable",
    "may_have_applied",
]


class DynormError(Exception):
    """Base class of every error raised by dynorm."""


class SchemaError(DynormError, TypeError):
    """A model declaration is wrong: raised when the class is created, naming class and field."""


class ConnectionNotConfigured(DynormError, RuntimeError):
    """An operation needed the server but no connection is open."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "dynorm has no connection: wrap your code in `async with dynorm.connect(...)`, "
            "`async with dynorm.local()`, or call `await dynorm.configure(...)` at start-up"
        )



class LocalServerError(DynormError, RuntimeError):
    """An embedded local server could not be found, installed or started.

    The message names what is missing (moto's server, Java, npm, DynamoDB Local's jar)
    and how to provide it.
    """


class PartialCopy(DynormError):
    """A write through an instance built from part of an item needs what it did not read.

    An instance read through ``.project()``, an index that does not project every
    attribute, or a projection of a nested path holds only part of the stored item.
    ``save()`` and ``move()`` of it would replace the item with defaults for the rest,
    and a write of a versioned model without its version could not be checked: both are
    refused. ``update()`` and ``delete()`` touch only what they name and stay allowed.

    Attributes:
        model: the model class name.
        fields: the fields the copy lacks or holds only in part.
    """

    def __init__(self, message: str, *, model: str = "", fields: list[str] | None = None
                 ) -> None:
        super().__init__(message)
        self.model = model
        self.fields = list(fields or [])

class EncodingError(DynormError, ValueError):
    """A Python value cannot be written as a DynamoDB attribute value."""


class InvalidKey(EncodingError):
    """A key value is missing, empty, or of a type the key attribute cannot hold."""


class ItemTooLarge(EncodingError):
    """The encoded item is larger than DynamoDB's 400 KB item limit.

    ``size`` is the item's size in bytes where dynorm measured it, None where DynamoDB
    refused an update that would have grown the item past the limit.
    """

    def __init__(self, message: str, *, size: int | None) -> None:
        super().__init__(message)
        self.size = size


class ExpressionError(DynormError, ValueError):
    """A condition, key condition, update or projection cannot be built as written."""


class ValidationFailed(DynormError, ValueError):
    """An item read back from DynamoDB does not fit its model.

    Attributes:
        model: the model class name.
        table: the table the item came from.
        key: the item's key attributes (wire form).
        fields: the dotted field locations pydantic complained about.
    """

    def __init__(
        self, message: str, *, model: str, table: str, key: dict[str, Any], fields: list[str]
    ) -> None:
        super().__init__(message)
        self.model = model
        self.table = table
        self.key = key
        self.fields = fields


class ItemNotFound(DynormError, LookupError):
    """``Model.get()`` found no item with the given key."""

    def __init__(self, message: str, *, model: str, key: dict[str, Any]) -> None:
        super().__init__(message)
        self.model = model
        self.key = key


class TransportError(DynormError, ConnectionError):
    """The request got no answer: connection refused/reset or timed out on every attempt.

    Attributes:
        sent: the request may have reached the server (the connection dropped after
            sending, an answer could not be read): a write may have been applied. False
            when it certainly was not (the connection could not be made).
        retryable: another attempt may succeed (False for e.g. missing credentials).
    """

    def __init__(self, message: str, *, sent: bool = True, retryable: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.retryable = retryable


class ServiceError(DynormError):
    """DynamoDB answered with an error.

    Attributes:
        code: the AWS error code, e.g. ``"ValidationException"``.
        message: the server's message.
        operation: the DynamoDB operation, e.g. ``"PutItem"``.
        response: the parsed error response (e.g. ``Item`` or ``CancellationReasons``).
        ambiguous: True when an earlier attempt of the same request got no usable answer
            (the connection dropped after sending, or a 5xx) and so may have been applied:
            a `ConditionFailed` with ``ambiguous`` set can be the first attempt's
            own write making the retried condition false. Retrying such a write blindly
            can apply it twice; see docs/reliability.md.
    """

    def __init__(self, message: str, *, code: str = "", operation: str = "",
                 response: dict[str, Any] | None = None, ambiguous: bool = False,
                 status: int = 400) -> None:
        super().__init__(f"{operation}: {code}: {message}" if operation else message)
        self.code = code
        self.message = message
        self.operation = operation
        self.response: dict[str, Any] = response if response is not None else {}
        self.ambiguous = ambiguous
        #: the HTTP status of the answer
        self.status = status


class ConditionFailed(ServiceError):
    """A ConditionExpression evaluated to false.

    Attributes:
        item: the item as stored when DynamoDB returned it (a model instance where dynorm
            could decode it, else the raw wire item), or ``None``.
    """

    def __init__(self, message: str, *, item: Any = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.item = item


class VersionConflict(ConditionFailed):
    """A write was refused because the stored version is not the one this copy was read with.

    Attributes:
        expected: the version this copy carried.
        actual: the stored version (None when the item is missing or unversioned).
    """

    def __init__(self, message: str, *, expected: int | None = None,
                 actual: int | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.expected = expected
        self.actual = actual


class TableNotFound(ServiceError):
    """The table (or index, or stream) does not exist."""


class ResourceInUse(ServiceError):
    """The table is being created/deleted, or already exists."""


class Throttled(ServiceError):
    """DynamoDB throttled the request on every attempt."""


class ReplicatedWriteConflict(ServiceError):
    """ReplicatedWriteConflictException: a request in another Region was writing the same
    item of a multi-Region strongly consistent (MRSC) global table. The write was not
    applied; the connection retries it (it is in `RETRYABLE_CODES`), and this is raised
    when the conflict outlasts every attempt."""


class RequestRejected(ServiceError):
    """DynamoDB rejected the request as invalid (ValidationException and similar)."""


class ServerError(ServiceError):
    """DynamoDB failed with a 5xx on every attempt."""


ERROR_CODES: dict[str, type[ServiceError]] = {
    "ConditionalCheckFailedException": ConditionFailed,
    "ResourceNotFoundException": TableNotFound,
    "ResourceInUseException": ResourceInUse,
    "TableAlreadyExistsException": ResourceInUse,
    "ProvisionedThroughputExceededException": Throttled,
    "ThrottlingException": Throttled,
    "RequestLimitExceeded": Throttled,
    "LimitExceededException": Throttled,
    "ValidationException": RequestRejected,
    "SerializationException": RequestRejected,
    "ItemCollectionSizeLimitExceededException": RequestRejected,
    "InternalServerError": ServerError,
    "InternalFailure": ServerError,
    "ServiceUnavailable": ServerError,
    "ReplicatedWriteConflictException": ReplicatedWriteConflict,
}
"""AWS error code -> dynorm exception class. Unknown codes become ServiceError."""

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "ReplicatedWriteConflictException",
    }
)
"""Codes worth another attempt after a pause."""


NOT_APPLIED_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ReplicatedWriteConflictException",
    }
)
"""Retryable codes that say the request was not carried out (throttling): every other
retried failure (a 5xx, TransactionInProgressException) may hide an applied write."""


def is_retryable(error: ServiceError | TransportError) -> bool:
    """Whether another attempt of the same request may succeed (one rule, every caller)."""
    if isinstance(error, TransportError):
        return error.retryable
    return error.code in RETRYABLE_CODES or error.status >= 500


def may_have_applied(error: ServiceError | TransportError) -> bool:
    """Whether the failed attempt may have been carried out all the same."""
    if isinstance(error, TransportError):
        return error.sent
    return error.ambiguous or error.code not in NOT_APPLIED_CODES


def error_for_code(code: str, status: int = 400) -> type[ServiceError]:
    """The exception class for an AWS error code (5xx without a known code -> ServerError)."""
    cls = ERROR_CODES.get(code)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else ServiceError
