"""What transactional writes and reads share: limits, errors, cancellation reasons (pure).

``dynorm.transaction()`` (`dynorm.write.transaction`) and ``dynorm.transact_get()``
(`dynorm.read.transact_get`) both refuse what DynamoDB would
([`InvalidTransaction`][dynorm.InvalidTransaction]) and explain a cancellation the same
way: a [`TransactionCanceled`][dynorm.TransactionCanceled] with one
[`CancellationReason`][dynorm.types.CancellationReason] per action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dynorm._types import Item
from dynorm.exceptions import DynormError, ItemNotFound, ServiceError, VersionConflict
from dynorm.schema.classes import meta_of

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = [
    "MAX_ACTIONS",
    "MAX_BYTES",
    "ActionKind",
    "CancellationReason",
    "InvalidTransaction",
    "TransactionCanceled",
    "is_cancellation",
    "reason_code",
]

#: DynamoDB's limits for one transaction.
MAX_ACTIONS = 100
MAX_BYTES = 4 * 1024 * 1024

ActionKind = Literal["put", "delete", "update", "check"]


class InvalidTransaction(DynormError, ValueError):
    """A transaction cannot be sent as built (nothing was sent).

    More than 100 actions, over 4 MB, two actions on one item, an empty ``check``, or a
    transaction used again after its commit.
    """


@dataclass(frozen=True)
class CancellationReason:
    """Why DynamoDB canceled one action of a transaction (one per action, in order).

    Attributes:
        index: the action's position in the transaction (0-based).
        action: ``"put"``, ``"delete"``, ``"update"`` or ``"check"``.
        model: the action's model class.
        key: the item's key (wire form); ``describe()`` shows it readably.
        code: DynamoDB's code: ``"ConditionalCheckFailed"``, ``"TransactionConflict"``,
            ``"ThrottlingError"``, ``"ValidationError"``...; None for an action that did
            not fail (DynamoDB's ``"None"``).
        message: DynamoDB's message, if any.
        item: the stored item when DynamoDB returned it (a model instance, or the raw
            wire item if it does not fit the model).
        error: for a failed condition, the error the same write would raise on its own:
            [`VersionConflict`][dynorm.VersionConflict] (with ``.expected``/``.actual``),
            [`ItemNotFound`][dynorm.ItemNotFound] (an update of a missing item) or
            [`ConditionFailed`][dynorm.ConditionFailed].
    """

    index: int
    action: ActionKind
    model: type[Model]
    key: Item
    code: str | None
    message: str | None = None
    item: Any = None
    error: DynormError | None = None

    @property
    def failed(self) -> bool:
        """True when this action is one of those that canceled the transaction."""
        return self.code is not None

    @property
    def version_conflict(self) -> bool:
        """True when this action failed on its version check (optimistic locking)."""
        return isinstance(self.error, VersionConflict)

    def describe(self) -> str:
        """``update Account (account_id='a1'): ConditionalCheckFailed: ...``."""
        meta = meta_of(self.model)
        where = f"{self.action} {self.model.__name__} ({meta.describe_key(self.key)})"
        if self.code is None:
            return f"{where}: ok"
        if isinstance(self.error, VersionConflict):
            return (f"{where}: version conflict: this copy has version {self.error.expected}, "
                    f"the table has {_stored(self.error.actual)}")
        if isinstance(self.error, ItemNotFound):
            return f"{where}: {self.code}: the item does not exist"
        return f"{where}: {self.code}" + (f" ({self.message})" if self.message else "")


def _stored(version: int | None) -> str:
    return "no version (no item)" if version is None else f"version {version}"


class TransactionCanceled(ServiceError):
    """DynamoDB canceled the transaction; nothing was written.

    Attributes:
        reasons: one [`CancellationReason`][dynorm.types.CancellationReason] per action,
            in the order added.
        failed: the reasons of the actions that failed.
    """

    def __init__(self, message: str, *, reasons: list[CancellationReason],
                 operation: str = "TransactWriteItems", **fields: Any) -> None:
        super().__init__(message, operation=operation, **fields)
        self.reasons = reasons

    @property
    def failed(self) -> list[CancellationReason]:
        return [r for r in self.reasons if r.failed]

    @property
    def conflict(self) -> bool:
        """True when the cancellation is only due to conflicting concurrent transactions."""
        codes = {r.code for r in self.failed}
        return "TransactionConflict" in codes and codes <= {"TransactionConflict", None}


def reason_code(entry: dict[str, Any]) -> str | None:
    """The code of one entry of ``CancellationReasons``; None for an action that did not
    fail (DynamoDB's ``"None"``)."""
    code = entry.get("Code")
    return None if code in (None, "None") else code


def is_cancellation(exc: ServiceError) -> bool:
    """True for DynamoDB's TransactionCanceledException (reasons in its response)."""
    return exc.code == "TransactionCanceledException"
