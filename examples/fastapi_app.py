"""A FastAPI service on dynorm: user profiles with cursor pagination and optimistic
locking.

The lifespan opens the dynorm connection and closes it on shutdown. It starts the
embedded local backend unless told otherwise, explicitly: ``DYNORM_ENDPOINT_URL`` (a
server you run) or ``DYNORM_EXAMPLE_AWS=1`` (real AWS; ``dynorm.configure()`` then reads
the usual AWS settings). AWS credentials or ``AWS_REGION`` in the environment never
switch it to AWS.

Run it::

    pip install -e . --group examples    # pip >= 25.1 (PEP 735 dependency groups)
    uvicorn examples.fastapi_app:app

Every dynorm exception maps to an HTTP status (``HTTP_STATUS``: 400 a bad cursor or
query, 404 not found, 409 a conflict, 413 too large, 422 a value that cannot be stored,
503 the database unavailable, 500 a bug in this service). Clients get the app's own
words (``{"detail": ...}``), never DynamoDB's error codes or dynorm's messages; the full
exception goes to the log.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, Version, attr
from dynorm.read.pagination import InvalidCursor

log = logging.getLogger(__name__)


class Profile(Model, table="fastapi-profiles"):
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
    """A change to a profile; ``version`` is the one the client read (optimistic
    locking)."""

    version: int
    name: str | None = None
    email: str | None = None


class ProfilePage(BaseModel):
    items: list[Profile]
    cursor: str | None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    server = None
    if (not os.environ.get("DYNORM_ENDPOINT_URL")
            and os.environ.get("DYNORM_EXAMPLE_AWS") != "1"):
        # not told otherwise: the embedded backend
        server = dynorm.local_server().start()
        await dynorm.configure(endpoint_url=server.endpoint_url, region="us-east-1")
    else:
        await dynorm.configure()
    await Profile.create_table()
    try:
        yield
    finally:
        await dynorm.close()
        if server is not None:
            server.stop()


app = FastAPI(title="profiles", lifespan=lifespan)


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
    dynorm.EncodingError: 422,            # InvalidKey too: a value that cannot be
                                          # stored
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
    dynorm.DecryptionFailed: 500,         # a stored value altered or moved: not the
                                          # client's doing
    dynorm.UpgradeFailed: 500,            # an item this version cannot read
    dynorm.DynormError: 500,              # SchemaError, ValidationFailed,
                                          # RequestRejected, ...
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
    """The status for ``exc``: its nearest class in :data:`HTTP_STATUS`."""
    return next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)


def _field(exc: dynorm.DynormError) -> str | None:
    """The field an EncodingError is about (dynorm's messages start
    ``Model.field:``)."""
    match = re.match(r"\w+\.(\w+)[:\s]", str(exc))
    return match.group(1) if match else None


class Conflict(Exception):
    """A 409 in this app's words (e.g. "already exists" for a create)."""

    def __init__(self, detail: str, current_version: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current_version = current_version


@app.exception_handler(Conflict)
async def conflict(request: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse({"detail": exc.detail, "current_version": exc.current_version},
                        status_code=409)


@app.exception_handler(dynorm.DynormError)
async def dynorm_error(request: Request, exc: dynorm.DynormError) -> JSONResponse:
    status = http_status(exc)
    body: dict[str, object] = {"detail": _DETAIL[status]}
    headers = {"Retry-After": "1"} if status == 503 else None
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
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
        body["current_version"] = (exc.item.version if isinstance(exc.item, Profile)
                                   else None)
    elif isinstance(exc, dynorm.ItemTooLarge):
        body["detail"] = (f"the profile is too large to store ({exc.size} bytes; "
                          "at most 400 KB)" if exc.size else _DETAIL[413])
    elif isinstance(exc, dynorm.InvalidKey):
        field = _field(exc) or "a key field"
        body["detail"] = f"{field}: must be a non-empty string of at most 2048 bytes"
    elif isinstance(exc, dynorm.EncodingError) and _field(exc):
        body["detail"] = f"{_field(exc)}: this value cannot be stored"
    elif isinstance(exc, InvalidCursor):
        body["detail"] = ("invalid cursor: pass the cursor of the previous page of "
                          "the same list, unchanged")
    return JSONResponse(body, status_code=status, headers=headers)


@app.post("/profiles", status_code=201)
async def create_profile(body: ProfileIn) -> Profile:
    profile = Profile(**body.model_dump())
    try:
        return await profile.save()  # version 0: refused if the user_id exists
    except dynorm.VersionConflict as exc:
        raise Conflict(f"profile {body.user_id!r} already exists", exc.actual) from exc


@app.get("/profiles/{user_id}")
async def read_profile(user_id: str) -> Profile:
    return await Profile.get(user_id)


@app.patch("/profiles/{user_id}")
async def update_profile(user_id: str, body: ProfilePatch) -> Profile:
    profile = await Profile.get(user_id)
    profile.version = body.version  # the client's copy decides: stale -> 409
    if body.name is not None:
        profile.name = body.name
    if body.email is not None:
        profile.email = body.email
    return await profile.save()


@app.delete("/profiles/{user_id}", status_code=204)
async def delete_profile(user_id: str) -> None:
    await (await Profile.get(user_id)).delete()


@app.get("/orgs/{org}/profiles")
async def list_profiles(
    org: str,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProfilePage:
    # dynorm binds the cursor to this org: another org's cursor is InvalidCursor (400)
    page = await Profile.by_org.query(attr(Profile.org) == org).page(size=limit,
                                                                     cursor=cursor)
    return ProfilePage(items=list(page.items), cursor=page.cursor)


__all__ = ["app"]
