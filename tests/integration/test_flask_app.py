"""The Flask example (the FastAPI example's API on the blocking API) on the test server:
through Flask's test client, and served by a threaded WSGI server to concurrent clients."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import dynorm
from dynorm import LocalServer
from examples.flask_app import HTTP_STATUS, Profile, create_app


@pytest.fixture
def app(dynorm_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    dynorm_server.reset()
    monkeypatch.setenv("DYNORM_ENDPOINT_URL", dynorm_server.endpoint_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    app = create_app()
    try:
        yield app
    finally:
        app.extensions["dynorm_close"]()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def profile(i: int, org: str = "acme") -> dict[str, str]:
    return {"user_id": f"u{i:02d}", "org": org, "name": f"User {i}", "email": f"u{i}@x.io"}


_DYNAMODB_WORDS = ("Exception", "PutItem", "GetItem", "Query", "DynamoDB", "dynorm",
                   "flask-profiles", "version 0")


def assert_clean(body: str) -> None:
    for word in _DYNAMODB_WORDS:
        assert word not in body, (word, body)


def test_create_read_and_404(client: FlaskClient) -> None:
    created = client.post("/profiles", json=profile(1))
    assert created.status_code == 201
    assert created.get_json()["version"] == 1
    assert client.get("/profiles/u01").get_json()["name"] == "User 1"
    missing = client.get("/profiles/nobody")
    assert missing.status_code == 404
    assert missing.get_json() == {"detail": "profile 'nobody' not found"}


def test_duplicate_create_says_already_exists(client: FlaskClient) -> None:
    assert client.post("/profiles", json=profile(1)).status_code == 201
    again = client.post("/profiles", json=profile(1))
    assert again.status_code == 409
    assert again.get_json() == {"detail": "profile 'u01' already exists", "current_version": 1}


def test_update_with_version_conflict(client: FlaskClient) -> None:
    client.post("/profiles", json=profile(2))
    first = client.patch("/profiles/u02", json={"version": 1, "name": "Ada"})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    stale = client.patch("/profiles/u02", json={"version": 1, "name": "Bob"})
    assert stale.status_code == 409
    assert stale.get_json()["current_version"] == 2
    assert stale.get_json()["detail"].startswith("version conflict: you sent version 1")
    assert_clean(stale.get_data(as_text=True))
    assert client.get("/profiles/u02").get_json()["name"] == "Ada"


def test_delete(client: FlaskClient) -> None:
    client.post("/profiles", json=profile(3))
    assert client.delete("/profiles/u03").status_code == 204
    assert client.get("/profiles/u03").status_code == 404


def test_list_with_cursor_pagination(client: FlaskClient) -> None:
    for i in range(7):
        client.post("/profiles", json=profile(i))
    client.post("/profiles", json=profile(50, org="other"))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/orgs/acme/profiles", query_string=query).get_json()
        seen += [p["user_id"] for p in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == [f"u{i:02d}" for i in range(7)]
    tampered = client.get("/orgs/acme/profiles", query_string={"cursor": "x" + "abc"})
    assert tampered.status_code == 400
    assert client.get("/orgs/acme/profiles", query_string={"limit": 0}).status_code == 422


def test_cursor_of_another_org_is_400(client: FlaskClient) -> None:
    for i in range(4):
        client.post("/profiles", json=profile(i))
    cursor = client.get("/orgs/acme/profiles", query_string={"limit": 2}).get_json()["cursor"]
    assert cursor
    refused = client.get("/orgs/other/profiles", query_string={"cursor": cursor})
    assert refused.status_code == 400
    assert refused.get_json()["detail"].startswith("invalid cursor")
    assert_clean(refused.get_data(as_text=True))


def test_bad_values_are_4xx_in_the_apps_words(client: FlaskClient) -> None:
    empty_key = client.post("/profiles", json={**profile(1), "user_id": ""})
    assert empty_key.status_code == 422
    assert empty_key.get_json()["detail"].startswith("user_id: must be a non-empty string")
    too_large = client.post("/profiles", json={**profile(1), "name": "x" * 420_000})
    assert too_large.status_code == 413
    assert client.post("/profiles", json={"user_id": "u1"}).status_code == 422
    for answer in (empty_key, too_large):
        assert_clean(answer.get_data(as_text=True))


def test_every_dynorm_exception_has_the_fastapi_examples_status() -> None:
    """The two examples answer alike (the FastAPI example's table is the reference)."""
    from examples.fastapi_app import HTTP_STATUS as FASTAPI_STATUS

    assert HTTP_STATUS == FASTAPI_STATUS


def test_server_side_errors_are_503(client: FlaskClient, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise dynorm.TransportError("GetItem: connection refused to http://db:8000")

    monkeypatch.setattr(Profile, "get", fail)  # the blocking twin runs the async one
    answer = client.get("/profiles/u01")
    assert answer.status_code == 503 and answer.headers.get("Retry-After") == "1"
    assert answer.get_json() == {"detail": "the database is unavailable; retry later"}


def test_a_threaded_wsgi_server_serves_concurrent_requests(app: Flask) -> None:
    """Flask's own threaded server, 16 clients at once: every request thread uses the one
    connection configured at start-up."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def send(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def user(i: int) -> tuple[int, int, str]:
        created, _ = send("POST", "/profiles", profile(i))
        updated, body = send("PATCH", f"/profiles/u{i:02d}", {"version": 1, "name": f"N{i}"})
        stale, _ = send("PATCH", f"/profiles/u{i:02d}", {"version": 1, "name": "late"})
        return created, updated if body["version"] == 2 else -1, f"{stale}"

    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(user, range(32)))
        assert results == [(201, 200, "409")] * 32
        status, page = send("GET", "/orgs/acme/profiles?limit=100")
        assert status == 200
        assert [p["name"] for p in page["items"]] == [f"N{i}" for i in range(32)]
    finally:
        server.shutdown()
        thread.join()
