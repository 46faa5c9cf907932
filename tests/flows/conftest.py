"""Ports for flow tests: the wiring's own services over embedded storage and bus in a fresh data directory,
with alerts kept in a list to assert on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared import wiring
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.messages import ReceivedMessage
from shared.ops.alerts import Alert

KEY = "flow-test-app-key"


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)


@pytest.fixture
def ports_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., wiring.Services]]:
    """Build the ports with some settings of the test's own (``HL365_RULES_FILE=...``)."""

    def build(**settings: str) -> wiring.Services:
        monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
        monkeypatch.setenv("HL365_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("GP_APP_KEY", KEY)
        for name in ("HL365_STORAGE", "HL365_BUS", "D365_TARGET", "HL365_ALERT_WEBHOOK_URL", "HL365_RULES_FILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        services = wiring.services()
        services.__dict__["alerts"] = Alerts()
        return services

    yield build
    wiring.reset()


@pytest.fixture
def ports(ports_with: Callable[..., wiring.Services]) -> wiring.Services:
    return ports_with()



def take(bus: object, queue: str) -> list[ReceivedMessage]:
    """Receive and complete everything visible on ``queue`` of the embedded bus."""
    assert isinstance(bus, EmbeddedBus)
    taken = []
    while batch := bus.receive(queue, max_messages=50):
        for message in batch:
            taken.append(message)
            bus.complete(message)
    return taken


__all__ = ["KEY", "Alerts", "ports", "ports_with", "take"]
