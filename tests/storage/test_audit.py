"""The audit trail on both table adapters: a day's chains (one per writer), what verify names when one of them is
tampered with, appends from many threads and instances at once, and days written before the chains were split."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.ports import Table, TableStore
from shared.storage.audit import (
    GENESIS,
    HEAD,
    MANIFEST,
    SHARDS,
    AuditTrail,
    chain_partition,
    manifest_partition,
    writer_shard,
)
from shared.storage.entities import Condition, Entity, Operation

DAY = date(2026, 11, 27)
KEY = b"test-audit-key"
AT = datetime(2026, 11, 27, 15, tzinfo=UTC)
BUSY = "gp:TRN_1:CAPTURED"
"""The event whose five records the tampering tests cut into, all written by the writer of chain 0."""
CHAIN = chain_partition(DAY, 0)
STEPS = ("intake.gp", "transform.payment", "post.payment", "charge.order", "settlement.close")
FIELDS = ("Step", "EventId", "CorrelationId", "Outcome", "Detail", "At")
OTHERS = ["gp:TRN_2:CAPTURED", "gp:TRN_3:CAPTURED", "gp:TRN_4:CAPTURED"]


class Writer:
    """The chain the next record goes to, as the writing thread of an instance would have it."""

    def __init__(self, shard: int = 0) -> None:
        self.shard = shard

    def __call__(self) -> int:
        return self.shard


@pytest.fixture
def table(store: TableStore) -> Table:
    return store.table(f"Audit{uuid.uuid4().hex}")


def ticking(start: datetime = AT) -> Iterator[datetime]:
    moment = start
    while True:
        yield moment
        moment += timedelta(milliseconds=1)


def trail_on(table: Table, start: datetime = AT, writer: Callable[[], int] | None = None) -> AuditTrail:
    moments = ticking(start)
    lock = threading.Lock()

    def clock() -> datetime:
        with lock:
            return next(moments)

    return AuditTrail(table, key=KEY, clock=clock, shard=writer or Writer())


@pytest.fixture
def trail(table: Table) -> AuditTrail:
    """Five records of ``BUSY`` in chain 0, then two records each of three events, by the writers of chains 1-3."""
    writer = Writer()
    trail = trail_on(table, writer=writer)
    for n, step in enumerate(STEPS, start=1):
        trail.record(step=step, event_id=BUSY, correlation_id="c1", outcome="ok", detail={"amount": str(n * 100)})
    for writer.shard, event in enumerate(OTHERS, start=1):
        for step in STEPS[:2]:
            trail.record(step=step, event_id=event, correlation_id=event, outcome="ok")
    writer.shard = 0
    return trail


def row(table: Table, seq: int, partition: str = CHAIN) -> Entity:
    found = table.get(partition, f"{seq:012d}")
    assert found is not None
    return found


def keys_of(table: Table, partition: str) -> list[str]:
    return [r.row_key for r in table.query(partition)]


# --- layout: one writer, one chain, in order --------------------------------------------------------------


def test_a_writers_records_land_in_its_chain_in_order(trail: AuditTrail, table: Table) -> None:
    assert [(r["Step"], r["Seq"]) for r in table.query(CHAIN) if r.row_key != HEAD] == [
        (step, n) for n, step in enumerate(STEPS, start=1)]
    assert CHAIN == "20261127-00"
    report = trail.verify(DAY)
    assert report.ok, report.problems
    assert (report.records, report.chains) == (11, 4)


def test_records_of_the_day_come_from_every_chain_by_time(trail: AuditTrail) -> None:
    records = list(trail.records(DAY))
    assert len(records) == 11 and all(r.row_key != HEAD for r in records)
    assert [r["At"] for r in records] == sorted(r["At"] for r in records)
    assert [r["Step"] for r in records if r["EventId"] == BUSY] == list(STEPS)
    assert len({r.partition_key for r in records}) == 4


def test_each_thread_keeps_its_chain_and_the_threads_of_a_process_take_different_ones() -> None:
    """So a process's writers never meet at a chain's head while there are chains to go round."""
    barrier = threading.Barrier(SHARDS, timeout=5)

    def shards(_: int) -> tuple[int, int]:
        first = writer_shard()
        barrier.wait()  # every thread alive at once: none reuses another's thread
        return first, writer_shard()

    with ThreadPoolExecutor(max_workers=SHARDS) as pool:
        taken = list(pool.map(shards, range(SHARDS)))
    assert all(first == again for first, again in taken)
    assert sorted(first for first, _ in taken) == list(range(SHARDS))


def test_records_of_two_threads_go_to_two_chains(table: Table) -> None:
    trail = AuditTrail(table, key=KEY, clock=lambda: AT)
    with ThreadPoolExecutor(max_workers=1) as one, ThreadPoolExecutor(max_workers=1) as other:
        rows = [pool.submit(trail.record, step="s", event_id=BUSY, correlation_id="c", outcome="ok").result()
                for pool in (one, other, one)]
    assert rows[0].partition_key == rows[2].partition_key != rows[1].partition_key
    assert trail.verify(DAY).chains == 2


def test_find_reads_every_chain(trail: AuditTrail) -> None:
    assert len(list(trail.find(DAY, [Condition("Step", "eq", "intake.gp")]))) == 4
    assert [r["Step"] for r in trail.find(DAY, [Condition("EventId", "eq", BUSY)])] == list(STEPS)


class Counting:
    """A table that counts the batches submitted to it."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self.name = table.name
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._table, name)

    def submit(self, operations: Sequence[Operation]) -> list[Entity | None]:
        self.batches.append(len(operations))
        return self._table.submit(operations)


def test_many_records_at_once_take_one_batch_and_keep_their_order(table: Table) -> None:
    counting = Counting(table)
    trail = AuditTrail(counting, key=KEY, clock=lambda: AT, shard=Writer())  # type: ignore[arg-type]
    trail.record(step="intake.gp", event_id=BUSY, correlation_id="c", outcome="accepted")
    events = [BUSY, *OTHERS[:2]]
    wanted = [{"step": f"step{n}", "event_id": events[n % 3], "correlation_id": "c", "outcome": "ok",
               "detail": {"n": n}} for n in range(9)]
    stored = trail.record_many(wanted)
    assert [(r["Step"], r["EventId"]) for r in stored] == [(w["step"], w["event_id"]) for w in wanted]
    assert counting.batches == [2, 10], "one batch for the group: its records and the head"
    assert [r["Step"] for r in table.query(CHAIN) if r.row_key != HEAD] == ["intake.gp", *(w["step"] for w in wanted)]
    assert [r["Step"] for r in trail.records(DAY) if r["EventId"] == BUSY] == ["intake.gp", "step0", "step3", "step6"]
    report = trail.verify(DAY)
    assert report.ok and (report.records, report.chains) == (10, 1)


def test_more_records_than_a_batch_holds_are_split(table: Table) -> None:
    counting = Counting(table)
    trail = AuditTrail(counting, key=KEY, clock=lambda: AT)  # type: ignore[arg-type]
    trail.record_many([{"step": f"s{n}", "event_id": BUSY, "correlation_id": "c", "outcome": "ok"}
                       for n in range(150)])
    assert counting.batches == [100, 52]
    report = trail.verify(DAY)
    assert report.ok and report.records == 150
    assert trail.record_many([]) == []


# --- tampering in one chain is named with its partition; the others stay clean ------------------------------


def test_an_edited_record_is_named(trail: AuditTrail, table: Table) -> None:
    edited = row(table, 3)
    table.upsert(Entity(edited.partition_key, edited.row_key, {**edited.data, "Outcome": "rejected"}))
    report = trail.verify(DAY)
    assert not report.ok and report.records == 11
    assert report.problems == [f"record {CHAIN}/000000000003: edited (its content does not match its MAC)"]


def test_a_deleted_middle_record_is_named(trail: AuditTrail, table: Table) -> None:
    table.delete(CHAIN, f"{2:012d}")
    assert trail.verify(DAY).problems == [
        f"record {CHAIN}/000000000003: records before it were deleted (000000000002)"]


def test_a_deleted_last_record_is_named(trail: AuditTrail, table: Table) -> None:
    table.delete(CHAIN, f"{5:012d}")
    assert trail.verify(DAY).problems == [
        f"record {CHAIN}/000000000005: deleted (the seal names record 000000000005 last)"]


def test_an_inserted_record_is_named(trail: AuditTrail, table: Table) -> None:
    forged = row(table, 3)
    table.insert(Entity(CHAIN, "000000000003a", dict(forged.data)))
    problems = trail.verify(DAY).problems
    assert problems and all(f"{CHAIN}/000000000003a" in p for p in problems)


def test_a_record_moved_to_another_chain_is_named(trail: AuditTrail, table: Table) -> None:
    """The MAC covers the partition: a record copied into another chain, in its sequence, is no record of it."""
    target = chain_partition(DAY, 1)
    moved = row(table, 2)
    table.upsert(Entity(target, f"{2:012d}", dict(moved.data)))
    problems = trail.verify(DAY).problems
    assert f"record {target}/000000000002: edited (its content does not match its MAC)" in problems
    assert all(target in p for p in problems)


def test_a_record_replaced_by_one_forged_without_the_key_is_named(trail: AuditTrail, table: Table) -> None:
    forger = AuditTrail(table, key=b"not-the-key")
    original = row(table, 4)
    data = dict(original.data)
    data["Outcome"] = "duplicate"
    data["Mac"] = forger._mac(CHAIN, 4, str(data["Prev"]), {k: str(data[k]) for k in FIELDS})
    table.upsert(Entity(original.partition_key, original.row_key, data))
    assert any(f"{CHAIN}/000000000004: edited" in p for p in trail.verify(DAY).problems)


def test_an_edited_seal_is_named(trail: AuditTrail, table: Table) -> None:
    head = table.get(CHAIN, HEAD)
    assert head is not None
    table.upsert(Entity(head.partition_key, head.row_key, {**head.data, "Seq": 4}))
    assert trail.verify(DAY).problems == [f"record {CHAIN}/~head: the seal was edited"]


def test_a_chain_deleted_whole_is_named_by_the_manifest(trail: AuditTrail, table: Table) -> None:
    for key in keys_of(table, CHAIN):
        table.delete(CHAIN, key)
    report = trail.verify(DAY)
    assert (report.records, report.chains) == (6, 3)
    assert report.problems == [f"chain {CHAIN}: deleted, every record and its seal (the day's manifest lists the "
                               f"chain)"]


def test_a_deleted_or_edited_manifest_is_named(trail: AuditTrail, table: Table) -> None:
    manifest = table.get(manifest_partition(DAY), MANIFEST)
    assert manifest is not None and len(str(manifest["Chains"]).split(",")) == 4
    table.upsert(Entity(manifest.partition_key, MANIFEST, {**manifest.data, "Chains": "00"}))
    assert trail.verify(DAY).problems == [f"record 20261127-manifest/{MANIFEST}: the day's manifest was edited"]
    table.delete(manifest.partition_key, MANIFEST)
    assert trail.verify(DAY).ok, "on the day itself a chain's first record may not be listed yet"
    next_morning = AuditTrail(table, key=KEY, clock=lambda: AT + timedelta(days=1))
    assert next_morning.verify(DAY).problems == [
        f"record 20261127-manifest/{MANIFEST}: the day's manifest was deleted (4 chain(s) hold records)"]


def test_an_edited_manifest_is_not_rewritten_by_later_appends(trail: AuditTrail, table: Table) -> None:
    manifest = table.get(manifest_partition(DAY), MANIFEST)
    assert manifest is not None
    table.upsert(Entity(manifest.partition_key, MANIFEST, {**manifest.data, "Chains": "00"}))
    AuditTrail(table, key=KEY, clock=lambda: AT, shard=Writer(5)).record(step="s", event_id="gp:TRN_5:CAPTURED",
                                                                          correlation_id="c", outcome="ok")
    assert any("manifest was edited" in p for p in trail.verify(DAY).problems)


# --- card data ----------------------------------------------------------------------------------------------


def test_card_numbers_in_detail_are_masked_before_storage(trail: AuditTrail, table: Table) -> None:
    stored = trail.record(step="intake.gp", event_id="gp:4111111111111111", correlation_id="c", outcome="rejected",
                          detail={"note": "customer read out 4111 1111 1111 1111"})
    assert stored.partition_key == CHAIN
    stored = row(table, int(stored["Seq"]), stored.partition_key)
    assert "4111111111111111" not in json.dumps(dict(stored.data), default=str)
    assert "1111 1111 1111" not in str(stored["Detail"])
    assert "411111******1111" in str(stored["Detail"]) and stored["EventId"] == "gp:411111******1111"
    assert trail.verify(DAY).ok


def test_detail_is_stored_as_sorted_compact_json_whatever_its_values(trail: AuditTrail) -> None:
    """Readers (the console, an auditor's script) parse it: the same text for every kind of value."""
    detail = {"zone": "Zürich", "amount": "12.50", "n": 2**70, "ok": True, "none": None, "rate": 1.5,
              "at": AT, "\x7fodd": "x"}
    stored = trail.record(step="s", event_id="e", correlation_id="c", outcome="ok", detail=detail)
    assert stored["Detail"] == json.dumps(detail, sort_keys=True, default=str, separators=(",", ":"))
    plain = trail.record(step="s", event_id="e", correlation_id="c", outcome="ok", detail={"b": "2", "a": 1})
    assert plain["Detail"] == '{"a":1,"b":"2"}'


# --- many writers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chains", ["each thread its own", "all on one"])
def test_threads_and_two_instances_appending_at_once_keep_every_chain_unbroken(table: Table, chains: str) -> None:
    """Two AuditTrails over one table are two Functions instances: writers that share a chain (more writers than
    chains, or two instances that took the same) meet only at its head's ETag."""
    shard = writer_shard if chains == "each thread its own" else Writer(7)
    instances = [trail_on(table, writer=shard), trail_on(table, AT + timedelta(seconds=1), writer=shard)]

    def append(n: int) -> None:
        instances[n % 2].record(step=f"step{n:03d}", event_id=f"gp:TRN_{n}:CAPTURED", correlation_id="c",
                                outcome="ok")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(48)))
    report = instances[0].verify(DAY)
    assert report.ok, report.problems
    assert report.records == 48 and (report.chains == 1) == (chains == "all on one")
    for n in range(SHARDS):
        rows = [r for r in table.query(chain_partition(DAY, n)) if r.row_key != HEAD]
        assert [r["Seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert [r["At"] for r in rows] == sorted(r["At"] for r in rows)
    assert sorted(r["Step"] for r in instances[1].records(DAY)) == [f"step{n:03d}" for n in range(48)]


def test_an_instance_with_a_stale_head_retries_on_the_etag_conflict(table: Table) -> None:
    first, second = trail_on(table), trail_on(table, AT + timedelta(seconds=1))
    first.record(step="a", event_id=BUSY, correlation_id="c", outcome="ok")
    second.record(step="b", event_id=BUSY, correlation_id="c", outcome="ok")
    first.record(step="c", event_id=BUSY, correlation_id="c", outcome="ok")  # its cached head is one behind
    assert [r["Step"] for r in table.query(CHAIN) if r.row_key != HEAD] == ["a", "b", "c"]
    assert first.verify(DAY).ok


def test_an_instance_whose_clock_is_behind_never_dates_a_record_before_the_one_it_follows(table: Table) -> None:
    ahead, behind = trail_on(table, AT + timedelta(minutes=1)), trail_on(table)
    for n, step in enumerate(STEPS):
        (ahead, behind)[n % 2].record(step=step, event_id=BUSY, correlation_id="c", outcome="ok")
    assert [r["Step"] for r in behind.records(DAY)] == list(STEPS)
    assert behind.verify(DAY).ok


class Meeting:
    """A table whose batches wait until two appenders are inside at once: proof there is no global lock."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self.name = table.name
        self._barrier = threading.Barrier(2, timeout=5)

    def __getattr__(self, name: str) -> object:
        return getattr(self._table, name)

    def submit(self, operations: Sequence[Operation]) -> list[Entity | None]:
        self._barrier.wait()
        return self._table.submit(operations)


def test_appends_to_different_chains_run_at_the_same_time(table: Table) -> None:
    trail = AuditTrail(Meeting(table), key=KEY, clock=lambda: AT)  # type: ignore[arg-type]
    events = [BUSY, OTHERS[0]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda e: trail.record(step="s", event_id=e, correlation_id="c", outcome="ok"), events))
    assert trail.verify(DAY).ok and trail.verify(DAY).chains == 2


class AppendingAfterRead:
    """A table on which another instance appends to a chain right after verify has read that chain."""

    def __init__(self, table: Table, writer: AuditTrail) -> None:
        self._table = table
        self.name = table.name
        self._writer = writer
        self.appended = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._table, name)

    def query(self, partition_key: str, where: Sequence[Condition] = ()) -> Iterator[Entity]:
        yield from self._table.query(partition_key, where)
        if partition_key == CHAIN and not self.appended:
            self.appended = True
            self._writer.record(step="post.payment", event_id=BUSY, correlation_id="c1", outcome="posted")


def test_records_appended_while_the_day_is_verified_are_no_deletion(trail: AuditTrail, table: Table) -> None:
    """The app keeps writing while a day is verified: a record appended after the seal was read chains like
    every other, and the seal not naming it is no tampering."""
    reading = AppendingAfterRead(table, trail_on(table, AT + timedelta(minutes=1)))
    report = AuditTrail(reading, key=KEY, clock=lambda: AT).verify(DAY)  # type: ignore[arg-type]
    assert reading.appended
    assert report.ok, report.problems
    assert report.records == 11
    table.delete(CHAIN, f"{6:012d}")
    assert any("deleted" in p for p in trail.verify(DAY).problems), "the newest record, deleted, is still named"


# --- days written before the chains were split ---------------------------------------------------------------


def write_unsharded_day(table: Table, trail: AuditTrail, count: int) -> None:
    """Records as the trail wrote them when a day was one chain in one partition, ``YYYYMMDD``."""
    partition, prev, head = "20261127", GENESIS, None
    for seq in range(1, count + 1):
        body = {"Step": "intake.gp", "EventId": f"old{seq}", "CorrelationId": "c", "Outcome": "accepted",
                "Detail": "{}", "At": (AT - timedelta(hours=1, seconds=-seq)).isoformat(timespec="microseconds")}
        mac = trail._mac(partition, seq, prev, body)
        seal = Entity(partition, HEAD, {"Seq": seq, "Mac": mac, "Seal": trail._seal(partition, seq, mac)})
        head = table.submit([
            Operation("insert", Entity(partition, f"{seq:012d}", {**body, "Seq": seq, "Prev": prev, "Mac": mac})),
            Operation("upsert", seal, etag=head.etag) if head else Operation("insert", seal)])[1]
        prev = mac


def test_an_unsharded_day_still_verifies_and_its_tampering_is_named(table: Table) -> None:
    trail = AuditTrail(table, key=KEY, clock=lambda: AT + timedelta(days=1))
    write_unsharded_day(table, trail, 4)
    report = trail.verify(DAY)
    assert report.ok, report.problems
    assert (report.records, report.chains) == (4, 1)
    assert [r["EventId"] for r in trail.records(DAY)] == ["old1", "old2", "old3", "old4"]
    edited = row(table, 2, "20261127")
    table.upsert(Entity(edited.partition_key, edited.row_key, {**edited.data, "Outcome": "rejected"}))
    assert trail.verify(DAY).problems == ["record 20261127/000000000002: edited (its content does not match its MAC)"]


def test_a_day_split_while_it_was_written_verifies_both_halves(table: Table) -> None:
    trail = trail_on(table)
    write_unsharded_day(table, trail, 3)
    trail.record(step="post.payment", event_id=BUSY, correlation_id="c", outcome="posted")
    report = trail.verify(DAY)
    assert report.ok, report.problems
    assert (report.records, report.chains) == (4, 2)
    assert [r["EventId"] for r in trail.records(DAY)] == ["old1", "old2", "old3", BUSY]
