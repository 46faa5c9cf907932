import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.ports import Table
from shared.storage.audit import HEAD, AuditTrail
from shared.storage.entities import Entity
from shared.storage.sqlite import SqliteTableStore

DAY = date(2026, 11, 27)
KEY = b"test-audit-key"


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Table]:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    yield store.table("AuditLog")
    store.close()


@pytest.fixture
def trail(table: Table) -> AuditTrail:
    trail = AuditTrail(table, key=KEY, clock=lambda: datetime(2026, 11, 27, 15, tzinfo=UTC))
    for n in range(1, 6):
        trail.record(step="intake.gp", event_id=f"gp:TRN_{n}:CAPTURED", correlation_id=f"c{n}", outcome="accepted",
                     detail={"amount": str(n * 100)})
    return trail


def row(table: Table, seq: int) -> Entity:
    found = table.get("20261127", f"{seq:012d}")
    assert found is not None
    return found


def test_an_untouched_day_verifies(trail: AuditTrail) -> None:
    report = trail.verify(DAY)
    assert report.ok and report.records == 5
    assert [r["EventId"] for r in trail.records(DAY)] == [f"gp:TRN_{n}:CAPTURED" for n in range(1, 6)]


def test_an_edited_record_is_named(trail: AuditTrail, table: Table) -> None:
    edited = row(table, 3)
    table.upsert(Entity(edited.partition_key, edited.row_key, {**edited.data, "Outcome": "rejected"}))
    report = trail.verify(DAY)
    assert not report.ok
    assert report.problems == ["record 20261127/000000000003: edited (its content does not match its MAC)"]


def test_a_deleted_record_is_named(trail: AuditTrail, table: Table) -> None:
    table.delete("20261127", f"{2:012d}")
    assert trail.verify(DAY).problems == ["record 20261127/000000000003: records before it were deleted (000000000002)"]


def test_a_deleted_last_record_is_named(trail: AuditTrail, table: Table) -> None:
    table.delete("20261127", f"{5:012d}")
    assert trail.verify(DAY).problems == [
        "record 20261127/000000000005: deleted (the seal names record 000000000005 last)"
    ]


def test_an_inserted_record_is_named(trail: AuditTrail, table: Table) -> None:
    forged = row(table, 3)
    table.insert(Entity("20261127", "000000000003a", dict(forged.data)))
    problems = trail.verify(DAY).problems
    assert problems and all("000000000003a" in p for p in problems)


def test_a_record_replaced_by_one_forged_without_the_key_is_named(trail: AuditTrail, table: Table) -> None:
    forger = AuditTrail(table, key=b"not-the-key")
    original = row(table, 4)
    data = dict(original.data)
    data["Outcome"] = "duplicate"
    data["Mac"] = forger._mac("20261127", 4, str(data["Prev"]), {k: str(data[k]) for k in
                                                                  ("Step", "EventId", "CorrelationId", "Outcome",
                                                                   "Detail", "At")})
    table.upsert(Entity(original.partition_key, original.row_key, data))
    assert any("000000000004: edited" in p for p in trail.verify(DAY).problems)


def test_an_edited_seal_is_named(trail: AuditTrail, table: Table) -> None:
    head = table.get("20261127", HEAD)
    assert head is not None
    table.upsert(Entity(head.partition_key, head.row_key, {**head.data, "Seq": 4}))
    assert trail.verify(DAY).problems == ["record 20261127/~head: the seal was edited"]


def test_card_numbers_in_detail_are_masked_before_storage(trail: AuditTrail, table: Table) -> None:
    trail.record(step="intake.gp", event_id="gp:4111111111111111", correlation_id="c", outcome="rejected",
                 detail={"note": "customer read out 4111 1111 1111 1111"})
    stored = row(table, 6)
    assert "4111111111111111" not in json.dumps(dict(stored.data), default=str)
    assert "1111 1111 1111" not in str(stored["Detail"])
    assert "411111******1111" in str(stored["Detail"]) and stored["EventId"] == "gp:411111******1111"
    assert trail.verify(DAY).ok


def test_concurrent_appenders_keep_one_unbroken_chain(table: Table) -> None:
    clock = lambda: datetime(2026, 11, 27, 9, tzinfo=UTC)  # noqa: E731
    trails = [AuditTrail(table, key=KEY, clock=clock) for _ in range(4)]

    def append(n: int) -> None:
        trails[n % 4].record(step="s", event_id=f"e{n}", correlation_id="c", outcome="ok")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append, range(80)))
    report = trails[0].verify(DAY)
    assert report.ok, report.problems
    assert report.records == 80


def test_records_appended_while_the_day_is_verified_are_no_deletion(trail: AuditTrail, table: Table,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The app keeps writing while a day is verified: a record appended after the seal was read chains like
    every other, and the seal not naming it is no tampering."""
    original = AuditTrail.records

    def records_then_an_append(self: AuditTrail, day: date) -> Iterator[Entity]:
        yield from original(self, day)  # the day as the query read it; then, before the seal is checked:
        self.record(step="post.payment", event_id="gp:TRN_6:CAPTURED", correlation_id="c6", outcome="posted")

    monkeypatch.setattr(AuditTrail, "records", records_then_an_append)
    report = trail.verify(DAY)
    assert report.ok, report.problems
    assert report.records == 5
    monkeypatch.undo()
    table.delete("20261127", f"{6:012d}")
    assert any("deleted" in p for p in trail.verify(DAY).problems), "the newest record, deleted, is still named"
