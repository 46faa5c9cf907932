"""The one intake pipeline, driven by a source that exists only as a description: what every webhook source
(GP, F&O, Business Central and those to come) gets without writing intake code of its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared import wiring
from shared.errors import ConfigError, InvalidRequest, TooLarge, Unauthenticated, Unprocessable, UnsupportedMediaType
from shared.flows.intake import (
    Accepted,
    Event,
    Handshake,
    Ignored,
    Signature,
    Source,
    accept,
    accept_together,
    one_object,
)
from shared.messaging.errors import MessagingError
from shared.security.signatures import gp_signature
from tests.flows.conftest import KEY, Alerts, take

QUEUE = "loyalty-transform"
PAN = "4111111111111111"


def _member_event(item: Mapping[str, Any]) -> Event | Ignored:
    """Where this source's idempotency key is: the member id and the event's version."""
    if item.get("kind") == "ping":
        return Ignored(f"loyalty:ping:{item.get('id')}", "ping", "ignored", {"kind": "ping"})
    member, version = item.get("member"), item.get("version")
    if not isinstance(member, str) or not isinstance(version, int):
        raise ValueError("member and version are required")
    return Event(key=f"loyalty:{member}:{version}", partition=f"loyalty-{member[:2]}", type="member.changed",
                 subject=member, data={"member": member, "version": version}, audit={"member": member})


LOYALTY = Source(name="loyalty", label="loyalty event", envelope_source="heartland.loyalty", queue=QUEUE,
                 authentication=Signature(header="X-GP-Signature", setting="gp_app_key"), items=one_object,
                 read=_member_event, max_bytes=2_000)


def deliver(ports: wiring.Services, document: Any, *, key: str = KEY,
            content_type: str = "application/json") -> Accepted:
    body = orjson.dumps(document)
    result = accept(ports, LOYALTY, body, {"content-type": content_type, "x-gp-signature": gp_signature(body, key)})
    assert isinstance(result, Accepted)
    return result


def queued(ports: wiring.Services) -> list[dict[str, Any]]:
    return [{**json.loads(m.body), "message_id": m.message_id} for m in take(ports.bus, QUEUE)]


def audit(ports: wiring.Services) -> list[tuple[str, str, str]]:
    return [(str(r["Step"]), str(r["Outcome"]), str(r["Detail"]))
            for r in ports.audit.records(datetime.now(UTC).date())]


def test_a_described_source_is_verified_claimed_audited_and_queued_once(ports: wiring.Services) -> None:
    first = deliver(ports, {"member": "M-100", "version": 3})
    again = deliver(ports, {"member": "M-100", "version": 3})
    assert (first.accepted, first.duplicates, again.accepted, again.duplicates) == (1, 0, 0, 1)
    assert again.correlation_ids == first.correlation_ids
    [message] = queued(ports)
    assert message["message_id"] == "loyalty:M-100:3" and message["idempotency_key"] == "loyalty:M-100:3"
    assert (message["source"], message["type"], message["data"]) == (
        "heartland.loyalty", "member.changed", {"member": "M-100", "version": 3})
    assert [(step, outcome) for step, outcome, _ in audit(ports)] == [
        ("intake.loyalty", "accepted"), ("intake.loyalty", "duplicate")]
    assert ports.audit.verify(datetime.now(UTC).date()).ok


def test_an_ignored_event_is_audited_and_not_queued(ports: wiring.Services) -> None:
    result = deliver(ports, {"kind": "ping", "id": 7})
    assert (result.accepted, result.ignored) == (0, 1)
    assert queued(ports) == []
    assert audit(ports)[0][:2] == ("intake.loyalty", "ignored")


@pytest.mark.parametrize(("body", "headers", "error", "says"), [
    (b"x" * 2_001, {}, TooLarge, "exceeds 2000"),
    (b"{}", {"content-type": "text/xml"}, UnsupportedMediaType, "text/xml"),
    (b'{"member": "M-1", "version": 1}', {"x-gp-signature": "0" * 128}, Unauthenticated, "X-GP-Signature"),
    (b'{"member": "M-1", "version": 1}', {}, Unauthenticated, "missing"),
])
def test_what_is_wrong_with_a_request_is_said_before_anything_is_queued(
    ports: wiring.Services, body: bytes, headers: dict[str, str], error: type[Exception], says: str,
) -> None:
    with pytest.raises(error, match=says):
        accept(ports, LOYALTY, body, {"content-type": "application/json", **headers})
    assert queued(ports) == [] and audit(ports) == []


def test_a_signed_body_that_is_not_an_event_is_refused_with_the_reason(ports: wiring.Services) -> None:
    for body, error, says in ((b"[1, 2]", InvalidRequest, "JSON object"), (b"{nope", InvalidRequest, "not valid JSON"),
                              (b'{"member": "M-1"}', Unprocessable, "not a loyalty event: member and version")):
        with pytest.raises(error, match=says):
            accept(ports, LOYALTY, body, {"x-gp-signature": gp_signature(body, KEY)})
    assert queued(ports) == []


def test_card_data_is_refused_alerted_and_audited_masked_never_in_clear(ports: wiring.Services) -> None:
    body = orjson.dumps({"member": "M-100", "version": 4, "note": f"paid with {PAN}"})
    with pytest.raises(Unprocessable, match=r"card data is not accepted \(found in \$\.note\)") as refused:
        accept(ports, LOYALTY, body, {"x-gp-signature": gp_signature(body, KEY)})
    assert PAN not in str(refused.value)
    assert queued(ports) == []
    [(step, outcome, detail)] = audit(ports)
    assert (step, outcome) == ("intake.loyalty", "rejected_card_data") and "411111******1111" in detail
    alerts = ports.alerts
    assert isinstance(alerts, Alerts) and [a.kind for a in alerts.sent] == ["card_data_rejected"]
    assert PAN not in detail + alerts.sent[0].message


def test_an_ssn_is_refused_alerted_and_audited_by_where_never_in_clear(ports: wiring.Services) -> None:
    body = orjson.dumps({"member": "M-100", "version": 4, "profile": {"ssn": "987654320"}, "note": "987-65-4321"})
    with pytest.raises(Unprocessable, match=r"social security numbers are not accepted \(found in "
                                            r"\$\.note, \$\.profile\.ssn\)") as refused:
        accept(ports, LOYALTY, body, {"x-gp-signature": gp_signature(body, KEY)})
    assert queued(ports) == []
    [(step, outcome, detail)] = audit(ports)
    assert (step, outcome) == ("intake.loyalty", "rejected_ssn")
    alerts = ports.alerts
    assert isinstance(alerts, Alerts) and [a.kind for a in alerts.sent] == ["ssn_rejected"]
    for ssn in ("987654320", "987-65-4321"):
        assert ssn not in str(refused.value) + detail + alerts.sent[0].message


def test_identifiers_that_read_as_card_numbers_are_not_card_data(ports: wiring.Services) -> None:
    result = deliver(ports, {"member": "00000000-0000-0000-0000-000000000000", "version": 1,
                             "stamp": "/Date(1795783821246)/"})
    assert result.accepted == 1


def test_an_unconfigured_secret_is_a_config_error_not_a_rejection(ports: wiring.Services) -> None:
    ports.settings = ports.settings.model_copy(update={"gp_app_key": None})
    with pytest.raises(ConfigError, match="GP_APP_KEY"):
        accept(ports, LOYALTY, b"{}", {"x-gp-signature": "x"})


@pytest.fixture(params=["on the loop", "on the writer thread"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where a group is written: local stores on the event loop, stores over a network on the writer thread."""
    if request.param == "on the writer thread":
        monkeypatch.setattr(wiring.Services, "stores_local", property(lambda _: False))
    return str(request.param)


def test_deliveries_that_arrive_together_share_one_commit_and_each_hears_its_own_answer(
        ports: wiring.Services, monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    sends: list[int] = []
    send = ports.bus.send
    monkeypatch.setattr(ports.bus, "send", lambda queue, messages: (sends.append(len(messages)), send(queue, messages)))

    async def deliver_all() -> list[Accepted | Handshake]:
        documents = [{"member": f"M-{n}", "version": 1} for n in range(12)] + [{"member": "M-3", "version": 1}]
        bodies = [orjson.dumps(d) for d in documents]
        return await asyncio.gather(*(accept_together(
            ports, LOYALTY, body, {"content-type": "application/json", "x-gp-signature": gp_signature(body, KEY)})
            for body in bodies))

    results = asyncio.run(deliver_all())
    assert all(isinstance(r, Accepted) for r in results)
    answers = [(r.accepted, r.duplicates) for r in results if isinstance(r, Accepted)]
    assert answers == [(1, 0)] * 12 + [(0, 1)]  # the twin inside the group is a duplicate, not a second message
    assert results[-1].correlation_ids == results[3].correlation_ids
    assert sends == [12]  # one send for the group
    assert sorted(m["message_id"] for m in queued(ports)) == sorted(f"loyalty:M-{n}:1" for n in range(12))
    outcomes = [outcome for _, outcome, _ in audit(ports)]
    assert sorted(outcomes) == ["accepted"] * 12 + ["duplicate"]
    assert ports.audit.verify(datetime.now(UTC).date()).ok


def test_a_group_whose_commit_fails_answers_every_delivery_with_the_failure_and_keeps_nothing(
        ports: wiring.Services, monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    def broken(queue: str, messages: object) -> None:
        raise MessagingError("the bus is down")

    monkeypatch.setattr(ports.bus, "send", broken)

    async def deliver_all() -> list[object]:
        bodies = [orjson.dumps({"member": f"M-{n}", "version": 1}) for n in range(3)]
        return await asyncio.gather(*(accept_together(
            ports, LOYALTY, body, {"content-type": "application/json", "x-gp-signature": gp_signature(body, KEY)})
            for body in bodies), return_exceptions=True)

    results = asyncio.run(deliver_all())
    assert [type(r) for r in results] == [MessagingError] * 3
    monkeypatch.undo()
    assert deliver(ports, {"member": "M-1", "version": 1}).accepted == 1  # the sender's retry is not a duplicate


def test_a_rejected_delivery_in_a_group_is_answered_alone(ports: wiring.Services, writer: str) -> None:
    async def deliver_two() -> list[object]:
        good = orjson.dumps({"member": "M-9", "version": 2})
        bad = orjson.dumps({"member": "M-8"})
        headers = [{"content-type": "application/json", "x-gp-signature": gp_signature(b, KEY)} for b in (good, bad)]
        return await asyncio.gather(accept_together(ports, LOYALTY, good, headers[0]),
                                    accept_together(ports, LOYALTY, bad, headers[1]), return_exceptions=True)

    good, bad = asyncio.run(deliver_two())
    assert isinstance(good, Accepted) and good.accepted == 1
    assert isinstance(bad, Unprocessable) and "member and version are required" in str(bad)
    assert [m["message_id"] for m in queued(ports)] == ["loyalty:M-9:2"]
