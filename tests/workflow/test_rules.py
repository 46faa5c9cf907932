"""The rules file finance users write: every problem at its line, and the decisions a payment gets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.canonical.money import Money
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus
from shared.workflow.rules import Rule, Rules, _compile, apply, decide, parse, payment_activation

RULES = """\
version: 1
locations:
  MER_CHI1: {metro: CHI, opens: "08:00", closes: "21:00"}
  MER_WEB: {online: true}
rules:
  - name: hold flagged payments
    when: '"duplicate_charge" in flags'
    then:
      - hold_for_review: flagged as a duplicate charge
  - name: skip test merchant
    when: payment.merchant_id == "MER_TEST"
    then: [skip]
  - name: web orders to their own journal
    when: payment.reference.startsWith("S-ORD9")
    then:
      - route: CustPayWeb
      - enrich:
          note: '"Web order " + payment.reference'
  - name: large refunds
    when: >
      payment.kind == "refund" &&
      payment.amount >= 500.0
    then:
      - alert: a refund of 500 or more
      - route: CustPayRef
"""


def payment(**changes: object) -> Payment:
    fields: dict[str, object] = {
        "transaction_id": "TRN_1", "merchant_id": "MER_CHI1", "kind": PaymentKind.SALE,
        "status": PaymentStatus.CAPTURED, "amount": Money(amount=Decimal("42.10"), currency="USD"),
        "reference": "S-ORD000001", "card_brand": "VISA", "card_last4": "4242",
        "occurred_at": datetime(2026, 12, 1, 15, 0, tzinfo=UTC)}
    fields.update(changes)
    return Payment.model_validate(fields)


def rules():  # type: ignore[no-untyped-def]
    found, problems = parse(RULES)
    assert problems == []
    assert found is not None
    return found


def test_a_valid_file_reads_its_rules_and_locations_in_order() -> None:
    found = rules()
    assert [r.name for r in found.rules] == ["hold flagged payments", "skip test merchant",
                                             "web orders to their own journal", "large refunds"]
    assert found.locations["MER_WEB"] == {"online": True}
    assert found.uses_flags


def test_a_flagged_payment_is_held_and_no_later_rule_runs() -> None:
    decision = decide(rules(), payment_activation(payment(reference="S-ORD900001"), ["duplicate_charge"]))
    assert decision.outcome == "hold_for_review"
    assert decision.hold == "rule hold flagged payments: flagged as a duplicate charge"
    assert decision.matched == ["hold flagged payments"] and decision.route is None


def test_skip_route_enrich_and_alert() -> None:
    assert decide(rules(), payment_activation(payment(merchant_id="MER_TEST"))).outcome == "skip"
    web = decide(rules(), payment_activation(payment(reference="S-ORD900234")))
    assert (web.outcome, web.route, web.enrich) == ("post", "CustPayWeb", {"note": "Web order S-ORD900234"})
    routed = apply(payment(reference="S-ORD900234"), web)
    assert (routed.journal, routed.note) == ("CustPayWeb", "Web order S-ORD900234")
    refund = decide(rules(), payment_activation(payment(kind=PaymentKind.REFUND,
                                                        amount=Money(amount=Decimal("500.00"), currency="USD"))))
    assert refund.alerts == [("large refunds", "a refund of 500 or more")]
    assert refund.route == "CustPayRef"
    small = decide(rules(), payment_activation(payment(kind=PaymentKind.REFUND,
                                                       amount=Money(amount=Decimal("499.99"), currency="USD"))))
    assert small.matched == [] and small.summary() == ""


def test_the_first_route_wins() -> None:
    decision = decide(rules(), payment_activation(payment(reference="S-ORD900009", kind=PaymentKind.REFUND,
                                                          amount=Money(amount=Decimal("900"), currency="USD"))))
    assert decision.route == "CustPayWeb"
    assert decision.summary().startswith("web orders to their own journal, large refunds: routed to journal CustPayWeb")


def test_a_condition_that_cannot_be_evaluated_holds_the_payment_with_a_short_reason() -> None:
    """A condition that passed the check can still fail on a payment unlike the samples (here: a reference that is
    not a number); the payment is held, with a reason short enough for the dead letter and the alert."""
    text = "int(payment.reference) > 5"
    rule = Rule("numeric reference", text, _compile(text), (), 1)
    decision = decide(Rules((rule,)), payment_activation(payment(reference="S-ORD000001")))
    assert decision.outcome == "hold_for_review"
    assert decision.hold is not None and decision.hold.startswith("rule numeric reference could not be evaluated")
    assert len(decision.hold) < 300


def test_without_a_rule_reading_flags_no_flag_is_looked_up() -> None:
    found, _ = parse("rules:\n  - name: big\n    when: payment.amount > 100.0\n    then: [skip]\n")
    assert found is not None and not found.uses_flags
    assert rules().uses_flags


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("rules:\n  - name: a\n    when: payment.amount >\n    then: [skip]\n", 3, "rules.0.when", "not a valid CEL"),
    ("rules:\n  - name: a\n    when: >\n      payment.kind == 'sale' &&\n      payment.amount >> 3\n"
     "    then: [skip]\n", 5, "rules.0.when", "not a valid CEL"),
    ("rules:\n  - name: a\n    when: payment.amont > 3.0\n    then: [skip]\n", 3, "rules.0.when",
     "no field 'amont'"),
    ("rules:\n  - name: a\n    when: >\n      payment.kind == 'sale' &&\n      payment.amont > 3.0\n"
     "    then: [skip]\n", 5, "rules.0.when", "no field 'amont'"),
    ("rules:\n  - name: a\n    when: payment.amount\n    then: [skip]\n", 3, "rules.0.when", "true or false"),
    ("rules:\n  - name: a\n    when: 'true'\n    then:\n      - delete: x\n", 5, "rules.0.then.0", "not an action"),
    ("rules:\n  - name: a\n    when: 'true'\n    then:\n      - route: customer_ledger\n", 5, "rules.0.then.0.route",
     "not a customer payment journal name"),
    ("rules:\n  - name: a\n    when: flags[0] == 'card_testing'\n    then: [skip]\n", 3, "rules.0.when", "IndexError"),
    ("rules:\n  - name: a\n    when: int(payment.card_last4) > 5\n    then: [skip]\n", 3, "rules.0.when", ""),
    ("rules:\n  - name: a\n    when: nosuch > 1\n    then: [skip]\n", 3, "rules.0.when", "neither payment, flags"),
    ("rules:\n  - name: a\n    when: 'true'\n    then:\n      - enrich: {amount: '1.0'}\n", 5,
     "rules.0.then.0.enrich.amount", "may set note, not"),
    ("rules:\n  - name: a\n    when: 'true'\n    then: [skip]\n  - name: a\n    when: 'true'\n    then: [skip]\n",
     5, "rules.1.name", "already defined at line 2"),
    ("rules:\n  - name: a\n    whn: 'true'\n    then: [skip]\n", 3, "rules.0.whn", "not a setting of a rule"),
    ("locations:\n  S1: {metro: CHI, opens: '8am', closes: '21:00'}\nrules: []\n", 2, "locations.S1", "time of day"),
    ("locations:\n  S1: {metro: CHI, opens: '08:00'}\nrules: []\n", 2, "locations.S1", "both opens and closes"),
    ("rules:\n  - name: a\n    when: 'true'\n    then: [skip]\n    event: order\n", 5, "rules.0.event", "not an event"),
    ("rules:\n  - name: a\n    when: 'true'\n   then: [skip]\n", 4, "(syntax)", ""),
])
def test_every_problem_is_reported_at_its_line(text: str, line: int, field: str, words: str) -> None:
    found, problems = parse(text, "rules.yaml")
    assert found is None
    assert any(p.line == line and p.field == field and words in p.message for p in problems), problems
    assert all(str(p).startswith("rules.yaml:") for p in problems)


def test_an_alert_without_text_and_a_rule_without_actions_are_refused() -> None:
    _, problems = parse("rules:\n  - name: a\n    when: 'true'\n    then: [alert]\n"
                        "  - name: b\n    when: 'true'\n")
    assert {(p.line, p.field) for p in problems} == {(4, "rules.0.then.0"), (5, "rules.1.then")}


def test_a_condition_too_slow_for_the_stream_is_refused() -> None:
    items = "[" + ", ".join(str(n) for n in range(20)) + "]"
    text = f"{items}.all(a, {items}.all(b, {items}.all(c, a + b + c >= 0)))"
    _, problems = parse(f"rules:\n  - name: slow\n    when: '{text}'\n    then: [skip]\n")
    assert [(p.line, p.field) for p in problems] == [(3, "rules.0.when")]
    assert "ms on one payment" in problems[0].message
