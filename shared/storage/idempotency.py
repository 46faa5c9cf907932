"""Idempotency keys: claim once, with a lease a crashed worker's successor can take over.

Insert-if-absent is the atomic claim; the ETag-conditioned replace is the takeover, so two workers
never both believe they hold a key. A live worker renews its claims while it works, as the bus renews a
message's lock, so a slow write never outlives its lease: only a dead worker's claim is taken over.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.ports import Table
from shared.storage.entities import MAX_BATCH, Entity, Operation
from shared.storage.errors import BatchError, EntityExists, EntityNotFound, PreconditionFailed
from shared.storage.keys import safe_key

log = logging.getLogger(__name__)


class KeyStatus(StrEnum):
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


class LeaseLost(Exception):
    """The lease ran out and another worker took the key over; this worker must not report an outcome."""


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: ``acquired`` says whether this worker now holds the key."""

    partition: str
    key: str
    acquired: bool
    status: KeyStatus
    owner: str
    attempts: int
    result_ref: str | None = None
    leased_until: datetime | None = None
    etag: str | None = None

    @property
    def duplicate(self) -> bool:
        """The key's effect already happened; the caller must not repeat it."""
        return not self.acquired and self.status is KeyStatus.DONE


class IdempotencyKeys:
    """Claim, complete and fail keys in the ``IdempotencyKeys`` table."""

    def __init__(
        self,
        table: Table,
        *,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renew_every: timedelta | None = None,
    ) -> None:
        self._table = table
        self._lease = lease
        self._clock = clock
        self._renew_every = renew_every
        self._held: dict[tuple[str, str], Claim] | None = None  # a renewing view's live claims, newest version
        self._held_lock = threading.Lock()
        self._views: list[IdempotencyKeys] = []
        self._views_lock = threading.Lock()
        self._heart: threading.Thread | None = None

    @contextmanager
    def renewing(self) -> Iterator[IdempotencyKeys]:
        """Keys whose claims stay leased while the block runs, renewed every ``renew_every``.

        Claims this view acquires are renewed until it settles them (complete, fail, hold) or the block
        ends; a worker that dies stops renewing, and its claims are taken over once their lease runs out.
        """
        if self._held is not None:
            yield self
            return
        view = IdempotencyKeys(self._table, lease=self._lease, clock=self._clock)
        view._held = {}
        with self._views_lock:
            self._views.append(view)
            if self._renew_every is not None and self._heart is None:
                self._heart = threading.Thread(target=self._beat, name="idempotency-renewal", daemon=True)
                self._heart.start()
        try:
            yield view
        finally:
            with self._views_lock:
                self._views.remove(view)
            with view._held_lock:
                view._held.clear()

    def heartbeat(self) -> int:
        """Renew every claim held in a live renewing view; returns how many were renewed.

        A claim taken over meanwhile (its lease ran out before a renewal) is dropped and named in the log;
        its holder finds out when it settles it (``LeaseLost``).
        """
        with self._views_lock:
            views = list(self._views)
        return sum(view._renew_held() for view in views)

    def _beat(self) -> None:
        assert self._renew_every is not None
        while True:
            time.sleep(self._renew_every.total_seconds())
            try:
                self.heartbeat()
            except Exception:  # a storage hiccup: the next beat, well within the lease, tries again
                log.warning("could not renew idempotency leases; trying again in %s", self._renew_every,
                            exc_info=True)

    def _renew_held(self) -> int:
        """No lock is held while the store writes (a thread keeping a store's commit open may be settling one
        of these claims meanwhile); a claim settled during its renewal is left settled."""
        renewed = 0
        with self._held_lock:
            assert self._held is not None
            held = list(self._held.items())
        for ref, claim in held:
            row = self._row(claim.partition, claim.key, claim.owner, KeyStatus.CLAIMED, claim.attempts, self._clock())
            try:
                stored = self._claim(self._table.upsert(row, etag=claim.etag), acquired=True)
            except (PreconditionFailed, EntityNotFound):
                with self._held_lock:
                    if self._held.get(ref) is claim:
                        del self._held[ref]
                log.warning("lease on %s ran out before it was renewed; its successor took it over", claim.key)
                continue
            with self._held_lock:
                if self._held.get(ref) is claim:
                    self._held[ref] = stored
                    renewed += 1
        return renewed

    def _acquired(self, claim: Claim) -> Claim:
        if self._held is not None and claim.acquired:
            with self._held_lock:
                self._held[(claim.partition, claim.key)] = claim
        return claim

    def _latest(self, claim: Claim) -> Claim:
        """The newest version of a held claim (renewals change its ETag), no longer renewed from now on."""
        if self._held is None:
            return claim
        with self._held_lock:
            latest = self._held.pop((claim.partition, claim.key), None)
        return latest if latest is not None and latest.owner == claim.owner else claim

    def claim(self, partition: str, key: str) -> Claim:
        """Take the key unless it is done, or held under a live lease by someone else.

        A failed key, or a claimed key whose lease expired, is taken over with its attempt count raised.
        """
        owner = os.urandom(16).hex()
        now = self._clock()
        row = self._row(partition, key, owner, KeyStatus.CLAIMED, attempts=1, now=now)
        try:
            stored = self._table.insert(row)
            return self._acquired(self._claim(stored, acquired=True))
        except EntityExists:
            pass
        current = self._table.get(row.partition_key, row.row_key)
        if current is None:
            return self.claim(partition, key)
        status = KeyStatus(current["Status"])
        leased_until = current.get("LeasedUntil")
        live = status is KeyStatus.CLAIMED and leased_until is not None and leased_until > now
        if status is KeyStatus.DONE or live:
            return self._claim(current, acquired=False)
        takeover = self._row(partition, key, owner, KeyStatus.CLAIMED, int(current["Attempts"]) + 1, now)
        try:
            stored = self._table.upsert(takeover, etag=current.etag)
        except (PreconditionFailed, EntityNotFound):
            latest = self._table.get(row.partition_key, row.row_key)
            if latest is None:
                return self.claim(partition, key)
            return self._claim(latest, acquired=False)
        return self._acquired(self._claim(stored, acquired=True))

    def remember(self, partition: str, key: str, result_ref: str) -> Claim:
        """Record a key as done in one write, for effects that are idempotent by themselves.

        Intake uses it after enqueueing with ``MessageId`` = key: the bus drops a concurrent twin, so
        no lease is needed. Returns the stored key; ``acquired`` is False when a twin was first.
        """
        return self.remember_many(partition, [(key, result_ref)])[0]

    def remember_many(self, partition: str, keys: Sequence[tuple[str, str]]) -> list[Claim]:
        """``remember`` for many (key, result ref) pairs of one partition, in one table batch per hundred.

        A key a twin remembered first fails its batch; it is answered from the stored row and the rest of
        the batch is written again without it. Returns the claims in the order of ``keys``.
        """
        now = self._clock()
        rows = {}
        for key, result_ref in keys:
            row = self._row(partition, key, os.urandom(16).hex(), KeyStatus.DONE, attempts=1, now=now)
            rows[key] = Entity(row.partition_key, row.row_key, {**row.data, "ResultRef": result_ref,
                                                                "LeasedUntil": ""})
        claims: dict[str, Claim] = {}
        left = list(rows)
        while left:
            chunk, left = left[:MAX_BATCH], left[MAX_BATCH:]
            try:
                stored = self._table.submit([Operation("insert", rows[key]) for key in chunk])
            except BatchError as error:
                if not isinstance(error.cause, EntityExists):
                    raise
                twin = chunk[error.index]
                current = self._table.get(rows[twin].partition_key, rows[twin].row_key)
                if current is None:
                    left = chunk + left  # removed meanwhile: write it again
                else:
                    claims[twin] = self._claim(current, acquired=False)
                    left = [key for key in chunk if key != twin] + left
                continue
            for key, entity in zip(chunk, stored, strict=True):
                assert entity is not None
                claims[key] = self._claim(entity, acquired=True)
        return [claims[key] for key, _ in keys]

    def complete(self, claim: Claim, result_ref: str) -> Claim:
        """Mark the effect done and remember where it landed (an ERP document number, a message id)."""
        return self._settle(claim, KeyStatus.DONE, result_ref)

    def fail(self, claim: Claim, reason: str) -> Claim:
        """Give the key back for a later attempt (a replay) and keep why it failed."""
        return self._settle(claim, KeyStatus.FAILED, reason)

    def hold(self, claim: Claim, seconds: float, reason: str) -> Claim:
        """Keep the key claimed ``seconds`` more, then let anyone take it over (the attempt counted).

        For a write whose outcome is uncertain: it may still land, so nobody (a retry, a reversal deciding
        whether its capture was posted) may act on the key before the ERP has had the time to apply it.
        """
        if not claim.acquired:
            raise ValueError(f"key {claim.key!r} is not held by this worker (status {claim.status})")
        claim = self._latest(claim)
        now = self._clock()
        row = self._row(claim.partition, claim.key, claim.owner, KeyStatus.CLAIMED, claim.attempts, now)
        row = Entity(row.partition_key, row.row_key, {**row.data, "ResultRef": reason,
                                                     "LeasedUntil": now + timedelta(seconds=seconds)})
        return self._claim(self._write_held(claim, row), acquired=False)

    def get(self, partition: str, key: str) -> Claim | None:
        row = self._table.get(safe_key(partition), safe_key(key))
        return None if row is None else self._claim(row, acquired=False)

    def get_many(self, partition: str, keys: Sequence[str]) -> dict[str, Claim]:
        """The stored keys among ``keys``, read together."""
        safe = {safe_key(key): key for key in keys}
        rows = self._table.get_many(safe_key(partition), list(safe))
        return {safe[row_key]: self._claim(row, acquired=False) for row_key, row in rows.items()}

    def _settle(self, claim: Claim, status: KeyStatus, result_ref: str) -> Claim:
        if not claim.acquired:
            raise ValueError(f"key {claim.key!r} is not held by this worker (status {claim.status})")
        claim = self._latest(claim)
        row = self._row(claim.partition, claim.key, claim.owner, status, claim.attempts, self._clock())
        row = Entity(row.partition_key, row.row_key, {**row.data, "ResultRef": result_ref, "LeasedUntil": ""})
        return self._claim(self._write_held(claim, row), acquired=False)

    def _write_held(self, claim: Claim, row: Entity) -> Entity:
        """Replace a held key's row. Its ETag may have moved under a renewal made meanwhile by this worker's own
        heartbeat: the row still names this claim's owner then, and the write goes on with the new ETag;
        another owner means the key was taken over."""
        etag = claim.etag
        for _ in range(3):
            try:
                return self._table.upsert(row, etag=etag)
            except (PreconditionFailed, EntityNotFound):
                current = self._table.get(row.partition_key, row.row_key)
                if current is None or current.get("Owner") != claim.owner or current.get("Status") != KeyStatus.CLAIMED:
                    break
                etag = current.etag
        raise LeaseLost(f"key {claim.key!r} was taken over after its lease expired")

    def _row(self, partition: str, key: str, owner: str, status: KeyStatus, attempts: int, now: datetime) -> Entity:
        return Entity(
            safe_key(partition),
            safe_key(key),
            {
                "Partition": partition,
                "Key": key,
                "Status": status.value,
                "Owner": owner,
                "Attempts": attempts,
                "LeasedUntil": now + self._lease,
                "UpdatedAt": now,
            },
        )

    def _claim(self, row: Entity, *, acquired: bool) -> Claim:
        leased_until = row.get("LeasedUntil")
        return Claim(
            partition=str(row.get("Partition", row.partition_key)),
            key=str(row.get("Key", row.row_key)),
            acquired=acquired,
            status=KeyStatus(row["Status"]),
            owner=str(row["Owner"]),
            attempts=int(row["Attempts"]),
            result_ref=row.get("ResultRef") or None,
            leased_until=leased_until if isinstance(leased_until, datetime) else None,
            etag=row.etag,
        )
