"""The FastAPI example through FastAPI's TestClient (lifespan included) on the moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import dynorm
from examples.fastapi_app import HTTP_STATUS, Profile, app


@pytest.fixture
def client(dynorm_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    dynorm_server.reset()
    monkeypatch.setenv("DYNORM_ENDPOINT_URL", dynorm_server.endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with TestClient(app) as c:
        yield c


def test_aws_settings_alone_keep_the_embedded_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_REGION and credentials do not switch the app to AWS (issue 17): only
    DYNORM_ENDPOINT_URL or DYNORM_EXAMPLE_AWS=1 do."""
    for name in ("DYNORM_ENDPOINT_URL", "DYNORM_EXAMPLE_AWS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with TestClient(app) as c:
        assert c.post("/profiles", json=profile(1)).status_code == 201
        endpoint = dynorm.get_connection().endpoint_url
        assert endpoint is not None and endpoint.startswith("http://127.0.0.1:"), endpoint


def profile(i: int, org: str = "acme") -> dict[str, str]:
    return {"user_id": f"u{i:02d}", "org": org, "name": f"User {i}", "email": f"u{i}@x.io"}


def test_create_read_and_404(client: TestClient) -> None:
    created = client.post("/profiles", json=profile(1))
    assert created.status_code == 201
    assert created.json()["version"] == 1
    assert client.get("/profiles/u01").json()["name"] == "User 1"
    missing = client.get("/profiles/nobody")
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]


def test_duplicate_create_is_409(client: TestClient) -> None:
    assert client.post("/profiles", json=profile(1)).status_code == 201
    again = client.post("/profiles", json=profile(1))
    assert again.status_code == 409
    assert again.json()["current_version"] == 1


def test_update_with_version_conflict(client: TestClient) -> None:
    client.post("/profiles", json=profile(2))
    first = client.patch("/profiles/u02", json={"version": 1, "name": "Ada"})
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = client.patch("/profiles/u02", json={"version": 1, "name": "Bob"})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert client.get("/profiles/u02").json()["name"] == "Ada"


def test_delete(client: TestClient) -> None:
    client.post("/profiles", json=profile(3))
    assert client.delete("/profiles/u03").status_code == 204
    assert client.get("/profiles/u03").status_code == 404


def test_list_with_cursor_pagination(client: TestClient) -> None:
    for i in range(7):
        client.post("/profiles", json=profile(i))
    client.post("/profiles", json=profile(50, org="other"))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/orgs/acme/profiles", params=params).json()
        seen += [p["user_id"] for p in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == [f"u{i:02d}" for i in range(7)]
    tampered = client.get("/orgs/acme/profiles", params={"cursor": "x" + (cursor or "abc")})
    assert tampered.status_code == 400


# Issue 17: every dynorm exception has a status, and clients never read DynamoDB's words.

_DYNAMODB_WORDS = ("Exception", "PutItem", "GetItem", "Query", "DynamoDB", "dynorm",
                   "fastapi-profiles", "version 0")


def assert_clean(body: str) -> None:
    for word in _DYNAMODB_WORDS:
        assert word not in body, (word, body)


def test_every_dynorm_exception_has_a_status() -> None:
    expected = {
        "InvalidCursor": 400, "ExpressionError": 400, "ItemNotFound": 404,
        "ConditionFailed": 409, "VersionConflict": 409, "TransactionCanceled": 409,
        "ItemTooLarge": 413, "EncodingError": 422, "InvalidKey": 422,
        "Throttled": 503, "ServerError": 503, "TransportError": 503, "TableNotFound": 503,
        "ResourceInUse": 503, "ConnectionNotConfigured": 503, "LocalServerError": 503,
        "BatchWriteFailed": 503, "BatchGetFailed": 503, "BlockingCallInEventLoop": 500,
        "DynormError": 500, "SchemaError": 500, "ValidationFailed": 500, "PartialCopy": 500,
        "RequestRejected": 500, "ServiceError": 500, "InvalidTransaction": 500,
        "InvalidBatch": 500, "StreamError": 500, "StreamNotEnabled": 500,
        "PlanError": 500,  # a table plan that cannot be applied: a deployment problem
        "ReplicatedWriteConflict": 409, "KeyringError": 503, "DecryptionFailed": 500,
        "UpgradeFailed": 500,
    }
    public = {name: getattr(dynorm, name) for name in dynorm.__all__
              if isinstance(getattr(dynorm, name), type)
              and issubclass(getattr(dynorm, name), dynorm.DynormError)}
    assert sorted(public) == sorted(expected), "decide the status of a new exception here"
    for name, cls in public.items():
        status = next(HTTP_STATUS[c] for c in cls.__mro__ if c in HTTP_STATUS)
        assert status == expected[name], name


def test_empty_user_id_is_422(client: TestClient) -> None:
    answer = client.post("/profiles", json={**profile(1), "user_id": ""})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("user_id: must be a non-empty string")
    assert_clean(answer.text)


def test_oversized_body_is_413(client: TestClient) -> None:
    answer = client.post("/profiles", json={**profile(1), "name": "x" * 420_000})
    assert answer.status_code == 413, answer.text
    assert "too large" in answer.json()["detail"]
    assert_clean(answer.text)


def test_duplicate_create_says_already_exists(client: TestClient) -> None:
    assert client.post("/profiles", json=profile(1)).status_code == 201
    again = client.post("/profiles", json=profile(1))
    assert again.status_code == 409
    assert again.json() == {"detail": "profile 'u01' already exists", "current_version": 1}


def test_stale_update_is_409_in_the_apps_words(client: TestClient) -> None:
    client.post("/profiles", json=profile(2))
    client.patch("/profiles/u02", json={"version": 1, "name": "Ada"})
    stale = client.patch("/profiles/u02", json={"version": 1, "name": "Bob"})
    assert stale.status_code == 409
    assert stale.json()["detail"].startswith("version conflict: you sent version 1, the stored")
    assert_clean(stale.text)


def test_404_in_the_apps_words(client: TestClient) -> None:
    missing = client.get("/profiles/nobody")
    assert missing.json() == {"detail": "profile 'nobody' not found"}


def test_cursor_of_another_org_is_400(client: TestClient) -> None:
    for i in range(4):
        client.post("/profiles", json=profile(i))
    client.post("/profiles", json=profile(50, org="other"))
    cursor = client.get("/orgs/acme/profiles", params={"limit": 2}).json()["cursor"]
    assert cursor
    assert client.get("/orgs/acme/profiles", params={"cursor": cursor}).status_code == 200
    refused = client.get("/orgs/other/profiles", params={"cursor": cursor})
    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"].startswith("invalid cursor")
    assert_clean(refused.text)


@pytest.mark.parametrize(("error", "status"), [
    (dynorm.Throttled("Rate exceeded", code="ThrottlingException", operation="GetItem"), 503),
    (dynorm.ServerError("boom", code="InternalServerError", operation="GetItem"), 503),
    (dynorm.TransportError("GetItem: connection refused to http://db:8000"), 503),
    (dynorm.TableNotFound("Requested resource not found", code="ResourceNotFoundException",
                          operation="GetItem"), 503),
    (dynorm.RequestRejected("One or more parameter values were invalid",
                            code="ValidationException", operation="GetItem"), 500),
    (dynorm.ValidationFailed("Profile: stored item does not fit", model="Profile",
                             table="fastapi-profiles", key={}, fields=["email"]), 500),
])
def test_server_side_errors(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                            error: dynorm.DynormError, status: int) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(Profile, "get", fail)
    answer = client.get("/profiles/u01")
    assert answer.status_code == status
    assert answer.json()["detail"] in ("the database is unavailable; retry later",
                                       "internal error")
    assert (answer.headers.get("Retry-After") == "1") == (status == 503)
    assert_clean(answer.text)
