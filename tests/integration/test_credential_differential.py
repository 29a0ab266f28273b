"""dynorm's credential chain and botocore's pick the same keys and region.

For each environment and pair of shared files, botocore's own chain
(``botocore.session.Session(...).get_credentials()``) and dynorm's
(``find_source(load_config(...))``) run against the same local fakes of the container,
STS and IMDS endpoints (which hand both the same answer), and must agree on the access
key, the secret, the session token and the region, or both find none.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dynorm.transport._config import load_config
from dynorm.transport._credentials import find_source
from tests.support.aws_env import AwsFiles, isolate
from tests.support.credential_fakes import FakeAws, fake_aws

STATIC = "aws_access_key_id = {k}\naws_secret_access_key = {k}-secret\n"
ENV_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
            "AWS_SESSION_TOKEN": "env-token"}
WEB = {"AWS_WEB_IDENTITY_TOKEN_FILE": "{token}", "AWS_ROLE_ARN": "{role}",
       "AWS_ENDPOINT_URL_STS": "{fake}"}
IMDS = {"AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": "{fake}"}


@dataclass
class Case:
    env: dict[str, str | None] = field(default_factory=dict)
    config: str = ""
    credentials: str = ""
    profile: str | None = None  # connect(profile=...)
    imds_v1_only: bool = False


CASES = {
    "env keys (Lambda)": Case({**ENV_KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}),
    "env keys over AWS_PROFILE's": Case(
        {**ENV_KEYS, "AWS_PROFILE": "dev"}, credentials="[dev]\n" + STATIC.format(k="DEV")),
    "explicit profile over env keys": Case(
        ENV_KEYS, credentials="[dev]\n" + STATIC.format(k="DEV"), profile="dev"),
    "credentials file, config region": Case(
        {}, config="[default]\nregion = ap-northeast-1\n",
        credentials="[default]\n" + STATIC.format(k="CRED") + "aws_session_token = t\n"),
    "config file profile": Case(
        {"AWS_PROFILE": "dev"},
        config="[profile dev]\nregion = us-west-1\n" + STATIC.format(k="CFG")),
    "credentials file over config file": Case(
        {"AWS_PROFILE": "dev"},
        config="[profile dev]\nregion = us-west-1\n" + STATIC.format(k="CFG"),
        credentials="[dev]\nregion = us-west-2\n" + STATIC.format(k="CRED")),
    "AWS_DEFAULT_PROFILE over AWS_PROFILE": Case(
        {"AWS_PROFILE": "a", "AWS_DEFAULT_PROFILE": "b"},
        credentials="[a]\n" + STATIC.format(k="A") + "[b]\n" + STATIC.format(k="B")),
    "AWS_DEFAULT_REGION over the profile's": Case(
        {"AWS_DEFAULT_REGION": "ca-central-1"}, config="[default]\nregion = eu-west-2\n"
        + STATIC.format(k="CFG")),
    "container, token": Case({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "{fake}/container/a",
                              "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"}),
    "container, token file": Case({
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{fake}/container/b",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "{auth_file}",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored"}),
    "web identity, environment": Case(
        {**WEB, "AWS_ROLE_SESSION_NAME": "pod", "AWS_DEFAULT_REGION": "eu-west-1"}),
    "web identity, profile": Case(
        {"AWS_ENDPOINT_URL_STS": "{fake}", "AWS_DEFAULT_REGION": "us-east-2"},
        config="[default]\nweb_identity_token_file = {token}\nrole_arn = {role}\n"),
    "web identity over the profile's keys": Case(
        WEB, credentials="[default]\n" + STATIC.format(k="CRED")),
    "IMDSv2": Case(IMDS),
    "IMDSv1 fallback": Case(IMDS, imds_v1_only=True),
    "container over IMDS": Case(
        {**IMDS, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{fake}/container/c"}),
    "config keys over container": Case(
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "{fake}/container/d"},
        config="[default]\n" + STATIC.format(k="CFG")),
    "credential_process (botocore)": Case(
        {}, config="[default]\nregion = eu-central-1\n"
        "credential_process = {python} {process}\n"),
    "nothing at all": Case({}),
}

PROCESS = ('import json; print(json.dumps({"Version": 1, "AccessKeyId": "AKIAPROC", '
           '"SecretAccessKey": "proc-secret", "SessionToken": "proc-token"}))')


@pytest.fixture
def fake() -> Iterator[FakeAws]:
    with fake_aws() as server:
        server.container_token = None
        yield server


def prepare(case: Case, files: AwsFiles, fake: FakeAws,
            monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"fake": fake.url, "token": files.token_file(fake.web_identity_token),
              "auth_file": files.token_file("tok", "auth"), "role": fake.role_arn,
              "python": sys.executable, "process": files.token_file(PROCESS, "proc.py")}
    files.write(case.config.format(**values), case.credentials.format(**values))
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.format(**values))
    fake.imds_v1_only = case.imds_v1_only
    if "AWS_CONTAINER_AUTHORIZATION_TOKEN" in case.env:
        fake.container_token = "tok"


def botocore_chain(profile: str | None) -> tuple[Any, str | None]:
    import botocore.session

    session = botocore.session.Session(profile=profile)
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    keys = (frozen.access_key, frozen.secret_key, frozen.token) if frozen else None
    return keys, session.get_config_variable("region")


async def dynorm_chain(profile: str | None) -> tuple[Any, str | None]:
    config = load_config(profile)
    source = find_source(config, region=config.region or "us-east-1")
    found = await source.fetch() if source is not None else None
    keys = (found.access_key, found.secret_key, found.token) if found else None
    return keys, config.region


@pytest.mark.parametrize("name", list(CASES))
async def test_same_credentials_and_region_as_botocore(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeAws) -> None:
    case = CASES[name]
    files = isolate(monkeypatch, tmp_path)
    prepare(case, files, fake, monkeypatch)
    theirs = await asyncio.to_thread(botocore_chain, case.profile)
    fake.counts.clear()  # the fakes hand dynorm the very answer botocore had
    ours = await dynorm_chain(case.profile)
    assert ours == theirs
    if name != "nothing at all":
        assert ours[0] is not None  # every other case finds credentials
