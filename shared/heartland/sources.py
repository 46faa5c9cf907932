"""Heartland as the settlement flow's sources: POS tickets and GP settlement, in canonical form.

Both read the hot-path rows (``settlement_pages``), decoded straight from each page, and build the
canonical records from them without validating again; amounts become ``Money`` through caches, since a
day repeats few amounts, and an amount that cannot be Money fails naming the record and the field.

Names are normalised to the mapping's vocabulary (upper case, spaces as underscores): a card
tender is named by its brand (``VISA``), cash ``CASH``, a gift card ``GIFT_CARD``, a custom tender
by its payment type's name; departments and tax components likewise. Anything the mapping then
does not name stops the batch; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.canonical.money import Money, minor_units
from shared.canonical.payments import PaymentKind
from shared.canonical.settlement import (
    Deposit,
    LineKind,
    SettledTransaction,
    Ticket,
    TicketLine,
    TicketPayment,
    business_day_window,
)
from shared.errors import PermanentApiError
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient
from shared.heartland.settlement_pages import (
    LineRow,
    PaymentRow,
    SettledRow,
    TicketRow,
    decimal_money,
    minor_money,
    problem,
)

_TENDER_TYPES = {"CashPayment": "CASH", "GiftCardPayment": "GIFT_CARD"}
_SALE, _RETURN, _GIFT_CARD_SALE = LineKind.SALE, LineKind.RETURN, LineKind.GIFT_CARD_SALE


@lru_cache(maxsize=4096)
def vocabulary(name: str) -> str:
    """``"Credit Card"`` → ``"CREDIT_CARD"``: the form mapping keys take."""
    return "_".join(name.upper().split())


class RetailTickets:
    """``TicketSource`` over the Heartland Retail API, streaming page by page."""

    def __init__(self, client: RetailClient, *, timezone: str, per_page: int = 1000) -> None:
        self._client = client
        self._currency = client.currency
        self._timezone = timezone
        self._per_page = per_page
        self._payment_types: dict[int, str] | None = None
        self._locations: dict[int | None, str] = {}
        """One string per location, so the builder hashes each once, not once per ticket."""

    def tickets(self, business_date: date) -> Iterator[Ticket]:
        start, end = business_day_window(business_date, self._timezone)
        for ticket in self._client.iter_ticket_rows(completed_from=start, completed_to=end, per_page=self._per_page):
            if ticket.status == "complete":
                yield self.to_canonical(ticket)

    def to_canonical(self, ticket: TicketRow) -> Ticket:
        """Raises:
        PermanentApiError: ``InvalidRecord`` naming the ticket and the field: an amount that is not one, or no
            completion time.
        """
        completed_at = ticket.completed_at or ticket.updated_at or ticket.created_at
        if completed_at is None:
            raise PermanentApiError("InvalidRecord", f"Ticket {ticket.id}: completed_at: a complete ticket has no "
                                    "completion time", source="retail")
        currency = self._currency
        try:
            lines = tuple([_line(line, currency) for line in ticket.lines])
            payments = tuple([self._payment(payment, currency) for payment in ticket.payments])
        except (ValueError, TypeError):
            raise _bad_amount(ticket, currency) from None
        location = self._locations.get(ticket.location_id)
        if location is None:
            location = self._locations[ticket.location_id] = str(ticket.location_id)
        return Ticket(id=str(ticket.id), location_id=location, completed_at=completed_at, lines=lines,
                      payments=payments)

    def _payment(self, payment: PaymentRow, currency: str) -> TicketPayment:
        kind = payment.type
        if kind == "CreditCardPayment":
            name = vocabulary(payment.card_brand or "CARD")
        elif kind in _TENDER_TYPES:
            name = _TENDER_TYPES[kind]
        else:
            name = self._custom_name(payment.payment_type_id)
        tip = decimal_money(payment.tip, currency) if payment.tip else None
        return TicketPayment(payment_type=name, amount=decimal_money(payment.amount, currency),
                             tip=tip if tip is not None and tip.amount else None,
                             gateway_transaction_id=payment.gateway_transaction_id,
                             reference=payment.gateway_reference, auth_code=payment.auth_code)

    def _custom_name(self, payment_type_id: int) -> str:
        if self._payment_types is None:
            self._payment_types = {t.id: vocabulary(t.name) for t in self._client.iter_payment_types()}
        return self._payment_types.get(payment_type_id, f"PAYMENT_TYPE_{payment_type_id}")


def _line(line: LineRow, currency: str) -> TicketLine:
    """Amounts as magnitudes: a return (negative ``qty``) comes back positive, its kind saying so."""
    returned = line.qty < 0
    kind = _GIFT_CARD_SALE if line.type == "GiftCardLine" else _RETURN if returned else _SALE
    discount = decimal_money(line.discount_total, currency, returned) if line.discount_total else None
    taxes = {}
    for tax in line.taxes:
        taxes[vocabulary(tax.name)] = decimal_money(tax.amount, currency, returned)
    return TicketLine(kind=kind, department=vocabulary(line.department or "GENERAL"),
                      amount=decimal_money(line.extended_price, currency, returned),
                      discount=discount if discount is not None and discount.amount else None, taxes=taxes)


def _bad_amount(ticket: TicketRow, currency: str) -> PermanentApiError:
    for field, amount in ticket.amounts():
        try:
            if amount is not None:
                decimal_money(amount, currency)
        except (ValueError, TypeError) as error:
            return PermanentApiError("InvalidRecord", f"Ticket {ticket.id}: {field}: {problem(error)}",
                                     source="retail")
    return PermanentApiError("InvalidRecord", f"Ticket {ticket.id}: an amount is not one", source="retail")


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
        start, end = (moment.astimezone(UTC) for moment in business_day_window(business_date, self._zone.key))
        rows = self._client.iter_settled_rows(start.date(), (end - timedelta(microseconds=1)).date(),
                                              page_size=self._page_size)
        for row in rows:
            if start <= row.time_created < end:
                yield self.to_settled(row)

    def deposits(self, date_from: date, date_to: date) -> Iterator[Deposit]:
        for deposit in self._client.iter_deposits(date_from, date_to, page_size=self._page_size):
            yield Deposit(id=deposit.id, deposit_date=deposit.time_created, status=str(deposit.status),
                          amount=deposit.amount, fees=Money.of(abs(deposit.fees.amount), deposit.fees.currency))

    @staticmethod
    def to_settled(row: SettledRow) -> SettledTransaction:
        """Raises:
        PermanentApiError: ``InvalidRecord`` naming the transaction and the field: no batch, or an amount that is
            not whole minor units of an ISO 4217 currency.
        """
        if row.batch_id is None:
            raise PermanentApiError("InvalidRecord", f"settlement transaction {row.id}: batch_id: a settled "
                                    "transaction has no batch", source="gp")
        refund = row.type == "REFUND"
        try:
            amount = minor_money(row.amount, row.currency, refund)
        except (ValueError, TypeError) as error:
            field = "amount" if _iso_currency(row.currency) else "currency"
            raise PermanentApiError("InvalidRecord", f"settlement transaction {row.id}: {field}: {problem(error)}",
                                    source="gp") from None
        card = row.payment_method.card if row.payment_method is not None else None
        return SettledTransaction(
            id=row.id, batch_id=row.batch_id, deposit_id=row.deposit_id,
            kind=PaymentKind.REFUND if refund else PaymentKind.SALE, status=row.status,
            amount=amount, brand=vocabulary(card.brand if card is not None and card.brand else "CARD"),
            reference=row.reference, auth_code=card.authcode if card is not None else None,
            time_created=row.time_created,
        )


def _iso_currency(code: str) -> bool:
    try:
        minor_units(code.upper())
    except ValueError:
        return False
    return True
