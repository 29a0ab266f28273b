"""The shared AWS configuration, read the way botocore reads it, without botocore.

Two INI files: the config file (``AWS_CONFIG_FILE``, default ``~/.aws/config``; sections
``[default]``, ``[profile NAME]``, ``[services NAME]``) and the credentials file
(``AWS_SHARED_CREDENTIALS_FILE``, default ``~/.aws/credentials``; sections named by
profile). The profile is the one passed to ``connect()``, else ``AWS_DEFAULT_PROFILE``,
else ``AWS_PROFILE``, else ``default``; a profile that is named but in neither file is
`ProfileNotFound`, as in botocore. A setting comes from its environment variable, else
from the profile, where the credentials file's values override the config file's (the
order of botocore's session variables).

Files that do not exist cost a ``stat`` each: on AWS Lambda nothing is parsed.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any

from dynorm.exceptions import ConnectionNotConfigured

__all__ = ["STANDARD_REGION", "AwsConfig", "ProfileNotFound", "load_config", "ssl_context"]

#: Regions of the partitions whose endpoints follow ``<service>.<region>.amazonaws.com``
#: (``.com.cn`` in China); any other region's endpoints come from botocore's rules.
STANDARD_REGION = re.compile(r"[a-z]{2}(?:-gov)?-[a-z]+-\d+")


class ProfileNotFound(LookupError):
    """A profile was asked for (``profile=`` or an environment variable) but neither file
    has it. The connection turns it into ``ConnectionNotConfigured`` naming the fix.

    Attributes:
        profile: the name asked for.
        source: where the name came from: ``"profile="``, the variable's name, or None
            when not known (botocore's error).
    """

    def __init__(self, profile: str, source: str | None) -> None:
        super().__init__(f"The config profile ({profile}) could not be found")
        self.profile = profile
        self.source = source


def _read_ini(path: str) -> dict[str, dict[str, Any]] | None:
    """botocore's ``raw_config_parse``: each section a dict; an indented block under a key
    (``s3 =`` then ``  addressing_style = path``) a nested dict. None: no such file."""
    path = os.path.expanduser(os.path.expandvars(path))
    if not os.path.isfile(path):
        return None
    import configparser  # only when there is a file to read

    parser = configparser.RawConfigParser()
    try:
        parser.read([path])
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConnectionNotConfigured(
            f"Connection: the AWS configuration file {path} cannot be read ({exc}): "
            "correct its syntax"
        ) from None
    parsed: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        values: dict[str, Any] = {}
        for option in parser.options(section):
            value = parser.get(section, option)
            if value.startswith("\n"):
                nested: dict[str, str] = {}
                for line in value.splitlines():
                    line = line.strip()
                    if line:
                        key, sep, inner = line.partition("=")
                        if not sep:
                            raise ConnectionNotConfigured(
                                f"Connection: the AWS configuration file {path}: the line "
                                f"{line!r} under {option!r} in [{section}] is not "
                                "'name = value'")
                        nested[key.strip()] = inner.strip()
                values[option] = nested
            else:
                values[option] = value
        parsed[section] = values
    return parsed


def _named_sections(parsed: Mapping[str, dict[str, Any]]
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """botocore's ``build_profile_map``: the profiles (``[default]``, ``[profile x]``)
    and the ``[services x]`` sections of a config file."""
    import shlex

    profiles: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    for key, values in parsed.items():
        kind = profiles if key.startswith("profile") else (
            services if key.startswith("services") else None)
        if kind is not None:
            try:
                parts = shlex.split(key)
            except ValueError:
                continue
            if len(parts) == 2:
                kind[parts[1]] = dict(values)
        elif key == "default":
            profiles[key] = dict(values)
    return profiles, services


class AwsConfig:
    """The configuration of one profile, as a connection reads it once when it opens.

    Attributes:
        profile_name: the profile in use (``"default"`` when none is named).
        explicit_profile: True when it was passed to ``connect(profile=...)``: botocore
            then ignores the environment's credentials (``AWS_ACCESS_KEY_ID``, web
            identity variables), and so does dynorm.
        profile: the profile's settings, the credentials file's over the config file's.
        config_profile: the profile's section of the config file alone.
        credentials_profile: the profile's section of the credentials file alone.
        config_file: the config file's path (as given, not expanded).
        credentials_file: the credentials file's path.
    """

    def __init__(self, *, profile_name: str, explicit_profile: bool,
                 config_profile: dict[str, Any], credentials_profile: dict[str, Any],
                 services: dict[str, dict[str, Any]], config_file: str,
                 credentials_file: str, environ: Mapping[str, str]) -> None:
        self.profile_name = profile_name
        self.explicit_profile = explicit_profile
        self.config_profile = config_profile
        self.credentials_profile = credentials_profile
        self.profile = {**config_profile, **credentials_profile}
        self.services = services
        self.config_file = config_file
        self.credentials_file = credentials_file
        self.environ = environ

    def __repr__(self) -> str:
        return f"AwsConfig(profile_name={self.profile_name!r})"  # never the values

    def get(self, name: str, env: str | None = None) -> str | None:
        """A setting: the environment variable ``env`` if set, else the profile's ``name``."""
        if env is not None:
            value = self.environ.get(env)
            if value is not None:
                return value
        value = self.profile.get(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str, env: str | None = None) -> bool:
        """A true/false setting (botocore's ``ensure_boolean``: only ``true``, any case)."""
        return (self.get(name, env) or "").lower() == "true"

    @property
    def region(self) -> str | None:
        """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's ``region``.

        (botocore reads ``AWS_DEFAULT_REGION`` only; dynorm reads ``AWS_REGION`` first, as
        the AWS Lambda runtime and the other AWS SDKs set and read it.)
        """
        return (self.environ.get("AWS_REGION") or self.environ.get("AWS_DEFAULT_REGION")
                or self.get("region") or None)

    def endpoint_url(self, service_id: str) -> str | None:
        """The configured endpoint of a service, botocore's order: ``AWS_ENDPOINT_URL_<ID>``,
        ``AWS_ENDPOINT_URL``, the profile's ``[services]`` section, its ``endpoint_url``.

        ``service_id``: the snake-case service id (``dynamodb``, ``dynamodb_streams``,
        ``sts``). None when ``ignore_configured_endpoint_urls`` is true.
        """
        if self.flag("ignore_configured_endpoint_urls", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
            return None
        url = (self.environ.get(f"AWS_ENDPOINT_URL_{service_id.upper()}")
               or self.environ.get("AWS_ENDPOINT_URL"))
        if url:
            return url
        section_name = self.profile.get("services")
        if isinstance(section_name, str):
            section = self.services.get(section_name)
            if not section:
                raise ConnectionNotConfigured(
                    f"Connection: the AWS profile {self.profile_name!r} refers to the "
                    f"services section {section_name!r}, which {self.config_file} does not "
                    f"have: add [services {section_name}] or remove 'services' from the "
                    "profile")
            service = section.get(service_id)
            if isinstance(service, dict) and service.get("endpoint_url"):
                return str(service["endpoint_url"])
        return self.get("endpoint_url")

    @property
    def ca_bundle(self) -> str | None:
        """``AWS_CA_BUNDLE``, else the profile's ``ca_bundle``."""
        return self.get("ca_bundle", "AWS_CA_BUNDLE") or None


def load_config(profile: str | None = None,
                environ: Mapping[str, str] | None = None) -> AwsConfig:
    """Read the two files for ``profile`` (None: the environment's, else ``default``).

    Raises:
        ProfileNotFound: the profile is named but in neither file.
        ConnectionNotConfigured: a file cannot be parsed.
    """
    env = os.environ if environ is None else environ
    source = "profile="
    if profile is None:
        for variable in ("AWS_DEFAULT_PROFILE", "AWS_PROFILE"):
            if env.get(variable):
                profile, source = env[variable], variable
                break
    config_file = env.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials_file = env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    parsed = _read_ini(config_file)
    profiles, services = _named_sections(parsed) if parsed else ({}, {})
    credentials = _read_ini(credentials_file) or {}
    name = profile or "default"
    if profile is not None and name not in profiles and name not in credentials:
        raise ProfileNotFound(name, source)
    return AwsConfig(profile_name=name, explicit_profile=source == "profile=" and
                     profile is not None,
                     config_profile=profiles.get(name, {}),
                     credentials_profile=credentials.get(name, {}), services=services,
                     config_file=config_file, credentials_file=credentials_file,
                     environ=env)


def _bundled_certificates() -> str | None:
    """The file botocore trusts by default: certifi's bundle when installed, else the one
    shipped with botocore; found without importing either."""
    for package in ("certifi", "botocore"):
        try:
            spec = find_spec(package)
        except (ImportError, ValueError):
            continue
        for directory in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(directory, "cacert.pem")
            if os.path.isfile(path):
                return path
    return None


def ssl_context(config: AwsConfig | None) -> ssl.SSLContext:
    """Certificates as botocore verifies them: ``AWS_CA_BUNDLE`` or the profile's
    ``ca_bundle``, else certifi's bundle (botocore's own without certifi), else the
    system's."""
    bundle = config.ca_bundle if config is not None else os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle or _bundled_certificates())
