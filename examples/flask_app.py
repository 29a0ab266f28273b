"""A Flask service on dynorm's blocking API: the FastAPI example's API, no ``await``.

User profiles with cursor pagination and optimistic locking, on the same models and the
same dynorm operations as ``examples/fastapi_app.py``, called through their blocking
twins (``Profile.sync.get()``, ``profile.sync.save()``, ``query.sync.page()``). Flask
serves requests in threads; they all share the one connection ``create_app()``
configures (``dynorm.blocking.configure()``: one event loop, one pool of HTTP
connections).

It starts the embedded local backend unless told otherwise, explicitly:
``DYNORM_ENDPOINT_URL`` (a server you run) or ``DYNORM_EXAMPLE_AWS=1`` (real AWS; the
usual AWS settings then apply). Run it::

    pip install -e . --group examples    # pip >= 25.1 (PEP 735 dependency groups)
    flask --app 'examples.flask_app:create_app()' run

Every dynorm exception maps to an HTTP status (``HTTP_STATUS``: 400 a bad cursor or
query, 404 not found, 409 a conflict, 413 too large, 422 a value that cannot be stored,
503 the database unavailable, 500 a bug in this service). Clients get the app's own
words (``{"detail": ...}``), never DynamoDB's error codes or dynorm's messages; the full
exception goes to the log.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from typing import Annotated, Any

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ValidationError

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, Version, attr
from dynorm.read.pagination import InvalidCursor

log = logging.getLogger(__name__)


class Profile(Model, table="flask-profiles"):
    user_id: Annotated[str, PartitionKey]
    org: str
    name: str
    email: str
    version: Annotated[int, Version] = 0

    by_org = GlobalIndex("org", "user_id")


class ProfileIn(BaseModel):
    user_id: str
    org: str
    name: str
    email: str


class ProfilePatch(BaseModel):
    """A change to a profile; ``version`` is the one the client read (the lock)."""

    version: int
    name: str | None = None
    email: str | None = None


#: The HTTP status of each dynorm exception, looked up along the class's MRO (the most
#: specific class wins). 4xx: the request can be fixed by the client; 503: try again
#: later; 500: a bug or a misconfiguration of this service (nothing the client can fix).
HTTP_STATUS: dict[type[dynorm.DynormError], int] = {
    dynorm.InvalidCursor: 400,            # altered, forged, or of another list
    dynorm.ExpressionError: 400,          # a query or condition built from bad input
    dynorm.ItemNotFound: 404,
    dynorm.ConditionFailed: 409,          # VersionConflict too: the stored item changed
    dynorm.TransactionCanceled: 409,
    dynorm.ReplicatedWriteConflict: 409,  # written at once in another Region
    dynorm.ItemTooLarge: 413,
    dynorm.EncodingError: 422,            # InvalidKey too: a value that cannot be kept
    dynorm.Throttled: 503,
    dynorm.ServerError: 503,
    dynorm.TransportError: 503,
    dynorm.TableNotFound: 503,            # not deployed (yet): the table is missing
    dynorm.ResourceInUse: 503,            # the table is being created or deleted
    dynorm.ConnectionNotConfigured: 503,
    dynorm.LocalServerError: 503,
    dynorm.BatchWriteFailed: 503,         # writes still unprocessed after every retry
    dynorm.BatchGetFailed: 503,
    dynorm.KeyringError: 503,             # KMS did not give a data key
    dynorm.DecryptionFailed: 500,         # a stored value altered or moved
    dynorm.UpgradeFailed: 500,            # an item this version cannot read
    dynorm.DynormError: 500,              # SchemaError, ValidationFailed, ...
}

#: What a client reads for each status (only 4xx answers add specifics).
_DETAIL = {
    400: "bad request",
    404: "not found",
    409: "conflict: the stored data changed; read it again and retry",
    413: "the profile is too large to store",
    422: "a value cannot be stored",
    500: "internal error",
    503: "the database is unavailable; retry later",
}


def http_status(exc: dynorm.DynormError) -> int:
    """The status for ``exc``: its nearest class in `HTTP_STATUS`."""
    return next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)


def _field(exc: dynorm.DynormError) -> str | None:
    """The field an EncodingError is about (dynorm's messages start ``Model.field``)."""
    match = re.match(r"\w+\.(\w+)[:\s]", str(exc))
    return match.group(1) if match else None


class Conflict(Exception):
    """A 409 in this app's words (e.g. "already exists" for a create)."""

    def __init__(self, detail: str, current_version: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current_version = current_version


def _answer(body: dict[str, Any], status: int, headers: dict[str, str] | None = None
            ) -> tuple[Response, int, dict[str, str]]:
    return jsonify(body), status, headers or {}


def conflict(exc: Conflict) -> tuple[Response, int, dict[str, str]]:
    return _answer({"detail": exc.detail, "current_version": exc.current_version}, 409)


def dynorm_error(exc: dynorm.DynormError) -> tuple[Response, int, dict[str, str]]:
    status = http_status(exc)
    body: dict[str, Any] = {"detail": _DETAIL[status]}
    headers = {"Retry-After": "1"} if status == 503 else None
    if status >= 500:
        log.error("%s %s: %s", request.method, request.path, exc, exc_info=exc)
    if isinstance(exc, dynorm.ItemNotFound):
        key = ", ".join(f"{v}" for value in exc.key.values() for v in value.values())
        body["detail"] = f"{exc.model.lower()} {key!r} not found"
    elif isinstance(exc, dynorm.VersionConflict):
        current = exc.actual
        body["detail"] = (
            f"version conflict: you sent version {exc.expected}, the stored one is "
            f"{current}; read it again and resend your change"
            if current is not None else "not found (deleted meanwhile)")
        body["current_version"] = current
    elif isinstance(exc, dynorm.ConditionFailed):
        stored = exc.item
        current = stored.version if isinstance(stored, Profile) else None
        body["current_version"] = current
    elif isinstance(exc, dynorm.ItemTooLarge):
        body["detail"] = (f"the profile is too large to store ({exc.size} bytes; "
                          "at most 400 KB)" if exc.size else _DETAIL[413])
    elif isinstance(exc, dynorm.InvalidKey):
        field = _field(exc) or "a key field"
        body["detail"] = f"{field}: must be a non-empty string of at most 2048 bytes"
    elif isinstance(exc, dynorm.EncodingError) and _field(exc):
        body["detail"] = f"{_field(exc)}: this value cannot be stored"
    elif isinstance(exc, InvalidCursor):
        body["detail"] = ("invalid cursor: pass the cursor of the previous page of the "
                          "same list, unchanged")
    return _answer(body, status, headers)


def bad_body(exc: ValidationError) -> tuple[Response, int, dict[str, str]]:
    fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
    return _answer({"detail": f"invalid body: {fields}"}, 422)


def _json(profile: Profile) -> dict[str, Any]:
    return profile.model_dump(mode="json")


def create_profile() -> tuple[dict[str, Any], int]:
    body = ProfileIn.model_validate(request.get_json(force=True))
    profile = Profile(**body.model_dump())
    try:
        profile.sync.save()  # version 0: refused if the user_id exists
    except dynorm.VersionConflict as exc:
        raise Conflict(f"profile {body.user_id!r} already exists", exc.actual) from exc
    return _json(profile), 201


def read_profile(user_id: str) -> dict[str, Any]:
    return _json(Profile.sync.get(user_id))


def update_profile(user_id: str) -> dict[str, Any]:
    body = ProfilePatch.model_validate(request.get_json(force=True))
    profile = Profile.sync.get(user_id)
    profile.version = body.version  # the client's copy decides: stale -> 409
    if body.name is not None:
        profile.name = body.name
    if body.email is not None:
        profile.email = body.email
    return _json(profile.sync.save())


def delete_profile(user_id: str) -> tuple[str, int]:
    Profile.sync.get(user_id).sync.delete()
    return "", 204


def list_profiles(org: str) -> dict[str, Any] | tuple[Response, int, dict[str, str]]:
    limit = request.args.get("limit", default=20, type=int)
    if limit is None or not 1 <= limit <= 100:
        return _answer({"detail": "limit: between 1 and 100"}, 422)
    # dynorm binds the cursor to this org: another org's cursor is InvalidCursor (400)
    query = Profile.by_org.query(attr(Profile.org) == org)
    page = query.sync.page(size=limit, cursor=request.args.get("cursor") or None)
    return {"items": [_json(p) for p in page.items], "cursor": page.cursor}


def create_app() -> Flask:
    """The app, with dynorm configured for every request thread and its table created.

    ``app.extensions["dynorm"]`` holds the connection;
    ``app.extensions["dynorm_close"]()`` closes it and stops the embedded backend (also
    run at interpreter exit).
    """
    server = None
    told = (os.environ.get("DYNORM_ENDPOINT_URL")
            or os.environ.get("DYNORM_EXAMPLE_AWS") == "1")
    if not told:
        server = dynorm.local_server().start()  # not told otherwise: the embedded one
        connection = dynorm.blocking.configure(endpoint_url=server.endpoint_url,
                                               region="us-east-1")
    else:
        connection = dynorm.blocking.configure()
    Profile.sync.create_table()

    def close() -> None:
        connection.close()
        if server is not None:
            server.stop()

    atexit.register(close)
    app = Flask(__name__)
    app.extensions["dynorm"] = connection
    app.extensions["dynorm_close"] = close
    app.register_error_handler(Conflict, conflict)
    app.register_error_handler(dynorm.DynormError, dynorm_error)
    app.register_error_handler(ValidationError, bad_body)
    app.add_url_rule("/profiles", view_func=create_profile, methods=["POST"])
    app.add_url_rule("/profiles/<user_id>", view_func=read_profile, methods=["GET"])
    app.add_url_rule("/profiles/<user_id>", view_func=update_profile, methods=["PATCH"])
    app.add_url_rule("/profiles/<user_id>", view_func=delete_profile,
                     methods=["DELETE"])
    app.add_url_rule("/orgs/<org>/profiles", view_func=list_profiles, methods=["GET"])
    return app


__all__ = ["HTTP_STATUS", "Profile", "create_app"]
