"""Table settings: what a model declares about its table besides keys, indexes and TTL.

```python
class Order(Model, table="orders", settings=TableSettings(
    billing=Provisioned(read=10, write=5),
    stream="NEW_AND_OLD_IMAGES",
    point_in_time_recovery=True,
    deletion_protection=True,
    tags={"team": "checkout"},
)):
    ...
```

Every setting left as ``None`` is not managed: ``dynorm.plan()`` neither reads nor
changes it, so a table configured by other means (the console, infrastructure code)
keeps what it has. A declared setting is the truth: ``plan()`` reports where the table
differs and ``apply()`` makes it so. Models sharing a table (single-table design) may each
declare settings; where two declare the same setting they must agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from dynorm.exceptions import SchemaError
from dynorm.schema.replicas import Consistency, check_replica_keys, check_replicas

__all__ = [
    "BillingMode",
    "Consistency",
    "Encryption",
    "OnDemand",
    "Provisioned",
    "StreamViewType",
    "TableClass",
    "TableSettings",
    "merge_settings",
]

StreamViewType = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]
"""DynamoDB's stream view types."""

TableClass = Literal["STANDARD", "STANDARD_INFREQUENT_ACCESS"]
"""DynamoDB's table classes."""

Encryption = Literal["AWS_OWNED", "KMS"]
"""Server-side encryption: an AWS owned key (DynamoDB's default) or a KMS key."""

_STREAM_VIEWS: tuple[str, ...] = get_args(StreamViewType)
_TABLE_CLASSES: tuple[str, ...] = get_args(TableClass)
_ENCRYPTIONS: tuple[str, ...] = get_args(Encryption)


def _units(owner: str, name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a whole number of units >= 1, not {value!r}")


@dataclass(frozen=True)
class Provisioned:
    """Provisioned capacity: read and write capacity units per second.

    As ``TableSettings(billing=...)`` it makes the table provisioned (billing mode
    ``PROVISIONED``); in ``TableSettings(index_throughput={...})`` it sets one global
    index's capacity.

    Args:
        read: read capacity units.
        write: write capacity units.
    """

    read: int
    write: int

    def __post_init__(self) -> None:
        _units("Provisioned", "read", self.read, optional=False)
        _units("Provisioned", "write", self.write, optional=False)


@dataclass(frozen=True)
class OnDemand:
    """On-demand capacity (billing mode ``PAY_PER_REQUEST``), with optional maxima.

    Args:
        max_read: the most read request units per second DynamoDB serves (``None``:
            no maximum).
        max_write: the most write request units per second (``None``: no maximum).
    """

    max_read: int | None = None
    max_write: int | None = None

    def __post_init__(self) -> None:
        _units("OnDemand", "max_read", self.max_read, optional=True)
        _units("OnDemand", "max_write", self.max_write, optional=True)


BillingMode = Provisioned | OnDemand
"""A table's (or a global index's) capacity: `Provisioned` or `OnDemand`."""


@dataclass(frozen=True)
class TableSettings:
    """How a model's table is configured; ``None`` leaves a setting unmanaged.

    Declared on the model: ``class Order(Model, table="orders",
    settings=TableSettings(...))``. ``dynorm.plan()`` compares each declared setting with
    the live table and ``dynorm.apply()`` changes what differs.

    Args:
        billing: `OnDemand()` (billing mode ``PAY_PER_REQUEST``) or
            `Provisioned(read=, write=)`.
        index_throughput: per global index name, its `Provisioned` capacity (on a
            provisioned table; default: the index's ``read_capacity``/``write_capacity``,
            else the table's) or its `OnDemand` maxima (on an on-demand table).
        stream: the DynamoDB Streams view type (``True`` means ``"NEW_AND_OLD_IMAGES"``;
            ``False`` turns the stream off).
        point_in_time_recovery: continuous backups on or off.
        table_class: ``"STANDARD"`` or ``"STANDARD_INFREQUENT_ACCESS"``.
        deletion_protection: refuse ``DeleteTable`` while on.
        encryption: ``"AWS_OWNED"`` (DynamoDB's default key) or ``"KMS"``.
        kms_key: with ``encryption="KMS"``, the key's id or ARN (default: the AWS managed
            key ``aws/dynamodb``).
        tags: the table's tags, exactly: tags the table has beyond these are removed.
        replicas: a global table: every Region it lives in, the one ``dynorm.plan()`` runs
            in included (``("us-east-1", "eu-west-1")``); Regions the table has beyond
            these lose their replica. See docs/multi-region.md.
        consistency: ``"EVENTUAL"`` (MREC, DynamoDB's default) or ``"STRONG"`` (MRSC:
            three Regions of one of AWS's MRSC Region sets; no transactions, TTL or local
            indexes). Fixed when the global table is made.
        witness: with ``consistency="STRONG"`` and two replicas, the third Region, which
            holds a witness (replicated change data, no reads or writes).
        replica_kms_keys: with ``encryption="KMS"`` and a key of your own, per replica
            Region the KMS key there (keys are regional): sent as the new replica's
            ``KMSMasterKeyId``.
        resource_policy: the table's resource-based policy (a dict or its JSON; ``{}``:
            none), exactly: ``apply()`` puts it, or deletes the table's. Name the table
            by its full ARN in ``Resource``. See docs/security.md.

    Raises:
        ValueError: a value DynamoDB does not know (a stream view type, a table class...).
    """

    billing: Provisioned | OnDemand | None = None
    index_throughput: Mapping[str, Provisioned | OnDemand] = field(default_factory=dict)
    stream: StreamViewType | bool | None = None
    point_in_time_recovery: bool | None = None
    table_class: TableClass | None = None
    deletion_protection: bool | None = None
    encryption: Encryption | None = None
    kms_key: str | None = None
    tags: Mapping[str, str] | None = None
    replicas: Sequence[str] | None = None
    consistency: Consistency | None = None
    witness: str | None = None
    replica_kms_keys: Mapping[str, str] | None = None
    resource_policy: Mapping[str, Any] | str | None = None

    def __post_init__(self) -> None:
        if self.billing is not None and not isinstance(self.billing, (Provisioned, OnDemand)):
            raise ValueError(
                f"TableSettings: billing must be OnDemand() or Provisioned(read=, write=), "
                f"not {self.billing!r}"
            )
        for name, value in self.index_throughput.items():
            if not isinstance(value, (Provisioned, OnDemand)):
                raise ValueError(
                    f"TableSettings: index_throughput[{name!r}] must be Provisioned(...) or "
                    f"OnDemand(...), not {value!r}"
                )
        if self.stream is not None and not isinstance(self.stream, bool) and (
                self.stream not in _STREAM_VIEWS):
            raise ValueError(
                f"TableSettings: stream must be True, False or one of "
                f"{', '.join(_STREAM_VIEWS)}, not {self.stream!r}"
            )
        for name in ("point_in_time_recovery", "deletion_protection"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"TableSettings: {name} must be True or False, not {value!r}")
        if self.table_class is not None and self.table_class not in _TABLE_CLASSES:
            raise ValueError(
                f"TableSettings: table_class must be one of {', '.join(_TABLE_CLASSES)}, "
                f"not {self.table_class!r}"
            )
        if self.encryption is not None and self.encryption not in _ENCRYPTIONS:
            raise ValueError(
                f"TableSettings: encryption must be 'AWS_OWNED' or 'KMS', not "
                f"{self.encryption!r}"
            )
        if self.kms_key is not None and self.encryption != "KMS":
            raise ValueError("TableSettings: kms_key needs encryption='KMS'")
        if self.tags is not None:
            for tag, text in self.tags.items():
                if not isinstance(tag, str) or not isinstance(text, str) or not tag:
                    raise ValueError(
                        f"TableSettings: tags map non-empty strings to strings, not "
                        f"{tag!r}: {text!r}"
                    )
            object.__setattr__(self, "tags", dict(self.tags))
        if self.resource_policy is not None:
            object.__setattr__(self, "resource_policy", _policy(self.resource_policy))
        object.__setattr__(self, "index_throughput", dict(self.index_throughput))
        object.__setattr__(self, "replicas", check_replicas(
            self.replicas, self.consistency, self.witness, self.stream))
        if self.replica_kms_keys is not None:
            object.__setattr__(self, "replica_kms_keys", check_replica_keys(
                self.replica_kms_keys, self.replicas, self.encryption))

    @property
    def stream_view(self) -> StreamViewType | None:
        """The declared view type; ``None`` for no stream (``stream=False``) or unmanaged."""
        if self.stream is True:
            return "NEW_AND_OLD_IMAGES"
        if self.stream is None or self.stream is False:
            return None
        return self.stream


def _policy(value: Mapping[str, Any] | str) -> dict[str, Any]:
    """A resource policy as a dict (``{}``: none), checked for its outer shape."""
    import json

    policy = json.loads(value) if isinstance(value, str) and value.strip() else value
    if policy == "" or policy == {}:
        return {}
    if not isinstance(policy, Mapping) or not isinstance(policy.get("Statement"), list):
        raise ValueError(
            "TableSettings: resource_policy must be an IAM policy document (a dict or its "
            'JSON, with a "Statement" list), or {} for none')
    return dict(policy)


def merge_settings(table: str, declared: list[tuple[str, TableSettings | None]]
                   ) -> TableSettings:
    """One `TableSettings` for the models sharing ``table``: each setting from whichever
    model declares it.

    Args:
        table: the table name, for messages.
        declared: ``(model name, settings)`` per model.

    Raises:
        SchemaError: two models declare one setting differently (naming both).
    """
    merged: dict[str, Any] = {}
    owners: dict[str, str] = {}
    throughput: dict[str, Provisioned | OnDemand] = {}
    throughput_owner: dict[str, str] = {}
    for model, settings in declared:
        if settings is None:
            continue
        for f in dataclasses.fields(TableSettings):
            if f.name == "index_throughput":
                continue
            value = getattr(settings, f.name)
            if value is None:
                continue
            if f.name in merged and merged[f.name] != value:
                raise SchemaError(
                    f"{model} and {owners[f.name]} share table {table!r} but declare "
                    f"different {f.name}: {value!r} vs {merged[f.name]!r}; declare it on "
                    "one model only, or the same on both"
                )
            merged[f.name] = value
            owners[f.name] = model
        for index, value in settings.index_throughput.items():
            if index in throughput and throughput[index] != value:
                raise SchemaError(
                    f"{model} and {throughput_owner[index]} share table {table!r} but "
                    f"declare different throughput for index {index!r}: {value!r} vs "
                    f"{throughput[index]!r}"
                )
            throughput[index] = value
            throughput_owner[index] = model
    return TableSettings(index_throughput=throughput, **merged)
