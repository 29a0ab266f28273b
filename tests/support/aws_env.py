"""An AWS environment of the test's own: no AWS_* variable from outside, HOME and both
shared files in a temporary directory, IMDS disabled unless a test points it somewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


class AwsFiles:
    """The temporary ``config`` and ``credentials`` files of one test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config = directory / "config"
        self.credentials = directory / "credentials"

    def write(self, config: str = "", credentials: str = "") -> None:
        self.config.write_text(config)
        self.credentials.write_text(credentials)

    def token_file(self, text: str, name: str = "token") -> str:
        path = self.directory / name
        path.write_text(text)
        return str(path)


def isolate(monkeypatch: pytest.MonkeyPatch, directory: Path) -> AwsFiles:
    for name in list(os.environ):
        if name.startswith(("AWS_", "BOTO_")) or name in (
                "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                "all_proxy", "DYNORM_TRANSPORT", "DYNORM_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    home = directory / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    files = AwsFiles(directory)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return files
