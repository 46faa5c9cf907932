"""What the contract suite cannot show for the SQLite adapter: several processes on one file,
waiting on a busy writer, validation of names and keys, and strict typing in conditions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.storage.azure_tables import AzureTableStore
from shared.storage.entities import Condition, Entity
from shared.storage.errors import EntityExists, StorageError
from shared.storage.sqlite import SqliteTableStore

KEYS = 200


def _race(path: str, worker: int, start: Any, results: Any) -> None:
    """One contender process: claim every key in order, report which it won."""
    store = SqliteTableStore(path)
    table = store.table("Race")
    won: list[int] = []
    lost = 0
    other: list[str] = []
    start.wait(timeout=60)
    for i in range(KEYS):
        try:
            table.insert(Entity("race", f"k{i:03d}", {"worker": worker}))
            won.append(i)
        except EntityExists:
            lost += 1
        except Exception as error:
            other.append(repr(error))
    store.close()
    results.put((worker, won, lost, other))


def test_two_processes_racing_for_the_same_keys_get_one_winner_per_key(tmp_path: Path) -> None:
    path = str(tmp_path / "race.sqlite")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    processes = [context.Process(target=_race, args=(path, worker, start, results)) for worker in (0, 1)]
    for process in processes:
        process.start()
    reports = {}
    try:
        for _ in processes:
            worker, won, lost, other = results.get(timeout=120)
            reports[worker] = (won, lost, other)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)

    for won, lost, other in reports.values():
        assert other == []
        assert len(won) + lost == KEYS
    won_0, won_1 = set(reports[0][0]), set(reports[1][0])
    assert won_0.isdisjoint(won_1)
    assert won_0 | won_1 == set(range(KEYS))

    store = SqliteTableStore(path)
    stored = {row.row_key: row["worker"] for row in store.table("Race").query("race")}
    store.close()
    assert stored == {f"k{i:03d}": (0 if i in won_0 else 1) for i in range(KEYS)}


def test_a_write_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    store = SqliteTableStore(path)
    table = store.table("Busy")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, blocker.execute, args=("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        table.insert(Entity("p", "r"))
    finally:
        release.join()
        blocker.close()
    assert time.monotonic() - started >= 0.4
    assert table.get("p", "r") is not None
    store.close()


def test_a_write_that_cannot_get_the_lock_in_time_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    store = SqliteTableStore(path, busy_timeout=0.2)
    table = store.table("Busy")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="locked"):
            table.insert(Entity("p", "r"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert table.get("p", "r") is None
    store.close()


def test_rows_persist_across_stores_and_table_names_ignore_case(tmp_path: Path) -> None:
    path = tmp_path / "tables.sqlite"
    first = SqliteTableStore(path)
    first.table("Claims").insert(Entity("p", "r", {"v": 1}))
    first.table("Other").insert(Entity("p", "r", {"v": 2}))
    first.close()
    second = SqliteTableStore(path)
    got = second.table("CLAIMS").get("p", "r")
    assert got is not None and got["v"] == 1
    second.close()


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    table = store.table("Claims")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        table.insert(Entity("p", "r"))


@pytest.mark.parametrize(
    ("value", "condition"),
    [
        (5, Condition("v", "eq", 5.0)),
        (5.0, Condition("v", "eq", 5)),
        (1, Condition("v", "eq", True)),
        (True, Condition("v", "ge", 1)),
        ("5", Condition("v", "eq", 5)),
        ("5", Condition("v", "ne", 5)),
        (5, Condition("v", "lt", "9")),
        (b"5", Condition("v", "eq", "5")),
        (datetime(2024, 1, 1, tzinfo=UTC), Condition("v", "lt", "2025")),
        (5, Condition("RowKey", "ne", 5)),
    ],
)
def test_comparisons_between_different_types_are_false(
    tmp_path: Path, value: Any, condition: Condition
) -> None:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    table = store.table("Types")
    table.insert(Entity("p", "r", {"v": value}))
    assert list(table.query("p", [condition])) == []
    same_type = Condition(condition.name, "eq", "r" if condition.name == "RowKey" else value)
    assert [row.row_key for row in table.query("p", [same_type])] == ["r"]
    store.close()


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "1abc", "has-dash", "has space", "under_score", "Tables", "tables", "ünï", ""],
)
def test_invalid_table_names_are_rejected_before_any_io(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid table name"):
        SqliteTableStore(tmp_path / "tables.sqlite").table(name)
    nowhere = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    with pytest.raises(ValueError, match="invalid table name"):
        AzureTableStore.from_connection_string(nowhere, retry_total=0).table(name)


def test_valid_table_names_are_accepted(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    for name in ["abc", "A" * 63, "IdempotencyKeys", "Table2"]:
        store.table(name).insert(Entity("p", name))
    store.close()


@pytest.mark.parametrize(
    ("partition_key", "row_key", "message"),
    [
        ("a/b", "r", r"PartitionKey 'a/b' contains the forbidden character '/'"),
        ("p", "a\\b", r"RowKey 'a\\\\b' contains the forbidden character '\\\\'"),
        ("p", "x#", r"RowKey 'x#' contains the forbidden character '#'"),
        ("q?", "r", r"PartitionKey 'q\?' contains the forbidden character '\?'"),
        ("p", "line\nbreak", r"RowKey 'line\\nbreak' contains the forbidden character '\\n'"),
        ("p" * 513, "r", r"PartitionKey is longer than 1 KiB"),
        ("p", "r" * 513, r"RowKey is longer than 1 KiB"),
    ],
)
def test_key_validation_errors_name_the_key_and_the_problem(
    tmp_path: Path, partition_key: str, row_key: str, message: str
) -> None:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    table = store.table("Keys")
    with pytest.raises(ValueError, match=message):
        table.insert(Entity(partition_key, row_key))
    with pytest.raises(ValueError, match=message):
        table.get(partition_key, row_key)
    with pytest.raises(TypeError, match="RowKey must be a str"):
        table.get("p", 5)  # type: ignore[arg-type]
    store.close()
