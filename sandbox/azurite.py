"""Start and stop an Azurite Table service for the test session.

Azurite comes from npm (``package.json`` pins it); ``make test`` installs it with ``npm ci``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "node_modules" / ".bin" / "azurite-table"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HINT = "Run `make test` (it runs `npm ci`, installing Azurite from package.json), or `npm ci` here."


class AzuriteUnavailable(RuntimeError):
    """Azurite could not be started; the message says why and how to fix it."""


def connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def run_azurite(workdir: Path, *, timeout: float = 20.0, attempts: int = 3) -> Iterator[str]:
    """Run ``azurite-table`` in memory on a free loopback port; yield its connection string.

    Azurite refuses ``--location`` together with ``--inMemoryPersistence``, so it runs with
    ``workdir`` as its current directory instead: nothing it might write lands in the repository.
    A port taken between choosing and binding it is retried with another port.

    Raises:
        AzuriteUnavailable: the binary or ``node`` is missing, or the server did not come up.
    """
    if not BINARY.exists():
        raise AzuriteUnavailable(f"{BINARY} is missing. {HINT}")
    if shutil.which("node") is None:
        raise AzuriteUnavailable(f"`node` is not on PATH, and Azurite needs it. {HINT}")
    log = workdir / "azurite.log"
    problem = "it never started"
    for _ in range(attempts):
        port = _free_port()
        command = [
            str(BINARY),
            "--tableHost", "127.0.0.1",
            "--tablePort", str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ]  # fmt: skip
        with log.open("wb") as output:
            process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline and not _answers(port):
                time.sleep(0.05)
            if process.poll() is None and _answers(port):
                yield connection_string(port)
                return
            output_text = log.read_text(errors="replace").strip()[-2000:]
            if process.poll() is None:
                problem = (
                    f"port {port} did not answer within {timeout:.0f} s. Output: {output_text or '(none)'}"
                )
            else:
                problem = f"it exited with code {process.returncode}. Output: {output_text or '(none)'}"
        finally:
            _stop(process)
    raise AzuriteUnavailable(f"Azurite ({BINARY}) did not come up: {problem}. {HINT}")
