"""A GP simulator on loopback per test, signed in, and a merchant's ``status_url`` receiver."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.gp import GpSimulator, create
from tests.sandbox.simulators.gp.client import VERSION, Gp, Receiver, sign_in


@pytest.fixture
def gp() -> Iterator[Gp]:
    app = create(seed=11)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    server, thread, port = run_in_background(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=VERSION, timeout=5) as http:
        http.headers["Authorization"] = f"Bearer {sign_in(http).json()['token']}"
        yield Gp(sim, app, http)
    stop_background(server, thread)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's ``status_url`` on loopback that keeps the raw bytes and headers it was sent."""
    kept = Receiver()

    async def status(request: Request) -> Response:
        kept.received.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    server, thread, port = run_in_background(Starlette(routes=[Route("/status", status, methods=["POST"])]))
    kept.url = f"http://127.0.0.1:{port}/status"
    yield kept
    stop_background(server, thread)
