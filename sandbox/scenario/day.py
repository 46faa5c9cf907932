"""A seeded business day across the simulators, with the discrepancies it plants as ground truth.

The POS day comes from the Retail simulator's own generator (card, cash, split and gift tenders,
tips, discounts, returns, voids); every card tender of a completed ticket is then put through the
GP gateway with the same transaction id, the batch is closed and funded, and a few differences are
planted on purpose: a settled card transaction no ticket tendered, a card tender that never
settled, a settled amount that differs from the ticket's, and a deposit short of its batch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from shared.canonical.money import Money

if TYPE_CHECKING:
    from sandbox.simulators.gp import GpSimulator
    from sandbox.simulators.retail import RetailSimulator

FEE_RATE = Decimal("0.025")


@dataclass
class Truth:
    """What the simulators were made to hold; the report is checked against it."""

    tickets: int = 0
    card_transactions: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    deposits: list[str] = field(default_factory=list)
    settled_totals: dict[str, Decimal] = field(default_factory=dict)
    planted: list[dict[str, str]] = field(default_factory=list)


def seed(retail: RetailSimulator, gp: GpSimulator, *, day: date, transactions: int, locations: int, seed: int,
         timezone: str) -> Truth:
    rng = random.Random(seed)
    zone = ZoneInfo(timezone)
    for n in range(3, locations + 1):
        retail.add_location(f"Store {n}", tax_rates={"State": "0.0625", "City": "0.0100"})
    created = retail.seed_business_day(day, tickets=transactions, seed=seed, tz=zone)
    truth = Truth(tickets=len(created))
    tendered: list[tuple[dict[str, Any], datetime]] = []
    for record in created:
        ticket = retail.ticket(int(record["id"]))
        if ticket["status"] != "complete":
            continue
        at = datetime.fromisoformat(str(ticket["completed_at"]))
        tendered.extend((p, at) for p in ticket["payments"] if p["type"] == "CreditCardPayment")
    never_settled = {id(p) for p, _ in rng.sample(tendered, min(2, len(tendered)))}
    mismatched = {id(p) for p, _ in rng.sample(tendered, min(1, len(tendered)))} - never_settled
    for payment, at in tendered:
        charged = Decimal(str(payment["amount"])) + Decimal(str(payment.get("tip") or 0))
        if id(payment) in never_settled:
            truth.planted.append(_planted("missing_in_settlement", abs(charged), payment["gateway_transaction_id"]))
            continue
        if id(payment) in mismatched:
            truth.planted.append(_planted("amount_mismatch", Decimal("0.37"), payment["gateway_transaction_id"]))
            charged += Decimal("0.37") if charged > 0 else Decimal("-0.37")
        kind: Literal["SALE", "REFUND"] = "SALE" if charged > 0 else "REFUND"
        gp.add_transaction(Money.of(abs(charged), "USD"), kind=kind, status="CAPTURED",
                           brand=payment["card_brand"], last4=payment["card_last4"],
                           reference=payment["gateway_reference"], time_created=at,
                           transaction_id=payment["gateway_transaction_id"])
        truth.card_transactions.append(payment["gateway_transaction_id"])
    for n in range(2):
        at = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=12 + n)
        orphan = gp.add_transaction(Money.of(Decimal(rng.randrange(500, 9_000)) / 100, "USD"), status="CAPTURED",
                                    brand="VISA", reference=f"HR-UNKNOWN-{n}", time_created=at)
        truth.card_transactions.append(orphan["id"])
        truth.planted.append(_planted("missing_in_pos", Money.from_minor(orphan["amount"], "USD").amount,
                                      orphan["id"]))
    for batch_id in list(gp.state()["open_batches"].values()):
        gp.close_batch(batch_id, at=datetime.combine(day, datetime.max.time().replace(microsecond=0), zone))
        deposit = gp.fund(batch_id, FEE_RATE, day + timedelta(days=1))
        truth.batches.append(batch_id)
        truth.deposits.append(deposit["id"])
    if truth.deposits:
        gp.adjust_deposit(truth.deposits[0], -125)
        truth.planted.append(_planted("deposit_short", Decimal("1.25"), truth.deposits[0]))
    state = gp.state()
    for transaction_id in truth.card_transactions:
        record = state["transactions"][transaction_id]
        amount = Money.from_minor(record["amount"], record["currency"])
        signed = amount.amount if record["type"] == "SALE" else -amount.amount
        truth.settled_totals[amount.currency] = truth.settled_totals.get(amount.currency, Decimal(0)) + signed
    return truth


def _planted(kind: str, amount: Decimal, reference: str) -> dict[str, str]:
    return {"type": kind, "amount": str(amount), "currency": "USD", "reference": reference}
