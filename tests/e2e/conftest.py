"""The real function app on the local host over loopback HTTP, with embedded storage in a temp dir."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.host import LocalHost, run_in_background, stop_background
from shared import wiring
from shared.messaging.embedded import EmbeddedBus

APP_KEY = "e2e-app-key"
MASTER_KEY = "e2e-master-key"


@dataclass
class AlertReceiver:
    """A Teams/Slack-style incoming webhook on loopback that keeps what it was sent."""

    url: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def alert_receiver() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()

    async def hook(request: Request) -> Response:
        receiver.alerts.append(await request.json())
        return Response(status_code=200)

    server, thread, port = run_in_background(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    stop_background(server, thread)


@dataclass
class System:
    host: LocalHost
    http: httpx.Client
    services: wiring.Services
    alerts: AlertReceiver

    @property
    def bus(self) -> EmbeddedBus:
        assert isinstance(self.host.bus, EmbeddedBus)
        return self.host.bus


@pytest.fixture
def system_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                alert_receiver: AlertReceiver) -> Iterator[Callable[..., System]]:
    """Start the app with some settings of the test's own (a simulator's URL, a rules file)."""
    started: list[tuple[Any, Any, httpx.Client]] = []

    def start(**settings: str) -> System:
        monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
        monkeypatch.setenv("HL365_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GP_APP_KEY", APP_KEY)
        monkeypatch.setenv("HL365_MASTER_KEY", MASTER_KEY)
        monkeypatch.setenv("HL365_ALERT_WEBHOOK_URL", alert_receiver.url)
        for name in ("HL365_STORAGE", "HL365_BUS", "D365_TARGET", "HL365_MERCHANT_ID", "GP_API_URL",
                     "RETAIL_API_URL", "HL365_MAPPING_FILE", "HL365_RULES_FILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        services = wiring.services()
        host = LocalHost.from_wiring()
        server, thread, port = run_in_background(host.asgi())
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        started.append((server, thread, http))
        return System(host, http, services, alert_receiver)

    yield start
    for server, thread, http in started:
        http.close()
        stop_background(server, thread)
    wiring.reset()


@pytest.fixture
def system(system_with: Callable[..., System]) -> System:
    return system_with()
