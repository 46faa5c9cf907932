"""Intake: the one way a webhook becomes work. Verify, scan, claim, audit, enqueue, for every source.

Sources differ only by their ``Source`` description: how the sender authenticates, how big a body may
be, how the events are read out of a body (and so where each one's idempotency key is), and which queue
they go to. The pipeline never calls Heartland or Dynamics, so it answers fast.

Every event of a delivery is checked before any is enqueued: a bad one rejects the whole delivery and the
sender's retry cannot half-apply it. A duplicate is accepted and has no second effect.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from shared.messaging.messages import OutgoingMessage
from shared.ops import telemetry
from shared.ops.alerts import Alert
from shared.ports import Ports
from shared.security.pan import PanFinding, find_ssns_json, scan, scan_json
from shared.security.signatures import verify_gp_signature
from shared.settings import Settings
from shared.storage.idempotency import Claim, KeyStatus

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

    def envelope(self, source: str, correlation_id: str | None = None) -> Envelope:
        """The event as its queue carries it; ``correlation_id`` doubles as the envelope's id when given."""
        ids = {"id": correlation_id, "correlation_id": correlation_id} if correlation_id else {}
        return Envelope(**ids, type=self.type, source=source, subject=self.subject, idempotency_key=self.key,
                        data=self.data)


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


@dataclass(frozen=True)
class Checked:
    """A delivery that passed every check: its events, read, and not yet enqueued."""

    source: Source
    events: list[Event | Ignored]


def accept(ports: Ports, source: Source, body: bytes, headers: Mapping[str, str],
           params: Mapping[str, str] | None = None) -> Accepted | Handshake:
    """Take one delivery of ``source``; ``headers`` must have lower-case names, ``params`` is the query string.

    Raises:
        RequestRejected: a subclass saying what is wrong (too large, not JSON, unauthenticated, card data,
            not an event of the source); nothing was enqueued.
        ConfigError: the source's secret is not configured; the sender should retry later.
    """
    checked = check(ports, source, body, headers, params)
    if isinstance(checked, Handshake):
        return checked
    return enqueue(ports, [checked])[0]


async def accept_together(ports: Ports, source: Source, body: bytes, headers: Mapping[str, str],
                          params: Mapping[str, str] | None = None) -> Accepted | Handshake:
    """``accept`` for an async route, with group commit: the checks run on the event loop, and the
    deliveries checked while the previous group was being written are enqueued together (one commit per
    store), each answered once that commit is done. So a ``202`` still means claimed, audited and enqueued,
    and no request needs a thread of its own. Stores reached over a network are written on one writer
    thread, so the loop goes on reading and answering requests meanwhile; stores on this machine
    (``Ports.stores_local``) are written on the loop itself."""
    checked = check(ports, source, body, headers, params)
    if isinstance(checked, Handshake):
        return checked
    loop = asyncio.get_running_loop()
    group = _groups.get(loop)
    if group is None:
        group = _groups[loop] = _Group(loop)
    future: asyncio.Future[Accepted] = loop.create_future()
    group.add(ports, checked, future)
    return await future


_Waiting = tuple[Ports, Checked, "asyncio.Future[Accepted]"]
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-commit")


class _Group:
    """The deliveries of one event loop waiting for their commit; one group is written at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[_Waiting] = []
        self._busy = False  # a group is being written, or a write is scheduled

    def add(self, ports: Ports, checked: Checked, future: asyncio.Future[Accepted]) -> None:
        self._waiting.append((ports, checked, future))
        if not self._busy:
            self._busy = True
            # Two turns of the loop from now: requests whose bytes arrive in the next poll are read in that
            # turn and checked in the one after, and join this group rather than wait for the next.
            self._loop.call_soon(self._loop.call_soon, self._write)

    def _write(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        group, self._waiting = self._waiting, []
        if all(ports.stores_local for ports, _, _ in group):
            # Stores on this machine commit a group in well under a millisecond: written here, it costs no
            # hand-over to a thread and back. Requests arriving meanwhile wait in the socket for the next group.
            self._answer(group, _enqueue_group(group))
            return
        written = self._loop.run_in_executor(_WRITER, _enqueue_group, group)
        written.add_done_callback(lambda done: self._answer(group, _outcomes(done, len(group))))

    def _answer(self, group: list[_Waiting], outcomes: list[Accepted | BaseException]) -> None:
        try:
            for (_, _, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        finally:
            self._write()  # the next group, or idle


def _outcomes(done: asyncio.Future[list[Accepted | BaseException]], size: int) -> list[Accepted | BaseException]:
    if done.cancelled():
        return [asyncio.CancelledError()] * size
    error = done.exception()
    return [error] * size if error is not None else done.result()


def _enqueue_group(group: list[_Waiting]) -> list[Accepted | BaseException]:
    """Each set of ports (one per process in practice) is written in one ``enqueue``; a failure answers all
    of its deliveries with the error, so the senders retry."""
    outcomes: dict[int, Accepted | BaseException] = {}
    by_ports: dict[int, list[int]] = {}
    for index, (ports, _, _) in enumerate(group):
        by_ports.setdefault(id(ports), []).append(index)
    for indexes in by_ports.values():
        try:
            results: list[Accepted | BaseException] = list(enqueue(group[indexes[0]][0],
                                                                   [group[i][1] for i in indexes]))
        except Exception as error:
            results = [error] * len(indexes)
        outcomes.update(zip(indexes, results, strict=True))
    return [outcomes[i] for i in range(len(group))]


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Group] = weakref.WeakKeyDictionary()


def check(ports: Ports, source: Source, body: bytes, headers: Mapping[str, str],
          params: Mapping[str, str] | None = None) -> Checked | Handshake:
    """Every check of a delivery, in order, before anything is stored; raises as ``accept`` does."""
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
    ssns = find_ssns_json(body, payload)
    if ssns:
        raise _reject_ssns(ports, source, ssns)
    events: list[Event | Ignored] = []
    for index, item in enumerate(items):
        try:
            events.append(source.read(item))
        except ValueError as exc:
            where = f"event {index}: " if len(items) > 1 else ""
            raise Unprocessable(f"{where}not a {source.label}: {exc}") from None
    return Checked(source, events)


def enqueue(ports: Ports, deliveries: Sequence[Checked]) -> list[Accepted]:
    """Enqueue the events of several deliveries at once: one send per queue, one write per key partition,
    one audit append per chain. Each event is enqueued once, as ``enqueue_once`` says; a twin within the
    group is a duplicate like any other."""
    fresh: list[tuple[Source, Event, str]] = []
    outcomes: list[list[str]] = []  # per delivery and event: accepted, duplicate or ignored
    correlation_ids: list[list[str]] = []
    claimed: set[str] = set()
    stored = _stored(ports, deliveries)
    for delivery in deliveries:
        outcomes.append([])
        correlation_ids.append([])
        for event in delivery.events:
            if isinstance(event, Ignored):
                outcome, correlation_id = "ignored", event.correlation_id
            elif event.key in claimed:
                outcome, correlation_id = "duplicate", _correlation_id(event)
            elif (seen := stored.get((event.partition, event.key))) is not None and seen.status is KeyStatus.DONE:
                outcome, correlation_id = "duplicate", seen.result_ref or event.key
            else:
                claimed.add(event.key)
                outcome, correlation_id = "accepted", _correlation_id(event)
                fresh.append((delivery.source, event, correlation_id))
            outcomes[-1].append(outcome)
            correlation_ids[-1].append(correlation_id)
    _send(ports, fresh)  # before the keys: a crash in between leaves the sender's retry free to enqueue
    with ports.tables.together():  # the keys and the audit records of the group in one commit where possible
        twins = _remember(ports, fresh)  # a concurrent twin remembered first: a duplicate after all
        records = []
        for d, delivery in enumerate(deliveries):
            for e, event in enumerate(delivery.events):
                if isinstance(event, Event) and event.key in twins and outcomes[d][e] == "accepted":
                    outcomes[d][e], correlation_ids[d][e] = "duplicate", twins[event.key]
                records.append(_record(delivery.source, event, outcomes[d][e], correlation_ids[d][e]))
        ports.audit.record_many(records)
    results = []
    counted: Counter[tuple[str, str]] = Counter()
    logged = log.isEnabledFor(logging.INFO)
    for delivery, kinds, ids in zip(deliveries, outcomes, correlation_ids, strict=True):
        tally = Counter(kinds)
        for event, kind, correlation_id in zip(delivery.events, kinds, ids, strict=True):
            if isinstance(event, Event):
                counted["received" if kind == "accepted" else "duplicate", delivery.source.metric] += 1
                if kind == "accepted" and logged:
                    log.info("accepted %s", event.key, extra={"correlation_id": correlation_id})
        results.append(Accepted(tally["accepted"], tally["duplicate"], tally["ignored"],
                                [i for event, i in zip(delivery.events, ids, strict=True)
                                 if isinstance(event, Event)]))
    for (stage, flow), n in counted.items():  # one count per group: the counter's lock is taken once
        telemetry.count(stage, n, flow=flow)
    return results


def _stored(ports: Ports, deliveries: Sequence[Checked]) -> dict[tuple[str, str], Claim]:
    """The keys of the deliveries' events already stored, read in one go per partition."""
    by_partition: dict[str, list[str]] = {}
    for delivery in deliveries:
        for event in delivery.events:
            if isinstance(event, Event):
                by_partition.setdefault(event.partition, []).append(event.key)
    return {(partition, key): claim for partition, keys in by_partition.items()
            for key, claim in ports.keys.get_many(partition, keys).items()}


def _send(ports: Ports, fresh: list[tuple[Source, Event, str]]) -> None:
    """One send per queue; ``MessageId`` is the key, so the bus drops a twin it already holds."""
    by_queue: dict[str, list[OutgoingMessage]] = {}
    for source, event, correlation_id in fresh:
        by_queue.setdefault(source.queue, []).append(to_message(event.envelope(source.envelope_source,
                                                                               correlation_id)))
    for queue, messages in by_queue.items():
        ports.bus.send(queue, messages)


def _remember(ports: Ports, fresh: list[tuple[Source, Event, str]]) -> dict[str, str]:
    """Remember the keys as done, one batch per partition; returns those a concurrent twin remembered first,
    with its correlation id."""
    by_partition: dict[str, list[tuple[str, str]]] = {}
    for _, event, correlation_id in fresh:
        by_partition.setdefault(event.partition, []).append((event.key, correlation_id))
    twins: dict[str, str] = {}
    for partition, keys in by_partition.items():
        for claim in ports.keys.remember_many(partition, keys):
            if not claim.acquired:
                twins[claim.key] = claim.result_ref or ""
    return twins


def _correlation_id(event: Event) -> str:
    """Derived from the key, so whichever twin wins, the answer names the message on the queue."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hl365:{event.key}").hex


def _record(source: Source, event: Event | Ignored, outcome: str, correlation_id: str) -> dict[str, Any]:
    """The audit record of an event's intake, as ``AuditTrail.record`` takes it."""
    if isinstance(event, Ignored):
        return {"step": f"intake.{source.name}", "event_id": event.event_id, "correlation_id": correlation_id,
                "outcome": event.outcome, "detail": event.detail}
    detail = {"type": event.type, **event.audit} if outcome == "accepted" else {"type": event.type}
    return {"step": f"intake.{source.name}", "event_id": event.key, "correlation_id": correlation_id,
            "outcome": outcome, "detail": detail}


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
    where = ", ".join(f"{f.path} ({f.masked})" for f in findings)
    return _reject(ports, source, "card_data", "card data", where,
                   f"card data is not accepted (found in {', '.join(f.path for f in findings)})")


def _reject_ssns(ports: Ports, source: Source, paths: list[str]) -> Unprocessable:
    """Payroll data comes from its own sources, encrypted, never through a webhook."""
    where = ", ".join(paths)
    return _reject(ports, source, "ssn", "an SSN", where,
                   f"social security numbers are not accepted (found in {where})")


def _reject(ports: Ports, source: Source, kind: str, what: str, where: str, reason: str) -> Unprocessable:
    """Audited and alerted with where the data was (masked); the payload itself is kept nowhere."""
    step = f"intake.{source.name}"
    event_id = f"{step}:{uuid.uuid4().hex}"
    ports.audit.record(step=step, event_id=event_id, correlation_id=event_id, outcome=f"rejected_{kind}",
                       detail={"fields": where})
    ports.alerts.notify(Alert(f"{kind}_rejected", f"{source.label} delivery carried {what} in {where}",
                              {"source": source.name, "fields": where}))
    return Unprocessable(reason)


def enqueue_once(ports: Ports, source: Source, event: Event) -> tuple[bool, str]:
    """Enqueue one event as intake does (the poll's way in); returns (duplicate, correlation id)."""
    result = enqueue(ports, [Checked(source, [event])])[0]
    return bool(result.duplicates), result.correlation_ids[0]


__all__ = ["Accepted", "Authentication", "Checked", "ClientState", "Event", "FunctionKey", "Handshake", "Ignored",
           "Signature", "Source", "accept", "accept_together", "card_data", "check", "enqueue", "enqueue_once",
           "one_object"]
