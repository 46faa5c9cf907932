"""Webhook intake through ``hl365 serve`` beside a bare app on the same server stack: ``python -m bench.intake``.

Both answer the same signed GP notifications over 16 keep-alive connections. hl365 is measured serving HTTP
only (its queue workers run elsewhere, as separate instances do in Azure) and again with its queue workers
beside it on the same two cores.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import load
from sandbox.scenario.transactions import transaction
from shared.security.signatures import gp_signature

APP_KEY = "bench-app-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _requests(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for number in range(count):
        body = orjson.dumps(transaction(rng, date(2026, 11, 26), number, "MER_bench"))
        headers = {"Content-Type": "application/json", "X-GP-Signature": gp_signature(body, APP_KEY)}
        out.append(load.request_bytes("/api/webhooks/gp", body, headers))
    return out


def _measure(command: list[str], env: dict[str, str], port: int, requests: list[bytes]) -> tuple[float, dict[int, int]]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_for(port, process)
        load.run(port, requests[:500])
        elapsed, statuses = load.run(port, requests[500:])
    finally:
        process.terminate()
        process.wait(timeout=20)
    return (len(requests) - 500) / elapsed, dict(statuses)


def measure(count: int = 8_000) -> dict[str, Any]:
    """Requests per second after 500 warm-up requests: the bare app, hl365 serving HTTP only, and hl365 with
    its queue workers running beside it; each hl365 run on fresh storage."""
    hl365 = shutil.which("hl365", path=str(Path(sys.executable).parent)) or "hl365"
    results: dict[str, Any] = {"requests": count - 500}
    for name, command, seed in (("bare", [sys.executable, "-m", "bench.bare"], 1),
                                ("hl365", [hl365, "serve", "--no-triggers", "--port"], 2),
                                ("hl365_with_workers", [hl365, "serve", "--port"], 3)):
        data = Path(tempfile.mkdtemp(prefix="hl365-bench-"))
        env = {**os.environ, "HL365_DATA_DIR": str(data), "GP_APP_KEY": APP_KEY, "HL365_STORAGE": "sqlite",
               "HL365_BUS": "sqlite", "HL365_SETTINGS_FILE": str(data / "none.json")}
        port = free_port()
        try:
            rate, statuses = _measure([*command, str(port)], env, port, _requests(count, seed))
        finally:
            shutil.rmtree(data, ignore_errors=True)
        results[name] = round(rate)
        results[f"{name}_statuses"] = statuses
    return results


if __name__ == "__main__":
    print(json.dumps(measure()))
