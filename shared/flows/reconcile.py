"""Reconciliation (U2): settlement against POS, batches against deposits, deposits against the ledger.

Every difference becomes a ``Discrepancy`` with a type, an amount, a currency and a reference a
person can look up; nothing that fails to match is dropped silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.canonical.settlement import Deposit, SettledTransaction, Ticket


class DiscrepancyType(StrEnum):
    MISSING_IN_POS = "missing_in_pos"
    MISSING_IN_SETTLEMENT = "missing_in_settlement"
    AMOUNT_MISMATCH = "amount_mismatch"
    DEPOSIT_SHORT = "deposit_short"
    DEPOSIT_LATE = "deposit_late"
    FEE_MISMATCH = "fee_mismatch"
    NOT_POSTED = "not_posted"


@dataclass(frozen=True)
class Explanation:
    """A discrepancy in plain words: what it means, what to check, what to do."""

    meaning: str
    check: str
    do: str


EXPLANATIONS: dict[DiscrepancyType, Explanation] = {
    DiscrepancyType.MISSING_IN_POS: Explanation(
        "The processor settled a card payment that no POS ticket tendered.",
        "Look the reference (the GP transaction id) up in the GP portal and find the sale at the store: a ticket "
        "rung up offline, voided after the card was charged, or a charge taken on a terminal outside the POS.",
        "If the sale was real, enter or correct the ticket in Heartland Retail; if the charge was a mistake, "
        "refund it in GP. The next close clears the line."),
    DiscrepancyType.MISSING_IN_SETTLEMENT: Explanation(
        "A POS ticket took a card tender that never settled at the processor.",
        "Find the transaction in GP: declined, reversed, still in an open batch, or taken on a terminal not "
        "linked to this merchant.",
        "If it was declined, collect the payment again or void the ticket; if the batch is still open, close it. "
        "The next close clears the line."),
    DiscrepancyType.AMOUNT_MISMATCH: Explanation(
        "The amount settled differs from what the ticket tendered (tip included).",
        "Compare the ticket with the transaction: a tip adjusted after the ticket closed, a partial capture, "
        "or a ticket rung up again with another total.",
        "Correct the ticket or adjust the transaction; if the money moved as settled, post the difference as a "
        "manual adjustment in the ERP."),
    DiscrepancyType.DEPOSIT_SHORT: Explanation(
        "The bank deposit is less than the batch's settled total less its fees.",
        "Open the deposit in the Heartland portal: a chargeback, a reserve or an adjustment withheld from it.",
        "Book what was withheld (chargeback, reserve) against the deposit in the ERP; if nothing explains it, "
        "ask Heartland."),
    DiscrepancyType.DEPOSIT_LATE: Explanation(
        "A settled batch has no deposit several days after its business date.",
        "Check the deposit schedule and the bank account: a bank holiday, a batch held by the processor, "
        "or changed banking details.",
        "If a holiday explains it, wait a business day; otherwise ask Heartland where the funds are."),
    DiscrepancyType.FEE_MISMATCH: Explanation(
        "The processing fees on the deposit differ from the agreed rate times the amount settled.",
        "Compare the fee lines of the merchant statement with the contract's rate.",
        "Post the fee actually charged; if the rate is wrong, dispute the pricing with Heartland."),
    DiscrepancyType.NOT_POSTED: Explanation(
        "A journal hl365 built for the day is not in the ERP.",
        "Look in the dead letters for the batch (an unmapped name, a rejected journal) and in the ERP for "
        "the external key.",
        "Fix the cause (a mapping entry, an account, a closed period), then Replay the dead letter or close the "
        "day again: a journal already posted is found by its key and not posted twice."),
}
"""What each discrepancy type the reconciliation produces means, and what a person checks and does."""


class Discrepancy(BaseModel):
    """``amount`` is the size of the difference (positive), in ``currency``."""

    model_config = ConfigDict(frozen=True)

    type: DiscrepancyType
    amount: Decimal
    currency: str
    reference: str
    detail: str = ""

    def key(self) -> str:
        return f"{self.type.value}:{self.reference}"


class Reconciler:
    """Matches a day's streams; add everything, then call ``discrepancies``.

    Args:
        tolerance: amounts closer than this are equal.
        deposit_due_days: a batch not deposited this many days after the business date is late.
        expected_fee_rate: when set, fees further than ``tolerance`` from rate times settled are flagged.
    """

    def __init__(self, *, business_date: date, as_of: date, tolerance: Decimal = Decimal("0.00"),
                 deposit_due_days: int = 3, expected_fee_rate: Decimal | None = None) -> None:
        self.business_date = business_date
        self.as_of = as_of
        self.tolerance = tolerance
        self.deposit_due_days = deposit_due_days
        self.expected_fee_rate = expected_fee_rate
        self._settled: dict[str, SettledTransaction] = {}
        self._by_auth: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._pos: list[tuple[str, str | None, str | None, Decimal, str]] = []
        self._deposits: dict[str, Deposit] = {}
        self._expected_journals: dict[str, tuple[Decimal, str]] = {}
        self._posted: set[str] = set()

    def add_settled(self, transaction: SettledTransaction) -> None:
        self._settled[transaction.id] = transaction
        if transaction.auth_code:
            self._by_auth[(transaction.auth_code, transaction.amount.currency)].append(transaction.id)

    def add_ticket(self, ticket: Ticket) -> None:
        """Card tenders only: cash and gift cards never reach the processor."""
        for payment in ticket.payments:
            if payment.gateway_transaction_id or payment.auth_code:
                total = payment.amount.amount + (payment.tip.amount if payment.tip else Decimal(0))
                self._pos.append((ticket.id, payment.gateway_transaction_id, payment.auth_code, total,
                                  payment.amount.currency))

    def add_deposit(self, deposit: Deposit) -> None:
        self._deposits[deposit.id] = deposit

    def expect_journal(self, external_key: str, amount: Decimal, currency: str) -> None:
        """A journal hl365 built for the day; ``posted`` says whether the ERP holds it."""
        self._expected_journals[external_key] = (amount, currency)

    def posted(self, external_keys: Iterable[str]) -> None:
        self._posted.update(external_keys)

    def discrepancies(self) -> list[Discrepancy]:
        found = [*self._match_transactions(), *self._match_deposits(), *self._match_ledger()]
        return sorted(found, key=lambda d: (d.type.value, d.reference))

    def _match_transactions(self) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        unmatched = dict(self._settled)
        for ticket_id, transaction_id, auth_code, amount, currency in self._pos:
            settled = unmatched.pop(transaction_id, None) if transaction_id else None
            if settled is None and auth_code:
                settled = self._by_auth_code(unmatched, auth_code, amount, currency)
            if settled is None:
                found.append(Discrepancy(type=DiscrepancyType.MISSING_IN_SETTLEMENT, amount=abs(amount),
                                         currency=currency, reference=transaction_id or f"ticket:{ticket_id}",
                                         detail=f"POS ticket {ticket_id} card tender has no settled transaction"))
            elif abs(settled.amount.amount - amount) > self.tolerance:
                found.append(Discrepancy(type=DiscrepancyType.AMOUNT_MISMATCH,
                                         amount=abs(settled.amount.amount - amount), currency=currency,
                                         reference=settled.id,
                                         detail=f"settled {settled.amount.amount}, POS ticket {ticket_id} {amount}"))
        for settled in unmatched.values():
            found.append(Discrepancy(type=DiscrepancyType.MISSING_IN_POS, amount=abs(settled.amount.amount),
                                     currency=settled.amount.currency, reference=settled.id,
                                     detail=f"settled in batch {settled.batch_id}, no POS ticket tendered it"))
        return found

    def _by_auth_code(self, unmatched: dict[str, SettledTransaction], auth_code: str, amount: Decimal,
                      currency: str) -> SettledTransaction | None:
        for candidate in self._by_auth.get((auth_code, currency), []):
            settled = unmatched.get(candidate)
            if settled is not None and abs(settled.amount.amount - amount) <= self.tolerance:
                del unmatched[candidate]
                return settled
        return None

    def _match_deposits(self) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        by_deposit: dict[str, Decimal] = defaultdict(Decimal)
        undeposited: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for settled in self._settled.values():
            if settled.deposit_id:
                by_deposit[settled.deposit_id] += settled.amount.amount
            else:
                undeposited[(settled.batch_id, settled.amount.currency)] += settled.amount.amount
        for deposit_id, settled_total in sorted(by_deposit.items()):
            deposit = self._deposits.get(deposit_id)
            if deposit is None:
                continue
            currency = deposit.amount.currency
            short = settled_total - deposit.fees.amount - deposit.amount.amount
            if short > self.tolerance:
                found.append(Discrepancy(type=DiscrepancyType.DEPOSIT_SHORT, amount=short, currency=currency,
                                         reference=deposit_id,
                                         detail=f"settled {settled_total} less fees {deposit.fees.amount}, "
                                                f"deposited {deposit.amount.amount}"))
            if self.expected_fee_rate is not None:
                expected = (settled_total * self.expected_fee_rate).quantize(Decimal("0.01"))
                if abs(deposit.fees.amount - expected) > self.tolerance:
                    found.append(Discrepancy(type=DiscrepancyType.FEE_MISMATCH,
                                             amount=abs(deposit.fees.amount - expected), currency=currency,
                                             reference=deposit_id,
                                             detail=f"fees {deposit.fees.amount}, expected {expected}"))
        if (self.as_of - self.business_date).days >= self.deposit_due_days:
            for (batch_id, currency), amount in sorted(undeposited.items()):
                found.append(Discrepancy(type=DiscrepancyType.DEPOSIT_LATE, amount=abs(amount), currency=currency,
                                         reference=batch_id,
                                         detail=f"not deposited {self.deposit_due_days} days after "
                                                f"{self.business_date}"))
        return found

    def _match_ledger(self) -> list[Discrepancy]:
        return [Discrepancy(type=DiscrepancyType.NOT_POSTED, amount=amount, currency=currency, reference=key,
                            detail="the ERP holds no journal with this external key")
                for key, (amount, currency) in sorted(self._expected_journals.items()) if key not in self._posted]
