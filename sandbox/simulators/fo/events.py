"""F&O business events: the envelope of reference §1.12, POSTed to HTTPS endpoints by a "batch job".

As in F&O, events are not sent the moment they happen: they wait in a queue that a delivery pass
empties (``deliver()``, or a background pass every ``interval`` seconds). ``ControlNumber`` rises with
gaps. Delivery modes reproduce what subscribers must survive:

* ``in_order``: each event once, in ControlNumber order.
* ``duplicate``: each event twice (the second copy right after the first).
* ``out_of_order``: each pass sends what is queued in *descending* ControlNumber order.

A failed send (connection error or non-2xx) is retried ``retries`` times, ``retry_delay`` seconds
apart, then recorded as failed (F&O's "Resend" is ``resend()``).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from sandbox.simulators.jsonio import dumps

DeliveryMode = Literal["in_order", "duplicate", "out_of_order"]
MODES = ("in_order", "duplicate", "out_of_order")


@dataclass(frozen=True)
class Endpoint:
    """An HTTPS endpoint bound to some (or, with ``events=None``, all) business events."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    events: frozenset[str] | None = None
    legal_entity: str | None = None

    def wants(self, envelope: Mapping[str, Any]) -> bool:
        if self.events is not None and envelope["BusinessEventId"] not in self.events:
            return False
        return self.legal_entity is None or self.legal_entity.lower() == envelope["BusinessEventLegalEntity"]


class BusinessEvents:
    """Builds envelopes, queues them and delivers them to the endpoints."""

    def __init__(self, *, seed: int = 0, mode: DeliveryMode = "in_order", retries: int = 3, retry_delay: float = 1.0,
                 interval: float | None = 0.5, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown business event mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode: DeliveryMode = mode
        self.retries = retries
        self.retry_delay = retry_delay
        self.interval = interval
        self.endpoints: list[Endpoint] = []
        self.sent: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.emitted: list[dict[str, Any]] = []
        self._clock = clock
        self._transport = transport
        self._rng = random.Random(f"{seed}:business-events")
        self._control = 5_637_144_576 + self._rng.randrange(0, 10_000)
        self._queue: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pass = threading.Lock()
        self._worker: threading.Thread | None = None

    def publish(self, event_id: str, legal_entity: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Build the envelope, queue it for every interested endpoint and return it."""
        now = self._clock()
        with self._lock:
            self._control += self._rng.randint(1, 7)
            envelope: dict[str, Any] = {
                "BusinessEventId": event_id,
                "BusinessEventLegalEntity": legal_entity.lower(),
                "ContextRecordSubject": "",
                "ControlNumber": self._control,
                "EventId": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)).upper(),
                "EventTime": f"/Date({int(now.timestamp() * 1000)})/",
                "EventTimeIso8601": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
                "InitiatingUserAADObjectId": "{00000000-0000-0000-0000-000000000000}",
                "MajorVersion": 0,
                "MinorVersion": 0,
                "ParentContextRecordSubjects": [],
                "LegalEntity": legal_entity.lower(),
                **payload,
            }
            self.emitted.append(envelope)
            self._queue.append(envelope)
        self._kick()
        return envelope

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def deliver(self) -> list[dict[str, Any]]:
        """One delivery pass over everything queued; returns what was sent (one record per POST that succeeded)."""
        with self._pass:
            with self._lock:
                batch, self._queue = self._queue, []
            if self.mode == "out_of_order":
                batch.sort(key=lambda e: e["ControlNumber"], reverse=True)
            copies = 2 if self.mode == "duplicate" else 1
            done: list[dict[str, Any]] = []
            with httpx.Client(timeout=5.0, transport=self._transport) as client:
                for envelope in batch:
                    for endpoint in (e for e in self.endpoints if e.wants(envelope)):
                        for _ in range(copies):
                            done.extend(self._send(client, endpoint, envelope))
            return done

    def resend(self, control_number: int) -> None:
        """Queue a failed event again (F&O's "Resend" on the error list)."""
        with self._lock:
            for record in list(self.failed):
                if record["ControlNumber"] == control_number:
                    self.failed.remove(record)
                    self._queue.append(next(e for e in self.emitted if e["ControlNumber"] == control_number))
        self._kick()

    def _send(self, client: httpx.Client, endpoint: Endpoint, envelope: dict[str, Any]) -> list[dict[str, Any]]:
        body = dumps(envelope)
        headers = {"Content-Type": "application/json", **endpoint.headers}
        problem = ""
        for attempt in range(1, self.retries + 2):
            try:
                status = client.post(endpoint.url, content=body, headers=headers).status_code
                if 200 <= status < 300:
                    record = {"ControlNumber": envelope["ControlNumber"], "EventId": envelope["EventId"],
                              "BusinessEventId": envelope["BusinessEventId"], "endpoint": endpoint.url,
                              "status": status, "attempts": attempt}
                    with self._lock:
                        self.sent.append(record)
                    return [record]
                problem = f"HTTP {status}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt <= self.retries:
                time.sleep(self.retry_delay)
        with self._lock:
            self.failed.append({"ControlNumber": envelope["ControlNumber"], "EventId": envelope["EventId"],
                                "BusinessEventId": envelope["BusinessEventId"], "endpoint": endpoint.url,
                                "error": problem, "attempts": self.retries + 1})
        return []

    def _kick(self) -> None:
        """Start the background batch job if it is configured and not running; it stops when the queue is empty."""
        if self.interval is None or not self.endpoints:
            return
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._run, name="fo-business-events", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval or 0.0)
            self.deliver()
            with self._lock:
                if not self._queue:
                    self._worker = None
                    return

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self.mode, "endpoints": [e.url for e in self.endpoints], "emitted": len(self.emitted),
                    "pending": len(self._queue), "sent": list(self.sent), "failed": list(self.failed),
                    "last_control_number": self._control}
