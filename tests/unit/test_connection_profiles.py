"""An unknown AWS profile is a dynorm error naming the profile and the fix (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dynorm


@pytest.fixture(autouse=True)
def no_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("[profile real]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


@pytest.mark.parametrize("transport", ["fast", "aioboto3"])
async def test_unknown_profile_argument(transport: str) -> None:
    with pytest.raises(dynorm.ConnectionNotConfigured) as caught:
        async with dynorm.connect(profile="nope", region="us-east-1", transport=transport):
            pass
    message = str(caught.value)
    assert "AWS profile 'nope' (profile='nope')" in message
    assert "aws configure --profile nope" in message
    assert type(caught.value.__cause__).__name__ == "ProfileNotFound"


@pytest.mark.parametrize("transport", ["fast", "aioboto3"])
async def test_unknown_profile_in_the_environment(
        transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(dynorm.ConnectionNotConfigured, match=r"\(AWS_PROFILE=nope\)") as caught:
        await dynorm.configure(region="us-east-1", transport=transport)
    assert "unset AWS_PROFILE" in str(caught.value)
    with pytest.raises(dynorm.ConnectionNotConfigured):  # still none configured
        dynorm.get_connection()
