"""Reconciliation over generated days: every planted discrepancy is reported, and nothing else."""

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from shared.canonical.money import Money
from shared.canonical.settlement import Deposit, SettledTransaction, Ticket
from shared.flows.reconcile import Discrepancy, DiscrepancyType, Reconciler
from tests.flows.strategies import DAY, Day, days


def reconcile(
    settled: list[SettledTransaction],
    deposits: list[Deposit],
    tickets: list[Ticket],
    *,
    as_of_days: int = 1,
    journals: dict[str, Decimal] | None = None,
    posted: set[str] | None = None,
) -> list[Discrepancy]:
    reconciler = Reconciler(business_date=DAY, as_of=DAY + timedelta(days=as_of_days), tolerance=Decimal("0.00"))
    for transaction in settled:
        reconciler.add_settled(transaction)
    for deposit in deposits:
        reconciler.add_deposit(deposit)
    for ticket in tickets:
        reconciler.add_ticket(ticket)
    for key, amount in (journals or {}).items():
        reconciler.expect_journal(key, amount, "USD")
    reconciler.posted(posted or set())
    return reconciler.discrepancies()


def shape(found: list[Discrepancy]) -> set[tuple[str, str]]:
    return {(d.type.value, d.reference) for d in found}


@settings(max_examples=120, deadline=None)
@given(days())
def test_a_clean_day_has_no_discrepancies(day: Day) -> None:
    settled, deposits, tickets = day
    assert reconcile(settled, deposits, tickets) == []


@settings(max_examples=150, deadline=None)
@given(days(), st.data())
def test_every_planted_discrepancy_and_nothing_else(day: Day, data: st.DataObject) -> None:
    settled, deposits, tickets = day
    planted: set[tuple[str, str]] = set()
    card_tickets = [t for t in tickets if any(p.gateway_transaction_id for p in t.payments)]
    if card_tickets and data.draw(st.booleans(), "drop a POS ticket"):
        victim = data.draw(st.sampled_from(card_tickets))
        tickets = [t for t in tickets if t.id != victim.id]
        transaction_id = victim.payments[0].gateway_transaction_id
        if any(s.id == transaction_id for s in settled):
            planted.add(("missing_in_pos", str(transaction_id)))
    remaining = [s for s in settled if ("missing_in_pos", s.id) not in planted]
    if remaining and data.draw(st.booleans(), "drop a settled transaction"):
        victim_tx = data.draw(st.sampled_from(remaining))
        settled = [s for s in settled if s.id != victim_tx.id]
        if any(p.gateway_transaction_id == victim_tx.id for t in tickets for p in t.payments):
            planted.add(("missing_in_settlement", victim_tx.id))
        remaining = [s for s in remaining if s.id != victim_tx.id]
        deposits = [
            d if d.id != victim_tx.deposit_id else replace(d, amount=d.amount - victim_tx.amount)
            for d in deposits
        ]
    tendered = {p.gateway_transaction_id for t in tickets for p in t.payments}
    changeable = [s for s in remaining if s.id in tendered]
    if changeable and data.draw(st.booleans(), "change a settled amount"):
        victim_tx = data.draw(st.sampled_from(changeable))
        delta = Money.from_minor(data.draw(st.integers(min_value=1, max_value=500)), victim_tx.amount.currency)
        settled = [s if s.id != victim_tx.id else replace(s, amount=s.amount + delta) for s in settled]
        deposits = [
            d if d.id != victim_tx.deposit_id else replace(d, amount=d.amount + delta) for d in deposits
        ]
        planted.add(("amount_mismatch", victim_tx.id))
    explained = [d for d in deposits if any(s.deposit_id == d.id for s in settled)]
    if explained and data.draw(st.booleans(), "short a deposit"):
        victim_dep = data.draw(st.sampled_from(explained))
        gap = Money.from_minor(data.draw(st.integers(min_value=1, max_value=500)), victim_dep.amount.currency)
        deposits = [d if d.id != victim_dep.id else replace(d, amount=d.amount - gap) for d in deposits]
        planted.add(("deposit_short", victim_dep.id))
    journals = {"HL-MER_1-BAT_1": Decimal("10.00"), "HL-MER_1-BAT_2": Decimal("20.00")}
    posted = set(journals)
    if data.draw(st.booleans(), "leave a journal unposted"):
        posted.discard("HL-MER_1-BAT_2")
        planted.add(("not_posted", "HL-MER_1-BAT_2"))
    assert shape(reconcile(settled, deposits, tickets, journals=journals, posted=posted)) == planted


def test_a_batch_not_deposited_in_time_is_late_and_not_before() -> None:
    from shared.canonical.payments import PaymentKind, PaymentStatus
    from tests.flows.strategies import AT, usd

    pending = SettledTransaction(
        id="TRN_9",
        batch_id="BAT_9",
        deposit_id=None,
        kind=PaymentKind.SALE,
        status=PaymentStatus.BATCHED,
        amount=usd(1234),
        brand="VISA",
        time_created=AT,
    )
    assert reconcile([pending], [], [], as_of_days=1) == [
        Discrepancy(
            type=DiscrepancyType.MISSING_IN_POS,
            amount=Decimal("12.34"),
            currency="USD",
            reference="TRN_9",
            detail="settled in batch BAT_9, no POS ticket tendered it",
        )
    ]
    late = [d for d in reconcile([pending], [], [], as_of_days=3) if d.type is DiscrepancyType.DEPOSIT_LATE]
    assert [(d.reference, d.amount) for d in late] == [("BAT_9", Decimal("12.34"))]


def test_amount_and_reference_of_a_mismatch_are_reported() -> None:
    from shared.canonical.payments import PaymentKind, PaymentStatus
    from shared.canonical.settlement import TicketLine, TicketPayment
    from tests.flows.strategies import AT, usd

    tx = SettledTransaction(
        id="TRN_1",
        batch_id="BAT_1",
        deposit_id=None,
        kind=PaymentKind.SALE,
        status=PaymentStatus.BATCHED,
        amount=usd(1050),
        brand="VISA",
        time_created=AT,
    )
    ticket = Ticket(
        id="T1",
        location_id="1",
        completed_at=AT,
        lines=(TicketLine(department="FOOD", amount=usd(1000)),),
        payments=(TicketPayment(payment_type="VISA", amount=usd(1000), gateway_transaction_id="TRN_1"),),
    )
    [found] = reconcile([tx], [], [ticket])
    assert (found.type, found.amount, found.currency, found.reference) == (
        DiscrepancyType.AMOUNT_MISMATCH,
        Decimal("0.50"),
        "USD",
        "TRN_1",
    )
