"""The end-of-day flow with the embedded ledger: balanced, posted once, reconciled, stored."""

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings

from shared.canonical.journals import Journal
from shared.canonical.settlement import Deposit, SettledTransaction, Ticket
from shared.errors import FatalError, RetriableError, UncertainOutcome
from shared.flows.settlement import DayResult, close_day, stored_discrepancies
from shared.mapping.schema import PostingMode
from shared.ops.alerts import Alert
from shared.storage.idempotency import IdempotencyKeys
from shared.storage.sqlite import SqliteTableStore
from shared.storage.table_ledger import TableJournals
from tests.flows.strategies import DAY, MAPPING, Day, days


class Sources:
    def __init__(self, day: Day) -> None:
        self.day = day

    def settled(self, business_date: date) -> Iterator[SettledTransaction]:
        assert business_date == DAY
        yield from self.day[0]

    def deposits(self, date_from: date, date_to: date) -> Iterator[Deposit]:
        assert date_from == DAY and date_to > DAY
        yield from self.day[1]

    def tickets(self, business_date: date) -> Iterator[Ticket]:
        yield from self.day[2]


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)


class World:
    def __init__(self, directory: Path) -> None:
        self.store = SqliteTableStore(directory / "tables.sqlite")
        self.ledger = TableJournals(self.store.table("Postings"), rates={"CAD": Decimal("0.7312")})
        self.now = datetime(2026, 11, 27, 2, tzinfo=UTC)
        self.keys = IdempotencyKeys(self.store.table("IdempotencyKeys"), clock=lambda: self.now)
        self.alerts = Alerts()

    def close(self, day: Day, *, ledger: object = None, mapping: object = None) -> DayResult:
        sources = Sources(day)
        return close_day(
            merchant_id="MER_1",
            business_date=DAY,
            mapping=mapping or MAPPING,  # type: ignore[arg-type]
            settlement=sources,
            tickets=sources,
            ledger=ledger or self.ledger,  # type: ignore[arg-type]
            keys=self.keys,
            discrepancies=self.store.table("Discrepancies"),
            alerts=self.alerts,
            foreign_currencies=("CAD",),
            as_of=DAY + timedelta(days=1),
        )


@settings(max_examples=40, deadline=None)
@given(days())
def test_a_day_posts_once_balanced_and_a_rerun_posts_nothing_new(day: Day) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        first = world.close(day)
        assert len(first.created) == len(first.journals) and first.already_posted == []
        recorded = world.ledger.recorded()
        assert len(recorded) == len(first.journals)
        second = world.close(day)
        assert second.created == [] and sorted(second.already_posted) == sorted(first.created)
        assert len(world.ledger.recorded()) == len(recorded)
        assert first.discrepancies == second.discrepancies == []
        world.store.close()


class LosingLedger:
    """Applies the write, then loses the answer, as a dropped connection does."""

    def __init__(self, inner: TableJournals) -> None:
        self.inner = inner
        self.creates = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def create_journal(self, journal: Journal) -> str:
        self.creates += 1
        self.inner.create_journal(journal)
        raise UncertainOutcome("ResponseLost", "connection reset", source="test")


def test_a_lost_answer_is_looked_up_not_written_twice(tmp_path: Path, day_with_one_batch: Day) -> None:
    world = World(tmp_path)
    losing = LosingLedger(world.ledger)
    result = world.close(day_with_one_batch, ledger=losing)
    assert losing.creates == len(result.journals) == len(world.ledger.recorded())
    assert result.created == [f"GJ-{j.external_key}" for j in result.journals]


def test_an_uncertain_answer_not_yet_visible_is_retried_later(tmp_path: Path, day_with_one_batch: Day) -> None:
    world = World(tmp_path)

    class Vanishing(LosingLedger):
        def create_journal(self, journal: Journal) -> str:
            self.creates += 1
            raise UncertainOutcome("ResponseLost", "timeout", source="test")

    with pytest.raises(RetriableError, match="next run looks again"):
        world.close(day_with_one_batch, ledger=Vanishing(world.ledger))
    world.now += timedelta(minutes=6)  # the lease of the run that lost its answer has expired
    result = world.close(day_with_one_batch)
    assert len(result.created) == len(world.ledger.recorded()) == 1


def test_a_timed_out_journal_that_lands_late_is_held_then_found_not_written_twice(
        tmp_path: Path, day_with_one_batch: Day) -> None:
    world = World(tmp_path)
    late: list[Journal] = []

    class Slow(LosingLedger):
        def create_journal(self, journal: Journal) -> str:
            self.creates += 1
            late.append(journal)  # still on its way when the client gave up
            raise UncertainOutcome("ResponseLost", "timeout", source="test")

    slow = Slow(world.ledger)
    with pytest.raises(RetriableError, match="next run looks again"):
        world.close(day_with_one_batch, ledger=slow)
    world.now += timedelta(seconds=10)  # a retry inside the hold must not write again
    with pytest.raises(RetriableError, match="being posted"):
        world.close(day_with_one_batch)
    world.ledger.create_journal(late.pop())  # the slow write lands
    world.now += timedelta(seconds=30)
    result = world.close(day_with_one_batch)
    assert result.created == [] and len(world.ledger.recorded()) == slow.creates == 1


def test_a_refused_journal_gives_its_key_back_at_once(tmp_path: Path, day_with_one_batch: Day) -> None:
    world = World(tmp_path)

    class Refusing(LosingLedger):
        def create_journal(self, journal: Journal) -> str:
            raise FatalError("ValidationFailed", "account 999999 does not exist")

    with pytest.raises(FatalError, match="999999"):
        world.close(day_with_one_batch, ledger=Refusing(world.ledger))
    result = world.close(day_with_one_batch)  # fixed and replayed at once, without waiting out a lease
    assert len(result.created) == len(world.ledger.recorded()) == 1


def test_auto_mode_posts_and_review_mode_leaves_for_a_person(tmp_path: Path, day_with_one_batch: Day) -> None:
    world = World(tmp_path)
    world.close(day_with_one_batch)
    assert [row["Posted"] for row in world.ledger.recorded()] == [False]
    auto = MAPPING.model_copy(update={"journal": MAPPING.journal.model_copy(update={"posting_mode": PostingMode.AUTO})})
    other = World(tmp_path / "auto")
    other.close(day_with_one_batch, mapping=auto)
    assert [row["Posted"] for row in other.ledger.recorded()] == [True]


def test_discrepancies_are_stored_once_and_alerted(tmp_path: Path, day_with_one_batch: Day) -> None:
    settled, deposits, tickets = day_with_one_batch
    world = World(tmp_path)
    world.close((settled, deposits, tickets[1:]))
    world.close((settled, deposits, tickets[1:]))
    rows = stored_discrepancies(world.store.table("Discrepancies"), "MER_1", DAY)
    assert [(r["Type"], r["Reference"]) for r in rows] == [("missing_in_pos", "TRN_0")]
    assert [a.kind for a in world.alerts.sent] == ["discrepancies", "discrepancies"]
    world.close((settled, deposits, tickets))
    assert stored_discrepancies(world.store.table("Discrepancies"), "MER_1", DAY) == []


@pytest.fixture
def day_with_one_batch() -> Day:
    from shared.canonical.payments import PaymentKind, PaymentStatus
    from shared.canonical.settlement import TicketLine, TicketPayment
    from tests.flows.strategies import AT, usd

    settled = [
        SettledTransaction(
            id=f"TRN_{n}",
            batch_id="BAT_1",
            deposit_id="DEP_1",
            kind=PaymentKind.SALE,
            status=PaymentStatus.FUNDED,
            amount=usd(1000 + n),
            brand="VISA",
            time_created=AT,
        )
        for n in range(3)
    ]
    tickets = [
        Ticket(
            id=f"T{n}",
            location_id="1",
            completed_at=AT,
            lines=(TicketLine(department="FOOD", amount=usd(1000 + n)),),
            payments=(TicketPayment(payment_type="VISA", amount=usd(1000 + n), gateway_transaction_id=f"TRN_{n}"),),
        )
        for n in range(3)
    ]
    deposits = [Deposit(id="DEP_1", deposit_date=DAY, status="FUNDED", amount=usd(2953), fees=usd(50))]
    return settled, deposits, tickets
