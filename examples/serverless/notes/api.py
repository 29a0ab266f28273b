"""The notes HTTP API: an API Gateway proxy event -> dynorm -> a JSON response.

    GET    /notes?owner=ID[&limit=N][&cursor=C]  an owner's notes, one page at a time
    GET    /notes/{note_id}                      one note
    PUT    /notes/{note_id}                      create it (no "version" in the body;
                                                 409 if it exists) or replace the
                                                 version you read (409 if it changed)
    DELETE /notes/{note_id}                      delete it (404 if there is none)
    GET    /notes/{note_id}/history              its changes, as the stream handler
                                                 recorded them

Both of API Gateway's event formats arrive here: HTTP APIs send payload format 2.0 (the
template's API), REST APIs' Lambda proxy integrations 1.0. The answer is the
``statusCode``/``headers``/``body`` dict that both understand.

Every exception maps to a status (``STATUS``, the nearest class in the MRO wins): 400
a bad request or cursor, 404 not found, 409 a conflict, 413 too large, 422 a value that
cannot be stored, 503 the database unavailable (with ``Retry-After``), 500 a bug here.
Clients read this service's own words; DynamoDB's error codes and dynorm's messages only
go to the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import pydantic

import dynorm
from dynorm import attr

from . import runtime
from .models import Note, NoteChange

log = logging.getLogger(__name__)


class NoteIn(pydantic.BaseModel):
    """A PUT body. ``version``: the one you read (replace); none: create."""

    model_config = pydantic.ConfigDict(extra="forbid")

    owner: str = pydantic.Field(min_length=1, max_length=128)
    title: str = pydantic.Field(min_length=1, max_length=200)
    text: str = ""
    tags: list[str] = pydantic.Field(default=[], max_length=20)
    version: int | None = pydantic.Field(default=None, ge=1)


# ------------------------------------------------------------------ requests, replies


@dataclass(frozen=True)
class Request:
    """What the handlers need of either event format."""

    method: str
    path: str
    params: dict[str, str]             # path parameters, filled by the router
    query: dict[str, str]
    body: str | None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The response both payload formats take."""
        if self.body is None:
            return {"statusCode": self.status, "headers": self.headers, "body": ""}
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json", **self.headers},
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


class NotAnApiEvent(ValueError):
    """The function got an event that API Gateway did not send: a wiring mistake."""


class BadRequest(Exception):
    """400 in this service's words."""


class NotFound(Exception):
    """404 in this service's words."""


class Conflict(Exception):
    """409 in this service's words, with the stored version when there is one."""

    def __init__(self, detail: str, current_version: int | None) -> None:
        super().__init__(detail)
        self.current_version = current_version


def parse_event(event: Mapping[str, Any]) -> Request:
    """The request in an API Gateway proxy event (payload format 2.0 or 1.0).

    Raises:
        NotAnApiEvent: the event is neither (the function is wired to something else).
        BadRequest: a base64 body that is not UTF-8 text.
    """
    if event.get("version") == "2.0":              # HTTP API
        context = event["requestContext"]
        method, path = context["http"]["method"], event["rawPath"]
        stage = context.get("stage", "$default")   # a named stage prefixes the path
        if stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1:]
    elif "httpMethod" in event:                     # REST API (or HTTP API with 1.0)
        method, path = event["httpMethod"], event["path"]
    else:
        raise NotAnApiEvent("not an API Gateway proxy event (payload format 2.0 "
                            "or 1.0)")
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("the body is not UTF-8 JSON text") from exc
    return Request(method=method.upper(), path=path,
                   params=dict(event.get("pathParameters") or {}),
                   query=dict(event.get("queryStringParameters") or {}), body=body)


# ------------------------------------------------------------------ routes

Route = Callable[[Request], Awaitable[Reply]]
ROUTES: list[tuple[str, str, Route]] = []


def route(method: str, template: str) -> Callable[[Route], Route]:
    def register(fn: Route) -> Route:
        ROUTES.append((method, template, fn))
        return fn
    return register


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?")


_PATTERNS = {template: _pattern(template) for template in (
    "/notes", "/notes/{note_id}", "/notes/{note_id}/history")}


def _match(request: Request) -> tuple[Route, dict[str, str]] | Reply:
    """The route for the request and its path parameters (API Gateway's decoded
    ``pathParameters`` where it sent them: a ``{proxy+}`` route sends others), or
    the 404/405 reply."""
    allowed = []
    for method, template, fn in ROUTES:
        found = _PATTERNS[template].fullmatch(request.path)
        if found is None:
            continue
        if method != request.method:
            allowed.append(method)
            continue
        return fn, {name: request.params.get(name) or unquote(value)
                    for name, value in found.groupdict().items()}
    if allowed:
        return Reply(405, {"detail": "method not allowed"},
                     {"allow": ", ".join(sorted(allowed))})
    return Reply(404, {"detail": "no such resource"})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _limit(request: Request) -> int:
    text = request.query.get("limit", "20")
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise BadRequest("limit: a whole number from 1 to 100")
    return int(text)


@route("GET", "/notes")
async def list_notes(request: Request) -> Reply:
    owner = request.query.get("owner")
    if not owner:
        raise BadRequest("owner: required (GET /notes?owner=...)")
    # dynorm binds the cursor to this owner: another owner's is InvalidCursor (400)
    query = Note.by_owner.query(attr(Note.owner) == owner)
    page = await query.page(size=_limit(request),
                            cursor=request.query.get("cursor") or None)
    return Reply(200, {"items": [note.model_dump(mode="json") for note in page.items],
                       "cursor": page.cursor})


@route("GET", "/notes/{note_id}")
async def get_note(request: Request) -> Reply:
    note = await Note.get(request.params["note_id"])
    return Reply(200, note.model_dump(mode="json"))


@route("PUT", "/notes/{note_id}")
async def put_note(request: Request) -> Reply:
    note_id = request.params["note_id"]
    if not request.body:
        raise BadRequest("a JSON body is required")
    data = NoteIn.model_validate_json(request.body)
    note = Note(note_id=note_id, updated_at=_now(),
                version=data.version or 0,  # 0: create only; n: only over version n
                **data.model_dump(exclude={"version"}))
    try:
        saved = await note.save()
    except dynorm.VersionConflict as exc:
        if data.version is None:
            raise Conflict(f"note {note_id!r} already exists", exc.actual) from exc
        if exc.actual is None:
            raise NotFound(f"note {note_id!r} not found") from exc
        raise Conflict(f"version conflict: you sent version {data.version}, the stored "
                       f"one is {exc.actual}; read the note again", exc.actual) from exc
    if data.version is None:
        return Reply(201, saved.model_dump(mode="json"),
                     {"location": f"/notes/{note_id}"})
    return Reply(200, saved.model_dump(mode="json"))


@route("DELETE", "/notes/{note_id}")
async def delete_note(request: Request) -> Reply:
    note = await Note.get(request.params["note_id"])
    await note.delete()                     # refused if it changed since the read: 409
    return Reply(204)


@route("GET", "/notes/{note_id}/history")
async def history(request: Request) -> Reply:
    key = attr(NoteChange.note_id) == request.params["note_id"]
    changes = await NoteChange.query(key).limit(_limit(request)).to_list()
    return Reply(200, {"items": [c.model_dump(mode="json", exclude={"expires"})
                                 for c in changes]})


# ------------------------------------------------------------------ errors

#: The status of each exception, looked up along its MRO (the most specific class wins).
STATUS: dict[type[BaseException], int] = {
    BadRequest: 400,
    dynorm.InvalidCursor: 400,          # altered, forged, or of another list
    dynorm.ExpressionError: 400,        # a query or condition built from bad input
    NotFound: 404,
    dynorm.ItemNotFound: 404,
    Conflict: 409,
    dynorm.ConditionFailed: 409,        # VersionConflict too: the note changed
    dynorm.TransactionCanceled: 409,
    dynorm.ItemTooLarge: 413,
    pydantic.ValidationError: 422,      # the body does not fit NoteIn
    dynorm.EncodingError: 422,          # InvalidKey too: a value that cannot be stored
    dynorm.Throttled: 503,
    dynorm.ServerError: 503,
    dynorm.TransportError: 503,
    dynorm.TableNotFound: 503,          # not deployed: the table is missing
    dynorm.ResourceInUse: 503,
    dynorm.ConnectionNotConfigured: 503,
    dynorm.BatchWriteFailed: 503,
    dynorm.BatchGetFailed: 503,
    BaseException: 500,                 # SchemaError, ValidationFailed, a bug, ...
}

#: What a client reads for each status, unless the reply says more.
DETAIL = {
    400: "bad request",
    404: "not found",
    409: "conflict: the stored note changed; read it again and retry",
    413: "the note is too large to store",
    422: "a value cannot be stored",
    500: "internal error",
    503: "the database is unavailable; retry later",
}


def error_reply(exc: BaseException) -> Reply:
    """The reply for ``exc``, in this service's words."""
    status = next(STATUS[c] for c in type(exc).__mro__ if c in STATUS)
    body: dict[str, Any] = {"detail": DETAIL[status]}
    if isinstance(exc, (BadRequest, NotFound, Conflict)):
        body["detail"] = str(exc)
    if isinstance(exc, Conflict):
        body["current_version"] = exc.current_version
    elif isinstance(exc, dynorm.VersionConflict):
        body["current_version"] = exc.actual
    elif isinstance(exc, dynorm.ItemNotFound):
        key = [value for av in exc.key.values() for value in av.values()]
        body["detail"] = f"note {key[0]!r} not found" if key else "not found"
    elif isinstance(exc, dynorm.ItemTooLarge) and exc.size:
        body["detail"] = (f"the note is too large to store ({exc.size} bytes; "
                          "400 KB at most)")
    elif isinstance(exc, dynorm.InvalidKey):
        body["detail"] = "note_id: at most 2048 bytes"
    elif isinstance(exc, dynorm.InvalidCursor):
        body["detail"] = "invalid cursor: pass the previous page's cursor, unchanged"
    elif isinstance(exc, pydantic.ValidationError):
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return Reply(400, {"detail": "the body is not valid JSON"})
        body["detail"] = "invalid note"
        body["errors"] = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                          for e in exc.errors(include_url=False)]
    if status >= 500:
        log.error("answering %d: %r", status, exc, exc_info=exc)
    return Reply(status, body, {"retry-after": "1"} if status == 503 else {})


# ------------------------------------------------------------------ the entry point


async def respond(event: Mapping[str, Any]) -> dict[str, Any]:
    """The response to one API Gateway event (on the environment's loop)."""
    try:
        request = parse_event(event)
        matched = _match(request)
        if isinstance(matched, Reply):
            return matched.to_event()
        fn, params = matched
        reply = await fn(Request(request.method, request.path, params,
                                 request.query, request.body))
    except NotAnApiEvent:
        raise                               # a wiring mistake: fail the invocation
    except Exception as exc:
        reply = error_reply(exc)
    return reply.to_event()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``notes.api.handler`` in the template)."""
    try:
        return runtime.run(respond(event))
    except dynorm.DynormError as exc:       # the connection could not be opened
        return error_reply(exc).to_event()


__all__ = ["STATUS", "NoteIn", "Reply", "Request", "handler", "parse_event", "respond"]
