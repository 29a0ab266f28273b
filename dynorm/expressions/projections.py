"""``ProjectionExpression``: which attributes a read returns.

``compile_projection([User.name, User.address.city, User.tags[0]], ph)``
-> ``#n0, #n1.#n2, #n3[0]``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dynorm.exceptions import ExpressionError
from dynorm.expressions._kinds import covers
from dynorm.expressions.paths import Path

if TYPE_CHECKING:
    from dynorm.expressions.placeholders import Placeholders

__all__ = ["compile_projection"]


def compile_projection(paths: Sequence[Path], ph: Placeholders) -> str:
    """The comma-separated placeholder paths, in the order given.

    Duplicates are dropped, and so is a path inside another one in the list
    (``address.city`` next to ``address``): DynamoDB rejects overlapping paths and the
    outer one already returns it.

    Raises:
        ExpressionError: no paths, or something that is not a path.
    """
    if not paths:
        raise ExpressionError("a projection needs at least one attribute")
    for p in paths:
        if not isinstance(p, Path):
            raise ExpressionError(f"a projection lists attribute paths, got {p!r}")
    kept: list[Path] = []
    for i, p in enumerate(paths):
        shadowed = any(
            covers(q.elements, p.elements)
            and (q.elements != p.elements or j < i)  # an identical path: keep the first
            for j, q in enumerate(paths)
            if j != i
        )
        if not shadowed:
            kept.append(p)
    return ", ".join(ph.path(p) for p in kept)
