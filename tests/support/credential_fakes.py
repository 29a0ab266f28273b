"""A fake of the AWS credential endpoints on 127.0.0.1, in a thread (botocore's fetchers
block, dynorm's are async: both can talk to it).

* ECS/EKS container credentials: ``GET /container`` (optionally checks ``Authorization``);
* STS ``AssumeRoleWithWebIdentity``: ``POST /`` (query protocol, XML answer);
* EC2 IMDS: ``PUT /latest/api/token``, ``GET /latest/meta-data/iam/security-credentials/``
  and ``.../<role>`` (IMDSv2, or IMDSv1 when ``imds_v1_only``).

Each answer carries fresh keys (``<PREFIX><n>`` where n counts that endpoint's answers),
so a test can tell a refresh from a cached value. ``delay`` holds the next answers back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeAws:
    port: int = 0
    lifetime: float = 3600.0  # seconds the credentials handed out stay valid
    delay: float = 0.0
    container_token: str | None = None  # the Authorization the container endpoint wants
    web_identity_token: str = "web-token"
    role_arn: str = "arn:aws:iam::123456789012:role/web"
    role_name: str = "ec2-role"
    imds_token: str = "imds-token-1"
    imds_v1_only: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next(self, kind: str) -> int:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return self.counts[kind]

    def credentials(self, kind: str, prefix: str) -> dict[str, str]:
        n = self._next(kind)
        return {"AccessKeyId": f"{prefix}{n}", "SecretAccessKey": f"{kind}-secret-{n}",
                "Token": f"{kind}-token-{n}", "Expiration": iso(time.time() + self.lifetime)}


def _handler(fake: FakeAws) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes | str, kind: str = "application/json"
                  ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body: bytes = b"") -> None:
            with fake.lock:
                fake.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers), "body": body})
            if fake.delay:
                time.sleep(fake.delay)

        def do_PUT(self) -> None:
            self._record()
            if self.path != "/latest/api/token":
                return self._send(404, "")
            if fake.imds_v1_only:
                return self._send(403, "")
            if not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                return self._send(400, "")
            return self._send(200, fake.imds_token, "text/plain")

        def do_GET(self) -> None:
            self._record()
            if self.path.startswith("/container"):
                if fake.container_token is not None and (
                        self.headers.get("Authorization") != fake.container_token):
                    return self._send(401, '{"message": "bad token"}')
                return self._send(200, json.dumps(fake.credentials("container", "ASIACONT")))
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path.startswith(base):
                token = self.headers.get("x-aws-ec2-metadata-token")
                if not fake.imds_v1_only and token != fake.imds_token:
                    return self._send(401, "")
                if self.path == base:
                    return self._send(200, fake.role_name, "text/plain")
                if self.path == base + fake.role_name:
                    body = fake.credentials("imds", "ASIAIMDS")
                    body.update(Code="Success", Type="AWS-HMAC",
                                LastUpdated=iso(time.time()))
                    return self._send(200, json.dumps(body))
            return self._send(404, "")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            self._record(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("Action") != "AssumeRoleWithWebIdentity":
                return self._send(400, "<ErrorResponse/>", "text/xml")
            if form.get("WebIdentityToken") != fake.web_identity_token or (
                    form.get("RoleArn") != fake.role_arn):
                return self._send(400, (
                    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                    "<Message>bad token or role</Message></Error>"
                    "<RequestId>r-1</RequestId></ErrorResponse>"), "text/xml")
            creds = fake.credentials("sts", "ASIASTS")
            xml = (
                '<AssumeRoleWithWebIdentityResponse '
                'xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleWithWebIdentityResult>"
                "<Audience>sts.amazonaws.com</Audience>"
                f"<AssumedRoleUser><Arn>{fake.role_arn}/s</Arn>"
                "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>"
                "<Provider>oidc.example</Provider>"
                "<Credentials>"
                f"<AccessKeyId>{creds['AccessKeyId']}</AccessKeyId>"
                f"<SecretAccessKey>{creds['SecretAccessKey']}</SecretAccessKey>"
                f"<SessionToken>{creds['Token']}</SessionToken>"
                f"<Expiration>{creds['Expiration']}</Expiration>"
                "</Credentials>"
                "<SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>"
                "</AssumeRoleWithWebIdentityResult>"
                "<ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>")
            return self._send(200, xml, "text/xml")

    return Handler


@contextmanager
def fake_aws(**settings: Any) -> Iterator[FakeAws]:
    """Serve a `FakeAws` on a free port of 127.0.0.1 for the block."""
    fake = FakeAws(**settings)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
