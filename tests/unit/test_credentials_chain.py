"""The fast transport's credential chain without the network: which source botocore's order
picks for an environment and files, the shared files as botocore reads them, the region,
and the refresher's windows (a fake clock, a scripted source)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from dynorm.exceptions import ConnectionNotConfigured, TransportError
from dynorm.transport import _credentials
from dynorm.transport._config import ProfileNotFound, load_config
from dynorm.transport._credentials import (
    CredentialRefresher,
    Credentials,
    find_source,
    parse_time,
)
from tests.support.aws_env import AwsFiles, isolate


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    return isolate(monkeypatch, tmp_path)


def source_of(profile: str | None = None, **explicit: Any) -> Any:
    return find_source(load_config(profile), region="eu-west-1", **explicit)


async def keys(profile: str | None = None, **explicit: Any) -> tuple[str, str, str | None]:
    found = await source_of(profile, **explicit).fetch()
    return found.access_key, found.secret_key, found.token


STATIC = "aws_access_key_id = {k}\naws_secret_access_key = {k}-secret\n"


# ----------------------------------------------------------------------------- the order


async def test_explicit_keys_win(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert await keys(access_key="AK", secret_key="SK", token="T") == ("AK", "SK", "T")
    assert source_of(access_key="AK", secret_key="SK").name == "explicit"
    with pytest.raises(ConnectionNotConfigured, match="go together"):
        source_of(access_key="AK")


async def test_environment(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(credentials="[default]\n" + STATIC.format(k="file"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    assert source_of().name == "env"
    assert await keys() == ("env", "env-secret", "env-token")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "older-name")  # botocore reads it first
    assert await keys() == ("env", "env-secret", "older-name")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConnectionNotConfigured, match="AWS_SECRET_ACCESS_KEY is not"):
        await keys()


async def test_explicit_profile_ignores_the_environment(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(credentials="[dev]\n" + STATIC.format(k="dev"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert (await keys("dev"))[0] == "dev"            # connect(profile="dev")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert (await keys())[0] == "env"                 # AWS_PROFILE does not hide them


async def test_shared_files(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(
        config="[default]\nregion = eu-central-1\n" + STATIC.format(k="config-default")
        + "[profile dev]\n" + STATIC.format(k="config-dev")
        + "[profile only-config]\n" + STATIC.format(k="config-only")
        + "aws_session_token = cfg-token\n",
        credentials="[dev]\n" + STATIC.format(k="cred-dev")
        + "aws_session_token = cred-token\n")
    assert await keys() == ("config-default", "config-default-secret", None)
    assert source_of().name == "config-file"
    assert await keys("dev") == ("cred-dev", "cred-dev-secret", "cred-token")
    assert source_of("dev").name == "shared-credentials-file"
    assert await keys("only-config") == ("config-only", "config-only-secret", "cfg-token")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert (await keys())[0] == "cred-dev"
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "only-config")  # botocore reads it first
    assert (await keys())[0] == "config-only"


def test_files_as_botocore_reads_them(files: AwsFiles) -> None:
    files.write(config=(
        "[profile a]\nregion = us-west-2\ns3 =\n  addressing_style = path\n"
        "services = local\n"
        "[services local]\ndynamodb =\n  endpoint_url = http://127.0.0.1:9\n"
        "[profile  'quoted name' ]\nregion = ap-south-1\n"
        "[not-a-profile]\nregion = nowhere\n"))
    config = load_config("a")
    assert config.region == "us-west-2"
    assert config.profile["s3"] == {"addressing_style": "path"}
    assert config.endpoint_url("dynamodb") == "http://127.0.0.1:9"
    assert config.endpoint_url("dynamodb_streams") is None
    assert load_config("quoted name").region == "ap-south-1"
    with pytest.raises(ProfileNotFound):
        load_config("not-a-profile")
    files.write(config="[profile broken\nregion = x\n")
    with pytest.raises(ConnectionNotConfigured, match="cannot be read"):
        load_config()


def test_region_order(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(config="[default]\nregion = eu-north-1\n",
                credentials="[default]\nregion = eu-south-1\n")
    assert load_config().region == "eu-south-1"  # the credentials file's value wins
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert load_config().region == "us-east-2"
    monkeypatch.setenv("AWS_REGION", "ap-east-1")  # Lambda's, read first
    assert load_config().region == "ap-east-1"


def test_unknown_profiles(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(config="[profile real]\n")
    with pytest.raises(ProfileNotFound) as caught:
        load_config("nope")
    assert (caught.value.profile, caught.value.source) == ("nope", "profile=")
    monkeypatch.setenv("AWS_PROFILE", "gone")
    with pytest.raises(ProfileNotFound) as caught:
        load_config()
    assert (caught.value.profile, caught.value.source) == ("gone", "AWS_PROFILE")
    monkeypatch.setenv("AWS_PROFILE", "default")  # named, so it must exist (botocore)
    with pytest.raises(ProfileNotFound):
        load_config()
    monkeypatch.delenv("AWS_PROFILE")
    assert load_config().profile_name == "default"  # not named: may be absent


@pytest.mark.parametrize(("profile", "name"), [
    ("role_arn = arn:aws:iam::1:role/r\nsource_profile = base\n", "botocore"),
    ("sso_session = corp\nsso_account_id = 1\nsso_role_name = r\n", "botocore"),
    ("credential_process = /bin/true\n", "botocore"),
    ("role_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /tmp/t\n",
     "assume-role-with-web-identity"),
    ("region = eu-west-1\n", None),
])
def test_what_falls_back_to_botocore(files: AwsFiles, profile: str, name: str | None) -> None:
    files.write(config="[default]\n" + profile)
    found = source_of()
    assert (found.name if found is not None else None) == name


def test_chain_order_between_sources(files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    files.write(config="[default]\ncredential_process = /bin/true\n",
                credentials="[default]\n" + STATIC.format(k="cred"))
    assert source_of().name == "shared-credentials-file"  # step 6 before step 7
    token = files.token_file("jwt")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token)
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/web")
    assert source_of().name == "assume-role-with-web-identity"  # step 4 before 6
    files.write(config="")
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c")
    assert source_of().name == "container-role"
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")
    container = source_of()
    assert container.url == "http://169.254.170.2/v2/credentials/x"  # relative first
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    assert source_of() is None                          # IMDS disabled: nothing
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    imds = source_of()
    assert (imds.name, imds.base_url) == ("iam-role", "http://169.254.169.254/")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
    assert source_of().base_url == "http://[fd00:ec2::254]/"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
    assert source_of().base_url == "http://127.0.0.1:9/"
    monkeypatch.setenv("BOTO_CONFIG", str(files.credentials))  # a legacy file: botocore
    assert source_of().name == "botocore"


def test_container_and_web_identity_settings(
        files: AwsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds")
    with pytest.raises(ConnectionNotConfigured, match="loopback address"):
        source_of()
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/c")
    assert source_of().name == "container-role"  # EKS Pod Identity's host
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", files.token_file("jwt"))
    with pytest.raises(ConnectionNotConfigured, match="AWS_ROLE_ARN"):
        source_of()
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/web")
    web = source_of()
    assert web.url == "https://sts.eu-west-1.amazonaws.com/"
    assert find_source(load_config(), region="cn-north-1").url == (
        "https://sts.cn-north-1.amazonaws.com.cn/")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/")
    assert source_of().url == "http://127.0.0.1:9/"
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS")
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")  # botocore's endpoint rules
    assert source_of().name == "botocore"


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:01:00Z") == 60.0
    assert parse_time("1970-01-01T00:01:00.123456789Z") == pytest.approx(60.123456)
    assert parse_time("1970-01-01T01:01:00+01:00") == 60.0
    assert parse_time("1970-01-01T00:01:00") == 60.0  # no offset: UTC


# ---------------------------------------------------------------------------- refreshing


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr(_credentials, "_now", lambda: self.now)


class Scripted:
    """A source whose fetches wait for `release` and hand out K1, K2... valid ``life`` s."""

    name = "scripted"
    poll = None

    def __init__(self, clock: Clock, life: float = 3600.0) -> None:
        self.clock = clock
        self.life = life
        self.fetches = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def fetch(self) -> Credentials:
        self.fetches += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return Credentials(f"K{self.fetches}", "s", "t", self.clock.now + self.life, "scripted")


async def test_refresh_starts_fifteen_minutes_before_expiry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    source = Scripted(clock)
    refresher = CredentialRefresher(source)
    assert (await refresher.get()).access_key == "K1"
    assert refresher.check_at == clock.now + 3600 - 15 * 60
    clock.now += 3600 - 15 * 60 - 1
    assert (await refresher.get()).access_key == "K1"
    assert source.fetches == 1                       # not yet
    clock.now += 1
    source.release.clear()
    assert (await refresher.get()).access_key == "K1"  # started, not waited for
    await asyncio.sleep(0)
    assert source.fetches == 2 and refresher.check_at == 0.0
    source.release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert (await refresher.get()).access_key == "K2"
    assert refresher.check_at == clock.now + 3600 - 15 * 60


async def test_concurrent_calls_during_a_background_refresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Advisory window: one refresh; every call meanwhile signs with the valid keys."""
    clock = Clock(monkeypatch)
    source = Scripted(clock)
    refresher = CredentialRefresher(source)
    await refresher.get()
    clock.now += 3600 - 12 * 60  # 12 minutes left: advisory, not mandatory
    source.release.clear()
    got = await asyncio.wait_for(asyncio.gather(*(refresher.get() for _ in range(50))), 1)
    assert {c.access_key for c in got} == {"K1"}
    assert source.fetches == 2                       # one refresh for all fifty
    source.release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert (await refresher.get()).access_key == "K2" and source.fetches == 2


@pytest.mark.parametrize("left", [9 * 60, -1])  # mandatory window; already expired
async def test_concurrent_calls_wait_for_one_refresh_when_it_is_due(
        monkeypatch: pytest.MonkeyPatch, left: float) -> None:
    clock = Clock(monkeypatch)
    source = Scripted(clock)
    refresher = CredentialRefresher(source)
    await refresher.get()
    clock.now += 3600 - left
    source.release.clear()
    calls = [asyncio.ensure_future(refresher.get()) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert not any(call.done() for call in calls)   # they wait...
    source.release.set()
    got = await asyncio.gather(*calls)
    assert {c.access_key for c in got} == {"K2"}    # ...for the same, single refresh
    assert source.fetches == 2


async def test_failed_refreshes(monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(monkeypatch)
    source = Scripted(clock)
    refresher = CredentialRefresher(source)
    await refresher.get()
    source.fail = TransportError("endpoint down", sent=False)
    clock.now += 3600 - 14 * 60
    with caplog.at_level(logging.WARNING, logger="dynorm.transport._credentials"):
        assert (await refresher.get()).access_key == "K1"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert "refreshing AWS credentials (scripted) failed" in caplog.text
    assert (await refresher.get()).access_key == "K1" and source.fetches == 2
    clock.now += refresher.RETRY                   # tried again RETRY seconds later
    clock.now += 5 * 60                            # now in the mandatory window
    assert (await refresher.get()).access_key == "K1"  # waited, failed, still valid
    assert source.fetches == 3
    clock.now += 10 * 60                           # expired
    with pytest.raises(TransportError, match="endpoint down"):
        await refresher.get()
    source.fail = None
    clock.now += refresher.RETRY
    assert (await refresher.get()).access_key == "K5"


async def test_no_credentials_and_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    class Nothing:
        name = "iam-role"
        poll = None

        async def fetch(self) -> None:
            return None

    with pytest.raises(TransportError, match="Unable to locate credentials"):
        await CredentialRefresher(Nothing()).get()
    clock = Clock(monkeypatch)
    source = Scripted(clock)
    source.fail = TransportError("refused", sent=False)
    refresher = CredentialRefresher(source)
    with pytest.raises(TransportError, match="refused"):
        await refresher.get()
    with pytest.raises(TransportError, match="refused"):  # no new attempt before RETRY
        await refresher.get()
    assert source.fetches == 1


async def test_static_credentials_are_never_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    refresher = CredentialRefresher(_credentials.Static(Credentials("A", "S")))
    await refresher.get()
    assert refresher.check_at == float("inf")
    clock.now += 10**9
    assert (await refresher.get()).access_key == "A"
    assert repr(refresher.current) == (
        "Credentials(access_key='A', source='explicit', expiry=None)")  # no secret
