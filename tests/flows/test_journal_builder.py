"""The settlement journal builder, over generated business days (hypothesis)."""

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canonical.journals import Journal
from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.canonical.settlement import Deposit, LineKind, SettledTransaction, Ticket, TicketLine, TicketPayment
from shared.flows.journal_builder import SettlementBuilder
from shared.mapping.loader import load
from shared.mapping.schema import UnmappedError

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
    return settled, deposits, tickets


def build(
    day: tuple[list[SettledTransaction], list[Deposit], list[Ticket]], *, line_limit: int = 1000
) -> list[Journal]:
    mapping = MAPPING.model_copy(update={"journal": MAPPING.journal.model_copy(update={"line_limit": line_limit})})
    builder = SettlementBuilder(mapping, merchant_id="MER_1", business_date=DAY, rates={"CAD": Decimal("0.7312")})
    settled, deposits, tickets = day
    for transaction in settled:
        builder.add_settled(transaction)
    for deposit in deposits:
        builder.add_deposit(deposit)
    for ticket in tickets:
        builder.add_ticket(ticket)
    return builder.journals()


def balance_by_account(journals: list[Journal]) -> dict[tuple[str, str], Decimal]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for journal in journals:
        for line in journal.lines:
            sums[(line.account, line.currency)] += line.amount
    return {k: v for k, v in sums.items() if v}


@settings(max_examples=150, deadline=None)
@given(days())
def test_every_journal_balances_per_currency(day: tuple[list[SettledTransaction], list[Deposit], list[Ticket]]) -> None:
    for journal in build(day):
        for currency, (debits, credits) in journal.totals().items():
            assert debits == credits, (journal.external_key, currency)


@settings(max_examples=150, deadline=None)
@given(days())
def test_card_clearing_nets_out_and_bank_plus_fees_equal_what_settled(
    day: tuple[list[SettledTransaction], list[Deposit], list[Ticket]],
) -> None:
    settled, _, _ = day
    sums = balance_by_account(build(day))
    clearing = {rule.clearing_account for name, rule in MAPPING.payment_types.items() if name in BRANDS}
    assert not any(account in clearing for account, _ in sums), sums
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for transaction in settled:
        by_currency[transaction.amount.currency] += transaction.amount.amount
    for currency, total in by_currency.items():
        paid = sum(
            (
                v
                for (a, c), v in sums.items()
                if c == currency
                and a in (MAPPING.accounts.bank, MAPPING.accounts.processing_fees, MAPPING.accounts.undeposited)
            ),
            Decimal(0),
        )
        assert paid == total


@settings(max_examples=80, deadline=None)
@given(days(), st.integers(min_value=4, max_value=9))
def test_splitting_by_line_limit_keeps_every_part_balanced_and_the_same_totals(
    day: tuple[list[SettledTransaction], list[Deposit], list[Ticket]],
    limit: int,
) -> None:
    whole, parts = build(day), build(day, line_limit=limit)
    for journal in parts:
        assert len(journal.lines) <= limit
        journal.assert_balanced()
    assert balance_by_account(parts).get((MAPPING.accounts.suspense, "USD"), Decimal(0)) == 0
    without_suspense = {k: v for k, v in balance_by_account(parts).items() if k[0] != MAPPING.accounts.suspense}
    assert without_suspense == balance_by_account(whole)
    keys = [j.external_key for j in parts]
    assert len(keys) == len(set(keys))


def test_foreign_currency_lines_keep_the_rate() -> None:
    payment = TicketPayment(payment_type="CASH", amount=usd(1100, "CAD"))
    ticket = Ticket(
        id="T1",
        location_id="1",
        completed_at=AT,
        payments=(payment,),
        lines=(TicketLine(department="APPAREL", amount=usd(1000, "CAD"), taxes={"STATE": usd(100, "CAD")}),),
    )
    [journal] = build(([], [], [ticket]))
    assert {line.exchange_rate for line in journal.lines} == {Decimal("0.7312")}
    assert journal.external_key == "HL-MER_1-UNSETTLED"


def test_a_deposit_short_of_the_settled_amount_leaves_the_gap_in_transit() -> None:
    tx = SettledTransaction(
        id="TRN_1",
        batch_id="BAT_1",
        deposit_id="DEP_1",
        kind=PaymentKind.SALE,
        status=PaymentStatus.FUNDED,
        amount=usd(10_000),
        brand="VISA",
        time_created=AT,
    )
    deposit = Deposit(id="DEP_1", deposit_date=DAY, status="FUNDED", amount=usd(9_500), fees=usd(300))
    ticket = Ticket(
        id="T1",
        location_id="1",
        completed_at=AT,
        lines=(TicketLine(department="FOOD", amount=usd(10_000)),),
        payments=(TicketPayment(payment_type="VISA", amount=usd(10_000), gateway_transaction_id="TRN_1"),),
    )
    sums = balance_by_account(build(([tx], [deposit], [ticket])))
    assert sums[(MAPPING.accounts.bank, "USD")] == Decimal("95.00")
    assert sums[(MAPPING.accounts.processing_fees, "USD")] == Decimal("3.00")
    assert sums[(MAPPING.accounts.undeposited, "USD")] == Decimal("2.00")


def test_an_unmapped_payment_type_stops_the_batch() -> None:
    ticket = Ticket(
        id="T1",
        location_id="1",
        completed_at=AT,
        lines=(TicketLine(department="FOOD", amount=usd(500)),),
        payments=(TicketPayment(payment_type="BITCOIN", amount=usd(500)),),
    )
    with pytest.raises(UnmappedError, match="BITCOIN"):
        build(([], [], [ticket]))


def test_an_unbalanced_ticket_is_refused_before_anything_is_posted() -> None:
    from shared.canonical.journals import JournalUnbalanced

    ticket = Ticket(
        id="T1",
        location_id="1",
        completed_at=AT,
        lines=(TicketLine(department="FOOD", amount=usd(500)),),
        payments=(TicketPayment(payment_type="CASH", amount=usd(499)),),
    )
    with pytest.raises(JournalUnbalanced, match="USD"):
        build(([], [], [ticket]))
