"""Key conditions of a query, checked against the table's or index's key schema.

Conditions on the fields of a key template (``Order.user_id == "u1"``,
``Order.created >= day``) are rewritten into conditions on the template's attribute
(``pk = "USER#u1"``, ``sk BETWEEN "ORDER#2026-11-01" AND "ORDER#\U0010ffff"``). A
range goes into the key only where the placeholder preserves order
([`KeyTemplate.ordered()`][dynorm.schema.templates.KeyTemplate.ordered]: fixed-width datetimes,
dates, UUIDs and zero-padded ints, sortable date specs, a string ending the template);
otherwise the key selects the text before the placeholder and a filter on the field's stored
attribute decides, and a field stored only inside the key is refused with the reason and the
fix.

Pure: no I/O.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from dynorm.exceptions import ExpressionError
from dynorm.expressions import (
    And,
    BeginsWith,
    Between,
    Compare,
    Condition,
    KeyCondition,
    Path,
    Value,
    to_key_condition,
)
from dynorm.schema.meta import IndexMeta, KeyAttr, TableMeta
from dynorm.schema.partial import field_value
from dynorm.schema.shards import ShardedTemplate
from dynorm.schema.templates import MAX_CHAR, KeyTemplate

__all__ = ["key_query"]


def key_query(
    meta: TableMeta, index: IndexMeta | None, conditions: Sequence[Condition],
    shard: int = 0,
) -> tuple[KeyCondition, list[Condition]]:
    """Validate the key conditions of a query on the table or an index; return the key
    condition and the filters that make it exact.

    Conditions on the fields of a key template (``Order.user_id == "u1"``) are
    compiled into conditions on the template's attribute (``pk = "USER#u1"``).

    A field placed in a key with a lossy format (``{created:%Y-%m-%d}``) narrows the key
    range only to its precision (the day); the original condition on the stored field
    then goes into the filter, so ``created >= t`` means exactly that.

    On a sharded index (``GlobalIndex(..., shards=N)``), the conditions name the logical
    key (``Score.game == "tetris"``) and the key condition selects shard ``shard``
    (``game_shard = "tetris#3"``): a scatter-gather read asks for each.
    """
    partition = index.partition if index else meta.partition
    sort = index.sort if index else meta.sort
    constant = partition.template is not None and not _inputs(partition.template)
    if not conditions and not constant:
        raise ExpressionError("a query needs a key condition, e.g. Model.pk == value")
    exact: list[Condition] = []
    if partition.template is not None or (sort is not None and sort.template is not None):
        exact = [
            leaf for leaf in _leaves(conditions)
            for k in (partition, sort)
            if k is not None and k.template is not None
            and (field := _leaf_field(leaf)) in _inputs(k.template)
            and not k.template.lossless(field)
        ]
        conditions, filters = _template_conditions(meta, partition, sort, index, conditions,
                                                   shard)
        exact += [f for f in filters if all(f is not e for e in exact)]
        if exact and index is not None and index.projection_type != "ALL":
            _check_projected(meta, index, exact)
    combined = conditions[0]
    for cond in conditions[1:]:
        combined = combined & cond
    key = to_key_condition(
        combined,
        partition_attr=partition.attr,
        sort_attr=sort.attr if sort else None,
        index_name=index.name if index else None,
    )
    return key, exact


def _check_projected(meta: TableMeta, index: IndexMeta, filters: list[Condition]) -> None:
    """A filter on an attribute the index does not hold would drop every item: refuse."""
    projected = set(index.projection_attrs)
    for cond in filters:
        for path in cond.paths():
            if path.name not in projected:
                field = path.field or path.name
                raise ExpressionError(
                    f"{meta.model_name}.{index.name}: this condition on {field} needs a filter "
                    f"on the stored {field} (the index key holds it only in part or out of "
                    f"order), but index {index.name!r} projects {index.projection_type} "
                    f"without it, so the filter would drop every item. Fix: project it "
                    f"(Projection.include({field!r}, ...)) or declare a key spec that keeps "
                    "its order"
                )


def _leaves(conditions: Sequence[Condition]) -> list[Condition]:
    out: list[Condition] = []
    for cond in conditions:
        out.extend(_leaves(cond.conditions) if isinstance(cond, And) else [cond])
    return out


def _leaf_field(leaf: Condition) -> str | None:
    subject = leaf.left if isinstance(leaf, Compare) else (
        leaf.operand if isinstance(leaf, Between) else (
            leaf.path if isinstance(leaf, BeginsWith) else None))
    if isinstance(subject, Path) and subject.is_top_level:
        return subject.field
    return None


def _inputs(template: KeyTemplate) -> tuple[str, ...]:
    """The fields a query gives for a key template (a sharded key's logical fields)."""
    if isinstance(template, ShardedTemplate):
        return template.logical_fields
    return template.fields


def _template_conditions(meta: TableMeta, partition: KeyAttr, sort: KeyAttr | None,
                         index: IndexMeta | None, conditions: Sequence[Condition],
                         shard: int = 0) -> tuple[list[Condition], list[Condition]]:
    """Rewrite conditions on template fields into conditions on the key attributes; also
    return the filters that serve a range the key's text order cannot."""
    where = f"{meta.model_name}" + (f".{index.name}" if index else "")
    leaves = _leaves(conditions)
    by_field: dict[str, list[Condition]] = {}
    passthrough: list[Condition] = []
    template_fields = {f for k in (partition, sort) if k is not None and k.template
                       for f in _inputs(k.template)}
    for leaf in leaves:
        field = _leaf_field(leaf)
        if field is not None and field in template_fields:
            by_field.setdefault(field, []).append(leaf)
        else:
            passthrough.append(leaf)
    for field, found in by_field.items():
        if len(found) > 1:
            raise ExpressionError(f"{where}: more than one key condition on {field!r}")
    out = passthrough
    if partition.template is not None:
        values = {}
        for f in _inputs(partition.template):
            given = by_field.pop(f, [])
            equal = given[0] if given else None
            if not (isinstance(equal, Compare) and equal.op == "="
                    and isinstance(equal.right, Value)):
                raise ExpressionError(
                    f"{where}: the partition key {partition.attr!r} = "
                    f"{partition.template.template!r} needs {f} == value"
                )
            values[f] = _python(meta, f, equal.right.av)
        if isinstance(partition.template, ShardedTemplate):
            logical = partition.template.logical(values)
            out.append(_key_path(partition) == f"{logical}#{shard}")
        else:
            out.append(_key_path(partition) == partition.template.fill(values))
    filters: list[Condition] = []
    if sort is not None and sort.template is not None:
        cond, filters = _sort_condition(meta, where, sort, by_field)
        if cond is not None:
            out.append(cond)
    if by_field:
        raise ExpressionError(f"{where}: {', '.join(by_field)} is not part of this key")
    return out, filters


def _sort_condition(meta: TableMeta, where: str, sort: KeyAttr,
                    by_field: dict[str, list[Condition]]
                    ) -> tuple[Condition | None, list[Condition]]:
    """The condition on the sort key, and the filters a range needs when the key's text
    order cannot serve it."""
    template = sort.template
    assert template is not None
    path = _key_path(sort)
    fields = template.fields
    fixed: dict[str, Any] = {}
    for i, f in enumerate(fields):
        found = by_field.pop(f, None)
        if found is None:
            later = [g for g in fields[i + 1:] if g in by_field]
            if later:
                raise ExpressionError(
                    f"{where}: a condition on {', '.join(later)} needs {f} == value first "
                    f"(sort key {sort.attr!r} = {template.template!r})"
                )
            prefix = template.prefix(fixed, i)
            return (path.begins_with(prefix) if prefix else None), []
        leaf = found[0]
        if isinstance(leaf, Compare) and leaf.op == "=" and isinstance(leaf.right, Value):
            fixed[f] = _python(meta, f, leaf.right.av)
            continue
        later = [g for g in fields[i + 1:] if g in by_field]
        if later:
            raise ExpressionError(
                f"{where}: {', '.join(later)} cannot be used after a range on {f} "
                f"(sort key {sort.attr!r} = {template.template!r})"
            )
        return _range(meta, where, sort, f, i, template.prefix(fixed, i), leaf)
    return path == template.fill(fixed), []


def _range(meta: TableMeta, where: str, sort: KeyAttr, field: str, index: int, prefix: str,
           leaf: Condition) -> tuple[Condition | None, list[Condition]]:
    """A range (or begins_with) on one placeholder: on the key where its text order is the
    field's order; otherwise the key selects the prefix and a filter on the stored field
    decides; a field stored only inside the key is then refused."""
    template = sort.template
    assert template is not None
    path = _key_path(sort)
    stored = field not in meta.recovered
    tp = template.python_types.get(field)
    spec = f"sort key {sort.attr!r} = {template.template!r}"

    def filtered(why: str, fix: str) -> tuple[Condition | None, list[Condition]]:
        if stored:  # exact: the filter compares the field's own attribute
            return (path.begins_with(prefix) if prefix else None), [leaf]
        raise ExpressionError(
            f"{where}: a range on {field} cannot be served by the key: {why} in {spec}; "
            f"{field} is stored only inside the key, so no filter can check it either. "
            f"Fix: {fix}, or declare the model with store_key_fields=True (dynorm then "
            "filters on the stored field)"
        )

    if isinstance(leaf, BeginsWith):
        if tp is not str:
            raise ExpressionError(
                f"{where}: {field} is not a string, so begins_with cannot be mapped in {spec}; "
                "compare it with a range instead"
            )
        if not template.lossless(field):
            return filtered("its format spec changes the text", "drop the format spec")
        after = _literal_after(template, index)
        if after[:1].isalnum():  # "S#{s}X#{t}": s == "a" also begins with "aX"
            return filtered(f"the text after it, {after!r}, starts with a letter or digit "
                            "that a value can hold", f"start the text after {{{field}}} "
                            "with a separator such as '#'")
        # escaping is a prefix code, and a value never holds the separator that follows
        # it unescaped: the key begins with the escaped prefix exactly when the value does
        return path.begins_with(prefix + template.format_value(field, leaf.prefix.av["S"])), []
    if isinstance(leaf, Between) and isinstance(leaf.low, Value) and isinstance(leaf.high, Value):
        op = "between"
        bounds = [_python(meta, field, leaf.low.av), _python(meta, field, leaf.high.av)]
    elif isinstance(leaf, Compare) and isinstance(leaf.right, Value) and leaf.op in _RANGES:
        op, bounds = leaf.op, [_python(meta, field, leaf.right.av)]
    else:
        raise ExpressionError(f"{where}: condition {leaf!r} on {field} cannot be a key condition "
                              f"in {spec}; compare it in .filter() instead")
    if not template.ordered(field):
        return filtered(*_unordered(template, field, index))
    if not all(template.orderable_bound(field, b) for b in bounds):
        return filtered(
            "the bound holds characters whose escape in the key sorts elsewhere "
            f"({', '.join(sorted(template.specials))} and those between them and '%')",
            "compare against a bound without them")
    if op == "between" and bounds[0] > bounds[1]:
        return path == prefix + MAX_CHAR, []  # an empty range: select nothing
    width = template.width(field)
    if width is not None:
        clamped = _clamp(op, bounds, 10**width - 1)
        if clamped is None:  # no value of the placeholder can satisfy it: select nothing
            return path == prefix + MAX_CHAR, []
        op, bounds = clamped
    return _key_range(template, field, index, prefix, path, op, bounds), []


_RANGES = ("<", "<=", ">", ">=")


def _literal_after(template: KeyTemplate, index: int) -> str:
    """The literal text right after placeholder number ``index`` ("" at the end)."""
    at = template.parts.index(template.placeholders[index])
    following = template.parts[at + 1] if at + 1 < len(template.parts) else ""
    return following if isinstance(following, str) else ""


def _unordered(template: KeyTemplate, field: str, index: int) -> tuple[str, str]:
    """Why the key's text order is not the field's order, and what would fix it."""
    tp = template.python_types.get(field)
    spec = template.placeholders[index].spec
    if tp is int and not spec:
        return ("an unpadded int sorts as text ('10' < '9')",
                f"declare a zero-padded spec such as {{{field}:08d}}")
    if tp in (_dt.datetime, _dt.date):
        return (f"the date format {spec!r} does not go from year down to microsecond in fixed "
                "width", f"declare a sortable spec such as {{{field}:%Y-%m-%d}}")
    if tp is str and template.lossless(field):
        return ("a string followed by more of the key does not sort as itself ('a#' > 'a!#')",
                f"put {{{field}}} last in the template")
    name = getattr(tp, "__name__", tp)
    return (f"{name} {{{field}{':' + spec if spec else ''}}} does not sort as text",
            "compare it with == only")


def _clamp(op: str, bounds: list[Any], top: int) -> tuple[str, list[Any]] | None:
    """A range on a zero-padded int, within the values it can hold (0 .. top); None when
    no such value satisfies it."""
    if op == "between":
        low, high = max(bounds[0], 0), min(bounds[1], top)
        return ("between", [low, high]) if low <= high else None
    value = bounds[0]
    if op in (">", ">="):
        if value > top or (op == ">" and value == top):
            return None
        return (op, [value]) if value >= 0 else (">=", [0])
    if value < 0 or (op == "<" and value == 0):
        return None
    return (op, [value]) if value <= top else ("<=", [top])


def _key_range(template: KeyTemplate, field: str, index: int, prefix: str, path: Path,
               op: str, bounds: list[Any]) -> Condition:
    """The key condition of an order-preserving placeholder's range."""
    last = index == len(template.fields) - 1 and not isinstance(template.parts[-1], str)
    fixed = template.fixed_width(field)
    texts = [prefix + template.format_value(field, b) for b in bounds]
    if op == "between":
        return path.between(texts[0], texts[1] if last else texts[1] + MAX_CHAR)
    text = texts[0]
    if not template.lossless(field):
        # The key holds the value only to the format's precision: take the whole unit
        # (e.g. the day) here; the exact comparison goes into the filter (key_query).
        op = {"<": "<=", ">": ">="}.get(op, op)
    # Every range is closed at both ends by the text before the placeholder, so no item
    # of another prefix (another day, another entity) can slip in.
    if op == ">=":
        return path.between(text, prefix + MAX_CHAR)
    if op == ">" and last:
        return path.between(text + "\x00", prefix + MAX_CHAR)  # the next string after text
    if op == ">":
        return path.between(text + MAX_CHAR, prefix + MAX_CHAR)
    if op == "<=":
        return path.between(prefix, text if last else text + MAX_CHAR)
    if fixed and not last:
        return path.between(prefix, text)
    if text == prefix:  # "< empty string": nothing is below it
        return path == prefix + MAX_CHAR
    return path.between(prefix, _just_below(text))


def _just_below(text: str) -> str:
    """The greatest key below ``text`` that a stored key can be (for a strict ``<``).

    Assumes, as every prefix range here does, that stored keys do not contain
    U+10FFFF (a Unicode noncharacter).
    """
    last = ord(text[-1])
    if last == 0:
        return text[:-1]
    below = last - 1
    if 0xD800 <= below <= 0xDFFF:  # surrogates cannot be stored: step over them
        below = 0xD7FF
    return text[:-1] + chr(below) + MAX_CHAR


def _key_path(key: KeyAttr) -> Path:
    return Path((key.attr,), key.codec, None, None)


def _python(meta: TableMeta, field: str, av: Any) -> Any:
    """A key-condition literal back as the field's Python value (to format it)."""
    return field_value(meta.codec.cls, field, av)
