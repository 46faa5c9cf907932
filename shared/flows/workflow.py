"""Workflow rules on the payment stream: what the rules decide for a payment before it is posted, and a dry
run over a day's payments that shows what each rule would have done without doing any of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date

from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment
from shared.ops.alerts import Alert
from shared.ops.anomaly_flags import AnomalyFlags
from shared.ports import Ports
from shared.storage import tables
from shared.workflow.rules import Decision, Rules, apply, decide, payment_activation


def flags_of(ports: Ports, payment: Payment) -> list[str]:
    return AnomalyFlags(ports.tables.table(tables.ANOMALY_FLAGS)).patterns(
        payment.transaction_id, payment.occurred_at.astimezone(UTC).date())


def decide_payment(ports: Ports, rules: Rules, envelope: Envelope, payment: Payment) -> tuple[Payment, Decision]:
    """The rules' decision on one payment, its alerts sent, and the payment as the rules left it."""
    flags = flags_of(ports, payment) if rules.uses_flags else []
    decision = decide(rules, payment_activation(payment, flags, envelope.type, envelope.source))
    for rule, text in decision.alerts:
        ports.alerts.notify(Alert("rule", f"{rule}: {text}", {
            "rule": rule, "transaction": payment.transaction_id, "reference": payment.reference or "",
            "amount": f"{payment.amount.amount} {payment.amount.currency}"}))
    return apply(payment, decision), decision


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
    """Evaluate ``rules`` on every payment of ``day`` (as ``payments`` lists them) with the flags stored for each,
    and report the decisions."""
    result = DryRun(day)
    for envelope, payment in payments(day):
        flags = flags_of(ports, payment) if rules.uses_flags else []
        decision = decide(rules, payment_activation(payment, flags, envelope.type, envelope.source))
        result.payments += 1
        if decision.matched:
            result.outcomes.append(Outcome(payment.transaction_id, f"{payment.amount.amount} "
                                           f"{payment.amount.currency}", payment.reference or "", decision))
        if progress is not None:
            progress(1)
    return result
