"""Key templates for single-table design: ``"USER#{user_id}"``, ``"ORDER#{created:%Y-%m-%d}#{id}"``.

A template derives a physical key attribute (``pk``, ``sk``, ``gsi1pk``...) from model
fields. It is filled on write and parsed back on read. Two promises, each decided per
placeholder when the model class is created:

* **A bijection.** Values are escaped so that the template's own literal characters
  (and ``%``) inside a value cannot be mistaken for a separator: ``"a#b"`` in
  ``"USER#{id}"`` is written ``USER#a%23b`` and read back as ``a#b``. Escaping is a
  prefix code (``%XX`` below U+0100, ``%uXXXX`` in the BMP, ``%vXXXXXX`` above) and
  ``parse`` accepts only the canonical escape of a value, so text and values map one to
  one. A placeholder is *lossless* when formatting then parsing back gives the value
  again: decided by formatting sample values and parsing them back as the field's type
  (a spec that truncates, rounds or pads, such as ``{s:.4}``, ``{x:.2f}`` or ``{s:>6}``,
  is lossy; so is any ``strftime`` spec). A lossy field is stored as its own attribute
  too. Numbers are written in one canonical plain form (``Decimal("1.50")`` and
  ``Decimal("1.5")`` both give ``1.5``; ``Decimal("1E+1")`` gives ``10``), so equal
  values give equal keys.
* **Order, only where it holds.** A placeholder is *order-preserving* when DynamoDB's
  order of the key text (UTF-8 bytes) follows the order of the values: datetimes, dates
  and UUIDs without a spec, ints with a zero-padded spec (``{n:08d}``: writes outside
  ``0 .. 10**8-1`` are refused), ``strftime`` specs going from year down to microsecond
  (``%Y-%m-%d``, ``%Y%j``...) and strings that end the template (for bounds without the
  characters their escaping reorders). Unpadded numbers, Decimals, enums, strings before
  another placeholder and day-first dates are not: a range on them is filtered or
  refused (see ``dynorm.schema.key_conditions``).

Pure: no models, no I/O.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pydantic

from dynorm.codec.core import format_datetime
from dynorm.exceptions import InvalidKey, SchemaError

__all__ = ["MAX_CHAR", "KeyTemplate", "Placeholder"]

#: Sorts after every character DynamoDB can store: the upper end of a prefix range.
MAX_CHAR = "\U0010ffff"

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
_ZERO_PADDED = re.compile(r"-?0([1-9][0-9]*)d?")
_PRECISION = re.compile(r"\.[0-9]")
_STRFTIME = re.compile(r"%.|%$|[^%]+", re.DOTALL)
_UNESCAPE = re.compile(r"%v([0-9A-F]{6})|%u([0-9A-F]{4})|%([0-9A-F]{2})")
#: strftime directives from the most to the least significant, all fixed width: a spec
#: whose directives are a prefix of one of these sorts as text in time order.
_SORTABLE = (("Y", "m", "d", "H", "M", "S", "f"), ("Y", "j", "H", "M", "S", "f"))
_UTC = _dt.timezone.utc

_SAMPLES: dict[Any, tuple[Any, ...]] = {
    int: (0, 1, 7, 9, 10, 42, 99, 100, 12345, -1, -42, 10**20 + 1, -(10**20) - 1, 2**63),
    Decimal: (Decimal(0), Decimal(1), Decimal("1.5"), Decimal("-2.25"), Decimal("1E+1"),
              Decimal("0.001"), Decimal("-1E-7"), Decimal("1E+30"),
              Decimal("12345678901234567890.123456789012")),
    str: ("", "x", "ab", " x ", "x  y", "abcdefghijklmnop", "0", "-1", "%#|", "é€\U0001f600"),
    uuid.UUID: (uuid.UUID(int=0), uuid.UUID(int=1),
                uuid.UUID("f3c9a1e2-5b7d-4c1a-9e8f-0a1b2c3d4e5f")),
}


class Placeholder:
    """One ``{field:spec}`` of a template, with what
    [`KeyTemplate.bind()`][dynorm.schema.templates.KeyTemplate.bind] decided."""

    __slots__ = ("field", "fixed", "lossless", "monotone", "spec", "tp", "width")

    def __init__(self, field: str, spec: str) -> None:
        self.field = field
        self.spec = spec
        self.tp: Any = None
        #: parse(format(v)) == v for every value
        self.lossless = True
        #: a < b  =>  text(a) <= text(b), and text(a) < text(b)  =>  a < b
        self.monotone = False
        #: every value gives text of one length (so what follows cannot reorder it)
        self.fixed = False
        #: for a zero-padded int: its digits (writes must fit: 0 <= v < 10**width)
        self.width: int | None = None

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
        self.model = "key template"
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
        for part in self.parts[1:-1]:
            if isinstance(part, str) and all(c.isalnum() for c in part):
                raise SchemaError(
                    f"key template {template!r}: the text {part!r} between placeholders needs "
                    "a separator character such as '#' so values can be told apart"
                )
        # Values escape "%" and every non-alphanumeric character of the literals, so a
        # separator such as "#" inside a value can never end the value early.
        self.specials = frozenset({"%"} | {
            c for p in self.parts if isinstance(p, str) for c in p if not c.isalnum()
        })
        self._escape = str.maketrans({c: _escape_char(c) for c in self.specials})
        # Escaping keeps text order except between a special character and the
        # characters lying between it and "%" (its escape starts with "%"): a bound
        # holding any of these cannot be compared through the key.
        self._reordered = tuple(
            (min(ord(c), 0x25), max(ord(c), 0x25)) for c in self.specials if c != "%"
        )
        last = self.placeholders[-1] if self.placeholders else None
        self._last = last if isinstance(self.parts[-1], Placeholder) else None
        self._regex = re.compile(
            "".join(
                re.escape(p) if isinstance(p, str) else ("(.*)" if p is last else "(.*?)")
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
        """Check the placeholders against the model's field types (at class creation),
        and decide for each whether it is lossless and whether it preserves order."""
        self.model = model
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
            p.tp = tp
            _decide(p)
            self.python_types[p.field] = tp

    def _placeholder(self, field: str) -> Placeholder:
        return next(p for p in self.placeholders if p.field == field)

    def lossless(self, field: str) -> bool:
        """True when the field's value can be recovered exactly from the key text."""
        return self._placeholder(field).lossless

    def fixed_width(self, field: str) -> bool:
        """True when every value of the field formats to text of the same length."""
        return self._placeholder(field).fixed

    def ordered(self, field: str) -> bool:
        """True when the key's text order follows the field's order (see the module doc).

        With the placeholders before it fixed, ``a < b`` gives ``key(a) <= key(b)`` (``<``
        for a lossless placeholder) whatever follows, and ``key(a) < key(b)`` only when
        ``a < b`` or the texts of ``a`` and ``b`` are equal.
        """
        p = self._placeholder(field)
        return p.monotone and (p.fixed or p is self._last)

    def orderable_bound(self, field: str, value: Any) -> bool:
        """True when the key compares ``value`` with every stored value as the field does.

        Always for fixed-width placeholders; for a string, when ``value`` has none of the
        characters whose escape reorders them (``#`` in ``"A#{s}"`` is written ``%23``,
        after ``$``: ``"$"`` as a bound would be misplaced).
        """
        p = self._placeholder(field)
        if p.tp is not str:
            return True
        return not any(c in self.specials or any(lo < ord(c) < hi for lo, hi in self._reordered)
                       for c in str(value))

    def width(self, field: str) -> int | None:
        """The digits of a zero-padded int placeholder (``{n:08d}``: 8), else None."""
        return self._placeholder(field).width

    @property
    def literal_prefix(self) -> str:
        """The literal text before the first placeholder (``"ORDER#"``)."""
        first = self.parts[0] if self.parts else ""
        return first if isinstance(first, str) else ""

    # ------------------------------------------------------------------ fill & parse

    def format_value(self, field: str, value: Any) -> str:
        """One placeholder's text: formatted, then escaped.

        Raises:
            InvalidKey: the value cannot be written in this placeholder (e.g. 12345 in
                ``{n:04d}``, whose keys would no longer sort like the numbers).
        """
        p = self._placeholder(field)
        if p.tp is not None and type(value) is not p.tp:
            # a raw key value (get(price=0.1), a str for an int...) as the field holds it:
            # the key of what the model would store, equal values giving one text
            try:
                value = _adapter(p.tp).validate_python(value)
            except pydantic.ValidationError as exc:
                raise InvalidKey(
                    f"{self.model}.{field}: {value!r} is not a valid "
                    f"{getattr(p.tp, '__name__', p.tp)} for key template {self.template!r}: "
                    f"{exc.errors()[0]['msg']}"
                ) from None
        if p.width is not None and not (isinstance(value, int) and 0 <= value < 10**p.width):
            raise InvalidKey(
                f"{self.model}.{field}: {value!r} does not fit {p!r} in key template "
                f"{self.template!r}: its keys sort like the numbers only for 0 .. "
                f"{10**p.width - 1}; declare a wider spec such as "
                f"{{{field}:0{p.width + 4}d}}, or keep the value in range"
            )
        try:
            text = _format(value, p.spec)
        except InvalidKey as exc:
            raise InvalidKey(f"{self.model}.{field}: {exc} ({self.template!r})") from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidKey(
                f"{self.model}.{field}: {value!r} cannot be formatted as {p!r} in key "
                f"template {self.template!r}: {exc}"
            ) from None
        return text.translate(self._escape)

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
            InvalidKey: the text does not have the template's shape, or holds an escape
                this template never writes (so no two texts give the same values).
        """
        match = self._regex.fullmatch(text)
        if match is None:
            raise InvalidKey(f"key {text!r} does not match template {self.template!r}")
        out = {}
        for p, escaped in zip(self.placeholders, match.groups(), strict=True):
            raw = _unescape(escaped)
            if raw is None or raw.translate(self._escape) != escaped:
                raise InvalidKey(
                    f"key {text!r} does not match template {self.template!r}: {escaped!r} "
                    f"is not how {self.model}.{p.field} is written in it"
                )
            out[p.field] = raw
        return out


def _escape_char(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"%{code:02X}"
    return f"%u{code:04X}" if code < 0x10000 else f"%v{code:06X}"


def _unescape(text: str) -> str | None:
    """The value of escaped text; None for an escape that names no character."""
    if "%" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        return chr(int(m.group(1) or m.group(2) or m.group(3), 16))

    try:
        return _UNESCAPE.sub(replace, text)
    except (ValueError, OverflowError):
        return None


def _decide(p: Placeholder) -> None:
    """Whether a placeholder is lossless, monotone and fixed width, for its type."""
    tp, spec = p.tp, p.spec
    p.width, p.monotone, p.fixed = None, False, False
    if tp in (_dt.datetime, _dt.date):
        # a strftime spec keeps part of the value (a day): stored too, never recovered
        p.lossless = not spec
        directives = tuple(t[1:] for t in _STRFTIME.findall(spec) if t[0] == "%" and t != "%%")
        p.monotone = p.fixed = not spec or any(
            directives == order[: len(directives)] for order in _SORTABLE
        )
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        p.lossless = _round_trips(tp, spec, list(tp))
        return  # members have no order
    # a precision cuts strings and rounds numbers past some length, which samples of
    # modest length might not reach ({s:.20}, {x:.30f})
    p.lossless = not _PRECISION.search(spec) and _round_trips(tp, spec, _SAMPLES[tp])
    if not p.lossless:
        return
    if tp is str:
        p.monotone = True  # where it ends the template (KeyTemplate.ordered)
    elif tp is uuid.UUID:
        p.monotone = p.fixed = True  # 36 characters of lowercase hex and "-"
    elif tp is int and (padded := _ZERO_PADDED.fullmatch(spec)):
        p.width = int(padded.group(1))
        p.monotone = p.fixed = True


_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    adapter = _ADAPTERS.get(tp)
    if adapter is None:
        adapter = _ADAPTERS[tp] = pydantic.TypeAdapter(tp)
    return adapter


def _round_trips(tp: Any, spec: str, samples: Iterable[Any]) -> bool:
    """True when each sample formatted with ``spec`` and parsed back (as pydantic reads
    the recovered text) is the sample again."""
    adapter = _adapter(tp)
    for value in samples:
        try:
            back = adapter.validate_python(_format(value, spec))
        except (ValueError, TypeError, OverflowError, InvalidKey):
            return False
        if back != value or type(back) is not type(value):
            return False
    return True


def _plain_number(value: int | float | Decimal) -> str:
    """The canonical text of a number: equal numbers give equal text.

    ``1.50`` -> ``1.5``, ``1E+1`` -> ``10``, ``-0`` -> ``0``; no exponent, no rounding
    (unlike ``Decimal.normalize()``, which rounds to the context's 28 digits).

    Raises:
        InvalidKey: NaN or infinity.
    """
    if isinstance(value, int):
        return str(value)
    # a float as pydantic and the number codec read it: 0.1 is "0.1", not its binary expansion
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise InvalidKey(f"{value!r} cannot be part of a key")
    if not number:
        return "0"
    sign, digit_tuple, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    if exponent >= 0:
        text = digits + "0" * exponent
    elif len(digits) > -exponent:
        text = digits[:exponent] + "." + digits[exponent:]
    else:
        text = "0." + "0" * (-exponent - len(digits)) + digits
    return "-" + text if sign else text


def _format(value: Any, spec: str) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, _dt.datetime):
        if spec:
            if value.tzinfo is None:
                raise InvalidKey(f"naive datetime {value.isoformat()} in a key: make it aware")
            return _strftime(value.astimezone(_UTC), spec)
        return format_datetime(value)
    if isinstance(value, _dt.date):
        return _strftime(value, spec) if spec else value.isoformat()
    if isinstance(value, bool):
        raise InvalidKey(f"bool {value!r} cannot be part of a key")
    if isinstance(value, int):
        return format(value, spec) if spec else str(value)
    if isinstance(value, (Decimal, float)):
        text = _plain_number(value)
        return format(Decimal(text), spec) if spec else text
    if isinstance(value, (str, uuid.UUID)):
        return format(str(value), spec) if spec else str(value)
    raise InvalidKey(f"{type(value).__name__} {value!r} cannot be part of a key")


def _strftime(value: _dt.date, spec: str) -> str:
    if value.year < 1000 and "%Y" in spec:  # glibc writes year 999 as "999": keep 4 digits
        spec = "".join(f"{value.year:04d}" if t == "%Y" else t for t in _STRFTIME.findall(spec))
    return value.strftime(spec)


def _sample(tp: Any) -> Any:
    samples = {
        _dt.datetime: _dt.datetime(2000, 1, 1, tzinfo=_UTC),
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
