"""Workflow rules on the payment stream, over the embedded bus and tables: a held payment waits in the dead
letters until a person releases it, a skipped one never posts, a routed one lands where the rule says, and
every decision is in the audit trail."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from sandbox.scenario.transactions import transaction
from shared import wiring
from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment
from shared.errors import RetriableError
from shared.flows.payments import HELD_FOR_REVIEW, POST_QUEUE, post_payments, transform_payments
from shared.flows.pipeline import Delivery
from shared.flows.replay import replay
from shared.flows.workflow import WATCH_CHECKPOINT, dry_run
from shared.heartland.notifications import parse_transaction, to_payment
from shared.messaging.envelope import to_message
from shared.ops.anomaly_flags import AnomalyFlags, StoredFlag
from shared.storage import tables
from shared.storage.entities import Entity
from tests.flows.conftest import take

DAY = date(2026, 11, 26)
RULES = """\
rules:
  - name: hold flagged
    when: '"duplicate_charge" in flags'
    then:
      - hold_for_review: a possible duplicate charge
      - alert: duplicate charge held
  - name: skip the test till
    when: payment.merchant_id == "MER_TEST"
    then: [skip]
  - name: web orders
    when: payment.reference.startsWith("S-ORD9")
    then:
      - route: CustPayWeb
      - enrich: {note: '"Web order " + payment.reference'}
      - alert: web order paid
"""


@pytest.fixture
def services(tmp_path: Path, ports_with: Callable[..., wiring.Services]) -> wiring.Services:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return ports_with(HL365_RULES_FILE=str(rules))


def delivery(number: int, **changes: object) -> Delivery:
    payload = transaction(random.Random(number), DAY, number, "MER_1")
    payload.update(changes)
    envelope = Envelope(type="payment.captured", source="heartland.gp", subject=str(payload["id"]),
                        idempotency_key=f"gp:{payload['id']}:{payload['status']}", data=payload)
    return Delivery(f"m{number}", to_message(envelope).body)


def posted(services: wiring.Services) -> dict[str, dict[str, object]]:
    return {str(p.data["DocumentNo"]): dict(p.data) for p in services.ledger.postings()}  # type: ignore[attr-defined]


def watched(services: wiring.Services, until: datetime) -> None:
    services.tables.table(tables.CHECKPOINTS).upsert(Entity(*WATCH_CHECKPOINT, {"Watermark": until}))


def flag(services: wiring.Services, delivery_: Delivery, pattern: str = "duplicate_charge") -> str:
    transaction = str(orjson.loads(delivery_.body)["data"]["id"])
    AnomalyFlags(services.tables.table(tables.ANOMALY_FLAGS)).add(
        [StoredFlag(transaction, pattern, 0.9, "second charge of 12.00 in 2 min", DAY)])
    return transaction


def test_rules_hold_skip_route_and_enrich_payments_and_audit_each_decision(services: wiring.Services) -> None:
    watched(services, datetime(2026, 11, 27, tzinfo=UTC))
    flagged = delivery(1, reference="000001")
    flagged_id = flag(services, flagged)
    deliveries = [flagged, delivery(2, merchant_id="MER_TEST", reference="000002"),
                  delivery(3, reference="S-ORD900234"), delivery(4, reference="000004"),
                  delivery(5, merchant_id="MER_TEST")]  # a till sale: the settlement journal books it, no rule asked

    assert transform_payments(services, deliveries) == {}

    sent = take(services.bus, POST_QUEUE)
    data = {Envelope.from_body(m.body).data["reference"]: Envelope.from_body(m.body).data for m in sent}
    assert set(data) == {"S-ORD900234", "000004", "HR-TICKET-000005"}
    assert (data["S-ORD900234"]["journal"], data["S-ORD900234"]["note"]) == ("CustPayWeb", "Web order S-ORD900234")
    assert "journal" not in data["000004"] and "note" not in data["000004"], "a posting no rule touched is unchanged"
    [held] = list(services.dead_letters.list(today=datetime.now(UTC).date()))
    assert (held["Reason"], held["Queue"]) == (HELD_FOR_REVIEW, POST_QUEUE)
    assert held["Description"] == "rule hold flagged: a possible duplicate charge"
    alerts = [a.message for a in services.alerts.sent]  # type: ignore[attr-defined]
    assert alerts.count("hold flagged: duplicate charge held") == 1

    assert post_payments(services, [Delivery(m.message_id, m.body) for m in sent]) == {}
    ledger = posted(services)
    web = ledger[f"PAY-{data['S-ORD900234']['transaction_id']}"]
    assert web["Text"] == "Web order S-ORD900234"
    assert len(ledger) == 2  # the web order and 000004; the till sale is left to the settlement journal

    outcomes = {r["Outcome"]: r for r in services.audit.records(datetime.now(UTC).date())
                if r["Step"] == "transform.payment"}
    assert set(outcomes) == {"held_for_review", "skipped_by_rule", "normalised"}
    assert "skip the test till: skipped: rule skip the test till" in str(outcomes["skipped_by_rule"]["Detail"])

    # The gateway's later events of the held and the skipped payments follow the decision: no second dead letter,
    # nothing posted behind the reviewer's back.
    later = [delivery(1, reference="000001", status="BATCHED"),
             delivery(2, merchant_id="MER_TEST", reference="000002", status="BATCHED"),
             delivery(3, reference="S-ORD900234", status="BATCHED")]
    assert transform_payments(services, later) == {}
    [batched] = take(services.bus, POST_QUEUE)  # the web order's: posting it again is a duplicate of its key
    assert Envelope.from_body(batched.body).data["reference"] == "S-ORD900234"
    assert len(list(services.dead_letters.list(today=datetime.now(UTC).date()))) == 1
    alerts = [a.message for a in services.alerts.sent]  # type: ignore[attr-defined]
    assert (alerts.count("hold flagged: duplicate charge held"), alerts.count("web orders: web order paid")) == (1, 1)

    # The reviewer releases the held payment: it posts once, without the rules holding it again.
    [released] = replay(services, row=f"{held.partition_key}/{held.row_key}").replayed
    assert released.ok
    again = take(services.bus, POST_QUEUE)
    assert post_payments(services, [Delivery(m.message_id, m.body) for m in again]) == {}
    assert f"PAY-{flagged_id}" in posted(services) and len(posted(services)) == 3


def test_a_payment_waits_until_the_anomaly_watch_has_read_past_it(services: wiring.Services) -> None:
    waiting = delivery(1, reference="000001")
    watched(services, datetime(2026, 11, 26, 6, tzinfo=UTC))  # before the payment (08:00-22:00 UTC)
    [failure] = transform_payments(services, [waiting]).values()
    assert isinstance(failure, RetriableError) and failure.reason == "AwaitingAnomalyWatch"
    assert take(services.bus, POST_QUEUE) == []
    flag(services, waiting)
    watched(services, datetime(2026, 11, 27, tzinfo=UTC))
    assert transform_payments(services, [waiting]) == {}
    assert [r["Reason"] for r in services.dead_letters.list(today=datetime.now(UTC).date())] == [HELD_FOR_REVIEW]


def test_a_reversal_is_never_held_so_the_ledger_is_not_left_overstated(services: wiring.Services) -> None:
    watched(services, datetime(2026, 11, 27, tzinfo=UTC))
    reversal = delivery(1, reference="000001", status="REVERSED")
    flag(services, reversal)
    assert transform_payments(services, [reversal]) == {}
    [sent] = take(services.bus, POST_QUEUE)
    assert Envelope.from_body(sent.body).data["status"] == "REVERSED"
    assert list(services.dead_letters.list(today=datetime.now(UTC).date())) == []
    [record] = [r for r in services.audit.records(datetime.now(UTC).date()) if r["Step"] == "transform.payment"]
    assert "not held: a reversal always posts" in str(record["Detail"])


def test_a_broken_rules_file_makes_payments_wait_until_it_is_fixed(services: wiring.Services) -> None:
    assert services.settings.rules_file is not None
    services.settings.rules_file.write_text("rules:\n  - name: x\n    when: payment.amount >\n    then: [skip]\n")
    [failure] = transform_payments(services, [delivery(1, reference="000001")]).values()
    assert isinstance(failure, RetriableError) and failure.reason == "RulesInvalid"
    assert "rules.yaml:3: rules.0.when: not a valid CEL expression" in failure.description
    assert take(services.bus, POST_QUEUE) == []


def test_a_dry_run_reports_what_each_rule_would_do_and_does_nothing(services: wiring.Services) -> None:
    events = []
    changes_of = [{"merchant_id": "MER_TEST", "reference": "000001"}, {"reference": "S-ORD900001"}, {}, {}]
    for number, changes in enumerate(changes_of, start=1):
        envelope = Envelope.from_body(delivery(number, **changes).body)
        events.append((envelope, to_payment(parse_transaction(envelope.data))))
    asked: list[date] = []

    def payments(day: date) -> list[tuple[Envelope, Payment]]:
        asked.append(day)
        return events

    result = dry_run(services, services.rules, DAY, payments)
    assert asked == [DAY]
    assert (result.payments, result.settled_by_journal) == (4, 2)
    assert {rule: dict(counts) for rule, counts in result.per_rule.items()} == {
        "skip the test till": {"matched": 1, "skipped": 1}, "web orders": {"matched": 1}}
    assert list(services.dead_letters.list(today=datetime.now(UTC).date())) == []
    assert services.alerts.sent == []  # type: ignore[attr-defined]
