"""AWS credentials for the fast transport: botocore's chain, without botocore when it can.

`find_source` walks botocore's credential chain in botocore's order (botocore 1.40's
``create_credential_resolver``) and returns the first source that applies:

1. explicit keys (``connect(aws_access_key_id=..., aws_secret_access_key=...)``);
2. ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), unless a
   profile was passed to ``connect()``;
3. a profile with ``role_arn`` (an assume-role chain): **botocore**;
4. web identity: ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN`` (or the profile's
   ``web_identity_token_file`` + ``role_arn``), exchanged at STS;
5. a profile with ``sso_*`` settings: **botocore**;
6. the profile's static keys in the credentials file;
7. a profile with ``credential_process``: **botocore**;
8. the profile's static keys in the config file;
9. ``AWS_CREDENTIAL_FILE``, ``BOTO_CONFIG``, ``/etc/boto.cfg``, ``~/.boto`` (legacy
   files): **botocore**;
10. container credentials (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` or ``_FULL_URI``);
11. EC2 instance metadata (IMDSv2), unless ``AWS_EC2_METADATA_DISABLED=true``.

"botocore" means the whole chain is handed to ``botocore.session.Session`` (imported only
then), which arrives at the same step. `CredentialRefresher` keeps temporary credentials
fresh (see its docstring for the windows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from dynorm.exceptions import ConnectionNotConfigured, TransportError
from dynorm.transport._config import AwsConfig

__all__ = ["Botocore", "CredentialRefresher", "Credentials", "Source", "Static",
           "find_source", "no_credentials"]

log = logging.getLogger(__name__)


def _now() -> float:
    """The clock of refreshes (a function, so tests can move it)."""
    return time.time()


@dataclass(frozen=True, repr=False)
class Credentials:
    """One set of keys. ``expiry``: epoch seconds, None for keys that do not expire."""

    access_key: str
    secret_key: str
    token: str | None = None
    expiry: float | None = None
    source: str = "explicit"

    def __repr__(self) -> str:  # never the secret
        return (f"Credentials(access_key={self.access_key!r}, source={self.source!r}, "
                f"expiry={self.expiry!r})")


class Source(Protocol):
    """Where credentials come from.

    ``name``: botocore's name for the method (``env``, ``iam-role``...). ``poll``: for a
    source whose credentials carry no expiry but may change (botocore's refreshable
    ones), seconds between two looks; None otherwise.
    """

    name: str
    poll: float | None

    async def fetch(self) -> Credentials | None:
        """Current credentials; None when the source has none (an instance without a role)."""
        ...


class Static:
    """Keys given once (explicit, or read from a file)."""

    poll: float | None = None

    def __init__(self, credentials: Credentials) -> None:
        self.name = credentials.source
        self._credentials = credentials

    async def fetch(self) -> Credentials:
        return self._credentials


class Environment:
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` (or
    ``AWS_SECURITY_TOKEN``), read again at each refresh when
    ``AWS_CREDENTIAL_EXPIRATION`` gives them an expiry."""

    name = "env"
    poll: float | None = None

    def __init__(self, environ: Any) -> None:
        self._environ = environ

    async def fetch(self) -> Credentials:
        env = self._environ
        secret = env.get("AWS_SECRET_ACCESS_KEY", "")
        if not secret:
            raise ConnectionNotConfigured(
                "Connection: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set "
                "both (or unset AWS_ACCESS_KEY_ID to use another credential source)")
        token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
        expiration = env.get("AWS_CREDENTIAL_EXPIRATION")
        return Credentials(env["AWS_ACCESS_KEY_ID"], secret, token,
                           parse_time(expiration) if expiration else None, "env")


class Botocore:
    """botocore's own chain (SSO, ``credential_process``, assume-role profiles, legacy
    files), or a session passed to ``connect(session=...)``.

    Only public methods: ``Session.get_credentials()`` and the credentials'
    ``get_frozen_credentials()``, which refreshes refreshable credentials itself when
    botocore's window comes; so refreshable ones are looked at every ``poll`` seconds.
    A botocore session's calls may block (a process, an SSO call), so they run in a
    thread; an aioboto3 session's are awaited.
    """

    name = "botocore"

    def __init__(self, session: Any = None, profile: str | None = None) -> None:
        self._aws_session = session
        self._profile = profile
        self._credentials: Any = None
        self.poll: float | None = None

    async def _call(self, method: Any) -> Any:
        import inspect

        owner = type(getattr(method, "__self__", None)).__module__
        try:
            if owner.startswith(("aioboto3", "aiobotocore")) or (
                    inspect.iscoroutinefunction(method)):
                result = method()  # aioboto3's methods return coroutines
            else:
                result = await asyncio.to_thread(method)
            return await result if isinstance(result, Awaitable) else result
        except Exception as exc:
            error = _botocore_error(exc)
            if error is exc:
                raise
            raise error from exc

    async def fetch(self) -> Credentials | None:
        if self._credentials is None:
            session = self._aws_session
            if session is None:
                import botocore.session

                session = self._aws_session = botocore.session.Session(profile=self._profile)
            self._credentials = await self._call(session.get_credentials)
            if self._credentials is None:
                return None
            self.poll = 60.0 if callable(getattr(self._credentials, "refresh_needed", None)) \
                else None
        frozen = await self._call(self._credentials.get_frozen_credentials)
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None,
                           None, "botocore")


def _botocore_error(exc: Exception) -> Exception:
    """botocore's errors (an expired SSO token, a failing ``credential_process``) as
    dynorm's: not retried, not sent."""
    if type(exc).__module__.startswith(("botocore", "aiobotocore")):
        if type(exc).__name__ == "ProfileNotFound":
            from dynorm.transport._config import ProfileNotFound

            return ProfileNotFound(str(getattr(exc, "kwargs", {}).get("profile")),
                                   "AWS_PROFILE")
        return TransportError(f"{type(exc).__name__}: {exc}", sent=False, retryable=False)
    return exc


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 time as AWS writes them (``2024-01-01T00:00:00Z``,
    fractions and offsets allowed; no offset means UTC)."""
    from datetime import datetime, timezone

    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        # Python 3.10 reads at most 6 digits of fraction
        head, dot, rest = value.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        moment = datetime.fromisoformat(head + (dot + digits[:6] if dot else "")
                                        + rest[len(digits):])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _legacy_files(environ: Any) -> bool:
    """botocore's OriginalEC2Provider and BotoProvider would be asked (steps 9)."""
    if "AWS_CREDENTIAL_FILE" in environ:
        return True
    candidates = [environ["BOTO_CONFIG"]] if "BOTO_CONFIG" in environ else [
        "/etc/boto.cfg", "~/.boto"]
    return any(os.path.isfile(os.path.expanduser(path)) for path in candidates)


def _static(values: dict[str, Any], source: str) -> Credentials | None:
    key = values.get("aws_access_key_id")
    if not isinstance(key, str):
        return None
    secret = values.get("aws_secret_access_key")
    if not isinstance(secret, str):
        raise ConnectionNotConfigured(
            f"Connection: the AWS profile has aws_access_key_id but no "
            f"aws_secret_access_key ({source}): add it")
    token = values.get("aws_security_token") or values.get("aws_session_token") or None
    return Credentials(key, secret, token if isinstance(token, str) else None, None, source)


def find_source(config: AwsConfig, *, access_key: str | None = None,
                secret_key: str | None = None, token: str | None = None,
                region: str | None = None, tls: Any = None) -> Source | None:
    """The first source of botocore's chain that applies (see the module's docstring);
    None when none does (IMDS disabled).

    Args:
        config: the profile and environment.
        access_key: explicit credentials (win over everything).
        secret_key: the secret of ``access_key``.
        token: the session token of explicit temporary credentials.
        region: the region (for the STS endpoint of web identity).
        tls: a callable returning the ``ssl.SSLContext`` for HTTPS (STS).
    """
    env = config.environ
    if access_key is not None or secret_key is not None:
        if not access_key or not secret_key:
            raise ConnectionNotConfigured(
                "Connection: aws_access_key_id and aws_secret_access_key go together: pass "
                "both (or neither, to use the AWS credential chain)")
        return Static(Credentials(access_key, secret_key, token or None, None, "explicit"))
    if not config.explicit_profile and env.get("AWS_ACCESS_KEY_ID"):
        return Environment(env)
    from dynorm.transport import _metadata  # the sources that talk to an endpoint

    profile = config.profile
    # botocore reads AWS_PROFILE itself; a profile passed to connect() is passed on
    profile_name = config.profile_name if config.explicit_profile else None
    if "role_arn" in profile and "web_identity_token_file" not in profile:
        return Botocore(profile=profile_name)
    web = _metadata.web_identity(config, region, tls)
    if web is not None:
        return web
    if any(key.startswith("sso_") for key in profile):
        return Botocore(profile=profile_name)
    found = _static(config.credentials_profile, "shared-credentials-file")
    if found is not None:
        return Static(found)
    if "credential_process" in profile:
        return Botocore(profile=profile_name)
    found = _static(config.config_profile, "config-file")
    if found is not None:
        return Static(found)
    if _legacy_files(env):
        return Botocore(profile=profile_name)
    container = _metadata.container(config)
    if container is not None:
        return container
    return _metadata.instance_metadata(config)


def no_credentials() -> TransportError:
    """botocore's NoCredentialsError, as dynorm raises it."""
    return TransportError(
        "NoCredentialsError: Unable to locate credentials (configure the AWS credential "
        "chain, e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, or pass "
        "aws_access_key_id/aws_secret_access_key)", sent=False, retryable=False)


class CredentialRefresher:
    """Keeps a source's credentials fresh without holding up calls.

    botocore's two windows, and its rule of one refresh at a time:

    * from ``ADVISORY`` (15 minutes) before expiry, one refresh runs in the background;
      calls keep signing with the current credentials meanwhile, and a failed refresh
      is logged and tried again ``RETRY`` seconds later;
    * from ``MANDATORY`` (10 minutes) before expiry, calls wait for that one refresh
      (never start a second); if it fails they go on with the current credentials while
      these are still valid, and raise once they have expired.

    Credentials without an expiry are never refreshed, except a source's ``poll``.
    """

    ADVISORY = 15 * 60.0
    MANDATORY = 10 * 60.0
    RETRY = 10.0

    def __init__(self, source: Source) -> None:
        self.source = source
        self.current: Credentials | None = None
        #: time.time() from which `get` has work to do (the transport's cheap check).
        self.check_at = 0.0
        self._next_attempt = 0.0
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.refreshes = 0  # fetches started, for tests and logs

    async def _refresh(self) -> None:
        self.refreshes += 1
        try:
            found = await self.source.fetch()
            if found is None:
                raise no_credentials()
        except asyncio.CancelledError:
            raise  # closed
        except BaseException as exc:
            self._next_attempt = _now() + self.RETRY
            self._error = exc
            if self.current is not None:
                log.warning("refreshing AWS credentials (%s) failed, retry in %.0fs: %s",
                            self.source.name, self.RETRY, exc)
            raise
        finally:
            self._task = None
        self.current = found
        self._error = None
        if found.expiry is not None:
            self._next_attempt = found.expiry - self.ADVISORY
            if self._next_attempt <= _now():  # issued shorter than the window
                self._next_attempt = _now() + min(
                    self.RETRY * 6, max(self.RETRY, (found.expiry - _now()) / 2))
        elif self.source.poll is not None:
            self._next_attempt = _now() + self.source.poll
        else:
            self._next_attempt = float("inf")
        self.check_at = self._next_attempt
        log.debug("AWS credentials from %s (%s)", self.source.name, found.access_key)

    async def get(self) -> Credentials:
        """The credentials to sign with now (see the class docstring)."""
        now = _now()
        current = self.current
        task = self._task
        if task is None and now >= self._next_attempt:
            task = self._task = asyncio.get_running_loop().create_task(self._refresh())
            task.add_done_callback(_consume)
            self.check_at = 0.0  # every call looks until the refresh ends
        if task is not None and (current is None or (
                current.expiry is not None and now >= current.expiry - self.MANDATORY)):
            try:
                await asyncio.shield(task)
            except Exception:
                if current is None or _expired(current):
                    raise
        elif current is None and self._error is not None:
            raise self._error  # the last attempt failed and none is running yet
        current = self.current
        if current is None:
            raise no_credentials()
        if _expired(current):
            raise TransportError(
                f"the AWS credentials ({self.source.name}) expired and could not be "
                f"refreshed: {self._error}", sent=False, retryable=True) from self._error
        if self._task is None:
            self.check_at = self._next_attempt
        return current

    async def close(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # cancelled, or failed: nothing to keep


def _expired(credentials: Credentials) -> bool:
    return credentials.expiry is not None and _now() >= credentials.expiry


def _consume(task: asyncio.Task[None]) -> None:
    # A background refresh nobody awaited: its error was logged (and kept) already.
    if not task.cancelled():
        task.exception()
