"""Alerts: always to the log, and to an incoming-webhook URL (Teams/Slack style) when one is set."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from shared.security.pan import redact

log = logging.getLogger("hl365.alerts")


@dataclass(frozen=True)
class Alert:
    """Something a person must look at; ``context`` values are masked before they leave the process."""

    kind: str
    message: str
    context: Mapping[str, str] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, object]:
        return {
            "text": redact(f"hl365 {self.kind}: {self.message}"),
            "kind": self.kind,
            "at": self.at.isoformat(),
            "context": {k: redact(str(v)) for k, v in self.context.items()},
        }


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None:
        """Deliver; never raise, because an alert must not turn a handled failure into a crash."""
        ...


class LogNotifier:
    def notify(self, alert: Alert) -> None:
        payload = alert.as_json()
        log.warning("%s", payload["text"], extra={"alert": payload})


class WebhookNotifier:
    """Posts the alert as JSON with a ``text`` field, the shape Teams and Slack incoming webhooks accept."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url
        self._client = httpx.Client(timeout=httpx.Timeout(timeout))

    def notify(self, alert: Alert) -> None:
        try:
            self._client.post(self._url, json=alert.as_json()).raise_for_status()
        except httpx.HTTPError as exc:
            log.error("alert webhook failed: %s", redact(str(exc)))


class Notifiers:
    """Fans one alert out to every notifier."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self._notifiers = list(notifiers)

    def notify(self, alert: Alert) -> None:
        for notifier in self._notifiers:
            notifier.notify(alert)
