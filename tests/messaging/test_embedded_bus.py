"""The embedded bus must behave like Service Bus where the product relies on it: peek-lock, delivery
counts, dead-lettering, scheduling, duplicate detection, session FIFO, and safety across processes."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from shared.messaging.embedded import EmbeddedBus, QueueCounts, QueueOptions
from shared.messaging.errors import MessageLockLost, MessageTooLarge, MessagingError
from shared.messaging.messages import OutgoingMessage, ReceivedMessage

START = 1_750_000_000.0
QUEUE = "postings"


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus(tmp_path: Path, clock: FakeClock) -> Iterator[EmbeddedBus]:
    embedded = EmbeddedBus(tmp_path / "bus.sqlite3", clock=clock)
    yield embedded
    embedded.close()


def msg(message_id: str, body: bytes | None = None, **kwargs: Any) -> OutgoingMessage:
    payload = body if body is not None else message_id.encode()
    return OutgoingMessage(body=payload, message_id=message_id, **kwargs)


def receive_one(bus: EmbeddedBus, queue: str = QUEUE, **kwargs: Any) -> ReceivedMessage:
    received = bus.receive(queue, **kwargs)
    assert len(received) == 1, received
    return received[0]


def test_first_delivery_carries_everything_that_was_sent(bus: EmbeddedBus) -> None:
    bus.send(
        QUEUE,
        [
            OutgoingMessage(
                body=b'{"amount": "12.50"}',
                message_id="payment:m1:t1",
                session_id="m1",
                application_properties={
                    "type": "payment.captured",
                    "attempt": 1,
                    "ratio": 0.5,
                    "retry": False,
                },
                content_type="application/json",
            )
        ],
    )

    received = receive_one(bus)

    assert received.body == b'{"amount": "12.50"}'
    assert received.message_id == "payment:m1:t1"
    assert received.session_id == "m1"
    assert received.application_properties == {
        "type": "payment.captured",
        "attempt": 1,
        "ratio": 0.5,
        "retry": False,
    }
    assert type(received.application_properties["retry"]) is bool
    assert received.delivery_count == 1
    assert received.enqueued_time == datetime.fromtimestamp(START, tz=UTC)
    assert received.locked_until == datetime.fromtimestamp(START + 60, tz=UTC)
    assert received.locked_until.tzinfo is UTC
    assert received.dead_letter_reason is None
    assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=1, dead_lettered=0)


def test_messages_without_session_come_in_sequence_order(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [msg(f"m{i}") for i in range(5)])
    bus.send(QUEUE, [msg("m5")])

    first = bus.receive(QUEUE, max_messages=4)
    rest = bus.receive(QUEUE, max_messages=10)

    assert [m.message_id for m in first] == ["m0", "m1", "m2", "m3"]
    assert [m.message_id for m in rest] == ["m4", "m5"]
    sequence = [m.sequence_number for m in first + rest]
    assert sequence == sorted(sequence) and len(set(sequence)) == 6
    assert len({m.lock_token for m in first + rest}) == 6


def test_lock_expiry_redelivers_with_delivery_count_two(bus: EmbeddedBus, clock: FakeClock) -> None:
    bus.send(QUEUE, [msg("m1")])
    first = receive_one(bus)

    clock.advance(59)
    assert bus.receive(QUEUE) == []
    clock.advance(2)
    second = receive_one(bus)

    assert second.message_id == "m1"
    assert second.delivery_count == 2
    assert second.sequence_number == first.sequence_number
    assert second.lock_token != first.lock_token
    with pytest.raises(MessageLockLost):
        bus.complete(first)
    bus.complete(second)
    assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)


def test_tenth_abandon_dead_letters_with_max_delivery_count_exceeded(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [msg("poison")])

    for attempt in range(1, 11):
        received = receive_one(bus)
        assert received.delivery_count == attempt
        bus.abandon(received)
        expected_active = 1 if attempt < 10 else 0
        assert bus.counts(QUEUE).active == expected_active

    assert bus.receive(QUEUE) == []
    assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=1)
    dead = receive_one(bus, dead_letter=True)
    assert dead.message_id == "poison"
    assert dead.body == b"poison"
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.dead_letter_description
    bus.complete(dead)
    assert bus.counts(QUEUE).dead_lettered == 0


def test_lock_expiry_at_max_delivery_count_dead_letters(tmp_path: Path, clock: FakeClock) -> None:
    options = QueueOptions(lock_duration=timedelta(seconds=5), max_delivery_count=2)
    with EmbeddedBus(tmp_path / "bus.sqlite3", clock=clock, queues={QUEUE: options}) as bus:
        bus.send(QUEUE, [msg("crashes-worker")])
        receive_one(bus)
        clock.advance(6)
        assert receive_one(bus).delivery_count == 2
        clock.advance(6)

        assert bus.receive(QUEUE) == []
        dead = receive_one(bus, dead_letter=True)
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert dead.locked_until == datetime.fromtimestamp(clock.now + 5, tz=UTC)


def test_explicit_dead_letter_keeps_reason_and_description(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [msg("m1"), msg("m2")])
    first = receive_one(bus)

    bus.dead_letter(first, reason="ValidationFailed", description="account 4000 does not exist")

    assert receive_one(bus).message_id == "m2"
    dead = receive_one(bus, dead_letter=True)
    assert (dead.message_id, dead.dead_letter_reason, dead.dead_letter_description) == (
        "m1",
        "ValidationFailed",
        "account 4000 does not exist",
    )
    assert dead.body == b"m1"
    with pytest.raises(MessageLockLost):
        bus.complete(first)
    assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=1, dead_lettered=1)


def test_dead_letter_sub_queue_abandon_returns_it_there(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [msg("m1")])
    bus.dead_letter(receive_one(bus), reason="Bad")

    dead = receive_one(bus, dead_letter=True)
    assert bus.receive(QUEUE, dead_letter=True) == []
    bus.abandon(dead)

    again = receive_one(bus, dead_letter=True)
    assert again.message_id == "m1"
    assert again.delivery_count == dead.delivery_count + 1
    assert bus.receive(QUEUE) == []


def test_scheduled_message_is_invisible_until_due(bus: EmbeddedBus, clock: FakeClock) -> None:
    due = datetime.fromtimestamp(START + 30, tz=UTC)
    bus.send(QUEUE, [msg("later", scheduled_enqueue_time=due), msg("now")])

    assert [m.message_id for m in bus.receive(QUEUE, max_messages=10)] == ["now"]
    assert bus.counts(QUEUE).scheduled == 1
    clock.advance(29.9)
    assert bus.receive(QUEUE, max_messages=10) == []

    clock.advance(0.2)
    later = receive_one(bus)
    assert later.message_id == "later"
    assert later.enqueued_time == due
    assert later.delivery_count == 1


def test_scheduled_time_in_another_zone_is_honoured(bus: EmbeddedBus, clock: FakeClock) -> None:
    due = datetime.fromtimestamp(START + 60, tz=UTC).astimezone(timezone(timedelta(hours=2)))
    bus.send(QUEUE, [msg("later", scheduled_enqueue_time=due)])

    clock.advance(59)
    assert bus.receive(QUEUE) == []
    clock.advance(1)
    assert receive_one(bus).message_id == "later"


def test_duplicate_inside_window_is_dropped_and_accepted_after_it(bus: EmbeddedBus, clock: FakeClock) -> None:
    bus.send(QUEUE, [msg("k1", b"first"), msg("k1", b"same call")])
    clock.advance(300)
    bus.send(QUEUE, [msg("k1", b"five minutes later")])

    received = bus.receive(QUEUE, max_messages=10)
    assert [m.body for m in received] == [b"first"]
    bus.complete(received[0])

    clock.advance(300)
    bus.send(QUEUE, [msg("k1", b"after the window")])
    assert receive_one(bus).body == b"after the window"


def test_duplicate_detection_is_per_queue(bus: EmbeddedBus) -> None:
    bus.send("a", [msg("k1")])
    bus.send("b", [msg("k1")])

    assert receive_one(bus, "a").message_id == "k1"
    assert receive_one(bus, "b").message_id == "k1"
    assert bus.queues() == ["a", "b"]


def test_session_is_fifo_and_other_sessions_proceed(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "bus.sqlite3"
    with EmbeddedBus(path, clock=clock) as one, EmbeddedBus(path, clock=clock) as two:
        one.send(QUEUE, [msg("a1", session_id="A"), msg("b1", session_id="B"), msg("a2", session_id="A")])
        one.send(QUEUE, [msg("b2", session_id="B"), msg("free"), msg("a3", session_id="A")])

        heads = one.receive(QUEUE, max_messages=10)
        assert [m.message_id for m in heads] == ["a1", "b1", "free"]
        assert two.receive(QUEUE, max_messages=10) == []

        a1, b1, _ = heads
        two.complete(b1)
        b2 = receive_one(two)
        assert b2.message_id == "b2"

        one.complete(a1)
        a2 = receive_one(two)
        assert a2.message_id == "a2"
        two.abandon(a2)
        assert receive_one(one).message_id == "a2"

        clock.advance(61)
        redelivered = one.receive(QUEUE, max_messages=10)
        assert [m.message_id for m in redelivered] == ["a2", "b2", "free"]


def test_session_order_holds_with_concurrent_receivers(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    sessions = {f"merchant-{s}": [f"merchant-{s}:{i:03d}" for i in range(40)] for s in range(3)}
    with EmbeddedBus(path) as sender:
        interleaved = [
            msg(ids[i], session_id=session) for i in range(40) for session, ids in sessions.items()
        ]
        sender.send(QUEUE, interleaved)

    seen: dict[str, list[str]] = {session: [] for session in sessions}
    seen_lock = threading.Lock()
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            with EmbeddedBus(path) as bus:
                idle = 0
                while idle < 20:
                    batch = bus.receive(QUEUE, max_messages=3)
                    if not batch:
                        idle += 1
                        continue
                    idle = 0
                    for received in batch:
                        assert received.session_id is not None
                        with seen_lock:
                            seen[received.session_id].append(received.message_id)
                        bus.complete(received)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert seen == sessions


def test_complete_after_lock_expiry_raises_lock_lost(bus: EmbeddedBus, clock: FakeClock) -> None:
    bus.send(QUEUE, [msg("m1")])
    received = receive_one(bus)

    clock.advance(60)

    with pytest.raises(MessageLockLost):
        bus.complete(received)
    with pytest.raises(MessageLockLost):
        bus.abandon(received)
    with pytest.raises(MessageLockLost):
        bus.renew_lock(received)
    assert receive_one(bus).delivery_count == 2


def test_complete_many_settles_the_held_and_names_the_lost(bus: EmbeddedBus, clock: FakeClock) -> None:
    bus.send(QUEUE, [msg(f"m{n}") for n in range(5)])
    early = bus.receive(QUEUE, max_messages=2)
    clock.advance(60)  # their locks expire: they are visible again
    late = bus.receive(QUEUE, max_messages=10)
    assert sorted(m.message_id for m in late) == [f"m{n}" for n in range(5)]
    settled_elsewhere = late[0]
    bus.complete(settled_elsewhere)

    lost = bus.complete_many([*early, *late])
    assert sorted(m.message_id for m in lost) == sorted([*(m.message_id for m in early), settled_elsewhere.message_id])
    assert bus.receive(QUEUE, max_messages=10) == [] and bus.counts(QUEUE).active == 0
    assert bus.complete_many([]) == []


def test_settling_twice_raises_lock_lost(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [msg("m1")])
    received = receive_one(bus)
    bus.complete(received)

    with pytest.raises(MessageLockLost):
        bus.complete(received)
    with pytest.raises(MessageLockLost):
        bus.dead_letter(received, reason="late")


def test_renew_lock_keeps_the_message_locked(bus: EmbeddedBus, clock: FakeClock) -> None:
    bus.send(QUEUE, [msg("slow")])
    received = receive_one(bus)

    clock.advance(50)
    renewed = bus.renew_lock(received)
    clock.advance(50)

    assert renewed == datetime.fromtimestamp(START + 110, tz=UTC)
    assert bus.receive(QUEUE) == []
    bus.complete(received)
    assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)


def test_messages_survive_close_and_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "nested" / "bus.sqlite3"
    bus = EmbeddedBus(path, clock=clock)
    bus.send(QUEUE, [msg("done"), msg("kept", application_properties={"type": "order.created"})])
    bus.complete(receive_one(bus))
    bus.close()
    with pytest.raises(MessagingError):
        bus.receive(QUEUE)

    reopened = EmbeddedBus(path, clock=clock)
    try:
        kept = receive_one(reopened)
        assert (kept.message_id, kept.application_properties) == ("kept", {"type": "order.created"})
        assert reopened.queues() == [QUEUE]
        reopened.send(QUEUE, [msg("done")])
        assert reopened.counts(QUEUE).active == 0, "the duplicate-detection history survives too"
    finally:
        reopened.close()


def test_message_over_size_limit_is_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    limit = 1024
    with EmbeddedBus(tmp_path / "bus.sqlite3", default_options=QueueOptions(max_message_bytes=limit)) as bus:
        bus.send(QUEUE, [msg("fits", b"x" * limit)])
        with pytest.raises(MessageTooLarge):
            bus.send(QUEUE, [msg("ok", b"small"), msg("big", b"x" * (limit + 1))])

        assert [m.message_id for m in bus.receive(QUEUE, max_messages=10)] == ["fits"]


def test_default_size_limit_is_256_kib(bus: EmbeddedBus) -> None:
    with pytest.raises(MessageTooLarge):
        bus.send(QUEUE, [msg("big", b"x" * (256 * 1024 + 1))])
    bus.send(QUEUE, [msg("max", b"x" * (256 * 1024))])
    assert len(receive_one(bus).body) == 256 * 1024


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("message_id", OutgoingMessage(body=b"", message_id="m" * 129)),
        ("session_id", OutgoingMessage(body=b"", message_id="m", session_id="s" * 129)),
    ],
)
def test_ids_longer_than_128_characters_are_refused(
    bus: EmbeddedBus, field: str, message: OutgoingMessage
) -> None:
    with pytest.raises(ValueError, match=field):
        bus.send(QUEUE, [message])
    assert bus.queues() == []


def test_ids_of_128_characters_are_accepted(bus: EmbeddedBus) -> None:
    bus.send(QUEUE, [OutgoingMessage(body=b"", message_id="m" * 128, session_id="s" * 128)])
    assert receive_one(bus).session_id == "s" * 128


def test_naive_schedule_time_is_refused(bus: EmbeddedBus) -> None:
    with pytest.raises(ValueError, match="timezone"):
        bus.send(QUEUE, [msg("m", scheduled_enqueue_time=datetime(2030, 1, 1))])


def test_unknown_queue_is_empty_and_not_created(bus: EmbeddedBus) -> None:
    assert bus.receive("nothing-here") == []
    assert bus.counts("nothing-here") == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)
    assert bus.queues() == []


def _drain(path: str, queue: str, barrier: Any, results: Any) -> None:
    received: list[str] = []
    try:
        bus = EmbeddedBus(path)
        # Each worker takes a first batch before the barrier, so both surely take part even when
        # the machine is so busy that one could drain the queue before the other is scheduled.
        batch = bus.receive(queue, max_messages=5)
        barrier.wait(timeout=60)
        while batch:
            for message in batch:
                received.append(message.message_id)
                bus.complete(message)
            batch = bus.receive(queue, max_messages=5)
        bus.close()
        results.put(("ok", received))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def test_two_worker_processes_never_receive_the_same_message(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.sqlite3")
    expected = {f"txn-{i:04d}" for i in range(2000)}
    with EmbeddedBus(path) as bus:
        bus.send(QUEUE, [msg(message_id) for message_id in sorted(expected)])

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_drain, args=(path, QUEUE, barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
    per_worker: list[list[str]] = [received for _, received in outcomes]
    everything = per_worker[0] + per_worker[1]
    assert len(everything) == len(expected), "a message was received twice"
    assert set(everything) == expected
    assert all(per_worker), "both workers should have taken part"
    with EmbeddedBus(path) as bus:
        assert bus.counts(QUEUE) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)
