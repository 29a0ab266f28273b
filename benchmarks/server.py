"""Start a DynamoDB-compatible server in its own process on 127.0.0.1.

dynalite (npm, installed into ``benchmarks/.cache`` on first use) is preferred: it keeps
connections alive and answers fast, so the client's cost shows. moto (``python -m
dynorm.local``) is the fallback where npm is absent, and the server for transactions
(dynalite has none). AWS's DynamoDB Local (``python -m dynorm.local --backend
dynamodb-local``: Java, the jar from npm) is the third choice; it serves transactions too.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dynalite_path() -> Path | None:
    binary = CACHE / "node_modules" / ".bin" / "dynalite"
    if not binary.exists() and shutil.which("npm"):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund",
                        "--silent", "dynalite"], check=False, stdout=subprocess.DEVNULL)
    return binary if binary.exists() else None


class Server:
    """A server process; ``url`` once started. Stop it with ``stop()``."""

    def __init__(self, kind: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if kind == "dynalite":
            binary = dynalite_path()
            if binary is None:
                raise RuntimeError("dynalite is not available (no npm)")
            cmd = [str(binary), "--port", str(self.port)]
            self.name = "dynalite"
        elif kind == "dynamodb-local":
            cmd = [sys.executable, "-m", "dynorm.local", "--backend", "dynamodb-local",
                   "--port", str(self.port)]
            self.name = "dynamodb-local"
        else:
            cmd = [sys.executable, "-m", "dynorm.local", "--port", str(self.port)]
            self.name = "moto"
        self.kind = kind
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300  # DynamoDB Local may install first
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
