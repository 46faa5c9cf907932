"""Builds the summarised settlement journals of a business day, one per settlement batch.

Items stream in one at a time (settled transactions first, then deposits, then tickets) and are
folded into sums keyed by account, dimensions and currency, so memory grows with the number of
distinct lines, not of transactions; the only per-transaction state is the index from a card
transaction to its batch, which places each ticket in the batch that settled its card payments.

Signs: a positive sum is a debit, a negative one a credit.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from shared.canonical.journals import AccountType, Journal, JournalLine, JournalUnbalanced
from shared.canonical.money import ROUNDING, minor_units
from shared.canonical.settlement import Deposit, LineKind, SettledTransaction, Ticket
from shared.errors import FatalError
from shared.mapping.schema import MappingConfig, UnmappedError

LineKey = tuple[str, AccountType, tuple[tuple[str, str], ...], str, str]
NO_BATCH = "UNSETTLED"
_SALE, _GIFT_CARD_SALE = LineKind.SALE, LineKind.GIFT_CARD_SALE


@dataclass
class _Batch:
    lines: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    """Sums by line key, each key named by its number (``SettlementBuilder._numbered``): cheaper to hash."""
    settled_by_deposit: dict[tuple[str | None, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    transactions: int = 0
    tickets: int = 0


class SettlementBuilder:
    """Folds a day's streams into one balanced journal per settlement batch.

    Args:
        mapping: the finance team's rules; an unmapped name raises ``UnmappedError``.
        rates: exchange rates to the base currency for every other currency (kept on the lines).
    """

    def __init__(self, mapping: MappingConfig, *, merchant_id: str, business_date: date,
                 rates: Mapping[str, Decimal] | None = None) -> None:
        self.mapping = mapping
        self.merchant_id = merchant_id
        self.business_date = business_date
        self.rates = dict(rates or {})
        self._batches: dict[str, _Batch] = {}
        self._batch_of: dict[str, str] = {}
        self._location_batch: dict[str, str] = {}
        self._deposits: dict[str, Deposit] = {}
        self._numbered: list[LineKey] = []
        self._line_numbers: dict[LineKey, int] = {}
        self._clearing: dict[tuple[str, str], int] = {}
        self._gift_cards: dict[tuple[str, str], int] = {}
        self._taxes: dict[tuple[str, str, str], int] = {}
        self._departments: dict[tuple[str, str, bool, str], tuple[int, int]] = {}
        self._tenders: dict[tuple[str, str, bool, str], tuple[int, int]] = {}
        self.failures: dict[str, FatalError] = {}
        """Batches that cannot be posted, with why (an unmapped name, an unbalanced journal)."""

    def _batch(self, batch_id: str) -> _Batch:
        batch_id = sys.intern(batch_id)
        if batch_id not in self._batches:
            self._batches[batch_id] = _Batch()
        return self._batches[batch_id]

    def _post(self, batch: _Batch, account: str, amount: Decimal, currency: str, text: str,
              dimensions: Mapping[str, str] | None = None, account_type: AccountType = AccountType.LEDGER) -> None:
        if amount:
            batch.lines[self._number(account, currency, text, dimensions, account_type)] += amount

    def _fail(self, batch_id: str, error: FatalError) -> None:
        """Stop one batch (the first reason wins); the others still build and post."""
        self.failures.setdefault(batch_id, error)

    def add_settled(self, transaction: SettledTransaction) -> None:
        """Relieve card clearing by what the processor settled (refunds come negative)."""
        batch_id = sys.intern(transaction.batch_id)
        batch = self._batches.get(batch_id) or self._batch(batch_id)
        batch.transactions += 1
        self._batch_of[transaction.id] = batch_id
        money = transaction.amount
        clearing = self._clearing.get((transaction.brand, money.currency))
        if clearing is None:
            try:
                clearing = self._clearing_line(transaction.brand, money.currency)
            except UnmappedError as error:
                self._fail(batch_id, error)
                return
        if money.amount:
            batch.lines[clearing] -= money.amount
        batch.settled_by_deposit[(transaction.deposit_id, money.currency)] += money.amount

    def add_deposit(self, deposit: Deposit) -> None:
        self._deposits[deposit.id] = deposit

    def add_ticket(self, ticket: Ticket) -> None:
        """Revenue, discounts, tax, gift cards and tenders of one POS ticket, in its batch."""
        batch_id = self._ticket_batch(ticket)
        batch = self._batches.get(batch_id) or self._batch(batch_id)
        batch.tickets += 1
        if batch_id in self.failures:
            return
        try:
            self._fold_ticket(batch.lines, ticket)
        except UnmappedError as error:
            self._fail(batch_id, error)

    def _fold_ticket(self, sums: dict[int, Decimal], ticket: Ticket) -> None:
        location = ticket.location_id
        departments, taxes, tenders = self._departments, self._taxes, self._tenders
        for line in ticket.lines:
            amount, currency = line.amount.amount, line.amount.currency
            if line.kind is _GIFT_CARD_SALE:
                if amount:
                    sums[self._gift_card_line(location, currency)] -= amount
                continue
            sale = line.kind is _SALE
            main, discounts = (departments.get((location, line.department, sale, currency))
                               or self._department_lines(location, line.department, sale, currency))
            if amount:
                sums[main] += -amount if sale else amount
            if line.discount is not None and line.discount.amount:
                sums[discounts] += line.discount.amount if sale else -line.discount.amount
            for component, tax in line.taxes.items():
                number = taxes.get((location, component, tax.currency))
                if number is None:
                    number = self._tax_line(location, component, tax.currency)
                if tax.amount:
                    sums[number] += -tax.amount if sale else tax.amount
        for payment in ticket.payments:
            tip = payment.tip.amount if payment.tip is not None else None
            card = bool(payment.gateway_transaction_id)
            currency = payment.amount.currency
            clearing, tips = (tenders.get((location, payment.payment_type, card, currency))
                              or self._tender_lines(location, payment.payment_type, card, currency))
            total = payment.amount.amount + tip if tip else payment.amount.amount
            if total:
                sums[clearing] += total
            if tip:
                sums[tips] -= tip

    # Each line a fold adds to is keyed by account, dimensions, currency and text. A day has few such keys, so
    # each is built and numbered once, the first time its names are met; an unmapped name raises every time.

    def _number(self, account: str, currency: str, text: str, dimensions: Mapping[str, str] | None = None,
                account_type: AccountType = AccountType.LEDGER) -> int:
        key = (account, account_type, tuple(sorted((dimensions or {}).items())), currency, text)
        number = self._line_numbers.get(key)
        if number is None:
            number = self._line_numbers[key] = len(self._numbered)
            self._numbered.append(key)
        return number

    def _location(self, location: str) -> Mapping[str, str]:
        rule = self.mapping.locations.get(location)
        return rule.dimensions if rule is not None else {}

    def _clearing_line(self, brand: str, currency: str) -> int:
        found = self._clearing.get((brand, currency))
        if found is None:
            rule = self.mapping.payment_type(brand)
            found = self._clearing[(brand, currency)] = self._number(
                rule.clearing_account, currency, f"Card clearing {brand}")
        return found

    def _gift_card_line(self, location: str, currency: str) -> int:
        found = self._gift_cards.get((location, currency))
        if found is None:
            found = self._gift_cards[(location, currency)] = self._number(
                self.mapping.accounts.gift_card_liability, currency, "Gift card sales", self._location(location))
        return found

    def _department_lines(self, location: str, department: str, sale: bool, currency: str) -> tuple[int, int]:
        """Revenue (or refunds) and discounts of a department at a location."""
        found = self._departments.get((location, department, sale, currency))
        if found is None:
            m = self.mapping
            rule = m.department(department)
            dims = {**self._location(location), **rule.dimensions}
            main = (self._number(rule.revenue_account, currency, f"Revenue {department}", dims) if sale
                    else self._number(m.accounts.refunds, currency, f"Refunds {department}", dims))
            found = self._departments[(location, department, sale, currency)] = (
                main, self._number(m.accounts.discounts, currency, "Discounts", dims))
        return found

    def _tax_line(self, location: str, component: str, currency: str) -> int:
        found = self._taxes.get((location, component, currency))
        if found is None:
            rule = self.mapping.tax_component(component)
            found = self._taxes[(location, component, currency)] = self._number(
                rule.account, currency, f"Tax {component}", self._location(location))
        return found

    def _tender_lines(self, location: str, payment_type: str, card: bool, currency: str) -> tuple[int, int]:
        """Clearing of a tender (a card's without dimensions, as the settled side books it) and tips payable."""
        found = self._tenders.get((location, payment_type, card, currency))
        if found is None:
            rule = self.mapping.payment_type(payment_type)
            dims = self._location(location)
            clearing = (self._number(rule.clearing_account, currency, f"Card clearing {payment_type}") if card
                        else self._number(rule.clearing_account, currency, f"Tender {payment_type}", dims))
            found = self._tenders[(location, payment_type, card, currency)] = (
                clearing, self._number(self.mapping.accounts.tips_payable, currency, "Tips payable", dims))
        return found

    def _ticket_batch(self, ticket: Ticket) -> str:
        for payment in ticket.payments:
            if payment.gateway_transaction_id:
                batch_id = self._batch_of.get(payment.gateway_transaction_id)
                if batch_id is not None:
                    self._location_batch[ticket.location_id] = batch_id
                    return batch_id
        if ticket.location_id in self._location_batch:
            return self._location_batch[ticket.location_id]
        return min(self._batches, default=NO_BATCH)

    def journals(self) -> list[Journal]:
        """The journals of every batch that can be posted, each proven balanced per currency.

        A batch with an unmapped name or a debit/credit difference yields none; it is in
        ``failures`` with the reason, so the caller can dead-letter it while the others post.
        """
        self._settle_deposits()
        result: list[Journal] = []
        for batch_id in sorted(self._batches):
            if batch_id in self.failures:
                continue
            built = (self._line(self._numbered[number], amount)
                     for number, amount in self._batches[batch_id].lines.items())
            journals = self._split(batch_id, [line for line in built if line is not None])
            try:
                for journal in journals:
                    journal.assert_balanced()
            except JournalUnbalanced as error:
                self._fail(batch_id, FatalError("JournalUnbalanced", str(error)))
                continue
            result.extend(journals)
        return result

    def _settle_deposits(self) -> None:
        """Bank, fees and the receivable still in transit, per batch, from the deposits that paid it."""
        accounts = self.mapping.accounts
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for batch in self._batches.values():
            for (deposit_id, _), amount in batch.settled_by_deposit.items():
                if deposit_id in self._deposits:
                    totals[deposit_id] += amount
        allocated: dict[str, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
        shares: list[tuple[_Batch, str, str, Decimal]] = [
            (batch, deposit_id, currency, amount)
            for _, batch in sorted(self._batches.items())
            for (deposit_id, currency), amount in sorted(batch.settled_by_deposit.items(), key=lambda i: str(i[0]))
            if deposit_id is not None and deposit_id in self._deposits
        ]
        remaining = defaultdict(int, {d: sum(1 for _, x, _, _ in shares if x == d) for d in totals})
        for batch, deposit_id, currency, settled in shares:
            deposit = self._deposits[deposit_id]
            remaining[deposit_id] -= 1
            paid_so_far, fees_so_far = allocated[deposit_id]
            if remaining[deposit_id] == 0:
                bank, fees = deposit.amount.amount - paid_so_far, deposit.fees.amount - fees_so_far
            else:
                ratio = settled / totals[deposit_id] if totals[deposit_id] else Decimal(0)
                bank = _round(deposit.amount.amount * ratio, currency)
                fees = _round(deposit.fees.amount * ratio, currency)
            allocated[deposit_id] = (paid_so_far + bank, fees_so_far + fees)
            self._post(batch, accounts.bank, bank, currency, f"Deposit {deposit_id}", account_type=AccountType.BANK)
            self._post(batch, accounts.processing_fees, fees, currency, "Processing fees")
            self._post(batch, accounts.undeposited, settled - bank - fees, currency, "Card receivable in transit")
        for batch in self._batches.values():
            for (deposit_id, currency), settled in batch.settled_by_deposit.items():
                if deposit_id is None or deposit_id not in self._deposits:
                    self._post(batch, accounts.undeposited, settled, currency, "Card receivable in transit")
            batch.settled_by_deposit.clear()

    def _line(self, key: LineKey, amount: Decimal) -> JournalLine | None:
        account, account_type, dimensions, currency, text = key
        amount = _round(amount, currency)
        if not amount:
            return None
        rate = self.rates.get(currency) if currency != self.mapping.base_currency else None
        if currency != self.mapping.base_currency and rate is None:
            raise ValueError(f"no exchange rate from {currency} to {self.mapping.base_currency} for "
                             f"{self.business_date}")
        return JournalLine(account=account, account_type=account_type, dimensions=dict(dimensions), currency=currency,
                           debit=amount if amount > 0 else Decimal(0), credit=-amount if amount < 0 else Decimal(0),
                           text=text, exchange_rate=rate)

    def _split(self, batch_id: str, lines: list[JournalLine]) -> list[Journal]:
        """Parts of at most ``line_limit`` lines, each balanced by a suspense line carried to the next."""
        limit = self.mapping.journal.line_limit
        base_key = f"HL-{self.merchant_id}-{batch_id}"
        description = self.mapping.journal.description.format(merchant=self.merchant_id, batch=batch_id,
                                                              date=self.business_date.isoformat())
        lines.sort(key=lambda line: (line.currency, line.account, line.text, sorted(line.dimensions.items())))
        if len(lines) <= limit:
            return [self._journal(base_key, batch_id, description, lines, 1, 1)]
        parts: list[list[JournalLine]] = []
        carry: dict[str, Decimal] = defaultdict(Decimal)
        current: list[JournalLine] = []
        currencies: set[str] = set()
        for line in lines:
            # Room must stay for one closing suspense line per currency of the part.
            if current and len(current) + 1 + len(currencies | {line.currency}) > limit:
                parts.append(self._close_part(current, carry))
                current = self._open_part(carry)
                currencies = {x.currency for x in current}
            current.append(line)
            currencies.add(line.currency)
        parts.append(current)
        return [self._journal(f"{base_key}-{n}", batch_id, description, part, n, len(parts))
                for n, part in enumerate(parts, start=1)]

    def _close_part(self, current: list[JournalLine], carry: dict[str, Decimal]) -> list[JournalLine]:
        balance: dict[str, Decimal] = defaultdict(Decimal)
        for line in current:
            balance[line.currency] += line.amount
        carry.clear()
        for currency, amount in sorted(balance.items()):
            if amount:
                current.append(self._suspense(currency, -amount, "Carried to next part"))
                carry[currency] = amount
        return current

    def _open_part(self, carry: dict[str, Decimal]) -> list[JournalLine]:
        return [self._suspense(currency, amount, "Carried from previous part") for currency, amount in carry.items()]

    def _suspense(self, currency: str, amount: Decimal, text: str) -> JournalLine:
        line = self._line((self.mapping.accounts.suspense, AccountType.LEDGER, (), currency, text), amount)
        assert line is not None
        return line

    def _journal(self, key: str, batch_id: str, description: str, lines: list[JournalLine], part: int,
                 parts: int) -> Journal:
        return Journal(external_key=key, merchant_id=self.merchant_id, batch_id=batch_id,
                       business_date=self.business_date, description=description, lines=tuple(lines), part=part,
                       parts=parts)


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUNDING)
