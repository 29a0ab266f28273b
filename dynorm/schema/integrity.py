"""Key integrity on partial updates (single-table design).

An update that changes a field feeding an index key template also rewrites that
index key in the same UpdateExpression (``SET gsi1pk = :v``, or ``REMOVE`` when an
input becomes None, which takes the item out of a sparse index). Inputs the update
does not set come from what is known without reading: the key's own fields, or a
loaded instance's values -- in which case a condition guards that they are still
what the new key was computed from. An input nobody knows is an error naming it.

An update that may create the item (an upsert) also writes every index key whose
inputs are all known, as ``save()`` would have: the item it creates is in the same
indexes as one saved with those values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynorm.exceptions import ExpressionError
from dynorm.expressions import Condition, Path, RemoveAction, SetAction, UpdateAction, Value
from dynorm.schema.meta import TableMeta
from dynorm.schema.partial import field_value

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["derived_key_actions"]


def derived_key_actions(
    cls: type[Model], meta: TableMeta, actions: tuple[UpdateAction, ...],
    known: Mapping[str, Any], loaded: bool, *, creating: bool = False,
) -> tuple[list[UpdateAction], Condition | None]:
    """Keep index keys computed by templates in step with the fields they come from.

    An update that changes an input of an index key template also SETs (or, when an
    input becomes None, REMOVEs) that index key in the same UpdateExpression. With
    ``creating`` (an upsert), index keys computable from ``known`` alone are SET too.
    """
    index_keys = [k for k in meta.derived if k.template is not None and not k.template.role]
    if not index_keys:
        return [], None
    changed: dict[str, Any] = {}
    for action in actions:
        field = action.path.field
        feeds = [k for k in index_keys if field in k.template.fields]  # type: ignore[union-attr]
        if field is None or not feeds:
            continue
        label = f"{cls.__name__}.{field}"
        uses = ", ".join(f"{k.attr} = {k.template.template!r}" for k in feeds)  # type: ignore[union-attr]
        if not action.path.is_top_level:
            raise ExpressionError(f"{label} feeds index key(s) {uses}: set it as a whole")
        if isinstance(action, RemoveAction):
            changed[field] = None
        elif isinstance(action, SetAction) and isinstance(action.value, Value):
            changed[field] = field_value(cls, field, action.value.av)
        else:
            raise ExpressionError(
                f"{label} feeds index key(s) {uses}: only set(value) or remove() let "
                "dynorm rewrite them in the same update"
            )
    extra: list[UpdateAction] = []
    guards: list[Condition] = []
    for k in index_keys:
        template = k.template
        assert template is not None
        if not any(f in changed for f in template.fields):
            if creating and all(known.get(f) is not None for f in template.fields):
                text = template.fill({f: known[f] for f in template.fields})
                if text is not None:
                    extra.append(Path((k.attr,), k.codec, cls, None).set(text))
            continue
        values: dict[str, Any] = {}
        missing = []
        for f in template.fields:
            if f in changed:
                values[f] = changed[f]
            elif f in known:
                values[f] = known[f]
                if loaded and f not in meta.recovered:
                    path = cls.__dynorm_paths__[f]
                    guards.append(path.not_exists() if known[f] is None else path == known[f])
            else:
                missing.append(f)
        if missing:
            raise ExpressionError(
                f"{cls.__name__}: this update changes {', '.join(sorted(changed))}, which "
                f"feeds index key {k.attr} = {template.template!r}; that key also needs "
                f"{', '.join(missing)}: set those too, or update a loaded instance"
            )
        text = template.fill(values)
        path = Path((k.attr,), k.codec, cls, None)
        extra.append(path.remove() if text is None else path.set(text))
    guard: Condition | None = None
    for g in guards:  # the values the new index keys were computed from are still true
        guard = g if guard is None else guard & g
    return extra, guard
