"""The Transport Protocol and the retry policy every transport shares."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable

from dynorm._types import Request, Response
from dynorm.exceptions import ServiceError

__all__ = [
    "ANSWER_READER",
    "NOT_REPEATED",
    "STREAM_OPERATIONS",
    "AnswerReader",
    "RetryPolicy",
    "Transport",
    "adds_up_when_repeated",
    "answer_reader",
    "answers_read_by",
    "settle_ambiguous",
]

#: How a read wants the answers it is sent read: ``read(payload, body, parse)`` returns
#: the answer to ``payload`` from its raw ``body``, parsing it with ``parse`` (binary values
#: decoded) or its own way (item by item: `dynorm.read.answers`). It checks the payload is
#: its own and never raises but for ``parse``'s errors (an unreadable body).
AnswerReader = Callable[[Request, bytes, Callable[[bytes], Response]], Response]

#: A `_Reader` (operation, task, read) while a read is sent (`answers_read_by`): a
#: transport that parses answers itself (the fast one) hands a successful answer of that
#: operation sent by that task to ``read`` instead of parsing it, with the cyclic garbage
#: collector still paused (`dynorm._gc`), so the answer becomes items or models without a
#: tree of the whole page ever being walked (measured: a quarter less client CPU per item
#: on big pages, 40% less when parsed item by item). Other transports leave the answer to
#: the caller, which reads what ``read`` did not.
ANSWER_READER: ContextVar[_Reader | None] = ContextVar("dynorm_answer_reader", default=None)


class _Reader:
    """`ANSWER_READER`'s value: emptied when its block ends, as a context copied meanwhile
    keeps it (a connection the read opened: its socket's callbacks hold that context for
    the connection's life) and must not keep the read, or the models it made, alive."""

    __slots__ = ("operation", "read", "task")

    def __init__(self, operation: str, task: asyncio.Task[Any] | None,
                 read: AnswerReader) -> None:
        self.operation = operation
        self.task: asyncio.Task[Any] | None = task
        self.read: AnswerReader | None = read


@contextmanager
def answers_read_by(operation: str, read: AnswerReader
                    ) -> Iterator[None]:
    """Within the block, answers of ``operation`` that this task gets are handed to
    ``read`` as they are parsed (`ANSWER_READER`). Bound to the task: one it starts
    meanwhile (a hook's) copies the context, and must get its own answers untouched."""
    reader = _Reader(operation, asyncio.current_task(), read)
    token = ANSWER_READER.set(reader)
    try:
        yield
    finally:
        ANSWER_READER.reset(token)
        reader.task = reader.read = None


def answer_reader(operation: str) -> AnswerReader | None:
    """The reader `answers_read_by` gave for this task's answers of ``operation``."""
    reader = ANSWER_READER.get()
    if reader is None or reader.operation != operation or (
            reader.task is not asyncio.current_task()):
        return None
    return reader.read


#: Operations served by the DynamoDB Streams endpoint rather than DynamoDB's.
STREAM_OPERATIONS = frozenset({"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"})


@runtime_checkable
class Transport(Protocol):
    """Sends one DynamoDB operation.

    ``operation`` is the API name (``"PutItem"``); ``payload`` its parameters in the
    API's own names. Returns the parsed response. Raises a
    `ServiceError` subclass when DynamoDB answers with an
    error and `TransportError` when it does not answer.
    """

    #: True when the transport serializes payloads with orjson, so batches may put
    #: pre-encoded items (``orjson.Fragment``) in them; False sends plain dicts.
    accepts_json_fragments: bool

    async def open(self) -> None:
        """Get ready to send (credentials, connections); called once by the connection."""
        ...

    async def call(self, operation: str, payload: Request) -> Response: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for throttling, 5xx and connection failures: exponential backoff, full jitter.

    Attempt ``n`` (from 1) waits ``uniform(0, min(max_delay, base_delay * 2**(n-1)))``.

    Args:
        max_attempts: total attempts including the first (1 = never retry).
        base_delay: seconds; the cap of the first pause.
        max_delay: seconds; no pause is longer.
    """

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, cap)


# ---------------------------------------------------------------------------- lost answers


def _canonical(value: Any) -> Any:
    """A wire value in a form where equal DynamoDB values compare equal (numbers as
    decimals, sets unordered, binary as bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == "N":
                try:
                    return ("N", Decimal(inner).normalize())
                except (InvalidOperation, TypeError):
                    return ("N", inner)
            if tag == "NS":
                return ("NS", frozenset(_canonical({"N": v})[1] for v in inner))
            if tag in ("SS", "BS"):
                return (tag, frozenset(bytes(v) if isinstance(v, (bytearray, memoryview))
                                       else v for v in inner))
            if tag == "B" and isinstance(inner, (bytearray, memoryview)):
                return ("B", bytes(inner))
            if tag == "L":
                return ("L", tuple(_canonical(v) for v in inner))
            if tag == "M":
                return ("M", _canonical(inner))
        return {k: _canonical(v) for k, v in value.items()}
    return value


def settle_ambiguous(operation: str, payload: Request, error: ServiceError) -> Response | None:
    """The success answer for a retried write whose lost first attempt evidently applied.

    A conditional write is retried after an attempt that got no usable answer (the
    connection dropped after sending, a 5xx). If that attempt was applied, the retry
    meets its own effect and fails the condition. DynamoDB sends the stored item with
    the failure (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), and for two kinds
    of write that item settles the question:

    * ``PutItem`` (no ``ReturnValues``): the stored item is exactly the item this put
      writes, so the put's effect holds; answered as a success.
    * ``DeleteItem`` (no ``ReturnValues``): no item is stored under the key any more, so
      the delete's effect holds; answered as a success.

    Anything else (an ``UpdateItem``, whose result cannot be recomputed here, or a
    stored item that differs) stays an error, marked ``ambiguous``.
    """
    if error.code != "ConditionalCheckFailedException":
        return None
    if payload.get("ReturnValues", "NONE") != "NONE":
        return None
    if payload.get("ReturnValuesOnConditionCheckFailure") != "ALL_OLD":
        return None  # without the stored item nothing can be told
    stored = error.response.get("Item")
    if operation == "PutItem":
        if stored is not None and _canonical(stored) == _canonical(payload.get("Item")):
            return {}
    elif operation == "DeleteItem" and stored is None:
        return {}
    return None


#: Why an uncertain, unconditional counting update is raised instead of retried.
NOT_REPEATED = ("not retried: this unconditional update adds, computes or appends, and "
                "the failed attempt may have been applied; read the item to see whether it "
                "was, or guard the update with a condition (a Version field) so that a "
                "repeat fails instead of counting twice")

#: The clause keywords of an update expression (reserved words: never a bare name).
_CLAUSES = re.compile(r"\b(SET|ADD|DELETE|REMOVE)\b", re.IGNORECASE)
#: An ADD action: a path, then the value's placeholder.
_ADD_ACTION = re.compile(r"(:[A-Za-z0-9_]+)\s*(?:,|$)")
#: A name in an expression: a placeholder, or a bare name that is not a function's.
_NAME = re.compile(r"#[A-Za-z0-9_]+|(?<![#:\w])[A-Za-z_][A-Za-z0-9_]*(?!\s*\()")
#: Bare words of expressions that are not names.
_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "ADD", "DELETE",
                       "REMOVE"})


def _names(expression: str, placeholders: dict[str, str]) -> set[str]:
    """Every attribute name an expression mentions (each element of a path: more than
    its attributes, never fewer)."""
    found = set()
    for token in _NAME.findall(expression):
        if token.startswith("#"):
            found.add(placeholders.get(token, token))
        elif token.upper() not in _KEYWORDS:
            found.add(token)
    return found


#: ``name = :value`` (an assignment of a SET clause, or an equality of a condition).
_EQUALS = re.compile(r"\s*=\s*(:[A-Za-z0-9_]+)\s*(?:,|\)|$|AND\b|OR\b)", re.IGNORECASE)


def _guards(condition: str, expression: str, payload: Request) -> bool:
    """Whether a repeat of the update may fail ``condition``: it names an attribute the
    update changes. An attribute the update sets to a plain value that the condition
    only compares for equality with that same value does not count: after the first
    application the comparison holds again (``attribute_not_exists(#k) OR #type =
    :entity`` of an upsert that sets ``#type = :entity``)."""
    names = payload.get("ExpressionAttributeNames") or {}
    values = payload.get("ExpressionAttributeValues") or {}
    shared = _names(condition, names) & _names(expression, names)
    if not shared:
        return False
    sets: dict[str, list[Any]] = {}
    parts = _CLAUSES.split(expression)
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        for match in _NAME.finditer(body):
            name = names.get(match.group(), match.group())
            equals = _EQUALS.match(body, match.end())
            sets.setdefault(name, []).append(
                values.get(equals.group(1)) if keyword.upper() == "SET" and equals
                else _CHANGED)
    for match in _NAME.finditer(condition):
        name = names.get(match.group(), match.group())
        if name not in shared:
            continue
        equals = _EQUALS.match(condition, match.end())
        written = sets.get(name, [_CHANGED])
        if (equals is None or len(written) != 1 or written[0] is _CHANGED
                or values.get(equals.group(1)) != written[0]):
            return True
    return False


#: Stands for an attribute an update changes otherwise than to a plain value.
_CHANGED = object()


def adds_up_when_repeated(operation: str, payload: Request) -> bool:
    """Whether applying this write twice leaves another item than applying it once.

    True for an ``UpdateItem`` its condition does not guard (below) that adds to a number
    (``ADD #n :one`` with a number value), computes (``SET #n = #n + :one``) or appends
    (``list_append``). Such a write must not be sent again after an attempt that may
    have been applied (its answer lost): nothing on the client or the server can tell
    whether the first one counted. Every other write is idempotent (puts, deletes,
    ``SET`` of values, ``REMOVE``, set ``ADD``/``DELETE``, batch writes) or guarded: a
    condition on an attribute the update changes is expected to fail when repeated
    (dynorm's version guard does; whether another such condition does is the caller's
    choice). A condition that names none of the attributes the update names guards
    nothing: the update leaves what it reads as it was, so a repeat passes it again and
    counts twice (``attribute_exists(#key)``, which every update of an existing item of a
    model without a ``Version`` field carries). Nor does an equality with the very value
    the update sets (an upsert's ``... OR #type = :entity``).
    """
    if operation != "UpdateItem":
        return False
    expression = payload.get("UpdateExpression")
    if not isinstance(expression, str):
        return False
    condition = payload.get("ConditionExpression")
    if condition is not None and (not isinstance(condition, str)
                                  or _guards(condition, expression, payload)):
        return False  # guarded: the repeat may fail its condition
    values = payload.get("ExpressionAttributeValues") or {}
    parts = _CLAUSES.split(expression)
    for keyword, body in zip(parts[1::2], parts[2::2], strict=True):
        keyword = keyword.upper()
        if keyword == "SET" and ("+" in body or "-" in body or "list_append" in body):
            return True
        if keyword == "ADD":
            for placeholder in _ADD_ACTION.findall(body.strip()):
                value = values.get(placeholder)
                if not isinstance(value, dict) or "N" in value:
                    return True  # a number (or unknown: assume the worst)
    return False
