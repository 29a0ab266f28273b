"""The FastAPI example through FastAPI's TestClient (lifespan included) on the moto server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import dynorm
from examples.fastapi_app import app


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
