"""The replica changes of a global table (pure: declared `TableSettings` x `TableState`).

DynamoDB (global tables version 2019.11.21) adds and removes replicas with UpdateTable's
``ReplicaUpdates``, one replica per request, the table ACTIVE again between two:

* MREC: ``{"ReplicaUpdates": [{"Create": {"RegionName": "eu-west-1"}}]}`` per Region
  (``MultiRegionConsistency: "EVENTUAL"`` on the first when declared), ``{"Delete":
  ...}`` per Region no longer declared.
* MRSC: one request makes the global table, with every other replica, the witness
  (``GlobalTableWitnessUpdates``) and ``MultiRegionConsistency: "STRONG"``: the table
  must be empty. The consistency mode and the Regions of an MRSC table are fixed once
  made: a different declaration is a blocking change.

``Replicas`` in DescribeTable lists the other Regions' replicas; the Region the plan runs
in is the table itself, so it is left out of both sides of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dynorm.exceptions import DynormError
from dynorm.schema.replicas import replica_words
from dynorm.schema.settings import TableSettings
from dynorm.tables.changes import Change, Step
from dynorm.tables.state import TableState

__all__ = ["FAILED_REPLICA_STATES", "live_replicas", "live_witnesses", "replica_changes"]

#: Replica states that do not end in ACTIVE by waiting: apply() stops on them.
FAILED_REPLICA_STATES = frozenset({
    "CREATION_FAILED", "REGION_DISABLED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS",
    "REPLICATION_NOT_AUTHORIZED", "ARCHIVED",
})

_REMAKE = ("an MRSC table's consistency mode and Regions are fixed when it is made: remove "
           "its replicas and witness (UpdateTable), empty it or make a new table, then apply "
           "again")


def live_replicas(description: Mapping[str, Any] | None, home: str | None
                  ) -> dict[str, str]:
    """Region -> ReplicaStatus of the table's other replicas."""
    return {str(r["RegionName"]): str(r.get("ReplicaStatus") or "ACTIVE")
            for r in (description or {}).get("Replicas") or ()
            if r.get("RegionName") and r["RegionName"] != home}


def live_witnesses(description: Mapping[str, Any] | None) -> dict[str, str]:
    """Region -> status of the table's witnesses (MRSC)."""
    return {str(w["RegionName"]): str(w.get("WitnessStatus") or w.get("ReplicaStatus")
                                      or "ACTIVE")
            for w in (description or {}).get("GlobalTableWitnesses") or ()
            if w.get("RegionName")}


def replica_changes(table: str, settings: TableSettings, state: TableState,
                    home: str | None) -> tuple[list[Change], list[str]]:
    """The changes that give ``table`` its declared replicas, and the status notes.

    Args:
        table: the physical table name.
        settings: the models' merged settings (``replicas`` None: not managed).
        state: the live table (absent: it is about to be created in ``home``).
        home: the Region the plan runs in (the connection's).

    Raises:
        DynormError: replicas are declared but ``home`` is unknown or not among them.
    """
    desc = state.description
    have = live_replicas(desc, home)
    witnesses = live_witnesses(desc)
    mode = str((desc or {}).get("MultiRegionConsistency") or ("EVENTUAL" if have else ""))
    notes = []
    if have or witnesses:
        line = f"{table}: global table ({mode or 'EVENTUAL'}), replicas {replica_words(have)}"
        if witnesses:
            line += f"; witness {replica_words(witnesses)}"
        notes.append(line)
    declared = settings.replicas
    if declared is None:
        return [], notes
    if not home or home not in declared:
        raise DynormError(
            f"table {table!r} declares replicas in {', '.join(declared)}, but the plan runs "
            f"in {home or 'an unknown Region'}: connect to one of them "
            f"(dynorm.connect(region=...)), or add {home or 'it'} to replicas")
    want = [r for r in declared if r != home]
    strong = settings.consistency == "STRONG"
    if strong:
        return _strong(table, settings, want, have, witnesses, mode), notes
    if mode == "STRONG":
        return [_blocking(table, "consistency mode", "STRONG", "EVENTUAL")], notes
    changes = []
    first = not have
    for region in want:
        if region in have:
            continue
        request: dict[str, Any] = {"TableName": table,
                                   "ReplicaUpdates": [_create(settings, region)]}
        if first and settings.consistency == "EVENTUAL":
            request["MultiRegionConsistency"] = "EVENTUAL"
        first = False
        changes.append(Change(
            "replicas", table, f"add replica in {region} (DynamoDB copies every item there)",
            "", region, steps=(Step("UpdateTable", request),)))
    for region in sorted(have):
        if region not in want:
            changes.append(Change(
                "replicas", table, f"remove replica in {region} (deletes that Region's copy)",
                f"{region} {have[region]}", "", steps=(Step("UpdateTable", {
                    "TableName": table,
                    "ReplicaUpdates": [{"Delete": {"RegionName": region}}]}),)))
    return changes, notes


def _strong(table: str, settings: TableSettings, want: list[str], have: dict[str, str],
            witnesses: dict[str, str], mode: str) -> list[Change]:
    witness = settings.witness
    if not have and not witnesses:
        request: dict[str, Any] = {
            "TableName": table,
            "ReplicaUpdates": [_create(settings, r) for r in want],
        }
        if witness:
            request["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": witness}}]
        request["MultiRegionConsistency"] = "STRONG"
        regions = ", ".join(want) + (f" + witness {witness}" if witness else "")
        return [Change("replicas", table,
                       f"make an MRSC global table: replicas in {regions} (the table must "
                       "be empty)", "", regions, steps=(Step("UpdateTable", request),))]
    if mode != "STRONG":
        return [_blocking(table, "consistency mode", mode or "EVENTUAL", "STRONG")]
    if set(have) != set(want) or set(witnesses) != ({witness} if witness else set()):
        current = ", ".join(sorted(have)) + (
            f" + witness {', '.join(sorted(witnesses))}" if witnesses else "")
        declared = ", ".join(want) + (f" + witness {witness}" if witness else "")
        return [_blocking(table, "MRSC Regions", current, declared)]
    return []


def _create(settings: TableSettings, region: str) -> dict[str, Any]:
    """One ``Create`` of ``ReplicaUpdates`` (with the Region's KMS key when declared)."""
    action: dict[str, Any] = {"RegionName": region}
    key = (settings.replica_kms_keys or {}).get(region)
    if key:
        action["KMSMasterKeyId"] = key
    return {"Create": action}


def _blocking(table: str, what: str, current: str, declared: str) -> Change:
    return Change("replicas", table, f"global table {what} (fixed once made)", current,
                  declared, in_place=False, way_out=_REMAKE)
