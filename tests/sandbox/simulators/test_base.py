"""Fault injection and inspection shared by every simulator, over real loopback HTTP."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, Faults, SimulatorApp


class Counter:
    name = "counter"

    def __init__(self) -> None:
        self.value = 0

    async def bump(self, request: Request) -> Response:
        self.value += 1
        return JSONResponse({"value": self.value}, 201)

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/bump", self.bump, methods=["POST"])]

    def state(self) -> dict[str, Any]:
        return {"value": self.value}

    def restore(self, state: dict[str, Any]) -> None:
        self.value = state["value"]

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        return {"problem": status}, {"Retry-After": str(int(retry_after))} if status == 429 else {}


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorApp, httpx.Client]]:
    app = SimulatorApp(Counter(), seed=3)
    server, thread, port = run_in_background(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        yield app, client
    stop_background(server, thread)


def test_without_faults_requests_apply_and_are_counted(sim: tuple[SimulatorApp, httpx.Client]) -> None:
    _, client = sim
    assert client.post("/api/bump").json() == {"value": 1}
    assert client.get("/_sim/state").json() == {"value": 1}
    assert client.get("/_sim/requests").json() == {"total": 1, "by_route": {"POST /api/bump": 1}}


def test_throttle_answers_429_with_retry_after_and_applies_nothing(sim: tuple[SimulatorApp, httpx.Client]) -> None:
    app, client = sim
    client.put("/_sim/faults", json={"rules": [{"route": "POST /api/*", "kind": "throttle", "rate": 1.0,
                                                "retry_after": 7}]})
    answer = client.post("/api/bump")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert app.ground_truth() == {"value": 0}
    assert client.get("/_sim/faults").json()["injected"] == {"throttle": 1}


def test_lost_applies_the_write_and_drops_the_response(sim: tuple[SimulatorApp, httpx.Client]) -> None:
    app, client = sim
    app.faults.rules = [FaultRule("POST /api/bump", "lost", 1.0)]
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/bump")
    assert app.ground_truth() == {"value": 1}


def test_timeout_applies_after_the_client_gave_up(sim: tuple[SimulatorApp, httpx.Client]) -> None:
    app, client = sim
    app.faults.rules = [FaultRule("POST /api/bump", "timeout", 1.0, delay=0.5)]
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/bump", timeout=0.1)
    assert app.ground_truth() == {"value": 0}
    time.sleep(0.8)
    assert app.ground_truth() == {"value": 1}


def test_error_rules_are_validated(sim: tuple[SimulatorApp, httpx.Client]) -> None:
    _, client = sim
    answer = client.put("/_sim/faults", json={"rules": [{"route": "*", "kind": "meteor", "rate": 0.5}]})
    assert answer.status_code == 400 and "meteor" in answer.json()["error"]


def test_draws_are_reproducible_per_route_whatever_the_interleaving() -> None:
    def run(order: list[str]) -> dict[str, list[bool]]:
        faults = Faults(seed=42, rules=[FaultRule("* /a", "error", 0.3), FaultRule("* /b", "error", 0.3)])
        seen: dict[str, list[bool]] = {"/a": [], "/b": []}
        for path in order:
            seen[path].append(faults.draw("GET", path) is not None)
        return seen

    first = run(["/a", "/b"] * 50)
    second = run(["/b"] * 50 + ["/a"] * 50)
    assert first == second
    assert 5 < sum(first["/a"]) < 25
