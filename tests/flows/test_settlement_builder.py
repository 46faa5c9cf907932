"""The settlement journal builder, over generated business days (hypothesis)."""

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canonical.journals import Journal
from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.canonical.settlement import Deposit, SettledTransaction, Ticket, TicketLine, TicketPayment
from shared.flows.settlement_builder import SettlementBuilder
from shared.mapping.schema import UnmappedError
from tests.flows.strategies import AT, BRANDS, DAY, MAPPING, Day, days, usd


def builder_for(day: Day, *, line_limit: int = 1000) -> SettlementBuilder:
    mapping = MAPPING.model_copy(update={"journal": MAPPING.journal.model_copy(update={"line_limit": line_limit})})
    builder = SettlementBuilder(mapping, merchant_id="MER_1", business_date=DAY, rates={"CAD": Decimal("0.7312")})
    settled, deposits, tickets = day
    for transaction in settled:
        builder.add_settled(transaction)
    for deposit in deposits:
        builder.add_deposit(deposit)
    for ticket in tickets:
        builder.add_ticket(ticket)
    return builder


def build(day: Day, *, line_limit: int = 1000) -> list[Journal]:
    builder = builder_for(day, line_limit=line_limit)
    journals = builder.journals()
    assert builder.failures == {}
    return journals


def balance_by_account(journals: list[Journal]) -> dict[tuple[str, str], Decimal]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for journal in journals:
        for line in journal.lines:
            sums[(line.account, line.currency)] += line.amount
    return {k: v for k, v in sums.items() if v}


@settings(max_examples=150, deadline=None)
@given(days())
def test_every_journal_balances_per_currency(day: Day) -> None:
    for journal in build(day):
        for currency, (debits, credits) in journal.totals().items():
            assert debits == credits, (journal.external_key, currency)


@settings(max_examples=150, deadline=None)
@given(days())
def test_card_clearing_nets_out_and_bank_plus_fees_equal_what_settled(
    day: Day,
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
    day: Day,
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


def card_ticket(number: int, batch: str, payment_type: str, cents: int = 500) -> tuple[SettledTransaction, Ticket]:
    settled = SettledTransaction(id=f"TRN_{number}", batch_id=batch, deposit_id=None, kind=PaymentKind.SALE,
                                 status=PaymentStatus.BATCHED, amount=usd(cents), brand=payment_type, time_created=AT)
    ticket = Ticket(id=f"T{number}", location_id="1", completed_at=AT,
                    lines=(TicketLine(department="FOOD", amount=usd(cents)),),
                    payments=(TicketPayment(payment_type=payment_type, amount=usd(cents),
                                            gateway_transaction_id=f"TRN_{number}"),))
    return settled, ticket


def test_an_unmapped_payment_type_stops_its_batch_and_not_the_others() -> None:
    good_tx, good_ticket = card_ticket(1, "BAT_A", "VISA")
    bad_tx, bad_ticket = card_ticket(2, "BAT_B", "DINERS")
    builder = builder_for(([good_tx, bad_tx], [], [good_ticket, bad_ticket]))
    journals = builder.journals()
    assert [j.batch_id for j in journals] == ["BAT_A"]
    assert set(builder.failures) == {"BAT_B"}
    error = builder.failures["BAT_B"]
    assert isinstance(error, UnmappedError) and error.reason == "UnmappedPaymentType" and "DINERS" in str(error)


def test_an_unbalanced_batch_is_refused_before_anything_is_posted() -> None:
    ticket = Ticket(id="T1", location_id="1", completed_at=AT,
                    lines=(TicketLine(department="FOOD", amount=usd(500)),),
                    payments=(TicketPayment(payment_type="CASH", amount=usd(499)),))
    builder = builder_for(([], [], [ticket]))
    assert builder.journals() == []
    [(_, error)] = builder.failures.items()
    assert error.reason == "JournalUnbalanced" and "USD" in error.description


def test_an_unmapped_tax_stops_its_batch_even_when_it_is_zero() -> None:
    ticket = Ticket(id="T1", location_id="1", completed_at=AT,
                    lines=(TicketLine(department="FOOD", amount=usd(500), taxes={"LUXURY": usd(0)}),),
                    payments=(TicketPayment(payment_type="CASH", amount=usd(500)),))
    builder = builder_for(([], [], [ticket]))
    assert builder.journals() == []
    [(_, error)] = builder.failures.items()
    assert isinstance(error, UnmappedError) and error.reason == "UnmappedTaxComponent" and "LUXURY" in str(error)


def test_each_location_and_department_books_its_own_lines_however_often_met() -> None:
    tickets = [Ticket(id=f"T{n}", location_id=location, completed_at=AT,
                      lines=(TicketLine(department=department, amount=usd(1000), discount=usd(100),
                                        taxes={"STATE": usd(60)}),),
                      payments=(TicketPayment(payment_type="CASH", amount=usd(960)),))
               for n, (location, department) in enumerate([("1", "FOOD"), ("2", "FOOD"), ("1", "FOOD"),
                                                           ("1", "APPAREL")])]
    [journal] = build(([], [], tickets))
    revenue = {(line.account, tuple(sorted(line.dimensions.items()))): line.credit for line in journal.lines
               if line.text.startswith("Revenue")}
    assert revenue == {("402100", (("BusinessUnit", "001"), ("Department", "031"))): Decimal("20.00"),
                       ("402100", (("BusinessUnit", "002"), ("Department", "031"))): Decimal("10.00"),
                       ("401100", (("BusinessUnit", "001"), ("Department", "022"))): Decimal("10.00")}
    discounts = sum((line.debit for line in journal.lines if line.account == MAPPING.accounts.discounts), Decimal(0))
    tax = sum((line.credit for line in journal.lines if line.text == "Tax STATE"), Decimal(0))
    assert (discounts, tax) == (Decimal("4.00"), Decimal("2.40"))
