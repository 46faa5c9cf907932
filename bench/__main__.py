"""``make bench``: embedded bus throughput, and webhook intake through ``hl365 serve`` beside a bare app."""

from __future__ import annotations

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

import httpx
import orjson

from bench import load
from sandbox.scenario.transactions import transaction
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.messages import OutgoingMessage
from shared.security.signatures import gp_signature

APP_KEY = "bench-app-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_bus(messages: int = 20_000, batch: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bus = EmbeddedBus(Path(tmp) / "bus.sqlite")
        body = b'{"type":"payment.captured"}' * 8
        started = time.perf_counter()
        for start in range(0, messages, batch):
            bus.send("bench", [OutgoingMessage(body, f"m-{n}") for n in range(start, start + batch)])
        sent = time.perf_counter()
        done = 0
        while done < messages:
            received = bus.receive("bench", max_messages=batch)
            for message in received:
                bus.complete(message)
            done += len(received)
        finished = time.perf_counter()
        bus.close()
    print(f"embedded bus, {messages} messages, one process (send in batches of {batch}, receive {batch}, "
          f"complete each):")
    print(f"  send {messages / (sent - started):,.0f} msg/s; receive+complete {messages / (finished - sent):,.0f} "
          f"msg/s; send+receive+complete {messages / (finished - started):,.0f} msg/s")


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


def bench_intake(count: int = 8_000) -> None:
    data = Path(tempfile.mkdtemp(prefix="hl365-bench-"))
    env = {**os.environ, "HL365_DATA_DIR": str(data), "GP_APP_KEY": APP_KEY, "HL365_STORAGE": "sqlite",
           "HL365_BUS": "sqlite", "HL365_SETTINGS_FILE": str(data / "none.json")}
    try:
        bare_port, hl365_port = free_port(), free_port()
        bare, bare_statuses = _measure([sys.executable, "-m", "bench.bare", str(bare_port)], env, bare_port,
                                       _requests(count, 1))
        hl365 = shutil.which("hl365", path=str(Path(sys.executable).parent)) or "hl365"
        served, served_statuses = _measure([hl365, "serve", "--port", str(hl365_port)], env, hl365_port,
                                           _requests(count, 2))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"POST /api/webhooks/gp, {count - 500} requests after 500 warm-up, 16 keep-alive connections:")
    print(f"  bare ASGI app answering 202 (same uvicorn + starlette): {bare:,.0f} req/s {bare_statuses}")
    print(f"  hl365 serve (verify, scan, claim, audit, enqueue):      {served:,.0f} req/s {served_statuses}")
    print(f"  ratio hl365 / bare: {served / bare:.2f} (aim: >= 0.50)")


if __name__ == "__main__":
    bench_bus()
    bench_intake()
