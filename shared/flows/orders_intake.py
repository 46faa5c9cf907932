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
import hmac
import logging
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson

from shared.canonical.envelope import Envelope
from shared.flows.answer import Answer
from shared.flows.orders import SOURCE_BC, SOURCE_FO, TRANSFORM_QUEUE
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.security.pan import PanFinding, scan, scan_json
from shared.settings import ConfigError
from shared.storage.idempotency import KeyStatus
from shared.wiring import Services

log = logging.getLogger("hl365.orders.intake")

FO_ORDER_EVENTS: Mapping[str, str] = {"SalesOrderConfirmedBusinessEvent": "order.created"}
"""F&O business events that mean "an order to charge", and the envelope type each becomes. A confirmed
order is the one a customer committed to; a re-confirmation after a change arrives as a new event."""
FO_ORDER_NUMBER_FIELDS = ("SalesOrderNumber", "SalesOrderId", "SalesId")
BC_CHANGES: Mapping[str, str] = {"created": "order.created", "updated": "order.changed",
                                 "collection": "order.requery"}
MAX_KEY = 128
MAX_VALIDATION_TOKEN = 1024
_IDENTIFIERS = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
                          r"|/Date\(-?\d+(?:[+-]\d{4})?\)/")
"""GUIDs and OData ``/Date(ms)/`` literals: identifiers and timestamps, never card numbers."""
_BC_RESOURCE = re.compile(
    r"^/?(?:.*?/)?companies\((?P<company>[0-9a-fA-F-]{36})\)/(?P<set>[A-Za-z]+)"
    r"(?:\((?P<id>[0-9a-fA-F-]{36})\))?(?:\?(?P<query>.*))?$")


@dataclass(frozen=True)
class Handshake:
    """Business Central's subscription check: answer ``200`` with ``token`` as a text/plain body."""

    token: str


@dataclass(frozen=True)
class _Pointer:
    """One order change to enqueue: which order, under which key, with what the audit should show."""

    key: str
    partition: str
    type: str
    source: str
    subject: str
    data: dict[str, Any]


def _content_type_ok(headers: Mapping[str, str]) -> bool:
    value = headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower() in ("application/json", "")


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


def _parse(services: Services, body: bytes, headers: Mapping[str, str]) -> Any | Answer:
    if len(body) > services.settings.max_webhook_bytes:
        return Answer(413, f"body of {len(body)} bytes exceeds {services.settings.max_webhook_bytes}")
    if not _content_type_ok(headers):
        return Answer(415, f"content type {headers.get('content-type')!r} is not application/json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Answer(400, f"body is not valid JSON: {exc}")


def _card_data(body: bytes, payload: Any) -> list[PanFinding]:
    """Card numbers in the payload, identifiers aside. Dynamics payloads are full of GUIDs and F&O stamps
    every event ``/Date(1795783821246)/``: an all-digit GUID (the all-zero ``InitiatingUserAADObjectId`` of
    system users) or a millisecond timestamp reads as a Luhn-valid number about one time in ten."""
    if not scan_json(body, payload):
        return []
    return scan(_without_identifiers(payload))


def _without_identifiers(value: Any) -> Any:
    if isinstance(value, str):
        return _IDENTIFIERS.sub("#", value)
    if isinstance(value, dict):
        return {_without_identifiers(str(k)): _without_identifiers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_identifiers(v) for v in value]
    return value


def _reject_card_data(services: Services, step: str, findings: list[PanFinding]) -> Answer:
    where = ", ".join(f"{f.path} ({f.masked})" for f in findings)
    event_id = f"{step}:{uuid.uuid4().hex}"
    services.audit.record(step=step, event_id=event_id, correlation_id=event_id, outcome="rejected_card_data",
                          detail={"fields": where})
    services.alerts.notify(Alert("card_data_rejected", f"{step} payload carried card data in {where}",
                                 {"fields": where}))
    return Answer(422, f"card data is not accepted (found in {', '.join(f.path for f in findings)})")


# F&O business events ---------------------------------------------------------------------------------------


def accept_fo_events(services: Services, body: bytes, headers: Mapping[str, str]) -> Answer:
    """Check, scan, deduplicate and enqueue F&O business events (one envelope or an array of them).

    Every event is checked before any is enqueued, so a bad one in an array rejects the whole delivery
    and F&O's retry cannot half-apply it. ``headers`` must have lower-case names.
    """
    payload = _parse(services, body, headers)
    if isinstance(payload, Answer):
        return payload
    events = payload if isinstance(payload, list) else [payload]
    if not events or not all(isinstance(e, dict) for e in events):
        return Answer(400, "body must be a business event object or a non-empty array of them")
    findings = _card_data(body, payload)
    if findings:
        return _reject_card_data(services, "intake.fo", findings)
    pointers: list[_Pointer | None] = []
    for index, event in enumerate(events):
        try:
            pointers.append(_fo_pointer(event))
        except ValueError as exc:
            where = f"event {index}: " if len(events) > 1 else ""
            return Answer(422, f"{where}not an F&O business event: {exc}")
    tally: Counter[str] = Counter()
    correlation_ids = []
    for event, pointer in zip(events, pointers, strict=True):
        if pointer is None:
            tally["ignored"] += 1
            services.audit.record(step="intake.fo", event_id=f"fo:{event['EventId']}",
                                  correlation_id=str(event["EventId"]), outcome="ignored",
                                  detail={"event": event["BusinessEventId"],
                                          "control_number": event.get("ControlNumber"),
                                          "legal_entity": event["BusinessEventLegalEntity"]})
            continue
        duplicate, correlation_id = _enqueue(services, pointer, "intake.fo")
        tally["duplicates" if duplicate else "accepted"] += 1
        correlation_ids.append(correlation_id)
    return Answer(202, "accepted", {"accepted": tally["accepted"], "duplicates": tally["duplicates"],
                                    "ignored": tally["ignored"], "correlation_ids": correlation_ids})


def _text(event: Mapping[str, Any], name: str, limit: int = 64) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is missing")
    if len(value) > limit or any(c.isspace() for c in value.strip()):
        raise ValueError(f"{name} {value[:limit]!r} is not an identifier")
    return value.strip()


def _fo_pointer(event: Mapping[str, Any]) -> _Pointer | None:
    """The order an event names, or None for an event U4 does not handle (it is audited and answered 202).

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
        return None
    number = next((event[f] for f in FO_ORDER_NUMBER_FIELDS if isinstance(event.get(f), str) and event[f].strip()),
                  None)
    if number is None:
        raise ValueError(f"{kind} names no sales order ({' or '.join(FO_ORDER_NUMBER_FIELDS)})")
    number = _text({"SalesOrderNumber": number}, "SalesOrderNumber")
    return _Pointer(
        key=_key("fo", legal_entity, event_id), partition=f"fo-{legal_entity}-{_day(event.get('EventTimeIso8601'))}",
        type=FO_ORDER_EVENTS[kind], source=SOURCE_FO, subject=number,
        data={"erp": "fo", "company": legal_entity, "order": number, "event": kind, "event_id": event_id,
              "control_number": control})


# Business Central notifications ----------------------------------------------------------------------------


def accept_bc_notifications(services: Services, body: bytes, headers: Mapping[str, str],
                            params: Mapping[str, str]) -> Answer | Handshake:
    """The subscription handshake, or a notification batch: authenticate, scan, deduplicate, enqueue.

    ``headers`` must have lower-case names; ``params`` is the query string.
    """
    token = params.get("validationToken")
    if token is not None:
        if not token or len(token) > MAX_VALIDATION_TOKEN or not token.isprintable():
            return Answer(400, "validationToken must be 1 to 1024 printable characters")
        return Handshake(token)
    payload = _parse(services, body, headers)
    if isinstance(payload, Answer):
        return payload
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return Answer(400, 'body must be a notification batch: {"value": [ ... ]}')
    try:
        expected = str(services.settings.require("bc_webhook_client_state")).encode()
    except ConfigError as error:
        return Answer(503, f"intake is not configured: {error}", headers={"Retry-After": "300"})
    for item in items:
        given = item.get("clientState")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected):
            return Answer(401, "clientState is missing or does not match")
    findings = _card_data(body, payload)
    if findings:
        return _reject_card_data(services, "intake.bc", findings)
    pointers: list[_Pointer | None] = []
    for index, item in enumerate(items):
        try:
            pointers.append(_bc_pointer(item))
        except ValueError as exc:
            return Answer(422, f"notification {index}: {exc}")
    tally: Counter[str] = Counter()
    correlation_ids = []
    for item, pointer in zip(items, pointers, strict=True):
        if pointer is None:
            tally["ignored"] += 1
            services.audit.record(step="intake.bc", event_id=str(item.get("resource"))[:200],
                                  correlation_id=str(item.get("subscriptionId")),
                                  outcome="deleted" if item.get("changeType") == "deleted" else "ignored",
                                  detail={"change": item.get("changeType"), "resource": item.get("resource")})
            continue
        duplicate, correlation_id = _enqueue(services, pointer, "intake.bc")
        tally["duplicates" if duplicate else "accepted"] += 1
        correlation_ids.append(correlation_id)
    return Answer(202, "accepted", {"accepted": tally["accepted"], "duplicates": tally["duplicates"],
                                    "ignored": tally["ignored"], "correlation_ids": correlation_ids})


def _bc_pointer(item: Mapping[str, Any]) -> _Pointer | None:
    """What to enqueue for one notification; None for a deleted order or another resource (audited).

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
        return None
    company = match.group("company").lower()
    key = _key("bc", subscription, resource, change, modified)
    partition = f"bc-{subscription}-{_day(modified)}"
    if change == "collection":
        query = dict(part.split("=", 1) for part in (match.group("query") or "").split("&") if "=" in part)
        flt = unquote(query.get("$filter", "")).strip()
        if not flt:
            raise ValueError("a collection notification must name a $filter to read the changes with")
        return _Pointer(key, partition, BC_CHANGES[change], SOURCE_BC, f"salesOrders?$filter={flt}"[:200],
                        {"erp": "bc", "company": company, "filter": flt, "subscription": subscription,
                         "last_modified": modified})
    order_id = match.group("id")
    if order_id is None:
        return None
    return _Pointer(key, partition, BC_CHANGES[change], SOURCE_BC, order_id.lower(),
                    {"erp": "bc", "company": company, "order": order_id.lower(), "change": change,
                     "subscription": subscription, "last_modified": modified})


# Both ------------------------------------------------------------------------------------------------------


def _enqueue(services: Services, pointer: _Pointer, step: str) -> tuple[bool, str]:
    """Enqueue once: the key is the ``MessageId`` (the bus drops a concurrent twin) and is remembered only
    after the send, so a crash in between leaves the sender's retry free to enqueue. Returns
    (duplicate, correlation id)."""
    seen = services.keys.get(pointer.partition, pointer.key)
    if seen is not None and seen.status is KeyStatus.DONE:
        return _duplicate(services, pointer, step, seen.result_ref)
    correlation_id = uuid.uuid5(uuid.NAMESPACE_URL, f"hl365:{pointer.key}").hex
    envelope = Envelope(id=correlation_id, correlation_id=correlation_id, type=pointer.type, source=pointer.source,
                        subject=pointer.subject, idempotency_key=pointer.key, data=pointer.data)
    services.bus.send(TRANSFORM_QUEUE, [to_message(envelope)])
    remembered = services.keys.remember(pointer.partition, pointer.key, correlation_id)
    if not remembered.acquired:
        return _duplicate(services, pointer, step, remembered.result_ref)
    services.audit.record(step=step, event_id=pointer.key, correlation_id=correlation_id, outcome="accepted",
                          detail={"type": pointer.type, **{k: v for k, v in pointer.data.items() if k != "erp"}})
    log.info("accepted %s", pointer.key, extra={"correlation_id": correlation_id})
    return False, correlation_id


def _duplicate(services: Services, pointer: _Pointer, step: str, correlation_id: str | None) -> tuple[bool, str]:
    services.audit.record(step=step, event_id=pointer.key, correlation_id=correlation_id or pointer.key,
                          outcome="duplicate", detail={"control_number": pointer.data.get("control_number")})
    return True, correlation_id or ""


__all__ = ["BC_CHANGES", "FO_ORDER_EVENTS", "Handshake", "accept_bc_notifications", "accept_fo_events"]
