"""The fast transport picks endpoints the way botocore does."""

from __future__ import annotations

import os
from pathlib import Path

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


def test_endpoints_from_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile's ``endpoint_url`` and ``[services]`` section, and its FIPS/dual-stack
    settings, count as botocore counts them (read without botocore)."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    config = tmp_path / "config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    config.write_text("[default]\nservices = local\nendpoint_url = http://127.0.0.1:9100\n"
                      "[services local]\ndynamodb =\n  endpoint_url = http://127.0.0.1:9000\n"
                      "[profile fips]\nuse_fips_endpoint = true\n"
                      "[profile dual]\nuse_dualstack_endpoint = TRUE\n")
    transport = FastTransport(region="eu-west-1", aws_access_key_id="k",
                              aws_secret_access_key="s")
    assert endpoints(transport) == ("http://127.0.0.1:9000", "http://127.0.0.1:9100")
    assert not transport._ask_botocore
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9200")  # env first
    assert endpoints(FastTransport(region="eu-west-1"))[0] == "http://127.0.0.1:9200"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert endpoints(FastTransport(region="eu-west-1"))[0] == (
        "https://dynamodb.eu-west-1.amazonaws.com/")
    for profile in ("fips", "dual"):
        assert FastTransport(region="eu-west-1", profile=profile)._ask_botocore
    assert not FastTransport(region="eu-west-1")._ask_botocore
    assert FastTransport(region="us-isob-east-1")._ask_botocore  # another partition
