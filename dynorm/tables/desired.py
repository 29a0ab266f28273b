"""What the models declare a table to be: its CreateTable request, TTL and settings (pure).

Models sharing a table are united as ``create_tables()`` unites them (one key schema, the
union of their indexes, conflicting declarations are a `SchemaError`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dynorm._types import Request
from dynorm.exceptions import DynormError, SchemaError
from dynorm.schema.meta import TableMeta
from dynorm.schema.settings import OnDemand, Provisioned, TableSettings
from dynorm.tables.create import merged_table_request
from dynorm.tables.state import UNLIMITED

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["Desired", "billing_words", "desired_table", "on_demand_spec", "settings_of"]


def settings_of(model: type[Model]) -> TableSettings | None:
    """The `TableSettings` a model declares (``settings=``), or None."""
    value = getattr(model, "__dynorm_settings__", None)
    if value is not None and not isinstance(value, TableSettings):
        raise DynormError(
            f"{model.__name__}: settings must be a TableSettings, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Desired:
    """A table as its models declare it.

    Attributes:
        table: the physical table name.
        models: the names of the models stored in it.
        request: the CreateTable request that makes it (keys, indexes, billing, stream,
            table class, deletion protection, encryption, tags).
        ttl: the TTL attribute, if a model declares one.
        settings: the models' settings, merged.
        billing: the billing the table should have (declared, else the live table's, else
            on-demand for a new table).
        capacity_declared: the global indexes whose capacity is declared (their live
            capacity is compared; the others' is left as it is).
    """

    table: str
    models: tuple[str, ...]
    request: Request
    ttl: str | None
    settings: TableSettings
    billing: Provisioned | OnDemand
    capacity_declared: frozenset[str]

    @property
    def types(self) -> dict[str, str]:
        return {d["AttributeName"]: d["AttributeType"]
                for d in self.request["AttributeDefinitions"]}

    def gsi_specs(self) -> dict[str, dict[str, Any]]:
        return {s["IndexName"]: s for s in self.request.get("GlobalSecondaryIndexes") or ()}


def on_demand_spec(value: OnDemand) -> dict[str, int]:
    """The OnDemandThroughput parameter of `OnDemand` maxima (-1: no maximum)."""
    return {"MaxReadRequestUnits": value.max_read or UNLIMITED,
            "MaxWriteRequestUnits": value.max_write or UNLIMITED}


def billing_words(billing: Provisioned | OnDemand) -> str:
    """``"provisioned 10 read / 5 write"``, ``"on-demand"``, ``"on-demand (max 100 read)"``."""
    if isinstance(billing, Provisioned):
        return f"provisioned {billing.read} read / {billing.write} write"
    limits = [f"max {n} {what}" for n, what in ((billing.max_read, "read"),
                                                 (billing.max_write, "write")) if n]
    return "on-demand" + (f" ({', '.join(limits)})" if limits else "")


def desired_table(metas: Sequence[TableMeta], settings: TableSettings, name: str, *,
                  live_billing: Provisioned | OnDemand | None = None) -> Desired:
    """The declared table ``name`` of ``metas`` (models sharing it) with ``settings``.

    Args:
        metas: the compiled declarations of the models stored in the table.
        settings: their merged settings.
        name: the physical table name.
        live_billing: the live table's billing, used when ``settings`` declares none.

    Raises:
        SchemaError: the models disagree (keys, an index, TTL), or ``index_throughput``
            names an unknown index or a capacity of the other billing mode.
    """
    billing = settings.billing or live_billing or OnDemand()
    provisioned = isinstance(billing, Provisioned)
    options: dict[str, Any] = {"stream": settings.stream_view}
    if isinstance(billing, Provisioned):
        options.update(billing_mode="PROVISIONED", read_capacity=billing.read,
                       write_capacity=billing.write)
    else:
        options.update(billing_mode="PAY_PER_REQUEST")
    request = merged_table_request(list(metas), name, **options)
    models = tuple(m.model_name for m in metas)
    specs = {s["IndexName"]: s for s in request.get("GlobalSecondaryIndexes") or ()}
    for index, value in settings.index_throughput.items():
        spec = specs.get(index)
        if spec is None:
            raise SchemaError(
                f"{', '.join(models)}: TableSettings.index_throughput names {index!r}, which "
                f"is not a global index of table {metas[0].table_name!r} "
                f"(global indexes: {', '.join(specs) or 'none'})"
            )
        if isinstance(value, Provisioned) != provisioned:
            mode = "provisioned" if provisioned else "on-demand"
            raise SchemaError(
                f"{', '.join(models)}: index {index!r} declares {type(value).__name__} "
                f"capacity but table {metas[0].table_name!r} is {mode}; a global index "
                f"takes its table's billing mode: use "
                f"{'Provisioned(read=, write=)' if provisioned else 'OnDemand(max_read=...)'}"
            )
        if isinstance(value, Provisioned):
            spec["ProvisionedThroughput"] = {"ReadCapacityUnits": value.read,
                                             "WriteCapacityUnits": value.write}
        else:
            spec["OnDemandThroughput"] = on_demand_spec(value)
    declared = set(settings.index_throughput)
    declared |= {ix.name for m in metas for ix in m.indexes.values()
                 if ix.kind == "global" and (ix.read_capacity or ix.write_capacity)}
    if settings.billing is not None:
        declared |= set(specs)
    if isinstance(billing, OnDemand) and (billing.max_read or billing.max_write):
        request["OnDemandThroughput"] = on_demand_spec(billing)
    if settings.table_class is not None:
        request["TableClass"] = settings.table_class
    if settings.deletion_protection is not None:
        request["DeletionProtectionEnabled"] = settings.deletion_protection
    if settings.encryption == "KMS":
        request["SSESpecification"] = sse_spec(settings)
    if settings.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(settings.tags.items())]
    if settings.resource_policy:
        request["ResourcePolicy"] = json.dumps(settings.resource_policy)
    ttls = {m.ttl.attr for m in metas if m.ttl is not None}
    ttl = next(iter(ttls)) if ttls else None  # merged_table_request refused several
    return Desired(name, models, request, ttl, settings, billing, frozenset(declared))


def sse_spec(settings: TableSettings) -> dict[str, Any]:
    """The SSESpecification parameter of the declared encryption."""
    if settings.encryption != "KMS":
        return {"Enabled": False}
    spec: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if settings.kms_key:
        spec["KMSMasterKeyId"] = settings.kms_key
    return spec
