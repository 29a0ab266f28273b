"""HTTPS: client CPU per GetItem over TLS against plain HTTP, at 1 and 64 calls in flight.

A throwaway CA and a server certificate for 127.0.0.1 (RSA-2048, as AWS's endpoints use)
are made with ``cryptography`` in a temporary directory. ``benchmarks.tls_proxy``
terminates TLS in a process of its own in front of the local server and also listens in
plain TCP: the "plain" rows take the same extra hop without TLS, so the difference is TLS
alone. Each library is pointed at the CA its own way (``TRUST``); one whose https warm-up
fails is reported and skipped. Connections are opened and warmed before each measurement
(handshakes are not in the per-op numbers, except on moto, which closes every connection
after its response). With ``--uvloop`` (when uvloop is importable) every round runs once
on asyncio's loop and once on uvloop's, alternated.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.contenders import Contender, Key, create
from benchmarks.report import fmt_us
from benchmarks.server import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
#: The async contenders (the sync ones have no calls in flight), in table order.
CONTENDERS = ["dynorm-fast", "dynorm-aioboto3", "raw-aioboto3", "aiodynamo", "pydynox"]
BASE = "dynorm-fast"
IN_FLIGHT = (1, 64)
#: How each library is made to trust the throwaway CA.
TRUST = {
    "dynorm-fast": "AWS_CA_BUNDLE (read as botocore reads it)",
    "dynorm-aioboto3": "AWS_CA_BUNDLE",
    "raw-aioboto3": "verify=<CA file> on the client",
    "aiodynamo": "an ssl.SSLContext with the CA on aiohttp's connector (aiohttp builds its "
                 "default context at import, so SSL_CERT_FILE set later is not seen)",
    "pydynox": "SSL_CERT_FILE (its client takes no CA; rustls reads the platform roots, "
               "which that variable replaces, when the client is made)",
}


# ---------------------------------------------------------------- certificates and proxy


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key), PEM files in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def usage(*, cert_sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=True, content_commitment=False,
                             key_encipherment=not cert_sign, data_encipherment=False,
                             key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                             encipher_only=False, decipher_only=False)

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            "dynorm benchmark throwaway CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(cert_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Proxy:
    """``benchmarks.tls_proxy`` in its own process: ``https_url`` and ``http_url``."""

    def __init__(self, upstream_url: str, cert: Path, key: Path) -> None:
        tls_port, plain_port = free_port(), free_port()
        self.https_url = f"https://127.0.0.1:{tls_port}"
        self.http_url = f"http://127.0.0.1:{plain_port}"
        upstream = upstream_url.split("://", 1)[1].rstrip("/")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.tls_proxy", "--upstream", upstream,
             "--cert", str(cert), "--key", str(key), "--tls-port", str(tls_port),
             "--plain-port", str(plain_port)], cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        for port in (tls_port, plain_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the TLS proxy exited with {self.proc.returncode}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("the TLS proxy did not start") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    #: (contender, loop, scheme, in flight) -> [(cpu s per get, wall s per get)]
    runs: dict[tuple[str, str, str, int], list[tuple[float, float]]] = field(
        default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def ops_at(ops: int, in_flight: int) -> int:
    return ops if in_flight == 1 else max(ops * 4, in_flight)


async def get_in_flight(c: Contender, keys: Sequence[Key], in_flight: int) -> None:
    """``keys`` fetched one GetItem at a time by ``in_flight`` concurrent workers."""
    if in_flight == 1:
        await c.get(keys)
    else:
        await asyncio.gather(*(c.get(keys[i::in_flight]) for i in range(in_flight)))


async def warm(c: Contender, keys: Sequence[Key], in_flight: int) -> None:
    """Open and use as many connections as the measurement will (three tries: on a busy
    machine a peer without retries of its own may miss a connection)."""
    batch = [keys[i % len(keys)] for i in range(in_flight)]
    for attempt in range(3):
        try:
            await get_in_flight(c, batch, in_flight)
            return
        except Exception:
            if attempt == 2:
                raise
            await asyncio.sleep(0.5)


async def one_round(result: Result, loop: str, r: int, https_url: str, http_url: str,
                    ca: str, keys: Sequence[Key], ops: int, log: Callable[..., None]) -> None:
    opened: list[tuple[str, str, Contender]] = []
    try:
        for name in result.names:
            if name in result.errors:
                continue
            for scheme, url in (("https", https_url), ("plain", http_url)):
                c = create(name)
                c.ca_bundle = ca if scheme == "https" else None
                try:
                    await c.open(url, url)
                    opened.append((name, scheme, c))
                    await warm(c, keys, max(IN_FLIGHT))
                except Exception as exc:
                    result.errors[name] = f"{scheme}: {type(exc).__name__}: {exc}"[:300]
                    log(f"  https {name} {scheme} ERROR {result.errors[name]}")
                    break
        live = [o for o in opened if o[0] not in result.errors]
        for in_flight in IN_FLIGHT:
            n = ops_at(ops, in_flight)
            batch = [keys[(r * n + i) % len(keys)] for i in range(n)]
            for name, scheme, c in (live if r % 2 == 0 else live[::-1]):
                if name in result.errors:
                    continue
                try:
                    # Fresh connections: a pool idle since the warm-up may have been closed
                    # by the server (dynalite after 5 s); re-opening is not the per-op cost.
                    await warm(c, keys, in_flight)
                    gc.collect()
                    w0, c0 = time.perf_counter(), time.process_time()
                    await get_in_flight(c, batch, in_flight)
                    cpu, wall = (time.process_time() - c0) / n, (time.perf_counter() - w0) / n
                except Exception as exc:
                    result.errors[name] = f"{scheme}: {type(exc).__name__}: {exc}"[:300]
                    log(f"  https {name} {scheme} ERROR {result.errors[name]}")
                    continue
                result.runs.setdefault((name, loop, scheme, in_flight), []).append((cpu, wall))
                log(f"  round {r + 1} https {loop:7} {name:16} {scheme:5} x{in_flight:<3} "
                    f"cpu {cpu * 1e6:7.1f} µs  wall {wall * 1e6:7.1f} µs per get")
    finally:
        for _, _, c in opened[::-1]:
            await c.close()


def run_on(factory: Callable[[], asyncio.AbstractEventLoop] | None,
           coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop ``factory`` makes (asyncio's own when None)."""
    if factory is None:
        return asyncio.run(coro)
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def measure(url: str, server: str, names: list[str], keys: Sequence[Key], ops: int,
            rounds: int, use_uvloop: bool, log: Callable[..., None] = lambda *a: None
            ) -> Result:
    result = Result(names=[n for n in CONTENDERS if n in names])
    loops: list[tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]] = [
        ("asyncio", None)]
    if use_uvloop:
        factory = uvloop_factory()
        if factory is None:
            result.notes.append("--uvloop: uvloop is not importable; asyncio's loop only")
        else:
            loops.append(("uvloop", factory))
    result.loops = [label for label, _ in loops]
    if server == "moto":
        result.notes.append("moto closes every connection after its response: each call "
                            "here pays a new TCP connection, and over https a handshake")
    saved = {k: os.environ.get(k) for k in ("AWS_CA_BUNDLE", "SSL_CERT_FILE")}
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = make_certs(Path(tmp))
        proxy = Proxy(url, cert, key)
        os.environ["AWS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(ca)
        try:
            for r in range(rounds):
                for label, factory in (loops if r % 2 == 0 else loops[::-1]):
                    run_on(factory, one_round(result, label, r, proxy.https_url,
                                              proxy.http_url, str(ca), keys, ops, log))
        finally:
            proxy.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return result


# ---------------------------------------------------------------- output


def table(result: Result) -> list[str]:
    def med(key: tuple[str, str, str, int], i: int) -> float | None:
        runs = result.runs.get(key)
        return statistics.median(x[i] for x in runs) if runs else None

    lines = ["| scenario | contender | loop | in flight | CPU µs per get, https "
             "| CPU µs, plain | https / plain CPU (paired) | wall µs, https | wall µs, plain "
             "| https CPU vs dynorm-fast https |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for in_flight in IN_FLIGHT:
        for loop in result.loops:
            base = med((BASE, loop, "https", in_flight), 0)
            for name in result.names:
                if name in result.errors:
                    continue
                https, plain = (med((name, loop, s, in_flight), 0) for s in ("https", "plain"))
                whttps, wplain = (med((name, loop, s, in_flight), 1)
                                  for s in ("https", "plain"))
                if https is None or plain is None or whttps is None or wplain is None:
                    continue
                vs = f"{https / base:.2f}x" if base else ""
                # https and plain of one contender run back to back: the median of the
                # rounds' own ratios cancels the machine's slower drifts.
                rounds = zip(result.runs[(name, loop, "https", in_flight)],
                             result.runs[(name, loop, "plain", in_flight)], strict=False)
                paired = statistics.median(h[0] / p[0] for h, p in rounds)
                lines.append(f"| https get | {name} | {loop} | {in_flight} | {fmt_us(https)} "
                             f"| {fmt_us(plain)} | {paired:.2f}x | {fmt_us(whttps)} "
                             f"| {fmt_us(wplain)} | {vs} |")
    for name, error in result.errors.items():
        lines.append(f"| https get | {name} | | | skipped: {error} | | | | | |")
    return lines


def info(result: Result) -> list[str]:
    lines = [f"info: https: {name} trusts the throwaway CA through {TRUST[name]}"
             for name in result.names]
    return lines + [f"info: https: {note}" for note in result.notes]
