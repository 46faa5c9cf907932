import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.ports import Table
from shared.storage.idempotency import IdempotencyKeys, KeyStatus, LeaseLost
from shared.storage.sqlite import SqliteTableStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Table]:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    yield store.table("IdempotencyKeys")
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(table: Table, clock: Clock) -> IdempotencyKeys:
    return IdempotencyKeys(table, lease=timedelta(minutes=5), clock=clock)


def test_first_claim_wins_and_a_done_key_is_a_duplicate(keys: IdempotencyKeys) -> None:
    first = keys.claim("gp-MER-20261127", "gp:TRN_1:CAPTURED")
    assert first.acquired and first.status is KeyStatus.CLAIMED and first.attempts == 1
    keys.complete(first, "JRN-0001")
    again = keys.claim("gp-MER-20261127", "gp:TRN_1:CAPTURED")
    assert again.duplicate and not again.acquired
    assert again.result_ref == "JRN-0001"


def test_a_live_claim_blocks_others_without_being_a_duplicate(keys: IdempotencyKeys) -> None:
    keys.claim("p", "k")
    other = keys.claim("p", "k")
    assert not other.acquired and not other.duplicate and other.status is KeyStatus.CLAIMED


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_settle(keys: IdempotencyKeys, clock: Clock) -> None:
    crashed = keys.claim("p", "k")
    clock.now += timedelta(minutes=5, seconds=1)
    successor = keys.claim("p", "k")
    assert successor.acquired and successor.attempts == 2 and successor.owner != crashed.owner
    with pytest.raises(LeaseLost):
        keys.complete(crashed, "late")
    keys.complete(successor, "JRN-2")
    assert keys.get("p", "k").result_ref == "JRN-2"  # type: ignore[union-attr]


def test_a_held_key_stays_out_of_reach_for_its_hold_then_is_taken_over_counted(keys: IdempotencyKeys,
                                                                               clock: Clock) -> None:
    """After an uncertain write nobody may act on the key until a slow write has had time to land."""
    uncertain = keys.claim("p", "HPY-TRN_1")
    keys.hold(uncertain, 30, "ResponseLost: timed out")
    clock.now += timedelta(seconds=29)
    early = keys.claim("p", "HPY-TRN_1")
    assert not early.acquired and not early.duplicate and early.result_ref == "ResponseLost: timed out"
    clock.now += timedelta(seconds=2)
    later = keys.claim("p", "HPY-TRN_1")
    assert later.acquired and later.attempts == 2, "the successor knows an earlier attempt may have written"


def test_a_failed_key_can_be_claimed_again_for_a_replay(keys: IdempotencyKeys) -> None:
    claim = keys.claim("p", "k")
    failed = keys.fail(claim, "F&O said: account 999999 does not exist")
    assert failed.status is KeyStatus.FAILED and failed.result_ref.startswith("F&O said")  # type: ignore[union-attr]
    replay = keys.claim("p", "k")
    assert replay.acquired and replay.attempts == 2


def test_keys_with_characters_table_storage_refuses_are_stored(keys: IdempotencyKeys) -> None:
    claim = keys.claim("gp/MER#1", "order?id=1/2\\3")
    keys.complete(claim, "ok")
    assert keys.claim("gp/MER#1", "order?id=1/2\\3").duplicate
    assert keys.get("gp/MER#1", "order?id=1/2\\3").key == "order?id=1/2\\3"  # type: ignore[union-attr]


def test_only_one_of_many_concurrent_claimants_wins(table: Table, clock: Clock) -> None:
    keys = IdempotencyKeys(table, lease=timedelta(minutes=5), clock=clock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: keys.claim("p", "race"), range(16)))
    assert sum(c.acquired for c in claims) == 1


def test_only_one_successor_takes_over_an_expired_lease(table: Table, clock: Clock) -> None:
    keys = IdempotencyKeys(table, lease=timedelta(minutes=5), clock=clock)
    keys.claim("p", "k")
    clock.now += timedelta(minutes=6)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: keys.claim("p", "k"), range(16)))
    assert sum(c.acquired for c in claims) == 1


def test_settling_a_claim_not_held_is_refused(keys: IdempotencyKeys) -> None:
    keys.claim("p", "k")
    with pytest.raises(ValueError, match="not held"):
        keys.complete(keys.claim("p", "k"), "x")


def test_remember_records_done_once_and_reports_the_first(keys: IdempotencyKeys) -> None:
    first = keys.remember("p", "gp:TRN_1:CAPTURED", "corr-1")
    assert first.acquired and first.status is KeyStatus.DONE
    twin = keys.remember("p", "gp:TRN_1:CAPTURED", "corr-2")
    assert not twin.acquired and twin.result_ref == "corr-1"
    assert keys.claim("p", "gp:TRN_1:CAPTURED").duplicate


def test_remember_many_writes_a_partition_in_batches_and_answers_twins_from_the_stored_key(
        keys: IdempotencyKeys) -> None:
    keys.remember("p", "gp:TRN_7:CAPTURED", "corr-first")
    pairs = [(f"gp:TRN_{n}:CAPTURED", f"corr-{n}") for n in range(150)]
    claims = keys.remember_many("p", pairs)
    assert [c.key for c in claims] == [k for k, _ in pairs]
    assert [c.acquired for c in claims].count(False) == 1
    twin = claims[7]
    assert (twin.acquired, twin.result_ref, twin.status) == (False, "corr-first", KeyStatus.DONE)
    assert all(keys.get("p", k).result_ref == (r if k != "gp:TRN_7:CAPTURED" else "corr-first")  # type: ignore[union-attr]
               for k, r in pairs)


def test_a_live_worker_keeps_its_claim_past_its_lease_and_settles_it(keys: IdempotencyKeys, clock: Clock) -> None:
    with keys.renewing() as mine:
        claim = mine.claim("p", "k")
        for _ in range(4):  # twenty minutes of a write slowed by throttling, renewed every few minutes
            clock.now += timedelta(minutes=4)
            assert keys.heartbeat() == 1
            assert not keys.claim("p", "k").acquired, "a live worker's claim was taken over"
        mine.complete(claim, "JRN-1")
    assert keys.claim("p", "k").duplicate


def test_a_settled_or_held_claim_is_no_longer_renewed(keys: IdempotencyKeys, clock: Clock) -> None:
    with keys.renewing() as mine:
        done, held = mine.claim("p", "done"), mine.claim("p", "held")
        mine.complete(done, "JRN-1")
        mine.hold(held, 30, "the answer was lost")
        assert keys.heartbeat() == 0
        clock.now += timedelta(seconds=31)
        successor = keys.claim("p", "held")
        assert successor.acquired and successor.attempts == 2


def test_a_dead_workers_claims_stop_being_renewed_and_are_taken_over(keys: IdempotencyKeys, clock: Clock) -> None:
    class Crash(BaseException):
        pass

    with pytest.raises(Crash), keys.renewing() as mine:
        mine.claim("p", "k")
        raise Crash
    assert keys.heartbeat() == 0
    clock.now += timedelta(minutes=5, seconds=1)
    assert keys.claim("p", "k").acquired


def test_a_claim_taken_over_before_its_renewal_is_dropped_and_cannot_be_settled(keys: IdempotencyKeys,
                                                                                clock: Clock) -> None:
    with keys.renewing() as mine:
        stalled = mine.claim("p", "k")
        clock.now += timedelta(minutes=5, seconds=1)  # every beat missed
        successor = keys.claim("p", "k")
        assert successor.acquired
        assert keys.heartbeat() == 0
        with pytest.raises(LeaseLost):
            mine.complete(stalled, "late")
    keys.complete(successor, "JRN-2")


def test_the_heartbeat_renews_on_its_own_while_the_block_runs(table: Table) -> None:
    keys = IdempotencyKeys(table, lease=timedelta(seconds=0.6), renew_every=timedelta(seconds=0.1))
    with keys.renewing() as mine:
        claim = mine.claim("p", "k")
        time.sleep(1.5)
        assert not keys.claim("p", "k").acquired, "the claim ran out while its worker was alive"
        mine.complete(claim, "JRN-1")
    assert keys.claim("p", "k").duplicate
