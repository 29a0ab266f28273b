"""Key conditions: what ``Query`` accepts, checked before anything is sent.

A query names one partition (``==`` on the partition key) and optionally narrows the
sort key with one of ``== < <= > >= between begins_with``, joined by ``&``:

==============================================================  ================================
Python                                                          KeyConditionExpression
==============================================================  ================================
``Score.user_id == "u1"``                                       ``#n0 = :v0``
``(Score.user_id == "u1") & Score.game.begins_with("t")``       ``#n0 = :v0 AND begins_with(#n1, :v1)``
``(Score.game == "tetris") & Score.score.between(10, 20)``      ``#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2``
==============================================================  ================================

Anything else (OR, NOT, IN, contains, a non-key or nested attribute) belongs in a
filter, and [`to_key_condition()`][dynorm.expressions.to_key_condition] says so.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynorm._types import AttributeValue
from dynorm.exceptions import ExpressionError
from dynorm.expressions import _evaluate
from dynorm.expressions._kinds import tag_of
from dynorm.expressions.conditions import (
    And,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    Exists,
    In,
    IsType,
    Not,
    NotExists,
    Or,
)
from dynorm.expressions.operands import Operand, Value
from dynorm.expressions.paths import Path

if TYPE_CHECKING:
    from dynorm.expressions.placeholders import Placeholders

__all__ = ["KeyCondition", "to_key_condition"]

_KEY_TAGS = ("S", "N", "B")
_DESCRIBE: dict[type[Condition], str] = {
    Or: "OR (|)",
    Not: "NOT (~)",
    In: "IN (is_in)",
    Contains: "contains()",
    Exists: "exists()",
    NotExists: "not_exists()",
    IsType: "is_type()",
}

SortCondition = Compare | Between | BeginsWith


@dataclass(frozen=True, slots=True, eq=False)
class KeyCondition:
    """A validated key condition.

    Attributes:
        partition: ``(attribute name, value)`` of the partition-key equality.
        sort: the sort-key condition (``Compare``, ``Between`` or ``BeginsWith`` with the
            sort-key path first and values after), or None.
        index_name: the index queried, or None for the table.
    """

    partition: tuple[str, AttributeValue]
    sort: SortCondition | None = None
    index_name: str | None = None

    def compile(self, ph: Placeholders) -> str:
        """``#n0 = :v0`` or ``#n0 = :v0 AND <sort condition>``."""
        name, av = self.partition
        out = f"{ph.name(name)} = {ph.value(av)}"
        if self.sort is not None:
            out += f" AND {self.sort.compile(ph)}"
        return out

    def paths(self) -> Iterator[Path]:
        """The sort-key path, if any (the partition key is held by name)."""
        if self.sort is not None:
            yield from self.sort.paths()

    def matches(self, item: Mapping[str, AttributeValue]) -> bool:
        """Whether a wire item falls in this key range (DynamoDB semantics)."""
        name, av = self.partition
        got = item.get(name)
        if got is None or not _evaluate.equal(got, av):
            return False
        return self.sort is None or self.sort.matches(item)


def to_key_condition(
    cond: Condition,
    *,
    partition_attr: str,
    sort_attr: str | None,
    index_name: str | None = None,
) -> KeyCondition:
    """Check a condition against the key schema of a table or index.

    Args:
        cond: e.g. ``(Score.game == "tetris") & (Score.score > 10)``.
        partition_attr: the partition key's attribute name.
        sort_attr: the sort key's attribute name, or None.
        index_name: the index being queried, or None for the table (for messages).

    Raises:
        ExpressionError: naming the index and its keys, when the condition is not one
            equality on the partition key plus at most one sort-key condition.
    """
    where = f"index {index_name!r}" if index_name else "the table"
    schema = f"partition key {partition_attr!r}" + (
        f", sort key {sort_attr!r}" if sort_attr else ", no sort key"
    )

    def fail(message: str) -> ExpressionError:
        return ExpressionError(f"key condition for {where} ({schema}): {message}")

    if not isinstance(cond, Condition):
        raise fail(f"expected a condition such as Model.{partition_attr} == value, got {cond!r}")
    partition: tuple[str, AttributeValue] | None = None
    sort: SortCondition | None = None
    for leaf in cond.conditions if isinstance(cond, And) else (cond,):
        if isinstance(leaf, Compare) and isinstance(leaf.left, Value):
            leaf = leaf.flipped()
        if isinstance(leaf, Compare):
            subject = leaf.left
        elif isinstance(leaf, (Between, BeginsWith)):
            subject = leaf.operand if isinstance(leaf, Between) else leaf.path
        else:
            what = _DESCRIBE.get(type(leaf), type(leaf).__name__)
            raise fail(
                f"{what} cannot be used in a key condition, which takes an equality on the "
                "partition key and one of == < <= > >= between begins_with on the sort key, "
                "joined by &; filter with .filter()"
            )
        if not isinstance(subject, Path):
            raise fail(f"{subject.label} cannot be used in a key condition; filter on it")
        if not subject.is_top_level:
            raise fail(f"{str(subject)!r} is a nested path, not a key attribute; filter on it")
        for v in _values(leaf):
            if not isinstance(v, Value):
                raise fail(f"{subject} must be compared with a value, not with {v.label}")
            if tag_of(v.av) not in _KEY_TAGS:
                raise fail(
                    f"{subject} is compared with {v.av!r}; keys are strings, numbers or bytes"
                )
        if subject.name == partition_attr:
            if not (isinstance(leaf, Compare) and leaf.op == "="):
                raise fail(f"the partition key {partition_attr!r} takes only == , got {leaf!r}")
            if partition is not None:
                raise fail(f"more than one condition on the partition key {partition_attr!r}")
            partition = (partition_attr, leaf.right.av)  # type: ignore[attr-defined]
        elif sort_attr is not None and subject.name == sort_attr:
            if sort is not None:
                raise fail(
                    f"more than one condition on the sort key {sort_attr!r}; "
                    "use .between(low, high) for a range"
                )
            if isinstance(leaf, Compare) and leaf.op == "<>":
                raise fail(
                    f"!= cannot be used on the sort key {sort_attr!r}: query the ranges "
                    "below and above the value (< and >) instead"
                )
            sort = leaf
        else:
            raise fail(f"{subject.name!r} is not a key attribute; filter on it with .filter()")
    if partition is None:
        raise fail(
            f"an equality on the partition key is required, e.g. Model.{partition_attr} == value"
        )
    return KeyCondition(partition, sort, index_name)


def _values(leaf: SortCondition) -> tuple[Operand, ...]:
    if isinstance(leaf, Compare):
        return (leaf.right,)
    if isinstance(leaf, Between):
        return (leaf.low, leaf.high)
    return (leaf.prefix,)
