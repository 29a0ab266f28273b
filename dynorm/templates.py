"""Key templates for single-table design: ``"USER#{user_id}"``, ``"ORDER#{created:%Y-%m-%d}#{id}"``.

A template derives a physical key attribute (``pk``, ``sk``, ``gsi1pk``...) from model
fields. It is filled on write and parsed back on read. Values are escaped so that the
template's own literal characters (and ``%``) inside a value cannot be mistaken for a
separator: ``"a#b"`` in ``"USER#{id}"`` is written ``USER#a%23b`` and read back as
``a#b``. Escaping changes the sort order only for values that contain those characters.

Placeholders take an optional format spec: ``strftime`` codes for datetimes and dates
(the datetime is converted to UTC first), Python format specs for numbers
(``{rank:08d}`` makes ints sort as text). A datetime without a spec uses dynorm's
fixed-width ISO form (``2026-11-25T01:38:29.000000Z``).

Pure: no models, no I/O.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dynorm._codec import format_datetime
from dynorm.exceptions import InvalidKey, SchemaError

__all__ = ["MAX_CHAR", "KeyTemplate", "Placeholder"]

#: Sorts after every character DynamoDB can store: the upper end of a prefix range.
MAX_CHAR = "\U0010ffff"

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
_ZERO_PADDED = re.compile(r"0\d+d")


class Placeholder:
    """One ``{field:spec}`` of a template."""

    __slots__ = ("field", "spec")

    def __init__(self, field: str, spec: str) -> None:
        self.field = field
        self.spec = spec

    def __repr__(self) -> str:
        return "{" + self.field + (":" + self.spec if self.spec else "") + "}"


class KeyTemplate:
    """A key attribute computed from fields, e.g. ``KeyTemplate("USER#{user_id}")``.

    Table keys are declared as class attributes, the attribute's name being the wire
    attribute: ``pk = PartitionKey("USER#{user_id}")``, ``sk = SortKey("PROFILE")``.
    Index keys name their attribute: ``GlobalIndex(partition_key=KeyTemplate(
    "STATUS#{status}", attribute="gsi1pk"), ...)``.

    Args:
        template: literal text with ``{field}`` / ``{field:spec}`` placeholders.
        attribute: the wire attribute name (required for index keys).
    """

    def __init__(self, template: str, *, attribute: str | None = None, role: str = "") -> None:
        if not isinstance(template, str) or not template:
            raise SchemaError(f"a key template must be a non-empty string, got {template!r}")
        self.template = template
        self.attribute = attribute
        self.role = role  # "partition" / "sort" for table keys, "" for index keys
        self.parts: list[str | Placeholder] = []
        pos = 0
        for match in _FIELD.finditer(template):
            if match.start() > pos:
                self.parts.append(template[pos : match.start()])
            self.parts.append(Placeholder(match.group(1), match.group(2) or ""))
            pos = match.end()
        if pos < len(template):
            self.parts.append(template[pos:])
        for a, b in zip(self.parts, self.parts[1:], strict=False):
            if isinstance(a, Placeholder) and isinstance(b, Placeholder):
                raise SchemaError(
                    f"key template {template!r}: {a!r} and {b!r} need literal text between "
                    "them, or values could not be told apart when the key is read back"
                )
        if any(isinstance(p, str) and ("{" in p or "}" in p) for p in self.parts):
            raise SchemaError(f"key template {template!r}: unbalanced or malformed braces")
        self.placeholders = [p for p in self.parts if isinstance(p, Placeholder)]
        self.fields = tuple(p.field for p in self.placeholders)
        if len(set(self.fields)) != len(self.fields):
            raise SchemaError(f"key template {template!r} names a field twice")
        # Values escape "%" and every non-alphanumeric character of the literals, so a
        # separator such as "#" inside a value can never end the value early.
        specials = {"%"} | {
            c for p in self.parts if isinstance(p, str) for c in p if not c.isalnum()
        }
        for part in self.parts[1:-1]:
            if isinstance(part, str) and all(c.isalnum() for c in part):
                raise SchemaError(
                    f"key template {template!r}: the text {part!r} between placeholders needs "
                    "a separator character such as '#' so values can be told apart"
                )
        self._escape = {c: f"%{ord(c):02X}" if ord(c) < 256 else f"%u{ord(c):04X}"
                        for c in specials}
        self._regex = re.compile(
            "".join(
                re.escape(p) if isinstance(p, str)
                else ("(.*)" if p is self.placeholders[-1] else "(.*?)")
                for p in self.parts
            ),
            re.DOTALL,
        )
        self.python_types: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"KeyTemplate({self.template!r}, attribute={self.attribute!r})"

    def __set_name__(self, owner: type, name: str) -> None:
        if self.attribute is None:
            self.attribute = name

    # ------------------------------------------------------------------ declaration

    def bind(self, model: str, types: Mapping[str, Any]) -> None:
        """Check the placeholders against the model's field types (at class creation)."""
        for p in self.placeholders:
            if p.field not in types:
                raise SchemaError(
                    f"{model}: key template {self.template!r} names {p.field!r}, which is not "
                    f"a field (fields: {', '.join(types)})"
                )
            tp = _base_type(types[p.field])
            if tp is bool or tp is float or tp is None:
                raise SchemaError(
                    f"{model}.{p.field}: a {getattr(tp, '__name__', tp)} field cannot be part "
                    f"of key template {self.template!r} (use str, int, Decimal, datetime, date, "
                    "UUID or an Enum)"
                )
            if p.spec:
                try:
                    _format(_sample(tp), p.spec)
                except (ValueError, TypeError) as exc:
                    raise SchemaError(
                        f"{model}.{p.field}: bad format spec {p.spec!r} in {self.template!r}: "
                        f"{exc}"
                    ) from None
            self.python_types[p.field] = tp

    def lossless(self, field: str) -> bool:
        """True when the field's value can be recovered exactly from the key text."""
        p = next(p for p in self.placeholders if p.field == field)
        tp = self.python_types.get(field)
        return not (p.spec and tp in (_dt.datetime, _dt.date))

    def fixed_width(self, field: str) -> bool:
        """True when every value of the field formats to text of the same length."""
        p = next(p for p in self.placeholders if p.field == field)
        tp = self.python_types.get(field)
        if tp in (_dt.datetime, _dt.date, uuid.UUID):
            return True
        return tp is int and bool(_ZERO_PADDED.fullmatch(p.spec))

    @property
    def literal_prefix(self) -> str:
        """The literal text before the first placeholder (``"ORDER#"``)."""
        first = self.parts[0] if self.parts else ""
        return first if isinstance(first, str) else ""

    # ------------------------------------------------------------------ fill & parse

    def format_value(self, field: str, value: Any) -> str:
        """One placeholder's text: formatted, then escaped."""
        p = next(p for p in self.placeholders if p.field == field)
        text = _format(value, p.spec)
        return "".join(self._escape.get(c, c) for c in text)

    def fill(self, values: Mapping[str, Any]) -> str | None:
        """The key text, or None when an input is None (the key is then not written)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.field)
            if value is None:
                return None
            out.append(self.format_value(part.field, value))
        return "".join(out)

    def prefix(self, values: Mapping[str, Any], upto: int) -> str:
        """The text up to placeholder number ``upto`` (exclusive), inputs filled."""
        out = []
        seen = 0
        for part in self.parts:
            if isinstance(part, Placeholder):
                if seen == upto:
                    break
                out.append(self.format_value(part.field, values[part.field]))
                seen += 1
            else:
                out.append(part)
        return "".join(out)

    def parse(self, text: str) -> dict[str, str]:
        """The raw (unescaped) text of each placeholder in a stored key.

        Raises:
            InvalidKey: the text does not have the template's shape.
        """
        match = self._regex.fullmatch(text)
        if match is None:
            raise InvalidKey(f"key {text!r} does not match template {self.template!r}")
        groups = match.groups()
        return {p.field: _unescape(v) for p, v in zip(self.placeholders, groups, strict=True)}


def _unescape(text: str) -> str:
    if "%" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        return chr(int(m.group(1) or m.group(2), 16))

    return re.sub(r"%u([0-9A-F]{4})|%([0-9A-F]{2})", replace, text)


def _format(value: Any, spec: str) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, _dt.datetime):
        if spec:
            if value.tzinfo is None:
                raise InvalidKey(f"naive datetime {value.isoformat()} in a key: make it aware")
            return value.astimezone(_dt.timezone.utc).strftime(spec)
        return format_datetime(value)
    if isinstance(value, _dt.date):
        return value.strftime(spec) if spec else value.isoformat()
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return format(value, spec) if spec else str(value)
    if isinstance(value, (str, uuid.UUID)):
        return format(str(value), spec) if spec else str(value)
    raise InvalidKey(f"{type(value).__name__} {value!r} cannot be part of a key")


def _sample(tp: Any) -> Any:
    samples = {
        _dt.datetime: _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc),
        _dt.date: _dt.date(2000, 1, 1),
        int: 1,
        Decimal: Decimal(1),
        str: "x",
        uuid.UUID: uuid.UUID(int=1),
    }
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return next(iter(tp))
    return samples.get(tp, "x")


def _base_type(annotation: Any) -> Any:
    """``X | None`` -> ``X``; Annotated stripped; others as they are."""
    import types
    import typing
    from typing import get_args, get_origin

    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _base_type(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _base_type(members[0]) if len(members) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    if annotation in (str, int, Decimal, _dt.datetime, _dt.date, uuid.UUID, bool, float):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, str):
        return str
    return None
