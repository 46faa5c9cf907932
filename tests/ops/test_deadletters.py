"""Dead letters over both table adapters (SQLite and Azurite, as the table contract suite runs them):
what is parked is found again by day, reason and id, replays are counted, card numbers never reach the
table, and a body too long for Table Storage is cut and flagged so nobody replays half a message."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.ops.deadletters import MAX_TEXT, PARKED, REPLAYED, DeadLetters, row_id
from shared.storage.azure_tables import AzureTableStore
from shared.storage.errors import PreconditionFailed
from shared.storage.sqlite import SqliteTableStore

PAN = "4111111111111111"


@pytest.fixture(params=["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """The table contract suite's two adapters (tests/storage/test_table_contract.py)."""
    if request.param == "sqlite":
        created: SqliteTableStore | AzureTableStore = SqliteTableStore(tmp_path / "tables.sqlite")
    else:
        created = AzureTableStore.from_connection_string(request.getfixturevalue("azurite_connection_string"))
    yield created
    created.close()


@pytest.fixture
def dead(store: SqliteTableStore | AzureTableStore) -> DeadLetters:
    """A fresh table per test, so tests neither see each other's rows nor depend on order."""
    return DeadLetters(store.table(f"DeadLetters{uuid.uuid4().hex[:16]}"))


def park(dead: DeadLetters, reason: str = "CustomerOnHold", body: bytes = b'{"id":"evt-1"}', **extra: str) -> str:
    row = dead.park(queue=extra.get("queue", "payments-post"), body=body, message_id=extra.get("message_id", "m-1"),
                    reason=reason, description=extra.get("description", "customer US-002 is on hold (all)"))
    return row_id(row)


def today() -> datetime:
    return datetime.now(UTC)


def test_a_parked_message_is_found_by_its_id_with_everything_needed_to_replay_it(dead: DeadLetters) -> None:
    body = json.dumps({"id": "evt-42", "data": {"amount": "14.00", "name": "Zoë"}}).encode()
    before = today()
    parked = park(dead, "UnknownOrder", body, queue="payments-post", message_id="gp:TRN_1:CAPTURED",
                  description="sales order 'S-ORD000123' named by GP transaction TRN_1 is not in F&O legal entity usmf")
    row = dead.find(parked)
    assert row is not None and row_id(row) == parked
    assert (row["Queue"], row["MessageId"], row["Reason"]) == ("payments-post", "gp:TRN_1:CAPTURED", "UnknownOrder")
    assert "S-ORD000123" in row["Description"]
    assert row["Body"].encode() == body, "the replay sends these bytes back"
    assert row["Truncated"] is False
    assert (row["Status"], row["Replays"]) == (PARKED, 0)
    assert before - timedelta(seconds=1) <= row["ParkedAt"] <= today() + timedelta(seconds=1)
    assert parked.startswith(f"dl-{row['ParkedAt']:%Y%m%d}/")


def test_an_unknown_or_malformed_id_finds_nothing(dead: DeadLetters) -> None:
    parked = park(dead)
    partition, _, row_key = parked.partition("/")
    assert dead.find(f"{partition}/{row_key[:-1]}x") is None
    assert dead.find(f"dl-19990101/{row_key}") is None
    assert dead.find(partition) is None, "an id without its row part names no row"
    assert dead.find("") is None
    assert dead.find(f"{partition}/{row_key}#\x83") is None, "characters no row key may hold name no row"
    assert dead.find(f"{partition}/{'x' * 600}") is None, "nor does a key longer than Table Storage keeps"


def test_listing_is_oldest_first_and_narrows_by_reason(dead: DeadLetters) -> None:
    ids = [park(dead, reason, f'{{"n":{n}}}'.encode()) for n, reason in
           enumerate(["CustomerOnHold", "UnknownOrder", "CustomerOnHold", "UnmappedPaymentType"])]
    assert [row_id(r) for r in dead.list()] == ids, "oldest first"
    assert [row_id(r) for r in dead.list(reason="CustomerOnHold")] == [ids[0], ids[2]]
    assert [row_id(r) for r in dead.list(reason="UnmappedPaymentType")] == [ids[3]]
    assert list(dead.list(reason="NoSuchReason")) == []


def test_listing_covers_exactly_the_last_days_asked_for(dead: DeadLetters) -> None:
    parked = park(dead)
    row = dead.find(parked)
    assert row is not None
    now = row["ParkedAt"].date()  # the day it was parked on, whatever the clock says by now
    assert [row_id(r) for r in dead.list(days=1, today=now)] == [parked]
    # seen from three days later: a window of three days no longer reaches today, one of four does
    assert list(dead.list(days=3, today=now + timedelta(days=3))) == []
    assert [row_id(r) for r in dead.list(days=4, today=now + timedelta(days=3))] == [parked]
    assert list(dead.list(days=7, today=now - timedelta(days=1))) == [], "nothing from the future"
    assert list(dead.list(days=0, today=now)) == []


def test_replays_are_counted_and_a_replayed_row_leaves_the_parked_list(dead: DeadLetters) -> None:
    kept, replayed = park(dead, "CustomerOnHold"), park(dead, "CustomerOnHold")
    row = dead.find(replayed)
    assert row is not None
    once = dead.mark_replayed(row)
    assert (once["Status"], once["Replays"]) == (REPLAYED, 1)
    assert isinstance(once["ReplayedAt"], datetime) and once["ReplayedAt"] >= row["ParkedAt"]
    assert [row_id(r) for r in dead.list()] == [kept], "a replayed message is no longer waiting"
    assert [row_id(r) for r in dead.list(status=REPLAYED)] == [replayed]
    assert [row_id(r) for r in dead.list(status=None)] == [kept, replayed]

    stored = dead.find(replayed)
    assert stored is not None and stored["Replays"] == 1
    twice = dead.mark_replayed(stored)  # it failed again and was replayed again
    assert twice["Replays"] == 2
    again = dead.find(replayed)
    assert again is not None and again["Replays"] == 2
    for name in ("Queue", "MessageId", "Reason", "Description", "Body", "Truncated", "ParkedAt"):
        assert again[name] == row[name], f"{name} changed when the row was marked replayed"


def test_two_people_replaying_the_same_row_at_once_count_one_replay(dead: DeadLetters) -> None:
    parked = park(dead)
    seen_by_first, seen_by_second = dead.find(parked), dead.find(parked)
    assert seen_by_first is not None and seen_by_second is not None
    dead.mark_replayed(seen_by_first)
    with pytest.raises(PreconditionFailed):
        dead.mark_replayed(seen_by_second)
    row = dead.find(parked)
    assert row is not None and row["Replays"] == 1


def test_card_numbers_in_the_body_and_description_are_masked_before_they_are_stored(dead: DeadLetters) -> None:
    body = json.dumps({"note": f"customer typed {PAN} in the memo", "spaced": "5555 5555 5555 4444"}).encode()
    parked = park(dead, body=body, description=f"Dynamics refused: card {PAN} is not allowed")
    row = dead.find(parked)
    assert row is not None
    stored = json.dumps(row.data, default=str)
    assert PAN not in stored and "5555 5555 5555 4444" not in stored
    assert "411111" in row["Body"] and "1111" in row["Body"], "the masked form still shows first 6 / last 4"
    assert row["Truncated"] is False


def test_a_body_longer_than_table_storage_keeps_is_cut_and_flagged(dead: DeadLetters) -> None:
    huge = json.dumps({"id": "evt-big", "lines": ["x" * 100] * 1000}).encode()
    assert len(huge) > MAX_TEXT
    row = dead.find(park(dead, "JournalTooLarge", huge, description="d" * (MAX_TEXT + 500)))
    assert row is not None
    assert row["Truncated"] is True, "a cut body must never be replayed as if whole"
    assert row["Body"] == huge.decode()[:MAX_TEXT]
    assert len(row["Description"]) == MAX_TEXT


def test_a_body_of_exactly_the_limit_is_kept_whole(dead: DeadLetters) -> None:
    body = ("é" * MAX_TEXT).encode()  # 32,000 characters, 64,000 bytes of UTF-8
    row = dead.find(park(dead, body=body))
    assert row is not None
    assert row["Truncated"] is False and row["Body"].encode() == body


def test_a_body_that_is_not_utf8_is_parked_not_lost(dead: DeadLetters) -> None:
    row = dead.find(park(dead, body=b'{"id":"evt-1","raw":"\xff\xfe"}'))
    assert row is not None
    assert row["Body"] == '{"id":"evt-1","raw":"\ufffd\ufffd"}'


def test_a_body_of_characters_outside_the_bmp_is_parked_cut_to_what_table_storage_holds(dead: DeadLetters) -> None:
    """Table Storage counts UTF-16 units: 17,000 emoji are 34,000 units, more than a string may hold."""
    body = json.dumps({"id": "evt-emoji", "note": "\U0001F600" * 17_000}, ensure_ascii=False).encode()
    row = dead.find(park(dead, body=body))
    assert row is not None and row["Truncated"] is True
    assert body.decode().startswith(row["Body"]) and len(row["Body"].encode("utf-16-le")) <= 2 * 32_000
    assert len(row["Body"]) > 15_000
