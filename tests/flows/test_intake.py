"""The one intake pipeline, driven by a source that exists only as a description: what every webhook source
(GP, F&O, Business Central and those to come) gets without writing intake code of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared import wiring
from shared.errors import ConfigError, InvalidRequest, TooLarge, Unauthenticated, Unprocessable, UnsupportedMediaType
from shared.flows.intake import Accepted, Event, Ignored, Signature, Source, accept, one_object
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


def test_identifiers_that_read_as_card_numbers_are_not_card_data(ports: wiring.Services) -> None:
    result = deliver(ports, {"member": "00000000-0000-0000-0000-000000000000", "version": 1,
                             "stamp": "/Date(1795783821246)/"})
    assert result.accepted == 1


def test_an_unconfigured_secret_is_a_config_error_not_a_rejection(ports: wiring.Services) -> None:
    ports.settings = ports.settings.model_copy(update={"gp_app_key": None})
    with pytest.raises(ConfigError, match="GP_APP_KEY"):
        accept(ports, LOYALTY, b"{}", {"x-gp-signature": "x"})
