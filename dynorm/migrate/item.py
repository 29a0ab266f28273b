"""One item of a migration: the conditional UpdateItem that changes it at most once (pure).

The change is written as the difference between the item as read and as the migration
function returns it (re-encoded by the model, derived keys included), with a condition
that every attribute it touches still holds what was read and that the item does not carry
the migration's marker yet; the same request adds the marker. So:

* an item is changed at most once per migration, whatever crashes and restarts happen
  (a restart finds the marker and skips it);
* a concurrent write to an attribute the migration changes makes the condition fail (the
  item is read again and migrated afresh), and writes to other attributes are kept;
* attributes the model does not declare (older fields, other tools' data) are never
  removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dynorm._types import AttributeValue, Item, Request
from dynorm.schema.meta import TableMeta

__all__ = ["MARKER", "ItemChange", "KeyChanged", "item_change"]

MARKER = "_migrations"
"""The attribute holding the ids of the migrations applied to an item (a string set)."""


@dataclass(frozen=True)
class ItemChange:
    """What to write for one item.

    Attributes:
        key: the item's key.
        set: attributes to set (new or changed), wire form.
        remove: model attributes the new version no longer has.
        before: the values read of the attributes touched (``None``: it was absent).
        read: the values read of the item's other attributes, guarded too (an item
            upgraded from an older schema version: every attribute was the upgrade's
            input); empty otherwise.
    """

    key: Item
    set: dict[str, AttributeValue]
    remove: tuple[str, ...]
    before: dict[str, AttributeValue | None]
    read: dict[str, AttributeValue] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.set and not self.remove

    def request(self, table: str, migration_id: str, *, marker: str = MARKER) -> Request:
        """The UpdateItem request: the change plus the marker, conditioned as the module
        says."""
        names: dict[str, str] = {"#m": marker}
        values: dict[str, AttributeValue] = {":id": {"S": migration_id},
                                              ":ids": {"SS": [migration_id]}}
        sets, conditions = [], ["NOT contains(#m, :id)"]
        for i, attr in enumerate(self.key):
            names[f"#k{i}"] = attr
            conditions.append(f"attribute_exists(#k{i})")
        for i, (attr, value) in enumerate(sorted(self.set.items())):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
            conditions.append(self._was(f"#s{i}", f":b{i}", self.before.get(attr), values))
        removes = []
        for i, attr in enumerate(self.remove):
            names[f"#r{i}"] = attr
            removes.append(f"#r{i}")
            conditions.append(self._was(f"#r{i}", f":o{i}", self.before.get(attr), values))
        for i, (attr, value) in enumerate(sorted(self.read.items())):
            names[f"#g{i}"] = attr
            conditions.append(self._was(f"#g{i}", f":g{i}", value, values))
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD #m :ids"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return {
            "TableName": table,
            "Key": self.key,
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    @staticmethod
    def _was(name: str, placeholder: str, before: AttributeValue | None,
             values: dict[str, AttributeValue]) -> str:
        if before is None:
            return f"attribute_not_exists({name})"
        values[placeholder] = before
        return f"{name} = {placeholder}"


class KeyChanged(ValueError):
    """The migration function changed the item's key (a migration cannot move items)."""


def item_change(meta: TableMeta, old: Mapping[str, AttributeValue], new: Item, *,
                upgraded: bool = False) -> ItemChange:
    """The difference between an item as read (``old``) and its new encoding (``new``).

    Only the model's own attributes (fields, derived keys, the entity marker) are
    compared: anything else the stored item holds is left alone. ``upgraded``: ``old``
    was of an older schema version, read through its upgrades, which may have read any
    of its attributes: each is guarded to still hold what was read (a write by the
    previous release meanwhile makes the migration read the item again).

    Raises:
        KeyChanged: the new version has another key.
    """
    key = {k.attr: old[k.attr] for k in meta.key_attrs if k.attr in old}
    for k in meta.key_attrs:
        if new.get(k.attr) != old.get(k.attr):
            raise KeyChanged(
                f"{meta.model_name}: the migration changed the key {k.attr!r} "
                f"({old.get(k.attr)} -> {new.get(k.attr)}); a migration changes items in "
                "place: write the new items and delete the old ones instead")
    own = {f.attr for f in meta.codec.fields.values()} | {k.attr for k in meta.derived}
    if meta.entity:
        own.add(meta.entity_attr)
    keys = {k.attr for k in meta.key_attrs}
    changed = {a: v for a, v in new.items() if a not in keys and old.get(a) != v}
    removed = tuple(sorted(a for a in own - keys if a in old and a not in new))
    before = {a: old.get(a) for a in (*changed, *removed)}
    read: dict[str, AttributeValue] = {}
    if upgraded:
        read = {a: v for a, v in old.items()
                if a not in keys and a not in before and a != MARKER}
    return ItemChange(key, changed, removed, before, read)
