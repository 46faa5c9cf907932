"""Workflow rules on the payment stream: what the rules decide for a payment before it is posted to the customer
ledger, and a dry run over a day's payments that shows what each rule would have done without doing any of it.

A decision is about the payment, not the notification: a payment's capture, batching and funding arrive as
separate events under one external key, so a hold or skip is remembered by that key (``CrossReference``,
partition ``rule-decisions``) and its later events follow it instead of posting behind the reviewer's back; a
rule's alert is sent once per payment (``rule-alerts``). A rule that reads ``flags`` judges a payment only once
the anomaly watch has read past it: until then the payment waits (it is rescheduled), since its flags may not have
been raised yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment, PaymentStatus
from shared.ops.alerts import Alert
from shared.ops.anomaly_flags import AnomalyFlags
from shared.ports import Ports
from shared.storage import tables
from shared.storage.entities import Entity, Value
from shared.storage.errors import EntityExists
from shared.storage.keys import safe_key
from shared.workflow.rules import Decision, Rules, apply, decide, payment_activation

DECISIONS = "rule-decisions"
ALERTED = "rule-alerts"
WATCH_CHECKPOINT = ("anomaly-watch", "watermark")
"""Where the anomaly watch writes the moment it has read the gateway up to."""


class Verdict(StrEnum):
    """A decision's ``outcome``, and what the stream adds to it."""

    POST = "post"
    HOLD = "hold_for_review"
    SKIP = "skip"
    FOLLOW = "follows_earlier_decision"
    WAIT = "wait_for_anomaly_watch"


@dataclass(frozen=True)
class Judged:
    verdict: Verdict
    payment: Payment
    decision: Decision
    why: str = ""


def subject_to_rules(ports: Ports, payment: Payment) -> bool:
    """Rules decide what the stream posts: money moving on a payment applied to a sales order. A till sale is
    booked by the settlement journal whatever a rule says, so rules are not asked about it."""
    return payment.moves_money and ports.mapping.customer_payments.names_order(payment.reference)


def flags_of(ports: Ports, payment: Payment) -> list[str]:
    return AnomalyFlags(ports.tables.table(tables.ANOMALY_FLAGS)).patterns(
        payment.transaction_id, payment.occurred_at.astimezone(UTC).date())


def watched_until(ports: Ports) -> datetime | None:
    row = ports.tables.table(tables.CHECKPOINTS).get(*WATCH_CHECKPOINT)
    return None if row is None else row["Watermark"]


def judge(ports: Ports, rules: Rules, envelope: Envelope, payment: Payment, until: datetime | None) -> Judged:
    """The rules' verdict on one payment (see the module for what follows an earlier decision and what waits);
    alerts are sent. ``until`` is ``watched_until``, read once for a micro-batch (None: the watch has not run).
    The caller carries a hold or skip out, then ``remember``s it."""
    earlier = _earlier(ports, payment)
    if earlier is not None:
        return Judged(Verdict.FOLLOW, payment, Decision(), earlier)
    flags: list[str] = []
    if rules.uses_flags:
        if until is None or payment.occurred_at > until:
            seen = "has not run yet" if until is None else f"has read up to {until.isoformat()}"
            return Judged(Verdict.WAIT, payment, Decision(), f"a rule reads flags and the anomaly watch {seen}")
        flags = flags_of(ports, payment)
    decision = _decide(rules, envelope, payment, flags)
    for rule, text in decision.alerts:
        if not _first(ports, ALERTED, f"{payment.external_key}|{rule}"):
            continue  # the payment's later events, and redeliveries, alert no one again
        ports.alerts.notify(Alert("rule", f"{rule}: {text}", {
            "rule": rule, "transaction": payment.transaction_id, "reference": payment.reference or "",
            "amount": f"{payment.amount.amount} {payment.amount.currency}"}))
    return Judged(Verdict(decision.outcome), apply(payment, decision), decision, decision.hold or decision.skip or "")


def _decide(rules: Rules, envelope: Envelope, payment: Payment, flags: list[str]) -> Decision:
    decision = decide(rules, payment_activation(payment, flags, envelope.type, envelope.source))
    if payment.status is PaymentStatus.REVERSED and (decision.hold or decision.skip):
        # A reversal undoes what was posted: holding or skipping it would leave the ledger overstated.
        decision.notes.append(f"not {'held' if decision.hold else 'skipped'}: a reversal always posts")
        decision.hold = decision.skip = None
    return decision


def _earlier(ports: Ports, payment: Payment) -> str | None:
    row = ports.tables.table(tables.CROSS_REFERENCE).get(DECISIONS, safe_key(payment.external_key))
    if row is None:
        return None
    return f"{row['Verdict']} by an earlier event of this payment ({row['Why']})"


def remember(ports: Ports, judged: Judged) -> None:
    """Record a hold or skip by the payment's key, once it is carried out (parked, or audited as skipped): a crash
    before that leaves nothing recorded, so the redelivered event is judged again rather than followed."""
    payment, verdict, why = judged.payment, judged.verdict, judged.why
    _first(ports, DECISIONS, payment.external_key, {"Verdict": verdict.value, "Why": why[:1000],
                                                    "Event": payment.status.value})


def _first(ports: Ports, partition: str, key: str, values: dict[str, Value] | None = None) -> bool:
    """Record ``key`` once; False when it was recorded before (a redelivery, a later event of the payment)."""
    try:
        ports.tables.table(tables.CROSS_REFERENCE).insert(Entity(partition, safe_key(key), {
            **(values or {}), "At": datetime.now(UTC)}))
    except EntityExists:
        return False
    return True


@dataclass(frozen=True)
class Outcome:
    transaction_id: str
    amount: str
    reference: str
    decision: Decision


@dataclass
class DryRun:
    """What the rules would have done with a day's payments; nothing was held, skipped, alerted or audited."""

    day: date
    payments: int = 0
    settled_by_journal: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def per_rule(self) -> dict[str, Counter[str]]:
        """Rule -> how many payments it matched, and what it did to them."""
        found: dict[str, Counter[str]] = {}
        for outcome in self.outcomes:
            for rule in outcome.decision.matched:
                found.setdefault(rule, Counter())["matched"] += 1
            decision = outcome.decision
            if decision.matched:
                last = decision.matched[-1]
                if decision.hold is not None:
                    found[last]["held for review"] += 1
                elif decision.skip is not None:
                    found[last]["skipped"] += 1
        return found


def dry_run(ports: Ports, rules: Rules, day: date, payments: Callable[[date], list[tuple[Envelope, Payment]]],
            progress: Callable[[int], None] | None = None) -> DryRun:
    """Evaluate ``rules`` on every payment of ``day`` the stream would post (as ``payments`` lists them) with the
    flags stored for each, and report the decisions; till sales, booked by the settlement journal, are counted."""
    result = DryRun(day)
    for envelope, payment in payments(day):
        result.payments += 1
        if progress is not None:
            progress(1)
        if not subject_to_rules(ports, payment):
            result.settled_by_journal += payment.moves_money
            continue
        decision = _decide(rules, envelope, payment, flags_of(ports, payment) if rules.uses_flags else [])
        if decision.matched:
            result.outcomes.append(Outcome(payment.transaction_id, f"{payment.amount.amount} "
                                           f"{payment.amount.currency}", payment.reference or "", decision))
    return result
