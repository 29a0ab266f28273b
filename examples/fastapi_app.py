"""A FastAPI service on dynorm: user profiles with cursor pagination and optimistic locking.

The lifespan opens the dynorm connection and closes it on shutdown. It starts the
embedded local backend unless told otherwise, explicitly: ``DYNORM_ENDPOINT_URL`` (a
server you run) or ``DYNORM_EXAMPLE_AWS=1`` (real AWS; ``dynorm.configure()`` then reads
the usual AWS settings). AWS credentials or ``AWS_REGION`` in the environment never
switch it to AWS.

Run it::

    pip install -e '.[examples]'
    uvicorn examples.fastapi_app:app

Errors map to HTTP: ItemNotFound -> 404, VersionConflict / ConditionFailed -> 409,
InvalidCursor -> 400.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import dynorm
from dynorm import GlobalIndex, Model, PartitionKey, Version, attr
from dynorm.pagination import InvalidCursor


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
    """A change to a profile; ``version`` is the one the client read (optimistic locking)."""

    version: int
    name: str | None = None
    email: str | None = None


class ProfilePage(BaseModel):
    items: list[Profile]
    cursor: str | None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    server = None
    if not os.environ.get("DYNORM_ENDPOINT_URL") and os.environ.get("DYNORM_EXAMPLE_AWS") != "1":
        server = dynorm.local_server().start()  # not told otherwise: the embedded backend
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


@app.exception_handler(dynorm.ItemNotFound)
async def not_found(request: Request, exc: dynorm.ItemNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


@app.exception_handler(dynorm.ConditionFailed)
async def conflict(request: Request, exc: dynorm.ConditionFailed) -> JSONResponse:
    current = exc.item.version if isinstance(exc.item, Profile) else None
    return JSONResponse({"detail": str(exc), "current_version": current}, status_code=409)


@app.exception_handler(InvalidCursor)
async def bad_cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


@app.post("/profiles", status_code=201)
async def create_profile(body: ProfileIn) -> Profile:
    profile = Profile(**body.model_dump())
    return await profile.save()  # version 0: refused (409) if the user_id exists


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
    page = await Profile.by_org.query(attr(Profile.org) == org).page(size=limit, cursor=cursor)
    return ProfilePage(items=list(page.items), cursor=page.cursor)


__all__ = ["app"]
