"""How requests reach DynamoDB: a one-method `Transport` Protocol.

Everything above this package builds plain request dicts; a transport sends them and
returns the parsed response, raising dynorm's exceptions (never botocore's).

* `Aioboto3Transport` — aioboto3's low-level client (the AWS credential chain).
* `FastTransport` — dynorm's own SigV4 signer and keep-alive HTTP client posting
  the already-built JSON; it finds credentials and the region itself, in botocore's
  order, importing botocore only for the sources it leaves to it (SSO,
  ``credential_process``, assume-role profiles, a session passed in).
* `MockTransport` — records requests and answers from a handler, for unit tests.
"""

from dynorm.transport.base import RetryPolicy, Transport
from dynorm.transport.mock import MockTransport

__all__ = ["Aioboto3Transport", "FastTransport", "MockTransport", "RetryPolicy", "Transport"]


def __getattr__(name: str) -> object:
    # Neither is imported with the package: aioboto3/botocore cost ~0.3 s to import (and
    # the fast transport needs them only for what it leaves to botocore).
    if name == "Aioboto3Transport":
        from dynorm.transport.aioboto3 import Aioboto3Transport

        return Aioboto3Transport
    if name == "FastTransport":
        from dynorm.transport.fast import FastTransport

        return FastTransport
    raise AttributeError(name)
