"""One Retail simulator server on loopback for the package, a fresh simulator behind it per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.retail import RetailSimulator, create
from tests.sandbox.simulators.retail.client import AUTH, Running


class Swappable:
    """One loopback server for the package, a fresh simulator per test: starting uvicorn per test is slow."""

    app: SimulatorApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@pytest.fixture(scope="package")
def server() -> Iterator[tuple[Swappable, str]]:
    swappable = Swappable()
    server, thread, port = run_in_background(swappable)
    yield swappable, f"http://127.0.0.1:{port}"
    stop_background(server, thread)


@pytest.fixture
def running(server: tuple[Swappable, str], request: pytest.FixtureRequest) -> Iterator[Running]:
    options: dict[str, Any] = getattr(request, "param", {})
    swappable, root = server
    swappable.app = create(seed=5, **options)
    sim = swappable.app.simulated
    assert isinstance(sim, RetailSimulator)
    with httpx.Client(base_url=f"{root}/api", headers=AUTH, timeout=5) as api:
        yield Running(sim, api, root)
