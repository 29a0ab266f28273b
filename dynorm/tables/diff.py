"""The changes that take a live table to its declaration (pure: `Desired` x `TableState`).

Each change carries the requests that make it, in the order DynamoDB allows: one global
index created or deleted per UpdateTable, the billing mode switched with every remaining
index's capacity in the same request, a stream's view type changed by turning the stream
off and on again, a TTL attribute changed by disabling TTL and enabling it again.
"""

from __future__ import annotations

import json
from typing import Any

from dynorm._types import Request
from dynorm.schema.settings import OnDemand, Provisioned
from dynorm.tables.changes import Change, ChangeKind, Step
from dynorm.tables.desired import Desired, billing_words, on_demand_spec, sse_spec
from dynorm.tables.state import UNLIMITED, TableState, index_shape

__all__ = ["create_changes", "diff"]

_NEW_TABLE = (
    "create a new table with the declared keys and indexes (another name, or the same after "
    "deleting this one), copy the items into it (a scan and batch writes, or a migration), "
    "then point the model at it"
)


def diff(desired: Desired, state: TableState) -> tuple[list[Change], list[str]]:
    """The changes (in order) and the notes (what could not be compared) for one table."""
    if not state.exists:
        return create_changes(desired), []
    return _Differ(desired, state).changes(), list(state.notes)


def create_changes(desired: Desired) -> list[Change]:
    """The changes that make a new table as declared: CreateTable, then TTL and
    point-in-time recovery (which need an ACTIVE table)."""
    name, req = desired.table, desired.request
    gsis = len(req.get("GlobalSecondaryIndexes") or ())
    lsis = len(req.get("LocalSecondaryIndexes") or ())
    parts = [f"key {_keys_words(req['KeySchema'], desired.types)}",
             f"{gsis} global / {lsis} local index{'es' if lsis != 1 else ''}",
             billing_words(desired.billing)]
    view = desired.settings.stream_view
    if view:
        parts.append(f"stream {view}")
    changes = [Change("create_table", name,
                      f"create table {name} for {', '.join(desired.models)} ({'; '.join(parts)})",
                      steps=(Step("CreateTable", req),))]
    if desired.ttl:
        changes.append(_ttl(name, None, desired.ttl))
    if desired.settings.point_in_time_recovery:
        changes.append(_pitr(name, False, True))
    return changes


def _keys_words(schema: list[dict[str, str]], types: dict[str, str]) -> str:
    return ", ".join(f"{k['AttributeName']}({types.get(k['AttributeName'], '?')})"
                     for k in schema)


def _ttl(table: str, current: str | None, declared: str | None) -> Change:
    steps = []
    if current:
        steps.append(Step("UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": {
            "Enabled": False, "AttributeName": current}}))
    if declared:
        steps.append(Step("UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": declared}}))
    what = "TTL"
    if current and declared:
        what += " attribute (disable, then enable: AWS accepts the second step only once " \
                "the first has settled, up to an hour)"
    return Change("ttl", table, what, f"on {current}" if current else "off",
                  f"on {declared}" if declared else "off", steps=tuple(steps))


def _pitr(table: str, current: bool, declared: bool) -> Change:
    return Change("point_in_time_recovery", table, "point-in-time recovery",
                  _onoff(current), _onoff(declared), steps=(Step(
                      "UpdateContinuousBackups", {"TableName": table,
                                                  "PointInTimeRecoverySpecification": {
                                                      "PointInTimeRecoveryEnabled": declared}}),))


def _onoff(value: bool) -> str:
    return "on" if value else "off"


class _Differ:
    """Compares one existing table with its declaration, change kind by change kind."""

    def __init__(self, desired: Desired, state: TableState) -> None:
        self.desired = desired
        self.state = state
        self.table = desired.table
        self.out: list[Change] = []
        types = desired.types
        self.want_gsi = {n: index_shape(s, types) for n, s in desired.gsi_specs().items()}
        self.want_lsi = {s["IndexName"]: index_shape(s, types)
                         for s in desired.request.get("LocalSecondaryIndexes") or ()}
        self.have_gsi = state.indexes("GlobalSecondaryIndexes")
        self.have_lsi = state.indexes("LocalSecondaryIndexes")
        self.kept = [n for n, shape in self.have_gsi.items()
                     if n in self.want_gsi and shape.same_index(self.want_gsi[n])]

    def add(self, kind: ChangeKind, what: str, current: str = "", declared: str = "",
            *steps: Step) -> None:
        self.out.append(Change(kind, self.table, what, current, declared, steps=steps))

    def update(self, **request: Any) -> Step:
        return Step("UpdateTable", {"TableName": self.table, **request})

    def changes(self) -> list[Change]:
        self.keys()
        self.local_indexes()
        self.removed_indexes()
        self.billing()
        self.index_capacity()
        self.added_indexes()
        self.stream()
        self.ttl()
        self.settings()
        self.tags()
        self.resource_policy()
        return self.out

    # ------------------------------------------------------------------ blocking

    def keys(self) -> None:
        want = _keys_words(self.desired.request["KeySchema"], self.desired.types)
        desc = self.state.description or {}
        have = _keys_words(desc.get("KeySchema") or [], self.state.types)
        if want != have:
            self.out.append(Change(
                "key_schema", self.table, "table key (DynamoDB cannot change it)", have, want,
                in_place=False, way_out=_NEW_TABLE))

    def local_indexes(self) -> None:
        for name in sorted(self.want_lsi.keys() | self.have_lsi.keys()):
            want, have = self.want_lsi.get(name), self.have_lsi.get(name)
            if want == have:
                continue
            self.out.append(Change(
                "local_indexes", self.table,
                f"local index {name} (made only with the table)",
                have.describe() if have else "", want.describe() if want else "",
                in_place=False, way_out=_NEW_TABLE))

    # ------------------------------------------------------------------ global indexes

    def removed_indexes(self) -> None:
        for name, have in self.have_gsi.items():
            want = self.want_gsi.get(name)
            if want is None:
                self.add("remove_index", f"remove global index {name} (no model declares it)",
                         have.describe(), "", self.update(GlobalSecondaryIndexUpdates=[
                             {"Delete": {"IndexName": name}}]))
            elif not have.same_index(want):
                self.add("remove_index",
                         f"remove global index {name} to re-create it (keys or projection "
                         "differ; queries of it fail until it is back)",
                         have.describe(), want.describe(), self.update(
                             GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}]))

    def added_indexes(self) -> None:
        present = list(self.kept)
        for name, want in self.want_gsi.items():
            if name in self.kept:
                continue
            present.append(name)
            spec = self.desired.gsi_specs()[name]
            self.add("add_index",
                     f"add global index {name} (backfilled from the existing items)",
                     "", want.describe(),
                     Step("UpdateTable", {"TableName": self.table,
                                          "AttributeDefinitions": self.definitions(present),
                                          "GlobalSecondaryIndexUpdates": [{"Create": spec}]},
                          index=name))

    def definitions(self, gsis: list[str]) -> list[dict[str, str]]:
        """Every key attribute of the table, its local indexes and ``gsis`` (some servers
        replace the table's definitions with the request's)."""
        desc = self.state.description or {}
        shapes = [*self.have_lsi.values(), *(self.want_gsi[n] for n in gsis)]
        attrs = {k["AttributeName"]: self.state.types.get(k["AttributeName"], "?")
                 for k in desc.get("KeySchema") or ()}
        for shape in shapes:
            for attr, _, t in shape.keys:
                attrs.setdefault(attr, t)
        return [{"AttributeName": a, "AttributeType": t} for a, t in sorted(attrs.items())]

    def index_capacity(self) -> None:
        if self.switches_billing:
            return  # the billing switch sets every index's capacity
        for name in self.kept:
            if name not in self.desired.capacity_declared:
                continue
            want, have = self.want_gsi[name], self.have_gsi[name]
            if isinstance(self.desired.billing, Provisioned):
                if want.provisioned and want.provisioned != have.provisioned:
                    self.add("index_throughput", f"capacity of global index {name}",
                             _units_words(have.provisioned), _units_words(want.provisioned),
                             self.update(GlobalSecondaryIndexUpdates=[{"Update": {
                                 "IndexName": name,
                                 "ProvisionedThroughput": _throughput(want.provisioned)}}]))
            elif want.on_demand != have.on_demand:
                self.add("index_throughput", f"on-demand maxima of global index {name}",
                         _maxima_words(have.on_demand), _maxima_words(want.on_demand),
                         self.update(GlobalSecondaryIndexUpdates=[{"Update": {
                             "IndexName": name, "OnDemandThroughput": {
                                 "MaxReadRequestUnits": want.on_demand[0],
                                 "MaxWriteRequestUnits": want.on_demand[1]}}}]))

    # ------------------------------------------------------------------ billing

    @property
    def switches_billing(self) -> bool:
        want = "PROVISIONED" if isinstance(self.desired.billing, Provisioned) else \
            "PAY_PER_REQUEST"
        return self.desired.settings.billing is not None and want != self.state.billing_mode

    def billing(self) -> None:
        if self.desired.settings.billing is None:
            return
        billing = self.desired.billing
        state = self.state
        if isinstance(billing, Provisioned):
            want = (billing.read, billing.write)
            request: Request = {"ProvisionedThroughput": _throughput(want)}
            if self.switches_billing:
                request["BillingMode"] = "PROVISIONED"
                updates = [{"Update": {"IndexName": n, "ProvisionedThroughput": _throughput(
                    self.want_gsi[n].provisioned or want)}} for n in self.kept]
                if updates:
                    request["GlobalSecondaryIndexUpdates"] = updates
                self.add("billing", "billing mode (AWS allows a switch once per 24 hours)",
                         "on-demand", billing_words(billing), self.update(**request))
            elif want != state.provisioned:
                self.add("throughput", "table capacity", _units_words(state.provisioned),
                         _units_words(want), self.update(**request))
            return
        maxima = on_demand_spec(billing)
        limited = maxima != on_demand_spec(OnDemand())
        if self.switches_billing:
            request = {"BillingMode": "PAY_PER_REQUEST"}
            if limited:
                request["OnDemandThroughput"] = maxima
            self.add("billing", "billing mode (AWS allows a switch once per 24 hours)",
                     _units_words(state.provisioned), billing_words(billing),
                     self.update(**request))
        elif (maxima["MaxReadRequestUnits"], maxima["MaxWriteRequestUnits"]) != \
                state.on_demand:
            self.add("throughput", "on-demand maxima of the table",
                     _maxima_words(state.on_demand),
                     _maxima_words((maxima["MaxReadRequestUnits"],
                                    maxima["MaxWriteRequestUnits"])),
                     self.update(OnDemandThroughput=maxima))

    # ------------------------------------------------------------------ the rest

    def stream(self) -> None:
        if self.desired.settings.stream is None:
            return
        want, have = self.desired.settings.stream_view, self.state.stream_view
        if want == have:
            return
        steps = []
        if have:
            steps.append(self.update(StreamSpecification={"StreamEnabled": False}))
        if want:
            steps.append(self.update(StreamSpecification={"StreamEnabled": True,
                                                          "StreamViewType": want}))
        what = "stream"
        if have and want:
            what += (" view type (off, then on: a new stream with a new ARN; the old one "
                     "stays readable for 24 hours)")
        self.add("stream", what, have or "off", want or "off", *steps)

    def ttl(self) -> None:
        if "TimeToLiveStatus" not in self.state.ttl:
            return  # unreadable: noted
        have = self.state.ttl_attribute
        if have != self.desired.ttl:
            self.out.append(_ttl(self.table, have, self.desired.ttl))

    def settings(self) -> None:
        declared, state = self.desired.settings, self.state
        pitr = declared.point_in_time_recovery
        if pitr is not None and state.point_in_time_recovery is not None and (
                pitr != state.point_in_time_recovery):
            self.out.append(_pitr(self.table, state.point_in_time_recovery, pitr))
        if declared.table_class is not None and declared.table_class != state.table_class:
            self.add("table_class", "table class", state.table_class, declared.table_class,
                     self.update(TableClass=declared.table_class))
        if declared.encryption is not None and not self._same_key():
            kind, key = state.encryption
            want = declared.encryption + (f" {declared.kms_key}" if declared.kms_key else "")
            self.add("encryption", "server-side encryption",
                     kind + (f" {key}" if key else ""), want,
                     self.update(SSESpecification=sse_spec(declared)))
        protect = declared.deletion_protection
        if protect is not None and protect != state.deletion_protection:
            self.add("deletion_protection", "deletion protection",
                     _onoff(state.deletion_protection), _onoff(protect),
                     self.update(DeletionProtectionEnabled=protect))

    def _same_key(self) -> bool:
        declared = self.desired.settings
        kind, arn = self.state.encryption
        if declared.encryption != kind:
            return False
        if kind == "AWS_OWNED" or not declared.kms_key or not arn:
            return True
        key = declared.kms_key
        return arn == key or arn.endswith("/" + key) or key.startswith("alias/")

    def tags(self) -> None:
        want, have = self.desired.settings.tags, self.state.tags
        if want is None or have is None:
            return
        put = {k: v for k, v in want.items() if have.get(k) != v}
        drop = sorted(k for k in have if k not in want and not k.startswith("aws:"))
        if not put and not drop:
            return
        steps = []
        if put:
            steps.append(Step("TagResource", {"ResourceArn": self.state.arn, "Tags": [
                {"Key": k, "Value": v} for k, v in sorted(put.items())]}))
        if drop:
            steps.append(Step("UntagResource", {"ResourceArn": self.state.arn,
                                                "TagKeys": drop}))
        self.add("tags", "tags", _tags_words(have), _tags_words(want), *steps)

    def resource_policy(self) -> None:
        want, have = self.desired.settings.resource_policy, self.state.resource_policy
        if want is None or have is None or want == have:
            return
        if not want:
            step = Step("DeleteResourcePolicy", {"ResourceArn": self.state.arn})
        else:
            step = Step("PutResourcePolicy", {"ResourceArn": self.state.arn,
                                              "Policy": json.dumps(want)})
        self.add("resource_policy", "resource policy", _policy_words(have),
                 _policy_words(want), step)


def _throughput(units: tuple[int, int]) -> dict[str, int]:
    return {"ReadCapacityUnits": units[0], "WriteCapacityUnits": units[1]}


def _units_words(units: tuple[int, int] | None) -> str:
    if not units or not units[0]:
        return "on-demand"
    return f"provisioned {units[0]} read / {units[1]} write"


def _maxima_words(maxima: tuple[int, int]) -> str:
    parts = [f"max {n} {what}" for n, what in zip(maxima, ("read", "write"), strict=True)
             if n != UNLIMITED]
    return ", ".join(parts) or "no maxima"


def _policy_words(policy: Any) -> str:
    if not policy:
        return "none"
    count = len(policy.get("Statement") or ())
    return f"{count} statement{'s' if count != 1 else ''}"


def _tags_words(tags: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "none"

