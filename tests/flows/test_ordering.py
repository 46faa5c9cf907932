"""The ordering rule, proven over interleavings: captures, reversals and refunds delivered in any order and
twice, to two workers, one of which can be held mid-write while the other runs, with lost answers,
throttling, lease expiries, a live worker slower than a lease, and crashed workers whose write may or may
not have landed.

After every step no key is in the ledger twice; whenever everything has been delivered and drained the
ledger nets, per transaction, to what the gateway did.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from shared.canonical.envelope import Envelope
from shared.canonical.money import Money
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus
from shared.errors import FatalError, RetriableError, TransientApiError, UncertainOutcome
from shared.flows.payments import post_payments
from shared.flows.pipeline import Delivery
from shared.messaging.envelope import to_message
from shared.settings import Settings
from shared.storage import tables
from shared.storage.idempotency import IdempotencyKeys
from shared.wiring import Services

LEASE = timedelta(minutes=5)
SLOW_WRITE = timedelta(seconds=20)  # a write that timed out lands this much later: within the client's timeout again
AT = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
FAULTS = ("ok", "ok", "lost", "timeout", "throttle", "split_lost_then_lookups_throttled",
          "timeout_then_lookup_throttled")


class WorkerCrashed(BaseException):
    """The worker's process died inside the ERP call; nothing after it runs."""


@dataclass(frozen=True)
class Event:
    transaction: str
    kind: PaymentKind
    status: PaymentStatus
    cents: int

    def payment(self) -> Payment:
        return Payment(transaction_id=self.transaction, merchant_id="MER_T", kind=self.kind, status=self.status,
                       amount=Money.of(Decimal(self.cents).scaleb(-2), "USD"), reference="S-ORD000123",
                       card_brand="VISA", occurred_at=AT)

    def delivery(self, n: int) -> Delivery:
        payment = self.payment()
        envelope = Envelope(type="payment.normalised", source="test", subject=self.transaction,
                            idempotency_key=f"gp:{self.transaction}:{self.status.value}",
                            data=payment.model_dump(mode="json"))
        return Delivery(f"m{n}", to_message(envelope).body)


class Ledger:
    """The ERP's customer ledger behind the ``PaymentLedger`` port, with a fault per write."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lines: list[tuple[str, Decimal]] = []
        self.plan: dict[str, str] = {}  # thread name → the fault of its next write
        self.hold: dict[str, threading.Event] = {}  # thread name → released when the held write may go on
        self.arrived = threading.Event()  # a held worker is inside its write
        self.throttled_lookups: dict[str, int] = {}  # thread name → the n-th look-up from now is throttled
        self.landing: list[tuple[datetime, list[tuple[str, Decimal]]]] = []  # timed out; land at that time
        self._lock = threading.Lock()

    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        me = threading.current_thread().name
        if self.throttled_lookups.get(me, 0) > 0:
            self.throttled_lookups[me] -= 1
            if self.throttled_lookups[me] == 0:
                raise TransientApiError("Throttled", "429 on a look-up", source="ERP", status=429)
        asked = set(external_keys)
        with self._lock:
            found: dict[str, str] = {}
            for n, (key, _) in enumerate(self.lines):
                if key in asked:
                    found.setdefault(key, f"J/{n}")
            return found

    def post(self, payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        me = threading.current_thread().name
        if me in self.hold:
            self.arrived.set()
            self.hold[me].wait(10)
        fault = self.plan.pop(me, "ok")
        if fault == "throttle":
            raise TransientApiError("Throttled", "429", source="ERP", status=429)
        if fault == "crash_before":
            raise WorkerCrashed
        if fault in ("timeout", "timeout_then_lookup_throttled"):
            self.landing.append((self.clock.now + SLOW_WRITE, [(p.external_key, p.received.amount) for p in payments]))
            if fault == "timeout_then_lookup_throttled":
                self.throttled_lookups[me] = 1  # nobody can say yet whether it will land
            raise UncertainOutcome("ResponseLost", "timed out; the write is still on its way", source="ERP")
        if fault == "split_lost_then_lookups_throttled":
            # Sent in parts, as Business Central's 100-line $batches are: the first part landed, the second's
            # answer was lost before it was applied, and the look-up that follows meets throttling.
            with self._lock:
                self.lines.extend((p.external_key, p.received.amount) for p in payments[:2])
            self.throttled_lookups[me] = 1
            raise UncertainOutcome("ResponseLost", "the second part's answer was lost", source="ERP")
        with self._lock:
            first = len(self.lines)
            self.lines.extend((p.external_key, p.received.amount) for p in payments)
        if fault == "crash_after":
            raise WorkerCrashed
        if fault == "lost":
            raise UncertainOutcome("ResponseLost", "the answer was lost", source="ERP")
        return {p.external_key: f"J/{first + n}" for n, p in enumerate(payments)}

    def land(self) -> None:
        """Writes that timed out land once their time has come, whoever looks meanwhile."""
        with self._lock:
            due = [lines for at, lines in self.landing if at <= self.clock.now]
            self.landing = [(at, lines) for at, lines in self.landing if at > self.clock.now]
            for lines in due:
                self.lines.extend(lines)


class Clock:
    def __init__(self) -> None:
        self.now = AT

    def __call__(self) -> datetime:
        return self.now


class Held:
    """Worker 0 held inside its ERP write while worker 1 goes on."""

    def __init__(self, machine: OrderingMachine, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        self.outcome: dict[str, object] = {}
        self.thread = threading.Thread(target=self._run, args=(machine,), name="worker-0", daemon=True)
        machine.ledger.hold["worker-0"] = threading.Event()
        machine.ledger.arrived.clear()
        self.thread.start()
        while not machine.ledger.arrived.wait(0.01) and self.thread.is_alive():
            pass  # it is inside its write, or had nothing to write

    def _run(self, machine: OrderingMachine) -> None:
        try:
            self.outcome["failures"] = post_payments(machine.services, self.deliveries)
        except WorkerCrashed:
            self.outcome["crashed"] = True


class OrderingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = TemporaryDirectory()
        path = Path(self._dir.name)
        self.services = Services(Settings(HL365_DATA_DIR=str(path), HL365_SETTINGS_FILE=str(path / "none.json"),
                                          HL365_MAPPING_FILE=str(Path(__file__).parents[2] / "mapping.yaml")))
        self.clock = Clock()
        self.ledger = Ledger(self.clock)
        table = self.services.tables.table(tables.IDEMPOTENCY_KEYS)
        self.services.__dict__["keys"] = IdempotencyKeys(table, lease=LEASE, clock=self.clock)
        self.services.__dict__["ledger"] = self.ledger
        self.events: list[Event] = []
        self.expected: dict[str, Decimal] = {}
        self.queue: list[Delivery] = []
        self.sent: set[int] = set()
        self.held: Held | None = None
        self.parked: list[str] = []
        self.sequence = 0

    @initialize(data=st.data())
    def gateway(self, data: st.DataObject) -> None:
        """What GP did: 1 to 3 sales, each maybe reversed, maybe refunded."""
        for n in range(data.draw(st.integers(1, 3), label="sales")):
            sale, cents = f"TRN_S{n}", data.draw(st.integers(1, 50_000), label="cents")
            self.events.append(Event(sale, PaymentKind.SALE, PaymentStatus.CAPTURED, cents))
            fate = data.draw(st.sampled_from(["kept", "reversed", "refunded"]), label=f"{sale} fate")
            self.expected[sale] = Decimal(0) if fate == "reversed" else Decimal(cents).scaleb(-2)
            if fate == "reversed":
                self.events.append(Event(sale, PaymentKind.SALE, PaymentStatus.REVERSED, cents))
            if fate == "refunded":
                refund, part = f"TRN_R{n}", data.draw(st.integers(1, cents), label="refund cents")
                self.events.append(Event(refund, PaymentKind.REFUND, PaymentStatus.CAPTURED, part))
                self.expected[refund] = -Decimal(part).scaleb(-2)

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """GP sends one notification: any of them, in any order, again if it likes."""
        n = data.draw(st.integers(0, len(self.events) - 1), label="event")
        self.sent.add(n)
        self.sequence += 1
        self.queue.append(self.events[n].delivery(self.sequence))

    def _take(self, data: st.DataObject) -> list[Delivery]:
        """Any few of the waiting messages: a broker hands them out in any order across workers."""
        picked = data.draw(st.lists(st.integers(0, len(self.queue) - 1), min_size=1, max_size=5, unique=True),
                           label="messages")
        batch = [self.queue[n] for n in picked]
        self.queue = [m for n, m in enumerate(self.queue) if n not in picked]
        return batch

    @rule(data=st.data(), fault=st.sampled_from(FAULTS))
    @precondition(lambda self: bool(self.queue))
    def worker_1_posts(self, data: st.DataObject, fault: str) -> None:
        self.ledger.land()
        batch = self._take(data)
        me = threading.current_thread().name
        self.ledger.plan[me] = fault
        self._settle(batch, post_payments(self.services, batch))
        self.ledger.plan.pop(me, None)

    @rule(data=st.data(), fault=st.sampled_from(FAULTS))
    @precondition(lambda self: bool(self.queue) and self.held is None)
    def worker_0_starts_a_write(self, data: st.DataObject, fault: str) -> None:
        self.ledger.land()
        batch = self._take(data)
        self.ledger.plan["worker-0"] = fault
        self.held = Held(self, batch)

    @rule()
    @precondition(lambda self: self.held is not None)
    def worker_0_finishes(self) -> None:
        self._release()

    @rule(applied=st.booleans())
    @precondition(lambda self: self.held is not None)
    def worker_0_crashes(self, applied: bool) -> None:
        """Its process dies in the write, which landed or not; its messages come back, its claims stay held."""
        self.ledger.plan["worker-0"] = "crash_after" if applied else "crash_before"
        self._release()

    @rule()
    @precondition(lambda self: self.held is not None)
    def time_passes_while_worker_0_writes(self) -> None:
        """Worker 0 is alive but slow (throttled, retrying): its claims are renewed as time passes, so
        nobody takes them over however long its write takes, while everyone else's leases run out."""
        for _ in range(3):
            self.clock.now += LEASE / 2
            self.services.keys.heartbeat()
            self.ledger.land()

    @rule()
    @precondition(lambda self: self.held is None)
    def leases_expire(self) -> None:
        self.clock.now += LEASE + timedelta(seconds=1)

    @rule()
    @precondition(lambda self: self.held is None)
    def slow_writes_land(self) -> None:
        """Time passes: long enough for a slow write to land, not for a lease to run out."""
        self.clock.now += SLOW_WRITE
        self.ledger.land()

    def _release(self) -> None:
        held, self.held = self.held, None
        assert held is not None
        self.ledger.hold["worker-0"].set()
        held.thread.join(10)
        assert not held.thread.is_alive(), "worker 0 never returned"
        del self.ledger.hold["worker-0"]
        self.ledger.plan.pop("worker-0", None)
        if "crashed" in held.outcome:
            self.queue.extend(held.deliveries)
        else:
            self._settle(held.deliveries, held.outcome["failures"])  # type: ignore[arg-type]

    def _settle(self, batch: list[Delivery], failures: dict[str, object]) -> None:
        for delivery in batch:
            failure = failures.get(delivery.message_id)
            if isinstance(failure, RetriableError):
                self.queue.append(delivery)
            elif failure is not None:
                self.parked.append(f"{delivery.message_id}: {failure}")

    @invariant()
    def no_key_is_posted_twice(self) -> None:
        twice = [key for key, n in Counter(key for key, _ in self.ledger.lines).items() if n > 1]
        assert not twice, f"posted twice: {twice}"
        assert not self.parked, f"dead-lettered: {self.parked}"

    @invariant()
    def drained_means_netted(self) -> None:
        if self.held is None and not self.queue and len(self.sent) == len(self.events):
            self._check_nets()

    def _check_nets(self) -> None:
        net: Counter[str] = Counter()
        for key, amount in self.ledger.lines:
            net[key.removeprefix("HPY-").removesuffix("-REV")] += amount  # type: ignore[assignment]
        wrong = {t: (str(v), str(net.get(t, 0))) for t, v in self.expected.items() if net.get(t, 0) != v}
        assert not wrong, f"transaction: (gateway's net, ledger's net): {wrong}"

    def teardown(self) -> None:
        try:
            if self.held is not None:
                self._release()
            self.ledger.land()
            for n in set(range(len(self.events))) - self.sent:
                self.sequence += 1
                self.queue.append(self.events[n].delivery(self.sequence))
            for _ in range(50):
                if not self.queue:
                    break
                self.clock.now += LEASE + timedelta(seconds=1)
                self.ledger.land()
                batch, self.queue = self.queue, []
                self._settle(batch, post_payments(self.services, batch))
            assert not self.queue, "messages still waiting after every lease expired"
            self.no_key_is_posted_twice()
            self._check_nets()
        finally:
            self.services.close()
            self._dir.cleanup()


TestOrderingRule = OrderingMachine.TestCase
TestOrderingRule.settings = settings(max_examples=300, stateful_step_count=20, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])



def test_a_reversal_after_a_crashed_capture_write_that_landed_posts_the_reverse_entry() -> None:
    """The capture's worker died after its write landed; the reversal, taking the expired claim over,
    must find the capture in the ERP instead of voiding it."""
    machine = OrderingMachine()
    capture = Event("TRN_S0", PaymentKind.SALE, PaymentStatus.CAPTURED, 1250)
    machine.events = [capture, Event("TRN_S0", PaymentKind.SALE, PaymentStatus.REVERSED, 1250)]
    machine.expected = {"TRN_S0": Decimal(0)}
    machine.sent = {0, 1}
    machine.queue = [capture.delivery(1)]
    machine.ledger.plan["worker-0"] = "ok"
    machine.held = Held(machine, machine.queue)
    machine.queue = []
    machine.worker_0_crashes(applied=True)
    machine.leases_expire()
    reversal = machine.events[1].delivery(2)
    machine._settle([reversal], post_payments(machine.services, [reversal]))
    machine.teardown()


def test_a_payment_held_after_an_uncertain_part_is_retried_even_when_the_look_ups_fail() -> None:
    """Four payments go out in parts; the first part lands, the second's answer is lost, and a look-up
    is throttled: every payment not found must come back for a retry, held or not."""
    machine = OrderingMachine()
    machine.events = [Event(f"TRN_S{n}", PaymentKind.SALE, PaymentStatus.CAPTURED, 1000 + n) for n in range(4)]
    machine.expected = {f"TRN_S{n}": Decimal(1000 + n).scaleb(-2) for n in range(4)}
    machine.sent = {0, 1, 2, 3}
    batch = [event.delivery(n) for n, event in enumerate(machine.events)]
    machine.ledger.plan[threading.current_thread().name] = "split_lost_then_lookups_throttled"
    failures = post_payments(machine.services, batch)
    assert {d.message_id for d in batch[2:]} <= set(failures), "a payment not in the ERP was let go"
    machine._settle(batch, failures)
    machine.teardown()


def test_a_reversal_waits_for_a_live_capture_write_slower_than_a_lease() -> None:
    """The capture's worker is alive but slowed (throttled, retrying) past its lease; the reversal must
    not take its claim over and void the capture that is about to land."""
    machine = OrderingMachine()
    capture = Event("TRN_S0", PaymentKind.SALE, PaymentStatus.CAPTURED, 1250)
    machine.events = [capture, Event("TRN_S0", PaymentKind.SALE, PaymentStatus.REVERSED, 1250)]
    machine.expected = {"TRN_S0": Decimal(0)}
    machine.sent = {0, 1}
    machine.ledger.plan["worker-0"] = "ok"
    machine.held = Held(machine, [capture.delivery(1)])
    machine.time_passes_while_worker_0_writes()
    reversal = machine.events[1].delivery(2)
    failures = post_payments(machine.services, [reversal])
    assert isinstance(failures.get(reversal.message_id), RetriableError), "the reversal acted on a live claim"
    machine._settle([reversal], failures)
    machine.worker_0_finishes()
    machine.teardown()
