"""Global tables in a model's declaration: replica Regions, consistency mode, witness (pure).

```python
class Payment(Model, table="payments", settings=TableSettings(
    replicas=("us-east-1", "us-east-2"), witness="us-west-2", consistency="STRONG",
)):
    ...
```

``replicas`` names every Region the table lives in, the one ``dynorm.plan()`` runs in
included (so one declaration serves a plan run from any of them). ``consistency`` is
``"EVENTUAL"`` (multi-Region eventual consistency, MREC: DynamoDB's default, any Regions,
last writer wins) or ``"STRONG"`` (multi-Region strong consistency, MRSC: exactly three
Regions of one of AWS's MRSC Region sets, as three replicas or two and a ``witness``).

MRSC does not allow transactions, TTL or local secondary indexes: a model declaring
them with ``consistency="STRONG"`` is refused when its class is created, and a
transaction naming such a model when the action is added (`refuse_transaction`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from dynorm.exceptions import SchemaError

if TYPE_CHECKING:
    from dynorm.schema.meta import TableMeta

__all__ = [
    "MRSC_REGION_SETS",
    "Consistency",
    "check_replica_keys",
    "check_replicas",
    "refuse_strong",
    "refuse_transaction",
    "replica_words",
    "strong_settings",
]

Consistency = Literal["EVENTUAL", "STRONG"]
"""A global table's consistency mode: ``"EVENTUAL"`` (MREC) or ``"STRONG"`` (MRSC)."""

_CONSISTENCIES: tuple[str, ...] = get_args(Consistency)

#: AWS's Region sets for multi-Region strong consistency: the three Regions of an MRSC
#: table (replicas and witness) must all come from one of them (DynamoDB developer
#: guide, "Multi-Region strong consistency"; AWS adds sets over time: extend this
#: mapping, e.g. ``MRSC_REGION_SETS["XX"] = frozenset(...)``, until dynorm does).
MRSC_REGION_SETS: dict[str, frozenset[str]] = {
    "US": frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    "EU": frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    "AP": frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
}

_FIX_SETS = "; ".join(f"{name}: {', '.join(sorted(regions))}"
                      for name, regions in MRSC_REGION_SETS.items())


def check_replicas(replicas: Sequence[str] | None, consistency: str | None,
                   witness: str | None, stream: Any) -> tuple[str, ...] | None:
    """Validate the global-table part of `TableSettings`; the replicas as a tuple.

    Raises:
        ValueError: what DynamoDB would refuse, with the fix.
    """
    if replicas is None:
        if consistency is not None or witness is not None:
            raise ValueError(
                "TableSettings: consistency and witness describe a global table: declare its "
                "Regions too, e.g. replicas=('us-east-1', 'us-east-2')")
        return None
    if isinstance(replicas, str):
        raise ValueError(
            f"TableSettings: replicas is a sequence of Region names, not the string "
            f"{replicas!r}: write replicas=({replicas!r},)")
    regions = tuple(replicas)
    for region in regions:
        if not isinstance(region, str) or not region:
            raise ValueError(f"TableSettings: replicas holds Region names, not {region!r}")
    if len(set(regions)) != len(regions):
        raise ValueError(f"TableSettings: replicas names a Region twice: {regions!r}")
    if not regions:
        raise ValueError("TableSettings: replicas needs at least the table's own Region")
    if consistency is not None and consistency not in _CONSISTENCIES:
        raise ValueError(
            f"TableSettings: consistency must be 'EVENTUAL' (MREC) or 'STRONG' (MRSC), not "
            f"{consistency!r}")
    if consistency != "STRONG":
        if witness is not None:
            raise ValueError(
                "TableSettings: a witness serves only multi-Region strong consistency: "
                "declare consistency='STRONG', or drop witness=")
        if stream is False or (isinstance(stream, str) and stream != "NEW_AND_OLD_IMAGES"):
            raise ValueError(
                f"TableSettings: an MREC global table replicates through its stream, which "
                f"must be NEW_AND_OLD_IMAGES (stream=True), not stream={stream!r}")
        return regions
    if witness is not None and (not isinstance(witness, str) or witness in regions):
        raise ValueError(
            f"TableSettings: the witness must be a Region without a replica, not "
            f"{witness!r} (replicas: {', '.join(regions)})")
    every = (*regions, *((witness,) if witness else ()))
    if len(every) != 3 or len(regions) < 2:
        raise ValueError(
            f"TableSettings: an MRSC table (consistency='STRONG') lives in exactly three "
            f"Regions: three replicas, or two replicas and a witness; not {len(regions)} "
            f"replica(s){' and a witness' if witness else ''} ({', '.join(every)})")
    if not any(set(every) <= members for members in MRSC_REGION_SETS.values()):
        raise ValueError(
            f"TableSettings: {', '.join(every)} is not one of AWS's MRSC Region sets: the "
            f"three Regions of an MRSC table must come from one set ({_FIX_SETS})")
    return regions


def check_replica_keys(keys: Mapping[str, str], replicas: Sequence[str] | None,
                       encryption: str | None) -> dict[str, str]:
    """Validate ``replica_kms_keys``: KMS encryption, keys for declared replicas only.

    Raises:
        ValueError: naming what is wrong and the fix.
    """
    if encryption != "KMS":
        raise ValueError("TableSettings: replica_kms_keys needs encryption='KMS'")
    unknown = sorted(set(keys) - set(replicas or ()))
    if unknown:
        raise ValueError(
            f"TableSettings: replica_kms_keys names {', '.join(unknown)}, not among replicas "
            f"({', '.join(replicas or ()) or 'none declared'})")
    for region, key in keys.items():
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"TableSettings: replica_kms_keys[{region!r}] must be a key id or ARN, not "
                f"{key!r}")
    return dict(keys)


def strong_settings(model: type[Any]) -> bool:
    """Whether ``model`` declares an MRSC table (``TableSettings(consistency="STRONG")``)."""
    settings = getattr(model, "__dynorm_settings__", None)
    return getattr(settings, "consistency", None) == "STRONG"


def refuse_strong(model: type[Any], meta: TableMeta | None) -> None:
    """Refuse at class creation what an MRSC table does not allow (TTL, local indexes).

    Raises:
        SchemaError: naming the model, what it declares and the fix.
    """
    if meta is None or not strong_settings(model):
        return
    name = model.__name__
    if meta.ttl is not None:
        raise SchemaError(
            f"{name}: field {meta.ttl.field!r} is a TTL attribute, but table "
            f"{meta.table_name!r} is declared MRSC (TableSettings(consistency='STRONG')), "
            "and MRSC global tables do not support TTL: remove the TTL marker (delete "
            "expired items yourself), or use consistency='EVENTUAL'")
    local = sorted(ix.name for ix in meta.indexes.values() if ix.kind == "local")
    if local:
        raise SchemaError(
            f"{name}: local secondary index(es) {', '.join(local)} on table "
            f"{meta.table_name!r}, declared MRSC (TableSettings(consistency='STRONG')): MRSC "
            "global tables do not support local secondary indexes: make them "
            "GlobalIndex(...), or use consistency='EVENTUAL'")


def refuse_transaction(model: type[Any], operation: str) -> None:
    """Refuse a transaction naming a model of an MRSC table.

    Raises:
        SchemaError: naming the model and the way out.
    """
    if strong_settings(model):
        table = getattr(model, "__dynorm_table__", None)
        raise SchemaError(
            f"{model.__name__}: table {table!r} is declared MRSC "
            f"(TableSettings(consistency='STRONG')), and MRSC global tables do not support "
            f"{operation}: write the items one by one with conditions (each is strongly "
            "consistent across Regions), or use consistency='EVENTUAL'")


def replica_words(replicas: Mapping[str, str]) -> str:
    """``us-east-2 ACTIVE, eu-west-1 CREATING`` for plans and messages."""
    return ", ".join(f"{r} {s}" for r, s in sorted(replicas.items())) or "none"
