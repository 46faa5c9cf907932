"""Intake: the one way a webhook becomes work. Verify, scan, claim, audit, enqueue, for every source.

Sources differ only by their ``Source`` description: how the sender authenticates, how big a body may
be, how the events are read out of a body (and so where each one's idempotency key is), and which queue
they go to. The pipeline never calls Heartland or Dynamics, so it answers fast.

Every event of a delivery is checked before any is enqueued: a bad one rejects the whole delivery and the
sender's retry cannot half-apply it. A duplicate is accepted and has no second effect.
"""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from shared.canonical.envelope import Envelope
from shared.errors import (
    InvalidRequest,
    TooLarge,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.messaging.envelope import to_message
from shared.ops import telemetry
from shared.ops.alerts import Alert
from shared.ports import Ports
from shared.security.pan import PanFinding, scan, scan_json
from shared.security.signatures import verify_gp_signature
from shared.settings import Settings
from shared.storage.idempotency import KeyStatus

log = logging.getLogger("hl365.intake")

_IDENTIFIERS = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
                          r"|/Date\(-?\d+(?:[+-]\d{4})?\)/")
"""GUIDs and OData ``/Date(ms)/`` literals: identifiers and timestamps, never card numbers."""


@dataclass(frozen=True)
class Event:
    """One event of a delivery to enqueue: its idempotency key, the key's partition, and the envelope."""

    key: str
    partition: str
    type: str
    subject: str
    data: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)
    """What the ``accepted`` audit record shows besides the type (never card data)."""


@dataclass(frozen=True)
class Ignored:
    """An event the source sent that hl365 does not act on: audited, answered 202, not enqueued."""

    event_id: str
    correlation_id: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """What intake did with a delivery. ``duplicates`` were accepted before and had no second effect."""

    accepted: int
    duplicates: int
    ignored: int
    correlation_ids: list[str]


@dataclass(frozen=True)
class Handshake:
    """A subscription check (Business Central's ``validationToken``): answer ``200`` with ``token`` as text."""

    token: str


class Authentication(Protocol):
    """How a source proves a delivery is its own; raises ``Unauthenticated`` or ``ConfigError``."""

    def check_body(self, settings: Settings, body: bytes, headers: Mapping[str, str]) -> None:
        """Before the body is parsed (a signature over its bytes)."""
        ...

    def check_items(self, settings: Settings, items: Sequence[Mapping[str, Any]]) -> None:
        """After (a secret each item carries)."""
        ...


@dataclass(frozen=True)
class FunctionKey:
    """The route's Functions key (``?code=``), checked by the host before the function runs."""

    def check_body(self, settings: Settings, body: bytes, headers: Mapping[str, str]) -> None:  # noqa: ARG002
        return None

    def check_items(self, settings: Settings, items: Sequence[Mapping[str, Any]]) -> None:  # noqa: ARG002
        return None


@dataclass(frozen=True)
class Signature:
    """A signature of the body in ``header`` under the secret in ``setting`` (GP API's ``X-GP-Signature``)."""

    header: str
    setting: str
    verify: Callable[[bytes, str | None, str], bool] = verify_gp_signature

    def check_body(self, settings: Settings, body: bytes, headers: Mapping[str, str]) -> None:
        if not self.verify(body, headers.get(self.header.lower()), str(settings.require(self.setting))):
            raise Unauthenticated(f"{self.header} is missing or does not match the body")

    def check_items(self, settings: Settings, items: Sequence[Mapping[str, Any]]) -> None:  # noqa: ARG002
        return None


@dataclass(frozen=True)
class ClientState:
    """A shared secret every item carries in ``field`` (Business Central's ``clientState``)."""

    field: str
    setting: str

    def check_body(self, settings: Settings, body: bytes, headers: Mapping[str, str]) -> None:  # noqa: ARG002
        settings.require(self.setting)  # unconfigured: 503 before anything else is said about the body

    def check_items(self, settings: Settings, items: Sequence[Mapping[str, Any]]) -> None:
        expected = str(settings.require(self.setting)).encode()
        for item in items:
            given = item.get(self.field)
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected):
                raise Unauthenticated(f"{self.field} is missing or does not match")


@dataclass(frozen=True)
class Source:
    """A webhook source, described: everything the pipeline needs to take its deliveries."""

    name: str
    """Short name: the audit step is ``intake.{name}``."""
    label: str
    """What a person calls one event (``GP API transaction``), for error texts."""
    envelope_source: str
    queue: str
    authentication: Authentication
    items: Callable[[Any], list[Mapping[str, Any]]]
    """The events of a parsed body; raises ``ValueError`` (400) when the body is not of the source's shape."""
    read: Callable[[Mapping[str, Any]], Event | Ignored]
    """One event as its key and envelope (where the idempotency key is); ``ValueError`` rejects the delivery."""
    metric: str = "intake"
    max_bytes: int | None = None
    """None: ``HL365_MAX_WEBHOOK_BYTES``."""
    handshake: Callable[[Mapping[str, str]], Handshake | None] | None = None


def one_object(payload: Any) -> list[Mapping[str, Any]]:
    """A body that is a single JSON object (GP API, Retail)."""
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    return [payload]


def accept(ports: Ports, source: Source, body: bytes, headers: Mapping[str, str],
           params: Mapping[str, str] | None = None) -> Accepted | Handshake:
    """Take one delivery of ``source``; ``headers`` must have lower-case names, ``params`` is the query string.

    Raises:
        RequestRejected: a subclass saying what is wrong (too large, not JSON, unauthenticated, card data,
            not an event of the source); nothing was enqueued.
        ConfigError: the source's secret is not configured; the sender should retry later.
    """
    if source.handshake is not None and params is not None:
        handshake = source.handshake(params)
        if handshake is not None:
            return handshake
    limit = source.max_bytes or ports.settings.max_webhook_bytes
    if len(body) > limit:
        raise TooLarge(f"body of {len(body)} bytes exceeds {limit}")
    content_type = headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() not in ("application/json", ""):
        raise UnsupportedMediaType(f"content type {content_type!r} is not application/json")
    source.authentication.check_body(ports.settings, body, headers)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    try:
        items = source.items(payload)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    source.authentication.check_items(ports.settings, items)
    findings = card_data(body, payload)
    if findings:
        raise _reject_card_data(ports, source, findings)
    events: list[Event | Ignored] = []
    for index, item in enumerate(items):
        try:
            events.append(source.read(item))
        except ValueError as exc:
            where = f"event {index}: " if len(items) > 1 else ""
            raise Unprocessable(f"{where}not a {source.label}: {exc}") from None
    tally: Counter[str] = Counter()
    correlation_ids = []
    for event in events:
        if isinstance(event, Ignored):
            tally["ignored"] += 1
            ports.audit.record(step=f"intake.{source.name}", event_id=event.event_id,
                               correlation_id=event.correlation_id, outcome=event.outcome, detail=event.detail)
            continue
        duplicate, correlation_id = enqueue_once(ports, source, event)
        tally["duplicates" if duplicate else "accepted"] += 1
        correlation_ids.append(correlation_id)
    return Accepted(tally["accepted"], tally["duplicates"], tally["ignored"], correlation_ids)


def card_data(body: bytes, payload: Any) -> list[PanFinding]:
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


def _reject_card_data(ports: Ports, source: Source, findings: list[PanFinding]) -> Unprocessable:
    """Audited and alerted with where the number was, masked; the payload itself is kept nowhere."""
    where = ", ".join(f"{f.path} ({f.masked})" for f in findings)
    step = f"intake.{source.name}"
    event_id = f"{step}:{uuid.uuid4().hex}"
    ports.audit.record(step=step, event_id=event_id, correlation_id=event_id, outcome="rejected_card_data",
                       detail={"fields": where})
    ports.alerts.notify(Alert("card_data_rejected", f"{source.label} delivery carried card data in {where}",
                              {"source": source.name, "fields": where}))
    return Unprocessable(f"card data is not accepted (found in {', '.join(f.path for f in findings)})")


def enqueue_once(ports: Ports, source: Source, event: Event) -> tuple[bool, str]:
    """Enqueue once: the key is the ``MessageId`` (the bus drops a concurrent twin) and is remembered only
    after the send, so a crash in between leaves the sender's retry free to enqueue. Ids derive from the key,
    so whichever twin wins, the answer names the message on the queue. Returns (duplicate, correlation id)."""
    step = f"intake.{source.name}"
    seen = ports.keys.get(event.partition, event.key)
    if seen is not None and seen.status is KeyStatus.DONE:
        return _duplicate(ports, source, event, seen.result_ref)
    correlation_id = uuid.uuid5(uuid.NAMESPACE_URL, f"hl365:{event.key}").hex
    envelope = Envelope(id=correlation_id, correlation_id=correlation_id, type=event.type,
                        source=source.envelope_source, subject=event.subject, idempotency_key=event.key,
                        data=event.data)
    with telemetry.correlated(correlation_id):
        ports.bus.send(source.queue, [to_message(envelope)])
        remembered = ports.keys.remember(event.partition, event.key, correlation_id)
        if not remembered.acquired:
            return _duplicate(ports, source, event, remembered.result_ref)
        ports.audit.record(step=step, event_id=event.key, correlation_id=correlation_id, outcome="accepted",
                           detail={"type": event.type, **event.audit})
        telemetry.count("received", flow=source.metric)
        log.info("accepted %s", event.key, extra={"correlation_id": correlation_id})
    return False, correlation_id


def _duplicate(ports: Ports, source: Source, event: Event, correlation_id: str | None) -> tuple[bool, str]:
    telemetry.count("duplicate", flow=source.metric)
    ports.audit.record(step=f"intake.{source.name}", event_id=event.key, correlation_id=correlation_id or event.key,
                       outcome="duplicate", detail={"type": event.type})
    return True, correlation_id or ""


__all__ = ["Accepted", "Authentication", "ClientState", "Event", "FunctionKey", "Handshake", "Ignored", "Signature",
           "Source", "accept", "card_data", "enqueue_once", "one_object"]
