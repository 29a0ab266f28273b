"""``attr()``: the statically typed way to use a model field in an expression.

On the class, ``User.age`` is an attribute [`Path`][dynorm.expressions.Path] at run time, but
type checkers read it as ``int`` (pydantic declares model fields that way), so ``User.age > 30``
type-checks as ``bool`` and ``User.age.add(5)`` as an error. ``attr(User.age)`` returns the very
same Path at run time, typed for checkers as ``Attr[int]``, whose operators and methods take the
field's own type:

```python
User.query(attr(User.user_id) == "u1").filter(attr(User.age) >= 18)
await user.update(attr(User.age).add(1), attr(User.tags).add({"pro"}))
attr(User.age) > "thirty"      # mypy: unsupported operand types (int field, str value)
```

Both forms build identical expressions; use ``attr()`` where ``mypy --strict`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynorm.exceptions import ExpressionError
from dynorm.expressions.paths import Path

__all__ = ["Attr", "attr"]

T = TypeVar("T")

if TYPE_CHECKING:
    from dynorm.expressions.conditions import Condition
    from dynorm.expressions.operands import Size
    from dynorm.expressions.updates import UpdateAction, UpdateOperand

    class Attr(Path, Generic[T]):
        """A [`Path`][dynorm.expressions.Path] as type checkers see it: operands typed by the
        field's type."""

        def __eq__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def __ne__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def __lt__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def __le__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def __gt__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def __ge__(self, other: T | Attr[T]) -> Condition: ...  # type: ignore[override]
        def between(self, low: T, high: T) -> Condition: ...  # type: ignore[override]
        def is_in(self, *values: T) -> Condition: ...  # type: ignore[override]
        def begins_with(self, prefix: str | bytes) -> Condition: ...  # type: ignore[override]
        def contains(self, value: Any) -> Condition: ...  # type: ignore[override]
        def exists(self) -> Condition: ...  # type: ignore[override]
        def not_exists(self) -> Condition: ...  # type: ignore[override]
        def is_type(self, type_tag: str) -> Condition: ...  # type: ignore[override]
        def size(self) -> Size: ...
        def set(self, value: T | Attr[T] | UpdateOperand) -> UpdateAction: ...  # type: ignore[override]
        def remove(self) -> UpdateAction: ...  # type: ignore[override]
        def add(self, value: T) -> UpdateAction: ...  # type: ignore[override]
        def delete(self, value: T) -> UpdateAction: ...  # type: ignore[override]
        def append(self, values: T) -> UpdateAction: ...  # type: ignore[override]
        def prepend(self, values: T) -> UpdateAction: ...  # type: ignore[override]
        def if_not_exists(self, default: T) -> UpdateOperand: ...  # type: ignore[override]
        def __add__(self, other: T | Attr[T]) -> UpdateOperand: ...  # type: ignore[override]
        def __sub__(self, other: T | Attr[T]) -> UpdateOperand: ...  # type: ignore[override]
        def __getattr__(self, name: str) -> Attr[Any]: ...
        def __getitem__(self, key: int | str) -> Attr[Any]: ...

else:
    Attr = Path


def attr(field: T) -> Attr[T]:
    """The attribute path of a model field, typed by the field's type.

    Args:
        field: a model class attribute such as ``User.age`` or ``User.address.city``.

    Raises:
        ExpressionError: ``field`` is a value, not a class attribute (``user.age``).
    """
    if not isinstance(field, Path):
        raise ExpressionError(
            f"attr() takes a model class attribute such as User.age, got {field!r} "
            "(an instance's value?)"
        )
    return field  # type: ignore[return-value]
