"""Heartland as the settlement flow's sources: POS tickets and GP settlement, in canonical form.

The wire models are validated as they are read; the canonical records are built from them without
validating again (``model_construct``), which halves the cost of a million-row day.

Names are normalised to the mapping's vocabulary (upper case, spaces as underscores): a card
tender is named by its brand (``VISA``), cash ``CASH``, a gift card ``GIFT_CARD``, a custom tender
by its payment type's name; departments and tax components likewise. Anything the mapping then
does not name stops the batch; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind
from shared.canonical.settlement import Deposit, LineKind, SettledTransaction, Ticket, TicketLine, TicketPayment
from shared.heartland import gp_models as gp
from shared.heartland import retail_models as retail
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient

_TENDER_TYPES = {"CashPayment": "CASH", "GiftCardPayment": "GIFT_CARD"}


def vocabulary(name: str) -> str:
    """``"Credit Card"`` → ``"CREDIT_CARD"``: the form mapping keys take."""
    return "_".join(name.upper().split())


def business_day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The merchant's local day as an aware ``[start, end)`` window."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


class RetailTickets:
    """``TicketSource`` over the Heartland Retail API, streaming page by page."""

    def __init__(self, client: RetailClient, *, timezone: str, per_page: int = 1000) -> None:
        self._client = client
        self._timezone = timezone
        self._per_page = per_page
        self._payment_types: dict[int, str] | None = None

    def tickets(self, business_date: date) -> Iterator[Ticket]:
        start, end = business_day_window(business_date, self._timezone)
        for ticket in self._client.iter_tickets(completed_from=start, completed_to=end, per_page=self._per_page):
            if ticket.status == "complete":
                yield self.to_canonical(ticket)

    def to_canonical(self, ticket: retail.Ticket) -> Ticket:
        completed_at = ticket.completed_at or ticket.updated_at or ticket.created_at
        if completed_at is None:
            raise ValueError(f"ticket {ticket.id} has no completion time")
        return Ticket.model_construct(
            id=str(ticket.id),
            location_id=str(ticket.location_id),
            completed_at=completed_at,
            lines=tuple(self._line(line) for line in ticket.lines),
            payments=tuple(self._payment(payment) for payment in ticket.payments),
        )

    @staticmethod
    def _line(line: retail.TicketLine) -> TicketLine:
        returned = line.qty < 0
        kind = (LineKind.GIFT_CARD_SALE if line.type == "GiftCardLine"
                else LineKind.RETURN if returned else LineKind.SALE)
        sign = -1 if returned else 1
        discount = line.discount_total if sign == 1 else -line.discount_total
        return TicketLine.model_construct(
            kind=kind,
            department=vocabulary(line.department or "GENERAL"),
            amount=line.extended_price if sign == 1 else -line.extended_price,
            discount=discount if discount.amount else None,
            taxes={vocabulary(tax.name): tax.amount if sign == 1 else -tax.amount for tax in line.taxes},
        )

    def _payment(self, payment: retail.TicketPayment) -> TicketPayment:
        if payment.type == "CreditCardPayment":
            name = vocabulary(payment.card_brand or "CARD")
        elif payment.type in _TENDER_TYPES:
            name = _TENDER_TYPES[payment.type]
        else:
            name = self._custom_name(payment.payment_type_id)
        tip = payment.tip if payment.tip is not None and payment.tip.amount else None
        return TicketPayment.model_construct(payment_type=name, amount=payment.amount, tip=tip,
                             gateway_transaction_id=payment.gateway_transaction_id,
                             reference=payment.gateway_reference, auth_code=payment.auth_code)

    def _custom_name(self, payment_type_id: int) -> str:
        if self._payment_types is None:
            self._payment_types = {t.id: vocabulary(t.name) for t in self._client.iter_payment_types()}
        return self._payment_types.get(payment_type_id, f"PAYMENT_TYPE_{payment_type_id}")


class GpSettlement:
    """``SettlementSource`` over the GP API settlement reports, streaming page by page.

    GP reports every amount positive; the canonical form makes refunds negative and fees a
    positive cost, so sums read the way the ledger books them.
    """

    def __init__(self, client: GpApiClient, *, timezone: str = "UTC", page_size: int = 1000) -> None:
        self._client = client
        self._zone = ZoneInfo(timezone)
        self._page_size = page_size

    def settled(self, business_date: date) -> Iterator[SettledTransaction]:
        """The merchant's local day: GP filters by UTC date, so the UTC dates the local day spans (the day
        before for a merchant east of UTC, the day after for one west of it) are read and trimmed."""
        start, end = business_day_window(business_date, self._zone.key)
        rows = self._client.iter_settlement_transactions(start.astimezone(UTC).date(),
                                                         (end - timedelta(microseconds=1)).astimezone(UTC).date(),
                                                         page_size=self._page_size)
        for row in rows:
            if row.time_created.astimezone(self._zone).date() == business_date:
                yield self.to_settled(row)

    def deposits(self, date_from: date, date_to: date) -> Iterator[Deposit]:
        for deposit in self._client.iter_deposits(date_from, date_to, page_size=self._page_size):
            yield Deposit(id=deposit.id, deposit_date=deposit.time_created, status=str(deposit.status),
                          amount=deposit.amount, fees=Money.of(abs(deposit.fees.amount), deposit.fees.currency))

    @staticmethod
    def to_settled(row: gp.SettlementTransaction) -> SettledTransaction:
        if row.batch_id is None:
            raise ValueError(f"settled transaction {row.id} has no batch")
        card = row.payment_method.card if row.payment_method else None
        amount = -row.amount if row.type == "REFUND" else row.amount
        return SettledTransaction.model_construct(
            id=row.id, batch_id=row.batch_id, deposit_id=row.deposit_id,
            kind=PaymentKind.REFUND if row.type == "REFUND" else PaymentKind.SALE, status=row.status,
            amount=amount, brand=vocabulary(card.brand if card and card.brand else "CARD"),
            reference=row.reference, auth_code=card.authcode if card else None, time_created=row.time_created,
        )
