"""Transaction notifications as GP sends them to a ``status_url``: the transaction JSON signed
``hex(sha512(raw body + app_key))`` in ``X-GP-Signature``, as it is now or as it was at an earlier status, and
the faults a receiver must survive (a wrong signature, the same bytes twice, an order that is not the real one).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.ledger import Ledger
from sandbox.simulators.gp.wire import clone, public
from shared.security.signatures import gp_signature

NotifyMode = Literal["normal", "bad_signature", "duplicate"]


@dataclass(frozen=True)
class NotificationDelivery:
    """One POST to a ``status_url``: what was sent and what the receiver answered (None: unreachable)."""

    transaction_id: str
    status: str
    url: str
    mode: str
    status_code: int | None
    signature: str
    error: str | None = None


class Notifications(Ledger):
    """The ``status_url`` sender, mixed into the simulator."""

    app_key: str
    notify_timeout: float
    _http: httpx.Client | None
    _notifications: list[dict[str, Any]]
    _shuffles: int

    def notify(self, transaction_id: str, url: str, *, mode: NotifyMode = "normal",
               status: str | None = None) -> list[NotificationDelivery]:
        """POST the transaction JSON to ``url`` as GP does to a ``status_url``, signed with ``X-GP-Signature``.

        ``status`` sends the transaction as it was when it had that status (default: as it is now).
        ``bad_signature`` signs with the wrong key; ``duplicate`` delivers the same bytes twice.
        """
        if mode not in ("normal", "bad_signature", "duplicate"):
            raise ValueError(f"unknown notification mode {mode!r}")
        with self._lock:
            record = self._find(transaction_id)
            body_object = public(record)
            if status is not None:
                earlier = [s for s in self._history[transaction_id] if s["status"] == status]
                if not earlier:
                    raise GpError("RESOURCE_NOT_FOUND", f"Transaction {transaction_id} was never {status}")
                body_object = clone(earlier[-1])
        body = json.dumps(body_object, separators=(",", ":")).encode()
        key = self.app_key if mode != "bad_signature" else self.app_key + ":not-the-app-key"
        signature = gp_signature(body, key)
        deliveries = []
        for _ in range(2 if mode == "duplicate" else 1):
            try:
                answer = self._notifier().post(url, content=body, headers={"Content-Type": "application/json",
                                                                           "X-GP-Signature": signature})
                code, error = answer.status_code, None
            except httpx.HTTPError as exc:
                code, error = None, f"{type(exc).__name__}: {exc}"
            deliveries.append(NotificationDelivery(transaction_id, body_object["status"], url, mode, code,
                                                   signature, error))
        with self._lock:
            self._notifications.extend({k: v for k, v in asdict(d).items() if k != "signature"} for d in deliveries)
        return deliveries

    def _notifier(self) -> httpx.Client:
        """One keep-alive client for every notification: building a client per call costs an SSL context."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.notify_timeout,
                                          limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))
            return self._http

    def out_of_order(self, items: Iterable[str | tuple[str, str]], url: str, *, mode: NotifyMode = "normal",
                     seed: int | None = None) -> list[NotificationDelivery]:
        """Send notifications in a seeded shuffled order that is never the given one (when it can differ).

        ``items`` are transaction ids (sent as they are now) or ``(id, status)`` pairs (sent as they were),
        e.g. a CAPTURED notification ahead of its PREAUTHORIZED one.
        """
        pairs: list[tuple[str, str | None]] = [(i, None) if isinstance(i, str) else (i[0], i[1]) for i in items]
        with self._lock:
            self._shuffles += 1
            rng = random.Random(seed if seed is not None else f"{self.seed}:out_of_order:{self._shuffles}")
        order = list(pairs)
        rng.shuffle(order)
        if order == pairs and len(set(pairs)) > 1:
            order = order[1:] + order[:1]
        return [d for transaction_id, status in order
                for d in self.notify(transaction_id, url, mode=mode, status=status)]
