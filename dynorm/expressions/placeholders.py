"""One placeholder allocator per request.

Every attribute name becomes ``#n0``, ``#n1``... and every value ``:v0``, ``:v1``...:
no user string is ever spliced into an expression, so reserved words (``name``,
``status``, ``size``), dots, ``#``, spaces and unicode in names need no special care.

All the expressions of one request (key condition, filter, condition, projection,
update) share one allocator, so ``#n0`` means the same attribute everywhere in it::

    ph = Placeholders()
    key.compile(ph)        # '#n0 = :v0'
    flt.compile(ph)        # '#n1 > :v1'
    ph.to_request()        # {'ExpressionAttributeNames': {'#n0': 'user_id', '#n1': 'age'},
                           #  'ExpressionAttributeValues': {':v0': {'S': 'u1'}, ':v1': {'N': '3'}}}

Placeholders are handed out in the order expressions are compiled, so the same request
always compiles to the same strings. Compile only what you send: DynamoDB rejects
names or values that no expression uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynorm._types import AttributeValue
from dynorm.exceptions import ExpressionError

if TYPE_CHECKING:
    from dynorm.expressions.paths import Path

__all__ = ["Placeholders"]


class Placeholders:
    """Allocates ``#n`` name and ``:v`` value placeholders for one request."""

    __slots__ = ("_names", "_values")

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # attribute name -> placeholder
        self._values: dict[str, AttributeValue] = {}  # placeholder -> value

    def name(self, attr: str) -> str:
        """The placeholder of one attribute name; the same name always gets the same one.

        Raises:
            ExpressionError: the name is empty (DynamoDB rejects empty names).
        """
        ph = self._names.get(attr)
        if ph is None:
            if not attr:
                raise ExpressionError("an attribute name cannot be empty")
            ph = f"#n{len(self._names)}"
            self._names[attr] = ph
        return ph

    def path(self, path: Path) -> str:
        """A document path in placeholders: ``address.city`` -> ``#n0.#n1``, ``tags[2]`` ->
        ``#n2[2]``."""
        out = ""
        for e in path.elements:
            if isinstance(e, int):
                out += f"[{e}]"
            else:
                out += f".{self.name(e)}" if out else self.name(e)
        return out

    def value(self, av: AttributeValue) -> str:
        """A new value placeholder (``:v0``, ``:v1``...) bound to ``av``."""
        ph = f":v{len(self._values)}"
        self._values[ph] = av
        return ph

    @property
    def names(self) -> dict[str, str]:
        """``ExpressionAttributeNames``: placeholder -> attribute name."""
        return {ph: attr for attr, ph in self._names.items()}

    @property
    def values(self) -> dict[str, AttributeValue]:
        """``ExpressionAttributeValues``: placeholder -> value."""
        return dict(self._values)

    def to_request(self) -> dict[str, Any]:
        """The request parameters, omitting empty ones (DynamoDB rejects empty maps)."""
        out: dict[str, Any] = {}
        if self._names:
            out["ExpressionAttributeNames"] = self.names
        if self._values:
            out["ExpressionAttributeValues"] = self.values
        return out

    def __repr__(self) -> str:
        return f"Placeholders(names={len(self._names)}, values={len(self._values)})"
