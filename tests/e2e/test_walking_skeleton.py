"""A GP API notification through intake → transform → post, over real HTTP on the local host."""

import json
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from sandbox.scenario.transactions import transaction
from shared.flows.payments import POST_QUEUE, TRANSFORM_QUEUE, post_payments
from shared.flows.pipeline import Delivery
from shared.messaging.messages import OutgoingMessage
from shared.security.signatures import gp_signature
from shared.storage.idempotency import IdempotencyKeys
from tests.e2e.conftest import APP_KEY, System

PAN = "4111111111111111"


def notification(number: int = 1, **changes: object) -> dict[str, object]:
    payload = transaction(random.Random(number), date(2026, 11, 26), number, "MER_e2e")
    payload["reference"] = f"{number:06d}"  # pays sales order 00000N, so it belongs in the customer ledger
    payload.update(changes)
    return payload


def post(system: System, body: bytes, *, signature: str | None = None, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": content_type, "X-GP-Signature": signature or gp_signature(body, APP_KEY)}
    return system.http.post("/api/webhooks/gp", content=body, headers=headers)


def postings(system: System) -> list[dict[str, object]]:
    return [dict(p.data) for p in system.services.ledger.postings()]  # type: ignore[attr-defined]


def audit_today(system: System) -> list[dict[str, object]]:
    return [dict(r.data) for r in system.services.audit.records(datetime.now(UTC).date())]


def test_a_notification_is_accepted_normalised_and_posted_once(system: System) -> None:
    payload = notification(amount="5410")
    answer = post(system, orjson.dumps(payload))
    assert answer.status_code == 202
    assert (answer.json()["accepted"], answer.json()["duplicates"]) == (1, 0)
    assert system.host.drain() == 2
    [posted] = postings(system)
    assert (posted["Amount"], posted["Currency"], posted["DocumentNo"]) == ("54.10", "USD", f"PAY-{payload['id']}")
    steps = [(r["Step"], r["Outcome"]) for r in audit_today(system)]
    assert steps == [("intake.gp", "accepted"), ("transform.payment", "normalised"), ("post.payment", "posted")]
    assert len({r["CorrelationId"] for r in audit_today(system)}) == 1
    assert system.services.audit.verify(datetime.now(UTC).date()).ok


def test_a_duplicate_delivery_has_one_effect(system: System) -> None:
    body = orjson.dumps(notification())
    first, second = post(system, body), post(system, body)
    assert (first.status_code, second.status_code) == (202, 202)
    assert (second.json()["duplicates"], second.json()["reason"]) == (1, "duplicate: already accepted")
    assert second.json()["correlation_ids"] == first.json()["correlation_ids"]
    assert system.bus.counts(TRANSFORM_QUEUE).active == 1
    system.host.drain()
    assert len(postings(system)) == 1
    post(system, body)
    system.host.drain()
    assert len(postings(system)) == 1


def test_a_redelivered_post_message_posts_nothing_new(system: System) -> None:
    post(system, orjson.dumps(notification()))
    system.host.process_queue(TRANSFORM_QUEUE)
    [message] = system.bus.receive(POST_QUEUE)
    system.bus.abandon(message)
    system.host.drain()
    system.bus.send(POST_QUEUE, [OutgoingMessage(message.body, "redelivered-after-window")])
    system.host.drain()
    assert len(postings(system)) == 1
    assert [r["Outcome"] for r in audit_today(system) if r["Step"] == "post.payment"] == ["posted", "duplicate"]


def test_a_worker_that_died_after_the_erp_write_is_not_repeated(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(system, orjson.dumps(notification()))
    system.host.process_queue(TRANSFORM_QUEUE)
    keys = system.services.keys
    monkeypatch.setattr(keys, "_lease", timedelta(milliseconds=50))

    def crash(keys: object, claim: object, ref: str) -> None:
        raise SystemExit("worker killed after the ERP write")

    monkeypatch.setattr(IdempotencyKeys, "complete", crash)
    [message] = system.bus.receive(POST_QUEUE)
    with pytest.raises(SystemExit):
        post_payments(system.services, [Delivery(message.message_id, message.body)])
    monkeypatch.undo()
    time.sleep(0.1)
    system.bus.abandon(message)
    system.host.drain()
    assert len(postings(system)) == 1
    assert [r["Outcome"] for r in audit_today(system) if r["Step"] == "post.payment"] == [
        "found_after_uncertain_attempt"
    ]


def test_a_bad_signature_gets_401_and_nothing_is_enqueued(system: System) -> None:
    body = orjson.dumps(notification())
    answer = post(system, body, signature="ab" * 64)
    assert answer.status_code == 401
    assert "X-GP-Signature" in answer.json()["reason"]
    unsigned = system.http.post("/api/webhooks/gp", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert system.bus.counts(TRANSFORM_QUEUE).active == 0
    assert audit_today(system) == []


@pytest.mark.parametrize(
    "where",
    ["reference", "payment_method.card.number", "payment_method.message", "notes[0].text", "amount_number"],
)
def test_a_pan_in_any_field_gets_422_an_alert_a_masked_audit_and_nothing_enqueued(system: System, where: str) -> None:
    payload = notification()
    if where == "reference":
        payload["reference"] = f"ticket {PAN}"
    elif where == "payment_method.card.number":
        payload["payment_method"]["card"]["number"] = "4111-1111-1111-1111"  # type: ignore[index]
    elif where == "payment_method.message":
        payload["payment_method"]["message"] = "4111 1111 1111 1111"  # type: ignore[index]
    elif where == "notes[0].text":
        payload["notes"] = [{"text": f"card {PAN}"}]
    else:
        payload["amount_number"] = int(PAN)
    body = orjson.dumps(payload)
    answer = post(system, body)
    assert answer.status_code == 422
    assert "card data" in answer.json()["reason"] and PAN not in answer.text
    assert system.bus.counts(TRANSFORM_QUEUE).active == 0
    [record] = audit_today(system)
    assert record["Outcome"] == "rejected_card_data"
    assert "411111******1111" in str(record["Detail"])
    stored = json.dumps(record, default=str)
    assert PAN not in stored and "1111 1111 1111" not in stored and "1111-1111-1111" not in stored
    [alert] = system.alerts.alerts
    assert alert["kind"] == "card_data_rejected"
    assert "411111******1111" in alert["text"] and PAN not in json.dumps(alert)


def test_malformed_json_gets_400(system: System) -> None:
    body = b'{"id": "TRN_1", '
    answer = post(system, body)
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["reason"]
    assert post(system, b"[1, 2]").status_code == 400
    assert system.bus.counts(TRANSFORM_QUEUE).active == 0


def test_schema_errors_get_422_naming_the_field(system: System) -> None:
    answer = post(system, orjson.dumps(notification(amount="54.10")))
    assert answer.status_code == 422 and "amount" in answer.json()["reason"]
    assert post(system, orjson.dumps({"id": "TRN_1"})).status_code == 422


def test_wrong_content_type_gets_415_and_too_large_gets_413(system: System) -> None:
    body = orjson.dumps(notification())
    assert post(system, body, content_type="text/plain").status_code == 415
    huge = orjson.dumps(notification(reference="x" * 300_000))
    assert post(system, huge).status_code == 413


def test_a_transform_that_cannot_normalise_dead_letters_with_the_reason(system: System) -> None:
    system.bus.send(TRANSFORM_QUEUE, [OutgoingMessage(b'{"not": "an envelope"}', "broken-1")])
    system.host.drain()
    [parked] = list(system.services.dead_letters.list(days=1))
    assert parked["Queue"] == TRANSFORM_QUEUE
    assert parked["Reason"] == "InvalidEnvelope" and parked["MessageId"] == "broken-1"
    assert "an envelope" in str(parked["Body"])
    assert [a["kind"] for a in system.alerts.alerts] == ["dead_lettered"]
    assert system.bus.counts(TRANSFORM_QUEUE).active == 0


def test_health_answers(system: System) -> None:
    assert system.http.get("/api/health").json() == {"status": "ok"}


def test_a_permanent_post_failure_is_parked_then_replayed_once_fixed(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import FatalError
    from tests.e2e.conftest import MASTER_KEY

    ledger = system.services.ledger

    def refuse(payments: object) -> str:
        raise FatalError("CustomerOnHold", "Infolog: Customer US-027 is on hold for all transactions.")

    monkeypatch.setattr(ledger, "post", refuse)
    post(system, orjson.dumps(notification()))
    system.host.drain()
    admin = {"x-functions-key": MASTER_KEY}
    listed = system.http.get("/api/admin/deadletters", headers=admin).json()["dead_letters"]
    assert [(d["queue"], d["reason"]) for d in listed] == [(POST_QUEUE, "CustomerOnHold")]
    assert "on hold" in listed[0]["description"]
    assert postings(system) == []
    monkeypatch.undo()
    replayed = system.http.post("/api/admin/deadletters/replay", params={"reason": "CustomerOnHold"}, headers=admin)
    assert replayed.status_code == 200 and replayed.json()["replayed"][0]["ok"] is True
    system.host.drain()
    assert len(postings(system)) == 1
    assert system.http.get("/api/admin/deadletters", headers=admin).json()["dead_letters"] == []
    again = system.http.post("/api/admin/deadletters/replay", params={"id": listed[0]["id"]}, headers=admin)
    assert again.status_code == 200
    system.host.drain()
    assert len(postings(system)) == 1
    assert system.http.post("/api/admin/deadletters/replay", headers=admin).status_code == 400
    assert system.http.get("/api/admin/deadletters", headers={"x-functions-key": "wrong"}).status_code == 401


def test_a_decline_posts_nothing_and_a_reversal_posts_the_reverse_entry(system: System) -> None:
    declined = notification(1, status="DECLINED")
    captured = notification(2)
    reversed_ = {**captured, "status": "REVERSED"}
    for payload in (declined, captured, reversed_, captured):
        assert post(system, orjson.dumps(payload)).status_code == 202
    system.host.drain()
    rows = {p["DocumentNo"]: p for p in postings(system)}
    assert set(rows) == {f"PAY-{captured['id']}", f"PAY-{captured['id']}-REV"}
    booked, reversed_amount = (Decimal(str(rows[f"PAY-{captured['id']}{s}"]["Amount"])) for s in ("", "-REV"))
    assert reversed_amount == -booked and booked > 0
    outcomes = [(r["Outcome"], r["EventId"]) for r in audit_today(system) if r["Step"] == "post.payment"]
    assert ("nothing_to_post", f"gp:{declined['id']}:DECLINED") in outcomes


def test_without_the_app_key_intake_says_what_is_missing(system: System) -> None:
    from shared.settings import Settings

    system.services.settings = Settings(HL365_DATA_DIR=str(system.services.settings.data_dir),
                                        HL365_SETTINGS_FILE="/nonexistent.json", GP_APP_KEY="")
    answer = post(system, orjson.dumps(notification()))
    assert answer.status_code == 503 and "GP_APP_KEY" in answer.json()["reason"]
    assert system.bus.counts(TRANSFORM_QUEUE).active == 0


def test_settlement_without_its_settings_says_which_one(system: System) -> None:
    from tests.e2e.conftest import MASTER_KEY

    answer = system.http.post("/api/admin/settlement", params={"date": "2026-11-26"},
                              headers={"x-functions-key": MASTER_KEY})
    assert answer.status_code == 503 and "HL365_MERCHANT_ID" in answer.json()["reason"]
