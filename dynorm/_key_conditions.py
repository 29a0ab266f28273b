"""Key conditions of a query, checked against the table's or index's key schema.

Conditions on the fields of a key template (``Order.user_id == "u1"``,
``Order.created >= day``) are rewritten into conditions on the template's attribute
(``pk = "USER#u1"``, ``sk BETWEEN "ORDER#2026-11-01" AND "ORDER#\U0010ffff"``). A
range is only mapped where it is exact: on the last placeholder of the template, or
on a fixed-width one (datetimes, dates, UUIDs, zero-padded ints); otherwise the
error says why and points to ``.filter()``.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynorm._meta import IndexMeta, KeyAttr, TableMeta
from dynorm._partial import field_value
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
from dynorm.templates import MAX_CHAR

__all__ = ["key_query"]


def key_query(
    meta: TableMeta, index: IndexMeta | None, conditions: Sequence[Condition]
) -> tuple[KeyCondition, list[Condition]]:
    """Validate the key conditions of a query on the table or an index; return the key
    condition and the filters that make it exact.

    Conditions on the fields of a key template (``Order.user_id == "u1"``) are
    compiled into conditions on the template's attribute (``pk = "USER#u1"``).

    A field placed in a key with a lossy format (``{created:%Y-%m-%d}``) narrows the key
    range only to its precision (the day); the original condition on the stored field
    then goes into the filter, so ``created >= t`` means exactly that.
    """
    partition = index.partition if index else meta.partition
    sort = index.sort if index else meta.sort
    constant = partition.template is not None and not partition.template.fields
    if not conditions and not constant:
        raise ExpressionError("a query needs a key condition, e.g. Model.pk == value")
    exact: list[Condition] = []
    if partition.template is not None or (sort is not None and sort.template is not None):
        exact = [
            leaf for leaf in _leaves(conditions)
            for k in (partition, sort)
            if k is not None and k.template is not None
            and (field := _leaf_field(leaf)) in k.template.fields
            and not k.template.lossless(field)
        ]
        conditions = _template_conditions(meta, partition, sort, index, conditions)
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


def _template_conditions(meta: TableMeta, partition: KeyAttr, sort: KeyAttr | None,
                         index: IndexMeta | None, conditions: Sequence[Condition]
                         ) -> list[Condition]:
    """Rewrite conditions on template fields into conditions on the key attributes."""
    where = f"{meta.model_name}" + (f".{index.name}" if index else "")
    leaves = _leaves(conditions)
    by_field: dict[str, list[Condition]] = {}
    passthrough: list[Condition] = []
    template_fields = {f for k in (partition, sort) if k is not None and k.template
                       for f in k.template.fields}
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
        for f in partition.template.fields:
            given = by_field.pop(f, [])
            equal = given[0] if given else None
            if not (isinstance(equal, Compare) and equal.op == "="
                    and isinstance(equal.right, Value)):
                raise ExpressionError(
                    f"{where}: the partition key {partition.attr!r} = "
                    f"{partition.template.template!r} needs {f} == value"
                )
            values[f] = _python(meta, f, equal.right.av)
        out.append(_key_path(partition) == partition.template.fill(values))
    if sort is not None and sort.template is not None:
        cond = _sort_condition(meta, where, sort, by_field)
        if cond is not None:
            out.append(cond)
    if by_field:
        raise ExpressionError(f"{where}: {', '.join(by_field)} is not part of this key")
    return out


def _sort_condition(meta: TableMeta, where: str, sort: KeyAttr,
                    by_field: dict[str, list[Condition]]) -> Condition | None:
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
            return path.begins_with(prefix) if prefix else None
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
    return path == template.fill(fixed)


def _range(meta: TableMeta, where: str, sort: KeyAttr, field: str, index: int, prefix: str,
           leaf: Condition) -> Condition:
    template = sort.template
    assert template is not None
    path = _key_path(sort)
    last = index == len(template.fields) - 1 and not isinstance(template.parts[-1], str)
    fixed = template.fixed_width(field)

    def fmt(av: Any) -> str:
        return prefix + template.format_value(field, _python(meta, field, av))

    def refuse(why: str) -> ExpressionError:
        return ExpressionError(
            f"{where}: {field} {why} in sort key {sort.attr!r} = {template.template!r}; "
            "compare it in .filter() instead"
        )

    if isinstance(leaf, BeginsWith):
        if template.python_types.get(field) is not str:
            raise refuse("is not a string, so begins_with cannot be mapped")
        return path.begins_with(prefix + template.format_value(field, leaf.prefix.av["S"]))
    if isinstance(leaf, Between) and isinstance(leaf.low, Value) and isinstance(leaf.high, Value):
        if last:
            return path.between(fmt(leaf.low.av), fmt(leaf.high.av))
        if fixed:
            return path.between(fmt(leaf.low.av), fmt(leaf.high.av) + MAX_CHAR)
        raise refuse("has no fixed width and is not last, so a range on it is inexact")
    if not (isinstance(leaf, Compare) and isinstance(leaf.right, Value)):
        raise refuse(f"condition {leaf!r} cannot be a key condition")
    op, text = leaf.op, fmt(leaf.right.av)
    if not template.lossless(field):
        # The key holds the value only to the format's precision: take the whole unit
        # (e.g. the day) here; the exact comparison goes into the filter (key_query).
        op = {"<": "<=", ">": ">="}.get(op, op)
    # Every range is closed at both ends by the text before the placeholder, so no item
    # of another prefix (another day, another entity) can slip in.
    if op == ">=" and (last or fixed):
        return path.between(text, prefix + MAX_CHAR)
    if op == ">" and last:
        return path.between(text + "\x00", prefix + MAX_CHAR)  # the next string after text
    if op == ">" and fixed:
        return path.between(text + MAX_CHAR, prefix + MAX_CHAR)
    if op == "<=" and last:
        return path.between(prefix, text)
    if op == "<=" and fixed:
        return path.between(prefix, text + MAX_CHAR)
    if op == "<" and fixed and not last:
        return path.between(prefix, text)
    if op == "<" and last and text != prefix:
        return path.between(prefix, _just_below(text))
    raise refuse(f"{op} cannot be expressed exactly as one key condition")


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
