"""Hypothesis strategies of whole business days, shared by the settlement and reconciliation tests."""

from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import strategies as st
from msgspec.structs import replace

from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.canonical.settlement import Deposit, LineKind, SettledTransaction, Ticket, TicketLine, TicketPayment
from shared.mapping.loader import load

Day = tuple[list[SettledTransaction], list[Deposit], list[Ticket]]

MAPPING = load(Path(__file__).parents[2] / "mapping.yaml")
DAY = date(2026, 11, 26)
AT = datetime(2026, 11, 26, 15, tzinfo=UTC)
BRANDS = ["VISA", "MASTERCARD", "AMEX", "DISCOVER"]
DEPARTMENTS = sorted(MAPPING.departments)
CENTS = st.integers(min_value=1, max_value=50_000)


def usd(cents: int, currency: str = "USD") -> Money:
    return Money.from_minor(cents, currency)


@st.composite
def days(draw: st.DrawFn) -> tuple[list[SettledTransaction], list[Deposit], list[Ticket]]:
    """A consistent day: every card tender settles in its location's batch, each batch is deposited
    (or not yet), and every ticket balances on its own."""
    currency = draw(st.sampled_from(["USD", "USD", "CAD"]))
    tickets, settled = [], []
    for number in range(draw(st.integers(min_value=1, max_value=25))):
        location = draw(st.sampled_from(["1", "2", "3"]))
        lines, total = [], 0
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            kind = draw(st.sampled_from([LineKind.SALE, LineKind.SALE, LineKind.RETURN, LineKind.GIFT_CARD_SALE]))
            amount = draw(CENTS)
            discount = draw(st.integers(min_value=0, max_value=amount // 4))
            taxes = {
                c: usd(draw(st.integers(min_value=0, max_value=amount // 10)), currency)
                for c in draw(st.sets(st.sampled_from(["STATE", "COUNTY", "CITY"]), max_size=2))
            }
            if kind is LineKind.GIFT_CARD_SALE:
                discount, taxes = 0, {}
            sign = -1 if kind is LineKind.RETURN else 1
            total += sign * (amount - discount + sum(t.to_minor() for t in taxes.values()))
            lines.append(
                TicketLine(
                    kind=kind,
                    department=draw(st.sampled_from(DEPARTMENTS)),
                    amount=usd(amount, currency),
                    discount=usd(discount, currency) if discount else None,
                    taxes=taxes,
                )
            )
        tender = draw(st.sampled_from([*BRANDS, "CASH", "GIFT_CARD"]))
        tip = draw(st.integers(min_value=0, max_value=2000)) if tender in BRANDS and total > 0 else 0
        txn = f"TRN_{number}" if tender in BRANDS else None
        payments = [
            TicketPayment(
                payment_type=tender,
                amount=usd(total, currency),
                tip=usd(tip, currency) if tip else None,
                gateway_transaction_id=txn,
            )
        ]
        tickets.append(
            Ticket(id=f"T{number}", location_id=location, completed_at=AT, lines=tuple(lines), payments=tuple(payments))
        )
        if txn is not None:
            settled.append(
                SettledTransaction(
                    id=txn,
                    batch_id=f"BAT_{location}",
                    deposit_id=f"DEP_{location}",
                    kind=PaymentKind.SALE if total >= 0 else PaymentKind.REFUND,
                    status=PaymentStatus.FUNDED,
                    amount=usd(total + tip, currency),
                    brand=tender,
                    time_created=AT,
                )
            )
    deposits = []
    for location in sorted({t.batch_id for t in settled}):
        net = sum(t.amount.to_minor() for t in settled if t.batch_id == location)
        fee = draw(st.integers(min_value=0, max_value=max(0, net // 20)))
        if draw(st.integers(min_value=0, max_value=3)):  # now and then a batch is not deposited yet
            deposits.append(
                Deposit(
                    id=f"DEP_{location[4:]}",
                    deposit_date=DAY,
                    status="FUNDED",
                    amount=usd(net - fee, currency),
                    fees=usd(fee, currency),
                )
            )
    deposited = {d.id for d in deposits}
    settled = [s if s.deposit_id in deposited else replace(s, deposit_id=None) for s in settled]
    return settled, deposits, tickets
