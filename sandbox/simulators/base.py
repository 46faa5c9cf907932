"""What every simulator shares: seeded fault injection per route, request counting, and the
``/_sim`` inspection API that tests and the demo read as ground truth.

Faults are drawn per (route, n-th request of that route) from the seed, so a run is reproducible
whatever the interleaving of other routes. Kinds:

* ``throttle``: 429 with ``Retry-After``; nothing applied.
* ``error``: a 5xx (``status``, default 503); nothing applied.
* ``slow``: wait ``delay`` seconds, then answer normally.
* ``timeout``: wait ``delay`` seconds (longer than the client's timeout), then apply the request.
* ``lost``: apply the request, then drop the connection before the response completes.
* ``hang``: apply the request, then hold the answer ``delay`` seconds (a caller killed meanwhile never
  learns that its write landed).

``skip`` lets the first matching requests through untouched (e.g. the read before a write).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

if TYPE_CHECKING:
    from sandbox.simulators.tls import SandboxCA

FaultKind = Literal["throttle", "error", "slow", "timeout", "lost", "hang"]
KINDS = ("throttle", "error", "slow", "timeout", "lost", "hang")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class FaultRule:
    """Inject ``kind`` into ``rate`` of the requests whose ``"METHOD /path"`` matches the glob ``route``."""

    route: str
    kind: FaultKind
    rate: float
    status: int = 503
    retry_after: float = 1.0
    delay: float = 0.0
    skip: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate} is not between 0 and 1")
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")


@dataclass
class Faults:
    """The fault plan of one simulator and what it injected."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    _seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def draw(self, method: str, path: str) -> FaultRule | None:
        key = f"{method.upper()} {path}"
        for rule in self.rules:
            if fnmatch.fnmatchcase(key, rule.route):
                with self._lock:
                    self._seen[rule.route] += 1
                    n = self._seen[rule.route]
                if n <= rule.skip:
                    continue
                if random.Random(f"{self.seed}:{rule.route}:{rule.kind}:{n}").random() < rule.rate:
                    with self._lock:
                        self.injected[rule.kind] += 1
                    return rule
        return None

    def describe(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [asdict(r) for r in self.rules], "injected": dict(self.injected)}


class Simulated(Protocol):
    """A simulator's own part: its API routes and its ground truth."""

    name: str

    def routes(self) -> list[BaseRoute]: ...

    def state(self) -> dict[str, Any]:
        """JSON-able ground truth: what exists and what was posted."""
        ...

    def restore(self, state: dict[str, Any]) -> None: ...

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """The body and headers this service sends with a 429 or 5xx it gives out: injected faults answer
        exactly as the real service's own throttling and outages do."""
        ...


class _ResponseLost(Exception):
    """Raised after a fully applied request so the server drops the connection mid-response."""


class _InjectedFaultsAreQuiet(logging.Filter):
    """The server logs a dropped response, or a caller gone mid-request (a killed worker, a client's
    timeout), as a crash with its traceback; neither is one. Every other error still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _ResponseLost | ClientDisconnect))


logging.getLogger("uvicorn.error").addFilter(_InjectedFaultsAreQuiet())


class SimulatorApp:
    """The ASGI app of one simulator: its routes behind fault injection, plus ``/_sim``."""

    def __init__(self, simulated: Simulated, *, seed: int = 0, snapshot: Path | None = None) -> None:
        self.simulated = simulated
        self.faults = Faults(seed=seed)
        self.requests: Counter[str] = Counter()
        self.snapshot = snapshot
        if snapshot is not None and snapshot.is_file():
            simulated.restore(json.loads(snapshot.read_text(encoding="utf-8")))
        inspection = [
            Route("/requests", self._requests, methods=["GET"]),
            Route("/faults", self._faults, methods=["GET", "PUT", "DELETE"]),
            Route("/state", self._state, methods=["GET"]),
            Route("/snapshot", self._snapshot, methods=["POST"]),
        ]
        self._app = Starlette(routes=[Mount("/_sim", routes=inspection), *simulated.routes()])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self._app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.requests[f"{method} {path}"] += 1
        rule = self.faults.draw(method, path)
        if rule is None:
            await self._app(scope, receive, send)
        elif rule.kind in ("throttle", "error"):
            status = 429 if rule.kind == "throttle" else rule.status
            body, headers = self.simulated.fault_answer(status, rule.retry_after)
            await JSONResponse(body, status, headers=headers)(scope, receive, send)
        elif rule.kind in ("slow", "timeout"):
            await asyncio.sleep(rule.delay)
            await self._app(scope, receive, send)
        elif rule.kind == "hang":
            await self._apply_then_hang(scope, receive, send, rule.delay)
        else:
            await self._apply_then_drop(scope, receive, send)

    async def _apply_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:  # noqa: ARG001
            return None

        await self._app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise _ResponseLost("simulated: the write was applied and the response lost")

    async def _apply_then_hang(self, scope: Scope, receive: Receive, send: Send, delay: float) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._app(scope, receive, hold)
        await asyncio.sleep(delay)
        for message in held:
            await send(message)

    def ground_truth(self) -> dict[str, Any]:
        return self.simulated.state()

    async def _requests(self, request: Request) -> Response:  # noqa: ARG002
        return JSONResponse({"total": sum(self.requests.values()), "by_route": dict(self.requests)})

    async def _faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.rules = []
        elif request.method == "PUT":
            document = await request.json()
            try:
                self.faults.rules = [FaultRule(**rule) for rule in document.get("rules", [])]
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            self.faults.seed = int(document.get("seed", self.faults.seed))
        return JSONResponse(self.faults.describe())

    async def _state(self, request: Request) -> Response:  # noqa: ARG002
        return JSONResponse(self.simulated.state())

    async def _snapshot(self, request: Request) -> Response:  # noqa: ARG002
        if self.snapshot is None:
            return JSONResponse({"error": "started without --state FILE"}, 409)
        self.snapshot.write_text(json.dumps(self.simulated.state(), indent=1, default=str), encoding="utf-8")
        return JSONResponse({"written": str(self.snapshot)})


@dataclass
class Served:
    """A simulator served from a thread on a loopback port, over HTTPS when started with a ``SandboxCA``."""

    url: str
    port: int
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        from sandbox.host import stop_background

        stop_background(self.server, self.thread)


def serve(app: Any, *, tls: SandboxCA | None = None, host: str = "127.0.0.1", port: int = 0) -> Served:
    """Serve an ASGI app from a thread on ``port`` (0: a free one); HTTPS with ``tls``'s server certificate."""
    from sandbox.host import run_in_background

    files = None if tls is None else (str(tls.server_cert), str(tls.server_key))
    server, thread, bound = run_in_background(app, host=host, port=port, tls=files)
    return Served(f"{'https' if tls else 'http'}://{host}:{bound}", bound, server, thread)


class Clock:
    """A simulator's clock in UTC: real time from a start instant, plus whatever tests ``advance``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._origin = time.monotonic()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=time.monotonic() - self._origin) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta

    def today(self) -> date:
        return self.now().date()
