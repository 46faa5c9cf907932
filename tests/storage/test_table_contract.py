"""One contract for every table adapter: the embedded SQLite store and Azure Tables (via Azurite).

Each test gets a fresh, uniquely named table, so tests are independent of each other and of order.
"""

from __future__ import annotations

import operator
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty

from shared.ports import Table, TableStore
from shared.storage.azure_tables import AzureTable
from shared.storage.entities import Condition, Entity, Operation, Value
from shared.storage.errors import BatchError, EntityExists, EntityNotFound, PreconditionFailed

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@pytest.fixture
def table(store: TableStore) -> Table:
    return store.table(f"Contract{uuid.uuid4().hex}")


def keys(rows: Iterator[Entity] | list[Entity]) -> list[str]:
    return [row.row_key for row in rows]


# --- single-row operations -------------------------------------------------------------------


def test_get_of_a_missing_row_is_none(table: Table) -> None:
    assert table.get("p", "nothing-here") is None


def test_get_many_reads_the_present_rows_of_one_partition_only(table: Table) -> None:
    stored = {f"k{n:02d}": table.insert(Entity("p", f"k{n:02d}", {"n": n})) for n in range(0, 40, 2)}
    table.insert(Entity("other", "k01", {"n": -1}))
    asked = [f"k{n:02d}" for n in range(40)] + ["k00", "it's one"]  # one twice, one quoted
    found = table.get_many("p", asked)
    assert sorted(found) == sorted(stored)  # more keys than one Azure filter holds; the absent ones left out
    assert all(found[k].data == {"n": int(k[1:])} and found[k].etag == stored[k].etag for k in found)
    assert table.get_many("p", []) == {} and table.get_many("nobody", ["k00"]) == {}


def test_insert_then_get_round_trips_every_value_type(table: Table) -> None:
    when = datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))
    data: dict[str, Value] = {
        "text": "Grüße, naïve café ✓ 'quoted' \"double\"",
        "empty": "",
        "small": 42,
        "negative": -7,
        "big": 2**53 + 1,
        "huge": -(2**62) - 3,
        "ratio": 0.1 + 0.2,
        "whole": 3.0,
        "yes": True,
        "no": False,
        "raw": bytes(range(256)),
        "when": when,
        "amount": "12345678901234567890.01",
    }
    stored = table.insert(Entity("p", "r", data))
    assert stored.etag

    got = table.get("p", "r")
    assert got is not None
    assert (got.partition_key, got.row_key, got.etag) == ("p", "r", stored.etag)
    assert set(got.data) == set(data)
    for name, value in data.items():
        if name == "when":
            continue
        assert got[name] == value, name
        assert type(got[name]) is type(value), name
    assert got["when"] == when
    assert type(got["when"]) is datetime
    assert got["when"].utcoffset() == timedelta(0)
    assert got["when"] == datetime(2024, 3, 1, 10, 30, 45, 123456, tzinfo=UTC)
    assert stored.data["when"] == got["when"]


def test_insert_of_an_existing_row_raises_entity_exists_and_keeps_the_first(table: Table) -> None:
    first = table.insert(Entity("p", "r", {"owner": "first"}))
    with pytest.raises(EntityExists):
        table.insert(Entity("p", "r", {"owner": "second"}))
    got = table.get("p", "r")
    assert got is not None
    assert (got["owner"], got.etag) == ("first", first.etag)


def test_rows_are_keyed_by_partition_and_row(table: Table) -> None:
    table.insert(Entity("a", "r", {"n": 1}))
    table.insert(Entity("b", "r", {"n": 2}))
    got_a, got_b = table.get("a", "r"), table.get("b", "r")
    assert got_a is not None and got_b is not None
    assert (got_a["n"], got_b["n"]) == (1, 2)


def test_upsert_inserts_then_replaces_dropping_properties_not_given(table: Table) -> None:
    created = table.upsert(Entity("p", "r", {"keep": "x", "drop": 1}))
    assert table.get("p", "r") == Entity("p", "r", {"keep": "x", "drop": 1}, created.etag)

    replaced = table.upsert(Entity("p", "r", {"keep": "y"}))
    assert replaced.etag and replaced.etag != created.etag
    got = table.get("p", "r")
    assert got is not None
    assert dict(got.data) == {"keep": "y"}
    assert got.etag == replaced.etag


def test_upsert_with_the_current_etag_succeeds_and_changes_the_etag(table: Table) -> None:
    first = table.insert(Entity("p", "r", {"v": 1}))
    second = table.upsert(Entity("p", "r", {"v": 2}), etag=first.etag)
    assert second.etag and second.etag != first.etag
    got = table.get("p", "r")
    assert got is not None
    assert (got["v"], got.etag) == (2, second.etag)
    third = table.upsert(Entity("p", "r", {"v": 3}), etag=second.etag)
    assert third.etag not in (first.etag, second.etag)


def test_upsert_with_a_stale_etag_raises_precondition_failed(table: Table) -> None:
    first = table.insert(Entity("p", "r", {"v": 1}))
    second = table.upsert(Entity("p", "r", {"v": 2}))
    with pytest.raises(PreconditionFailed):
        table.upsert(Entity("p", "r", {"v": 3}), etag=first.etag)
    got = table.get("p", "r")
    assert got is not None
    assert (got["v"], got.etag) == (2, second.etag)


def test_upsert_with_an_etag_on_a_missing_row_raises_entity_not_found(table: Table) -> None:
    gone = table.insert(Entity("p", "r", {"v": 1}))
    table.delete("p", "r")
    with pytest.raises(EntityNotFound):
        table.upsert(Entity("p", "r", {"v": 2}), etag=gone.etag)
    assert table.get("p", "r") is None


def test_upsert_with_the_wildcard_etag_requires_the_row_to_exist(table: Table) -> None:
    with pytest.raises(EntityNotFound):
        table.upsert(Entity("p", "r", {"v": 1}), etag="*")
    table.insert(Entity("p", "r", {"v": 1}))
    table.upsert(Entity("p", "r", {"v": 2}), etag="*")
    got = table.get("p", "r")
    assert got is not None and got["v"] == 2


def test_delete_removes_the_row_and_a_missing_row_is_no_error(table: Table) -> None:
    table.insert(Entity("p", "r"))
    table.insert(Entity("p", "other"))
    table.delete("p", "r")
    assert table.get("p", "r") is None
    assert table.get("p", "other") is not None
    table.delete("p", "r")
    table.delete("p", "never-existed")


def test_delete_with_the_current_etag_succeeds(table: Table) -> None:
    row = table.insert(Entity("p", "r"))
    table.delete("p", "r", etag=row.etag)
    assert table.get("p", "r") is None


def test_delete_with_a_stale_etag_raises_precondition_failed(table: Table) -> None:
    first = table.insert(Entity("p", "r", {"v": 1}))
    table.upsert(Entity("p", "r", {"v": 2}))
    with pytest.raises(PreconditionFailed):
        table.delete("p", "r", etag=first.etag)
    got = table.get("p", "r")
    assert got is not None and got["v"] == 2


def test_delete_with_an_etag_on_a_missing_row_raises_entity_not_found(table: Table) -> None:
    gone = table.insert(Entity("p", "r"))
    table.delete("p", "r")
    with pytest.raises(EntityNotFound):
        table.delete("p", "r", etag=gone.etag)


# --- queries ---------------------------------------------------------------------------------

BASE = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
NAMES = ["delta", "Alpha", "charlie", "bravo", "echo", "alpha", "Échelle", "foxtrot", "golf", "hotel"]
NUMBERS = [-(2**40), 7, 0, 2**31, -5, 12, 120, 2**40, 13, 2**31 - 1]


def _seed(table: Table) -> list[Entity]:
    """Ten rows in partition "p", inserted out of RowKey order, beside look-alike partitions."""
    rows = [
        Entity("p", f"r{i:02d}", {"name": NAMES[i], "n": NUMBERS[i], "at": BASE + timedelta(minutes=10 * i)})
        for i in range(10)
    ]
    for i in [3, 9, 0, 6, 1, 8, 2, 5, 7, 4]:
        table.insert(rows[i])
    table.insert(Entity("p0", "r00", {"name": "alpha", "n": 0, "at": BASE}))
    table.insert(Entity("P", "r01", {"name": "alpha", "n": 0, "at": BASE}))
    table.insert(Entity("", "r02", {"name": "alpha", "n": 0, "at": BASE}))
    return rows


def test_query_returns_only_the_partition_in_row_key_order(table: Table) -> None:
    rows = _seed(table)
    got = list(table.query("p"))
    assert keys(got) == [f"r{i:02d}" for i in range(10)]
    assert [dict(row.data) for row in got] == [dict(row.data) for row in rows]
    assert all(row.partition_key == "p" and row.etag for row in got)
    assert keys(table.query("P")) == ["r01"]
    assert keys(table.query("")) == ["r02"]
    assert list(table.query("nobody")) == []


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(
    ("name", "pivot"),
    [
        ("name", "charlie"),
        ("name", "Alpha"),
        ("n", 12),
        ("n", 2**31),
        ("n", -(2**40)),
        ("at", BASE + timedelta(minutes=40)),
        ("RowKey", "r05"),
    ],
    ids=["str", "str-case", "int", "int-2^31", "int-negative", "datetime", "RowKey"],
)
def test_query_condition_matches_a_reference_filter(table: Table, name: str, pivot: Any, op: str) -> None:
    rows = _seed(table)

    def value(row: Entity) -> Any:
        return row.row_key if name == "RowKey" else row[name]

    expected = [row.row_key for row in rows if OPS[op](value(row), pivot)]
    assert keys(table.query("p", [Condition(name, op, pivot)])) == expected  # type: ignore[arg-type]


def test_query_conditions_are_anded(table: Table) -> None:
    rows = _seed(table)
    where = [
        Condition("RowKey", "ge", "r01"),
        Condition("RowKey", "lt", "r09"),
        Condition("n", "ge", 0),
        Condition("n", "ne", 2**31),
        Condition("at", "gt", BASE + timedelta(minutes=5)),
        Condition("name", "lt", "golf"),
    ]
    expected = [
        row.row_key
        for row in rows
        if "r01" <= row.row_key < "r09"
        and row["n"] >= 0
        and row["n"] != 2**31
        and row["at"] > BASE + timedelta(minutes=5)
        and row["name"] < "golf"
    ]
    assert expected == ["r01", "r02", "r05", "r07"]
    assert keys(table.query("p", where)) == expected


def test_query_condition_on_a_missing_property_never_matches(table: Table) -> None:
    table.insert(Entity("p", "with", {"tag": "x"}))
    table.insert(Entity("p", "without", {}))
    assert keys(table.query("p", [Condition("tag", "eq", "x")])) == ["with"]
    assert keys(table.query("p", [Condition("tag", "ne", "y")])) == ["with"]


def test_query_strings_compare_ordinally(table: Table) -> None:
    for row_key, word in [("1", "b"), ("2", "B"), ("3", "a"), ("4", "ä"), ("5", "Z")]:
        table.insert(Entity("p", row_key, {"w": word}))
    assert keys(table.query("p", [Condition("w", "lt", "a")])) == ["2", "5"]
    assert keys(table.query("p", [Condition("w", "gt", "b")])) == ["4"]


def test_query_streams_across_pages_in_order(table: Table) -> None:
    total = 1234
    for start in range(0, total, 100):
        batch = [
            Operation("insert", Entity("big", f"{i:05d}", {"i": i, "even": i % 2 == 0}))
            for i in range(start, min(start + 100, total))
        ]
        table.submit(batch)
    everything = table.query("big")
    assert next(everything).row_key == "00000"
    assert keys(everything) == [f"{i:05d}" for i in range(1, total)]
    evens = [row["i"] for row in table.query("big", [Condition("even", "eq", True)])]
    assert evens == list(range(0, total, 2))


# --- batches ---------------------------------------------------------------------------------


def test_batch_of_100_mixed_operations_applies_in_full(table: Table) -> None:
    old = {i: table.insert(Entity("b", f"old{i:02d}", {"v": i, "extra": "x"})) for i in range(40)}
    ops = [Operation("insert", Entity("b", f"new{i:02d}", {"v": i})) for i in range(50)]
    ops += [Operation("upsert", Entity("b", f"old{i:02d}", {"v": -i})) for i in range(10)]
    ops += [
        Operation("upsert", Entity("b", f"old{i:02d}", {"v": i * 10}), old[i].etag) for i in range(10, 20)
    ]
    ops += [Operation("upsert", Entity("b", f"ups{i:02d}", {"v": i})) for i in range(10)]
    ops += [Operation("delete", Entity("b", f"old{i:02d}")) for i in range(20, 30)]
    ops += [Operation("delete", Entity("b", f"old{i:02d}"), old[i].etag) for i in range(30, 40)]
    assert len(ops) == 100

    results = table.submit(ops)

    assert len(results) == 100
    assert results[80:] == [None] * 20
    stored = {row.row_key: row for row in table.query("b")}
    assert sorted(stored) == sorted(
        [f"new{i:02d}" for i in range(50)]
        + [f"old{i:02d}" for i in range(20)]
        + [f"ups{i:02d}" for i in range(10)]
    )
    for op, result in zip(ops[:80], results[:80], strict=True):
        assert result is not None
        row = stored[op.entity.row_key]
        assert dict(row.data) == dict(op.entity.data)
        assert result.etag == row.etag
    assert all(stored[f"old{i:02d}"].etag != old[i].etag for i in range(20))


def test_batch_whose_50th_operation_fails_applies_nothing(table: Table) -> None:
    existing = {i: table.insert(Entity("b", f"old{i:02d}", {"v": i})) for i in range(60)}
    ops = [Operation("insert", Entity("b", f"new{i:02d}", {"v": i})) for i in range(49)]
    ops.append(Operation("insert", Entity("b", "old00", {"v": "clash"})))
    ops += [Operation("upsert", Entity("b", f"old{i:02d}", {"v": "changed"})) for i in range(1, 31)]
    ops += [Operation("delete", Entity("b", f"old{i:02d}")) for i in range(31, 51)]
    assert len(ops) == 100

    with pytest.raises(BatchError) as caught:
        table.submit(ops)

    assert caught.value.index == 49
    assert isinstance(caught.value.cause, EntityExists)
    stored = {row.row_key: row for row in table.query("b")}
    assert sorted(stored) == [f"old{i:02d}" for i in range(60)]
    assert all(stored[f"old{i:02d}"].etag == existing[i].etag for i in range(60))
    assert all(stored[f"old{i:02d}"]["v"] == i for i in range(60))


@pytest.mark.parametrize(
    ("failing", "cause"),
    [
        ("stale-etag", PreconditionFailed),
        ("etag-on-missing", EntityNotFound),
        ("delete-missing", EntityNotFound),
    ],
)
def test_batch_condition_failures_name_the_operation(table: Table, failing: str, cause: type) -> None:
    first = table.insert(Entity("b", "row", {"v": 1}))
    table.upsert(Entity("b", "row", {"v": 2}))
    bad = {
        "stale-etag": Operation("upsert", Entity("b", "row", {"v": 3}), first.etag),
        "etag-on-missing": Operation("upsert", Entity("b", "ghost", {"v": 3}), first.etag),
        "delete-missing": Operation("delete", Entity("b", "ghost")),
    }[failing]
    ops = [Operation("insert", Entity("b", f"n{i}")) for i in range(3)] + [bad]
    with pytest.raises(BatchError) as caught:
        table.submit(ops)
    assert caught.value.index == 3
    assert isinstance(caught.value.cause, cause)
    assert keys(table.query("b")) == ["row"]


def test_empty_batch_is_a_no_op(table: Table) -> None:
    assert table.submit([]) == []


@pytest.mark.parametrize("problem", ["101-operations", "mixed-partitions", "same-row-twice"])
def test_invalid_batches_raise_value_error_before_sending(table: Table, problem: str) -> None:
    ops = [Operation("insert", Entity("b", f"r{i:03d}")) for i in range(100)]
    if problem == "101-operations":
        ops.append(Operation("insert", Entity("b", "r100")))
    elif problem == "mixed-partitions":
        ops[60] = Operation("insert", Entity("other", "r060"))
    else:
        ops[99] = Operation("delete", Entity("b", "r007"))
    with pytest.raises(ValueError, match=r"at most 100|partition|twice"):
        table.submit(ops)
    assert list(table.query("b")) == []
    assert list(table.query("other")) == []


# --- concurrency -----------------------------------------------------------------------------


def test_concurrent_claims_have_exactly_one_winner(table: Table) -> None:
    contenders = 8
    start = threading.Barrier(contenders)
    outcomes: dict[int, str] = {}

    def claim(worker: int) -> None:
        start.wait()
        try:
            table.insert(Entity("claims", "the-key", {"owner": worker}))
            outcomes[worker] = "won"
        except EntityExists:
            outcomes[worker] = "exists"
        except Exception as error:
            outcomes[worker] = repr(error)

    threads = [threading.Thread(target=claim, args=(worker,)) for worker in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes.values()) == ["exists"] * (contenders - 1) + ["won"]
    winner = next(worker for worker, outcome in outcomes.items() if outcome == "won")
    stored = table.get("claims", "the-key")
    assert stored is not None and stored["owner"] == winner


# --- validation ------------------------------------------------------------------------------

BAD_KEYS = [
    "a/b",
    "a\\b",
    "a#b",
    "a?b",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "c1\x85",
    "x" * 513,
    "\U0001f600" * 257,
]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=lambda k: repr(k)[:12])
def test_forbidden_keys_are_rejected_naming_the_key(table: Table, bad: str) -> None:
    calls: list[tuple[str, Callable[[], object]]] = [
        ("PartitionKey", lambda: table.insert(Entity(bad, "r"))),
        ("RowKey", lambda: table.insert(Entity("p", bad))),
        ("RowKey", lambda: table.upsert(Entity("p", bad))),
        ("PartitionKey", lambda: table.get(bad, "r")),
        ("RowKey", lambda: table.delete("p", bad)),
        ("PartitionKey", lambda: table.query(bad)),
        ("RowKey", lambda: table.submit([Operation("insert", Entity("p", bad))])),
    ]
    for key_name, call in calls:
        with pytest.raises(ValueError, match=key_name):
            call()
    assert list(table.query("p")) == []


def test_keys_at_the_limit_and_with_unusual_characters_are_accepted(table: Table) -> None:
    for row_key in ["x" * 512, "é" * 512, "\U0001f600" * 256, "it's", "spaces and % and &", "ünïcødé ✓", ""]:
        table.insert(Entity("p", row_key, {"k": row_key}))
        got = table.get("p", row_key)
        assert got is not None and got["k"] == row_key


@pytest.mark.parametrize(
    "data",
    [{"PartitionKey": "x"}, {"Timestamp": 1}, {"bad name": 1}, {"n": 2**63}, {"naive": datetime(2024, 1, 1)}],
    ids=["PartitionKey", "Timestamp", "space-in-name", "int-over-64-bits", "naive-datetime"],
)
def test_values_azure_cannot_store_are_rejected(table: Table, data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        table.insert(Entity("p", "r", data))
    assert table.get("p", "r") is None


# --- Azure adapter: what Azurite cannot check --------------------------------------------------
# Azurite compares an Int32 literal with an Int64 property leniently; Azure does not (a type
# mismatch matches nothing). These tests pin what the adapter sends so real Azure behaves like
# the contract above.


class _RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def query_entities(self, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append(("query_entities", args, kwargs))
        return []

    def create_entity(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_entity", args, kwargs))
        return {"etag": 'W/"1"'}


def test_azure_adapter_sends_every_int_as_int64() -> None:
    client = _RecordingClient()
    table = AzureTable(client, "Recorded")  # type: ignore[arg-type]
    table.insert(Entity("p", "r", {"small": 5, "big": 2**40, "flag": True, "text": "5"}))
    list(
        table.query(
            "p",
            [
                Condition("small", "gt", 5),
                Condition("big", "lt", -(2**40)),
                Condition("flag", "eq", True),
                Condition("text", "eq", "it's @p0"),
                Condition("RowKey", "ge", "r"),
            ],
        )
    )

    (_, (sent,), _) = client.calls[0]
    assert sent["small"] == EntityProperty(5, EdmType.INT64)
    assert sent["big"] == EntityProperty(2**40, EdmType.INT64)
    assert sent["flag"] is True and sent["text"] == "5"
    (_, (query_filter,), kwargs) = client.calls[1]
    assert query_filter == (
        f"PartitionKey eq @pk and small gt 5L and big lt {-(2**40)}L and flag eq @p2 "
        "and text eq @p3 and RowKey ge @p4"
    )
    assert kwargs["parameters"] == {"pk": "p", "p2": True, "p3": "it's @p0", "p4": "r"}
