"""Business Central webhooks: ``/subscriptions`` with the ``validationToken`` handshake, debounced
notifications (one per changed entity, or one ``collection`` past the threshold), grouped per
notification URL, retried on 408/429/5xx for 36 hours, and the subscription deleted on any other answer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from sandbox.simulators.bc.errors import BcError
from sandbox.simulators.bc.schema import SETS, SUBSCRIPTIONS
from sandbox.simulators.bc.store import Change, Store, iso

if TYPE_CHECKING:
    from sandbox.simulators.bc.simulator import Options

log = logging.getLogger("hl365.sim.bc")
_RESOURCE = re.compile(r"^(?:.*?/)?(?:api/v2\.0/)?companies\(([0-9A-Fa-f-]{36})\)/([A-Za-z]+)$")
SIMULATOR_USER = "6b0e0d0a-0000-4000-8000-000000000365"


def seconds(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Subscription:
    id: str
    notification_url: str
    resource: str
    client_state: str
    company_id: str
    entity_set: str
    expires: datetime
    created: str
    modified: str
    seq: int
    version: int = 1
    pending: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    window_opened: float | None = None

    def render(self) -> dict[str, Any]:
        return {"@odata.etag": Store.etag({"_seq": self.seq, "_v": self.version}), "subscriptionId": self.id,
                "notificationUrl": self.notification_url, "resource": self.resource, "timestamp": self.version,
                "userId": SIMULATOR_USER, "lastModifiedDateTime": self.modified, "clientState": self.client_state,
                "expirationDateTime": seconds(self.expires), "systemCreatedAt": self.created,
                "systemCreatedBy": SIMULATOR_USER, "systemModifiedAt": self.modified,
                "systemModifiedBy": SIMULATOR_USER}

    def dump(self) -> dict[str, Any]:
        return {**self.render(), "companyId": self.company_id, "entitySet": self.entity_set, "seq": self.seq,
                "version": self.version, "pendingChanges": len(self.pending)}


@dataclass(eq=False)
class _Delivery:
    url: str
    value: list[dict[str, Any]]
    subscription_ids: set[str]
    first_attempt: datetime
    next_try: float = 0.0
    attempts: int = 0
    sending: bool = False
    record: dict[str, Any] = field(default_factory=dict)


class Webhooks:
    """The subscription table and the notification sender (a daemon thread, started with the first subscription)."""

    def __init__(self, store: Store, options: Options) -> None:
        self.store = store
        self.options = options
        self.subscriptions: dict[str, Subscription] = {}
        self.removed: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.handshakes: list[dict[str, Any]] = []
        self._outbox: list[_Delivery] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=options.notification_timeout)

    # -- subscriptions -----------------------------------------------------------------------------------------

    def parse_resource(self, resource: str) -> tuple[str, str]:
        path = urlsplit(resource).path if "://" in resource else resource
        match = _RESOURCE.match(path.strip())
        if match is None:
            raise BcError(400, "BadRequest_ResourceNotFound",
                          f"The resource '{resource}' is not a collection of a company that supports webhooks.")
        company_id, set_name = match.group(1).lower(), match.group(2)
        self.store.company(company_id)
        entity_set = SETS.get(set_name)
        if entity_set is None or not entity_set.webhooks:
            raise BcError(400, "BadRequest_ResourceNotFound", f"The resource '{set_name}' does not support webhooks.")
        return company_id, set_name

    def validate(self, body: Any, *, creating: bool) -> dict[str, Any]:
        values, _ = self.store.coerce(SUBSCRIPTIONS, body)
        if creating:
            for name in ("notificationUrl", "resource"):
                if not values.get(name):
                    raise BcError(400, "BadRequest_RequiredParamNotProvided", f"The '{name}' must be specified.")
            self.purge_expired()
            if len(self.subscriptions) >= self.options.max_subscriptions:
                raise BcError(400, "BadRequest",
                              f"The maximum number of subscriptions ({self.options.max_subscriptions}) is reached.")
        url = values.get("notificationUrl")
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise BcError(400, "BadRequest", f"The notificationUrl '{url}' is not an absolute HTTP(S) URL.")
        if values.get("resource") is not None:
            self.parse_resource(values["resource"])
        return values

    async def handshake(self, url: str) -> None:
        """POST ``notificationUrl?validationToken=…``; the subscriber must echo the token with 200 in time."""
        token = uuid.uuid4().hex
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token)}"
        entry: dict[str, Any] = {"url": url, "at": self.store.now(), "ok": False}
        try:
            async with httpx.AsyncClient(timeout=self.options.handshake_timeout) as client:
                response = await client.post(target, headers={"Content-Type": "text/plain"})
        except httpx.HTTPError as exc:
            entry["detail"] = f"{type(exc).__name__}: {exc}"
        else:
            entry["status"] = response.status_code
            if response.status_code != 200:
                entry["detail"] = f"the notification URL answered {response.status_code}"
            elif response.text.strip() != token:
                entry["detail"] = "the notification URL did not return the validationToken in the response body"
            else:
                entry["ok"] = True
        with self.store.lock:
            self.handshakes.append(entry)
        if not entry["ok"]:
            raise BcError(400, "BadRequest",
                          f"The subscription could not be validated: {entry['detail']} (handshake with {url}).")

    def create(self, values: dict[str, Any]) -> Subscription:
        company_id, set_name = self.parse_resource(values["resource"])
        now = self.store.clock.now()
        with self.store.lock:
            self.store._seq += 1
            subscription = Subscription(
                uuid.UUID(int=self.store.rng.getrandbits(128), version=4).hex, values["notificationUrl"],
                values["resource"], values.get("clientState") or "", company_id, set_name,
                now + self.options.subscription_lifetime, iso(now), iso(now), self.store._seq)
            self.subscriptions[subscription.id] = subscription
        self._ensure_worker()
        return subscription

    def renew(self, subscription: Subscription, values: dict[str, Any]) -> Subscription:
        now = self.store.clock.now()
        with self.store.lock:
            if "resource" in values:
                subscription.company_id, subscription.entity_set = self.parse_resource(values["resource"])
                subscription.resource = values["resource"]
            if "notificationUrl" in values:
                subscription.notification_url = values["notificationUrl"]
            if "clientState" in values:
                subscription.client_state = values["clientState"] or ""
            subscription.expires = now + self.options.subscription_lifetime
            subscription.modified = iso(now)
            subscription.version += 1
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        self.purge_expired()
        subscription = self.subscriptions.get(subscription_id.strip("'").lower())
        if subscription is None:
            raise BcError(404, "BadRequest_NotFound", f"The subscription '{subscription_id}' does not exist.")
        return subscription

    def delete(self, subscription: Subscription, reason: str) -> None:
        with self.store.lock:
            if self.subscriptions.pop(subscription.id, None) is not None:
                self.removed.append({"subscriptionId": subscription.id, "reason": reason, "at": self.store.now()})

    def purge_expired(self) -> None:
        """Subscriptions that were not renewed in time stop existing, silently, as in BC."""
        now = self.store.clock.now()
        with self.store.lock:
            for subscription in list(self.subscriptions.values()):
                if subscription.expires <= now:
                    self.delete(subscription, "expired")

    # -- the change feed ---------------------------------------------------------------------------------------

    def publish(self, changes: list[Change]) -> None:
        if not changes:
            return
        with self.store.lock:
            for change in changes:
                for subscription in self.subscriptions.values():
                    if subscription.company_id != change.company_id or subscription.entity_set != change.entity_set:
                        continue
                    previous = subscription.pending.get(change.entity_id)
                    kind = change.change_type
                    if previous is not None and previous[0] == "created" and kind == "updated":
                        kind = "created"
                    subscription.pending[change.entity_id] = (kind, change.at)
                    if subscription.window_opened is None:
                        subscription.window_opened = time.monotonic()
        self._wake.set()

    def tick(self, *, force: bool = False) -> None:
        """Close due debounce windows into deliveries, then send the deliveries that are due."""
        self.purge_expired()
        now = time.monotonic()
        with self.store.lock:
            grouped: dict[str, list[Subscription]] = {}
            for subscription in self.subscriptions.values():
                opened = subscription.window_opened
                if opened is not None and (force or now - opened >= self.options.notification_delay):
                    grouped.setdefault(subscription.notification_url, []).append(subscription)
            for url, subscriptions in grouped.items():
                value: list[dict[str, Any]] = []
                for subscription in subscriptions:
                    value += self._notifications(subscription)
                    subscription.pending = {}
                    subscription.window_opened = None
                record = {"notificationUrl": url, "value": value, "status": "pending", "attempts": 0,
                          "responses": []}
                self.notifications.append(record)
                self._outbox.append(_Delivery(url, value, {s.id for s in subscriptions}, self.store.clock.now(),
                                              record=record))
            due = [d for d in self._outbox if not d.sending and (force or d.next_try <= now)]
            for delivery in due:
                delivery.sending = True
        for delivery in due:
            self._send(delivery)

    def _notifications(self, subscription: Subscription) -> list[dict[str, Any]]:
        base = f"api/v2.0/companies({subscription.company_id})/{subscription.entity_set}"
        common = {"subscriptionId": subscription.id, "clientState": subscription.client_state,
                  "expirationDateTime": seconds(subscription.expires)}
        changes = sorted(subscription.pending.items(), key=lambda item: item[1][1])
        if len(changes) > self.options.collection_threshold:
            first = changes[0][1][1] - timedelta(seconds=1)
            last = changes[-1][1][1]
            return [{**common, "resource": f"{base}?$filter=lastModifiedDateTime%20gt%20{seconds(first)}",
                     "changeType": "collection", "lastModifiedDateTime": iso(last)}]
        return [{**common, "resource": f"{base}({entity_id})", "changeType": kind, "lastModifiedDateTime": iso(at)}
                for entity_id, (kind, at) in changes]

    def _send(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        body = json.dumps({"value": delivery.value}).encode()
        try:
            response = self._http.post(delivery.url, content=body, headers={"Content-Type": "application/json"})
            status: int | None = response.status_code
            outcome = f"HTTP {status}"
        except httpx.HTTPError as exc:
            status, outcome = None, f"{type(exc).__name__}"
        with self.store.lock:
            delivery.sending = False
            record = delivery.record
            record["attempts"] = delivery.attempts
            record["responses"].append(outcome)
            if status is not None and 200 <= status < 300:
                record.update(status="delivered", deliveredAt=self.store.now())
                self._drop(delivery)
            elif status is None or status in (408, 429) or status >= 500:
                elapsed = self.store.clock.now() - delivery.first_attempt
                if elapsed >= self.options.notification_retry_period:
                    record["status"] = "abandoned"
                    self._drop(delivery)
                else:
                    delivery.next_try = time.monotonic() + self.options.notification_retry_interval
            else:
                record["status"] = "rejected"
                self._drop(delivery)
                for subscription_id in delivery.subscription_ids:
                    subscription = self.subscriptions.get(subscription_id)
                    if subscription is not None:
                        self.delete(subscription, f"the notification URL answered {status}")

    def _drop(self, delivery: _Delivery) -> None:
        if delivery in self._outbox:
            self._outbox.remove(delivery)

    # -- worker ------------------------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        with self.store.lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="bc-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        interval = max(0.01, min(0.25, self.options.notification_delay / 5, self.options.notification_retry_interval))
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # a sender must outlive one bad delivery
                log.exception("bc simulator: notification delivery failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http.close()

    # -- ground truth ------------------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.store.lock:
            return {"subscriptions": [s.dump() for s in self.subscriptions.values()],
                    "removedSubscriptions": list(self.removed),
                    "notifications": [dict(n) for n in self.notifications],
                    "handshakes": list(self.handshakes)}

    def load(self, state: dict[str, Any]) -> None:
        with self.store.lock:
            self.subscriptions.clear()
            for data in state.get("subscriptions", []):
                subscription = Subscription(
                    data["subscriptionId"], data["notificationUrl"], data["resource"], data.get("clientState", ""),
                    data["companyId"], data["entitySet"], datetime.fromisoformat(data["expirationDateTime"]),
                    data["systemCreatedAt"], data["lastModifiedDateTime"], int(data.get("seq", 0)),
                    int(data.get("version", 1)))
                self.subscriptions[subscription.id] = subscription
            self.removed = list(state.get("removedSubscriptions", []))
            self.notifications = list(state.get("notifications", []))
            self.handshakes = list(state.get("handshakes", []))
        if self.subscriptions:
            self._ensure_worker()

