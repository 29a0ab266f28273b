"""The fast transport picks endpoints the way botocore does."""

from __future__ import annotations

import aioboto3
import pytest

from dynorm.transport.fast import FastTransport


def endpoints(t: FastTransport) -> tuple[str, str]:
    return str(t._main.url), str(t._streams.url)


def session() -> aioboto3.Session:
    return aioboto3.Session(aws_access_key_id="k", aws_secret_access_key="s",
                            region_name="eu-west-1")


def test_public_endpoints_by_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
                "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"):
        monkeypatch.delenv(var, raising=False)
    assert endpoints(FastTransport(session())) == (
        "https://dynamodb.eu-west-1.amazonaws.com/",
        "https://streams.dynamodb.eu-west-1.amazonaws.com/",
    )
    assert endpoints(FastTransport(session(), region="cn-north-1"))[0] == (
        "https://dynamodb.cn-north-1.amazonaws.com.cn/"
    )


def test_botocore_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    main, streams = endpoints(FastTransport(session()))
    assert main.startswith("http://127.0.0.1:8000")
    assert streams.startswith("http://127.0.0.1:9000")


def test_explicit_endpoint_serves_both() -> None:
    main, streams = endpoints(FastTransport(session(), endpoint_url="http://127.0.0.1:7000"))
    assert main == streams and main.startswith("http://127.0.0.1:7000")
