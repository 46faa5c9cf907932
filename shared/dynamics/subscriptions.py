"""The ``OrderSubscriptions`` adapter of Business Central: webhook subscriptions kept alive, created once,
renewed before BC's 3-day expiry, recreated when BC dropped one (reference §2.7).

BC deletes a subscription silently when it expires, and at once when the subscriber answers a
notification with a 4xx other than 408/429. So each run reads the subscription back instead of trusting
what was stored: a lost one is recreated and ``SubscriptionState.lost_since`` says from when the caller
should re-read changes it may have missed. The subscription id, its ETag, its expiry and when it was
last seen alive are kept in the ``Checkpoints`` table; the client state is kept only as a hash.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.dynamics.bc import BusinessCentralClient, literal
from shared.errors import PermanentApiError
from shared.ports import SubscriptionState, Table
from shared.storage.entities import Entity
from shared.storage.keys import safe_key

log = logging.getLogger("hl365.bc.subscriptions")

Action = Literal["created", "recreated", "renewed", "updated", "current"]

PARTITION = "bc-subscriptions"
RENEW_WITHIN = timedelta(days=1)
"""BC subscriptions live three days; renewing when less than one is left survives two missed runs of a
six-hourly timer."""

def parse_time(value: Any) -> datetime:
    """A BC ``Edm.DateTimeOffset`` (``2025-04-03T09:00:00Z``, up to 7 fractional digits) as aware UTC."""
    text = str(value or "").strip().replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _fingerprint(client_state: str) -> str:
    return hashlib.sha256(f"hl365:bc-client-state:{client_state}".encode()).hexdigest()


class SubscriptionKeeper:
    """Keeps one subscription of ``notification_url`` to one company collection of ``client``.

    Args:
        client: the Business Central client of the company.
        checkpoints: the ``Checkpoints`` table.
        notification_url: where BC sends notifications (and the ``validationToken`` handshake).
        client_state: the shared secret BC echoes in every notification.
        collection: the company-scoped collection, e.g. ``salesOrders``.
        renew_within: renew when less than this is left before expiry.
        clock: now, as aware UTC (tests move it with the simulator's clock).
    """

    def __init__(self, client: BusinessCentralClient, checkpoints: Table, *, notification_url: str,
                 client_state: str, collection: str = "salesOrders", renew_within: timedelta = RENEW_WITHIN,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not notification_url.startswith(("https://", "http://")):
            raise ValueError(f"notification URL {notification_url!r} is not an absolute HTTP(S) URL")
        if not client_state:
            raise ValueError("a subscription needs a client state, so forged notifications can be told apart")
        self._client = client
        self._table = checkpoints
        self.notification_url = notification_url
        self._state = client_state
        self._collection = collection
        self._renew_within = renew_within
        self._clock = clock
        self.resource = f"/api/v2.0/companies({client.company_id})/{collection}"
        self._row = safe_key(f"{client.company_id}-{collection}")

    def ensure(self) -> SubscriptionState:
        """Make sure the subscription exists, points at the notification URL, carries the client state
        and has more than ``renew_within`` left; returns what was done.

        Raises:
            PermanentApiError: BC refused (the handshake with the notification URL failed, 200 reached…).
            TransientApiError: BC was throttled or unavailable; the next run tries again.
        """
        now = self._clock()
        stored = self._table.get(PARTITION, self._row)
        current = self._fetch(str(stored["SubscriptionId"])) if stored is not None else self._adopt()
        if current is None:
            lost_since = None
            if stored is not None:
                seen = stored.get("VerifiedAt")
                lost_since = seen if isinstance(seen, datetime) else now
                log.warning("bc subscription %s is gone; creating a new one", stored["SubscriptionId"])
            created = self._client.create_subscription(self.notification_url, self.resource, self._state)
            return self._save("recreated" if stored is not None else "created", created, now, lost_since)
        changes: dict[str, str] = {}
        if str(current.get("notificationUrl") or "") != self.notification_url:
            changes["notificationUrl"] = self.notification_url
        if stored is None or stored.get("ClientState") != _fingerprint(self._state):
            changes["clientState"] = self._state
        expires = parse_time(current.get("expirationDateTime"))
        if not changes and expires - now > self._renew_within:
            return self._save("current", current, now)
        renewed = self._patch(current, changes)
        return self._save("updated" if changes else "renewed", renewed, now)

    def _fetch(self, subscription_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._client.call("GET", f"subscriptions({literal(subscription_id)})")
        except PermanentApiError as error:
            if error.status == 404:
                return None
            raise
        return found if self._ours(found) else None

    def _adopt(self) -> dict[str, Any] | None:
        """With no checkpoint (a new storage account, a wiped table), reuse the subscription BC already
        has for this URL and collection rather than piling up duplicates towards BC's limit of 200."""
        return next((s for s in self._client.list_subscriptions()
                     if s.get("notificationUrl") == self.notification_url and self._ours(s)), None)

    def _ours(self, subscription: dict[str, Any]) -> bool:
        resource = str(subscription.get("resource") or "").lower().rstrip("/")
        return resource.endswith(self.resource.lower().lstrip("/"))

    def _patch(self, current: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
        """PATCH with ``If-Match`` (BC repeats the handshake); a stale ETag is read again once."""
        target = f"subscriptions({literal(str(current['subscriptionId']))})"
        try:
            result: dict[str, Any] = self._client.call("PATCH", target, body=changes,
                                                       headers={"If-Match": str(current["@odata.etag"])})
            return result
        except PermanentApiError as error:
            if error.status not in (409, 412):
                raise
        fresh = self._client.call("GET", target)
        result = self._client.call("PATCH", target, body=changes, headers={"If-Match": str(fresh["@odata.etag"])})
        return result

    def _save(self, action: Action, subscription: dict[str, Any], now: datetime,
              lost_since: datetime | None = None) -> SubscriptionState:
        expires = parse_time(subscription.get("expirationDateTime"))
        self._table.upsert(Entity(PARTITION, self._row, {
            "SubscriptionId": str(subscription["subscriptionId"]),
            "ETag": str(subscription.get("@odata.etag") or ""),
            "ExpiresAt": expires,
            "NotificationUrl": str(subscription.get("notificationUrl") or self.notification_url),
            "Resource": str(subscription.get("resource") or self.resource),
            "ClientState": _fingerprint(self._state),
            "VerifiedAt": now,
            "LastAction": action,
        }))
        return SubscriptionState(action, str(subscription["subscriptionId"]), expires,
                                 str(subscription.get("notificationUrl") or self.notification_url), self.resource,
                                 lost_since)


__all__ = ["PARTITION", "RENEW_WITHIN", "SubscriptionKeeper", "parse_time"]
