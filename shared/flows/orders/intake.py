"""U4 intake: F&O business events and Business Central notifications in, pointers on ``orders-transform``.

Neither carries the order (F&O events are notifications, not a data export; BC's carry a resource path),
so intake only checks, deduplicates and enqueues which order changed; the transform reads it again.
Like every intake it calls neither Dynamics nor Heartland and answers ``202`` fast.

* F&O (``POST /api/webhooks/fo``, Functions key in the endpoint URL): one envelope or a JSON array of
  them; deduplicated on ``EventId`` (``ControlNumber`` is kept in the audit trail, as F&O's docs suggest
  for spotting gaps and reordering). Events other than the sales-order ones U4 handles are answered
  ``202`` and audited as ignored, so F&O neither retries nor logs them as failed.
* Business Central (``POST /api/webhooks/bc``, anonymous): ``?validationToken=`` is echoed as text; a
  notification batch is authenticated by ``clientState`` (compared in constant time). Any other 4xx
  makes BC delete the subscription, which is what a forged call should cause, and nothing else does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from shared.errors import InvalidRequest
from shared.flows.intake import ClientState, Event, FunctionKey, Handshake, Ignored, Source
from shared.flows.orders import SOURCE_BC, SOURCE_FO, TRANSFORM_QUEUE

FO_ORDER_EVENTS: Mapping[str, str] = {"SalesOrderConfirmedBusinessEvent": "order.created"}
"""F&O business events that mean "an order to charge", and the envelope type each becomes. A confirmed
order is the one a customer committed to; a re-confirmation after a change arrives as a new event."""
FO_ORDER_NUMBER_FIELDS = ("SalesOrderNumber", "SalesOrderId", "SalesId")
BC_CHANGES: Mapping[str, str] = {"created": "order.created", "updated": "order.changed",
                                 "collection": "order.requery"}
MAX_KEY = 128
MAX_VALIDATION_TOKEN = 1024
_BC_RESOURCE = re.compile(
    r"^/?(?:.*?/)?companies\((?P<company>[0-9a-fA-F-]{36})\)/(?P<set>[A-Za-z]+)"
    r"(?:\((?P<id>[0-9a-fA-F-]{36})\))?(?:\?(?P<query>.*))?$")


def _day(value: Any) -> str:
    """``YYYYMMDD`` of an event's own time, so a re-delivery days later lands in the same key partition."""
    text = str(value or "")
    try:
        return datetime.fromisoformat(text[:10]).strftime("%Y%m%d")
    except ValueError:
        return datetime.now(UTC).strftime("%Y%m%d")


def _key(prefix: str, *parts: str) -> str:
    """``prefix:part:part…``, hashed when it would exceed Service Bus's 128-character ``MessageId``."""
    key = ":".join((prefix, *parts))
    if len(key) <= MAX_KEY:
        return key
    return f"{prefix}:{parts[0][:40]}:{hashlib.sha256(key.encode()).hexdigest()}"


def _text(event: Mapping[str, Any], name: str, limit: int = 64) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is missing")
    if len(value) > limit or any(c.isspace() for c in value.strip()):
        raise ValueError(f"{name} {value[:limit]!r} is not an identifier")
    return value.strip()


def _fo_event(event: Mapping[str, Any]) -> Event | Ignored:
    """The order an event names; an event U4 does not handle is audited as ignored and answered 202.

    Raises:
        ValueError: the envelope lacks what every business event has, or an order event names no order.
    """
    kind = _text(event, "BusinessEventId", 128)
    legal_entity = _text(event, "BusinessEventLegalEntity", 16).lower()
    event_id = _text(event, "EventId").upper()
    control = event.get("ControlNumber")
    if control is not None and (isinstance(control, bool) or not isinstance(control, int)):
        raise ValueError("ControlNumber is not an integer")
    if kind not in FO_ORDER_EVENTS:
        return Ignored(f"fo:{event_id}", event_id, "ignored",
                       {"event": kind, "control_number": control, "legal_entity": legal_entity})
    number = next((event[f] for f in FO_ORDER_NUMBER_FIELDS if isinstance(event.get(f), str) and event[f].strip()),
                  None)
    if number is None:
        raise ValueError(f"{kind} names no sales order ({' or '.join(FO_ORDER_NUMBER_FIELDS)})")
    number = _text({"SalesOrderNumber": number}, "SalesOrderNumber")
    return _event(_key("fo", legal_entity, event_id), f"fo-{legal_entity}-{_day(event.get('EventTimeIso8601'))}",
                  FO_ORDER_EVENTS[kind], number,
                  {"erp": "fo", "company": legal_entity, "order": number, "event": kind, "event_id": event_id,
                   "control_number": control})


def _bc_event(item: Mapping[str, Any]) -> Event | Ignored:
    """What to enqueue for one notification; a deleted order or another resource is audited as ignored.

    Raises:
        ValueError: a field every notification has is missing, or a collection names no ``$filter``.
    """
    subscription = _text(item, "subscriptionId")
    change = _text(item, "changeType", 32)
    resource = item.get("resource")
    if not isinstance(resource, str) or not resource:
        raise ValueError("resource is missing")
    modified = str(item.get("lastModifiedDateTime") or "")
    match = _BC_RESOURCE.match(resource.strip())
    if match is None or match.group("set") != "salesOrders" or change not in BC_CHANGES:
        return _bc_ignored(subscription, change, resource)
    company = match.group("company").lower()
    key = _key("bc", subscription, resource, change, modified)
    partition = f"bc-{subscription}-{_day(modified)}"
    if change == "collection":
        query = dict(part.split("=", 1) for part in (match.group("query") or "").split("&") if "=" in part)
        flt = unquote(query.get("$filter", "")).strip()
        if not flt:
            raise ValueError("a collection notification must name a $filter to read the changes with")
        return _event(key, partition, BC_CHANGES[change], f"salesOrders?$filter={flt}"[:200],
                      {"erp": "bc", "company": company, "filter": flt, "subscription": subscription,
                       "last_modified": modified})
    order_id = match.group("id")
    if order_id is None:
        return _bc_ignored(subscription, change, resource)
    return _event(key, partition, BC_CHANGES[change], order_id.lower(),
                  {"erp": "bc", "company": company, "order": order_id.lower(), "change": change,
                   "subscription": subscription, "last_modified": modified})


def _bc_ignored(subscription: str, change: str, resource: str) -> Ignored:
    return Ignored(resource[:200], subscription, "deleted" if change == "deleted" else "ignored",
                   {"change": change, "resource": resource})


def _event(key: str, partition: str, kind: str, subject: str, data: dict[str, Any]) -> Event:
    """The pointer to an order: the transform reads the order itself again."""
    return Event(key=key, partition=partition, type=kind, subject=subject, data=data,
                 audit={k: v for k, v in data.items() if k != "erp"})


def _fo_events(payload: Any) -> list[Mapping[str, Any]]:
    events = payload if isinstance(payload, list) else [payload]
    if not events or not all(isinstance(e, dict) for e in events):
        raise ValueError("body must be a business event object or a non-empty array of them")
    return events


def _bc_notifications(payload: Any) -> list[Mapping[str, Any]]:
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError('body must be a notification batch: {"value": [ ... ]}')
    return items


def _bc_handshake(params: Mapping[str, str]) -> Handshake | None:
    token = params.get("validationToken")
    if token is None:
        return None
    if not token or len(token) > MAX_VALIDATION_TOKEN or not token.isprintable():
        raise InvalidRequest("validationToken must be 1 to 1024 printable characters")
    return Handshake(token)


FO = Source(name="fo", label="F&O business event", envelope_source=SOURCE_FO, queue=TRANSFORM_QUEUE,
            authentication=FunctionKey(), items=_fo_events, read=_fo_event, metric="orders.intake")
"""F&O business events (``POST /api/webhooks/fo``): one envelope or an array, the Functions key in the URL."""

BC = Source(name="bc", label="Business Central notification", envelope_source=SOURCE_BC, queue=TRANSFORM_QUEUE,
            authentication=ClientState(field="clientState", setting="bc_webhook_client_state"),
            items=_bc_notifications, read=_bc_event, metric="orders.intake", handshake=_bc_handshake)
"""Business Central notifications (``POST /api/webhooks/bc``, anonymous): ``clientState`` authenticates each."""


