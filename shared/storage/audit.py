"""The audit trail: append-only, one record per step per event, tamper-evident, and written by many
instances at once.

A day is split into ``SHARDS`` chains, one partition each (``YYYYMMDD-SS``). Each writer (a thread of an
instance) appends to a chain of its own, so a group of records is one append to one chain, and writers
never wait for each other unless two happen to share a chain. Record ``n`` of a chain carries the MAC of
record ``n-1`` and its own HMAC-SHA256 under the audit key, and the chain's head row (written in the same
atomic batch as each record, conditioned on its ETag) seals the last sequence number. Editing,
inserting or deleting any record, the last one included, breaks its chain at a place ``verify`` can
name. Two writers appending to one chain meet at the head's ETag and the loser reads the new head and
tries again. An event's records, written by the instances that worked on it, read back in order by
their time.

The day's manifest lists the chains that hold records, so a chain deleted whole, its seal included,
is named too. It is written once per chain and day, after the chain's first record, never on the
append path of later records. Days written before the chains were split (one partition ``YYYYMMDD``)
verify as they did.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from shared.ports import Table
from shared.security.pan import redact
from shared.storage.entities import MAX_BATCH, MAX_BATCH_BYTES, Condition, Entity, Operation
from shared.storage.errors import BatchError, EntityExists, EntityNotFound, PreconditionFailed, StorageError

HEAD = "~head"
GENESIS = "genesis"
SHARDS = 16
"""Chains per day. Raising it is safe: verify also reads every chain a day's manifest lists."""
MANIFEST = "chains"
_ATTEMPTS = 100
_RECORD_OVERHEAD = 1024
_FIELDS = ("Step", "EventId", "CorrelationId", "Outcome", "Detail", "At")

log = logging.getLogger(__name__)


_next_shard = itertools.count(secrets.randbelow(SHARDS))
_writer = threading.local()


def writer_shard() -> int:
    """The chain this thread appends to: the threads of a process take the chains in turn from a random
    one, so instances starting together spread over the day's chains."""
    shard: int | None = getattr(_writer, "shard", None)
    if shard is None:
        shard = _writer.shard = next(_next_shard) % SHARDS
    return shard


def chain_partition(day: date, shard: int) -> str:
    return f"{day:%Y%m%d}-{shard:02d}"


def legacy_partition(day: date) -> str:
    """The one partition a day had before its chains were split."""
    return f"{day:%Y%m%d}"


def manifest_partition(day: date) -> str:
    return f"{day:%Y%m%d}-manifest"


def _row_key(seq: int) -> str:
    return f"{seq:012d}"


def _fields(step: str, event_id: str, correlation_id: str, outcome: str,
            detail: Mapping[str, object] | None = None) -> dict[str, str]:
    """A record's content as stored: ``event_id`` and every ``detail`` value masked, should they hold a PAN."""
    return {
        "Step": step,
        "EventId": redact(event_id),
        "CorrelationId": correlation_id,
        "Outcome": outcome,
        "Detail": redact(_detail(detail or {})),
    }


_PLAIN = (str, int, bool, type(None))


def _detail(detail: Mapping[str, object]) -> str:
    """The detail as sorted, compact JSON. Only plain values go through orjson: it writes the others (dates,
    enums, dataclasses) otherwise than ``json.dumps(default=str)``."""
    if all(type(key) is str and type(value) in _PLAIN for key, value in detail.items()):
        return _compact_json(detail, sort_keys=True).decode()
    return json.dumps(dict(detail), sort_keys=True, default=str, separators=(",", ":"))


def _compact_json(value: object, *, sort_keys: bool = False) -> bytes:
    """``json.dumps(value, separators=(",", ":"))`` as bytes, the text records and MACs were defined by, written
    by orjson where it writes the same: plain values whose JSON is ASCII without DEL (``json.dumps`` escapes
    the rest) and integers within 64 bits."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError:
        text = b"\x7f"
    if text.isascii() and b"\x7f" not in text:
        return text
    return json.dumps(value, sort_keys=sort_keys, default=str, separators=(",", ":")).encode()


def _batches(items: list[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    """Runs of records that fit one batch beside the head: at most ``MAX_BATCH - 1`` of them and half the
    4 MiB batch limit (a record's chain fields add a few hundred bytes to its content)."""
    batch: list[dict[str, str]] = []
    size = 0
    for fields in items:
        grows = _RECORD_OVERHEAD + sum(2 * len(v) for v in fields.values())
        if batch and (len(batch) == MAX_BATCH - 1 or size + grows > MAX_BATCH_BYTES // 2):
            yield batch
            batch, size = [], 0
        batch.append(fields)
        size += grows
    if batch:
        yield batch


def _last(head: Entity | None, day: date) -> datetime:
    """The time of the chain's last record, as its head keeps it; the start of ``day`` when unknown."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        last = datetime.fromisoformat(str(head.get("At"))) if head is not None else start
    except ValueError:
        return start
    return last if last.tzinfo is not None and last.date() == day else start


@dataclass(frozen=True)
class VerifyReport:
    """The result of checking one day: ``problems`` name each broken record; ``chains`` held records."""

    day: date
    records: int
    problems: list[str] = field(default_factory=list)
    chains: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Chain:
    """What this process knows of one shard: its last head (and that head's partition), whether it is listed.
    ``last`` is replaced whole, so a reader never pairs one head with another's partition."""

    last: tuple[str, Entity | None] = ("", None)
    listed: str = ""


@dataclass
class _Checked:
    records: int = 0
    sealed: bool = False
    problems: list[str] = field(default_factory=list)


class AuditTrail:
    """Appends and verifies audit records in the ``AuditLog`` table."""

    def __init__(
        self,
        table: Table,
        *,
        key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        shard: Callable[[], int] = writer_shard,
    ) -> None:
        """``shard`` names the chain the calling writer appends to."""
        if not key:
            raise ValueError("the audit key must not be empty")
        self._table = table
        self._key = key
        self._clock = clock
        self._shard = shard
        self._chains = [_Chain() for _ in range(SHARDS)]

    def record(
        self,
        *,
        step: str,
        event_id: str,
        correlation_id: str,
        outcome: str,
        detail: Mapping[str, object] | None = None,
    ) -> Entity:
        """Append one record; ``detail`` values pass through PAN masking before anything is stored.

        A record's time is never earlier than the one before it in its chain (the head keeps it), so a
        chain's records read back by time in its own order even when instances' clocks disagree.
        """
        [row] = self._append(self._shard(), [_fields(step, event_id, correlation_id, outcome, detail)])
        return row

    def record_many(self, records: Iterable[Mapping[str, Any]]) -> list[Entity]:
        """Append several records, each given as :meth:`record`'s keyword arguments, in one append (a batch
        per 99 records) to the writer's chain; returns the stored rows in the given order."""
        items = [_fields(**record) for record in records]
        return self._append(self._shard(), items) if items else []

    def _append(self, shard: int, items: list[dict[str, str]]) -> list[Entity]:
        chain = self._chains[shard]
        rows: list[Entity] = []
        days: list[date] = []
        # No lock is held while the store writes: a thread that keeps a store's commit open (``together``)
        # may append here meanwhile. Two threads of one process appending to one chain meet at the head's
        # ETag like two instances do, and the loser tries again.
        for batch in _batches(items):
            day, appended = self._append_batch(chain, shard, batch)
            rows.extend(appended)
            days.append(day)
        unlisted = sorted({d for d in days if chain_partition(d, shard) != chain.listed})
        for day in unlisted:
            self._list(day, shard)
        return rows

    def _append_batch(self, chain: _Chain, shard: int, items: list[dict[str, str]]) -> tuple[date, list[Entity]]:
        """Chain ``items`` onto the head and move the seal, all in one atomic batch; retried from the stored
        head when another instance appended first (the batch then fails on the head's ETag)."""
        for _ in range(_ATTEMPTS):
            now = self._clock().astimezone(UTC)
            partition = chain_partition(now.date(), shard)
            cached_partition, cached = chain.last
            head = (cached if cached_partition == partition else None) or self._table.get(partition, HEAD)
            at = max(now, _last(head, now.date())).isoformat(timespec="microseconds")
            seq = int(head["Seq"]) if head else 0
            prev = str(head["Mac"]) if head else GENESIS
            rows = []
            for fields in items:
                seq += 1
                body = {**fields, "At": at}
                mac = self._mac(partition, seq, prev, body)
                rows.append(Entity(partition, _row_key(seq), {**body, "Seq": seq, "Prev": prev, "Mac": mac}))
                prev = mac
            seal = Entity(partition, HEAD, {"Seq": seq, "Mac": prev, "Seal": self._seal(partition, seq, prev),
                                            "At": at})
            ops = [Operation("insert", row) for row in rows]
            ops.append(Operation("upsert", seal, etag=head.etag) if head else Operation("insert", seal))
            try:
                results = self._table.submit(ops)
            except BatchError as error:
                if not isinstance(error.cause, EntityExists | PreconditionFailed | EntityNotFound):
                    raise
                chain.last = ("", None)
                continue
            chain.last = (partition, results[-1])
            return now.date(), rows
        raise RuntimeError(f"audit chain {partition} is under too much contention to append")

    def records(self, day: date) -> Iterator[Entity]:
        """The day's records of every chain, without the head rows, by time (then chain and sequence)."""
        rows = [row for partition in self._partitions(day, self._listed(day)) for row in self._chain(partition)]
        yield from sorted(rows, key=lambda r: (str(r.get("At", "")), r.partition_key, r.row_key))

    def find(self, day: date, where: Sequence[Condition]) -> Iterator[Entity]:
        """The day's records matching every condition, chain by chain (a query reads one partition)."""
        for partition in self._partitions(day, self._listed(day)):
            for row in self._table.query(partition, where):
                if row.row_key != HEAD:
                    yield row

    def verify(self, day: date) -> VerifyReport:
        """Recompute every chain of the day and name every record that was edited, inserted or deleted.

        The manifest is read before the chains and each seal before its chain: a chain is listed only
        after its first record is stored, and records appended while the day is being read are newer
        than their seal; they must chain like every other, but the seal cannot name them.
        """
        manifest = self._table.get(manifest_partition(day), MANIFEST)
        listed, problems = self._read_manifest(day, manifest)
        records = chains = split = 0
        for partition in self._partitions(day, listed):
            checked = self._verify_chain(partition)
            records += checked.records
            chains += bool(checked.records)
            split += bool(checked.records or checked.sealed) and partition != legacy_partition(day)
            problems.extend(checked.problems)
            if partition in listed and not checked.records and not checked.sealed:
                problems.append(f"chain {partition}: deleted, every record and its seal (the day's manifest lists "
                                f"the chain)")
        # A day still being written may hold a first record whose chain is not listed yet; a past day may not.
        if manifest is None and split and day < self._clock().astimezone(UTC).date():
            problems.append(f"record {manifest_partition(day)}/{MANIFEST}: the day's manifest was deleted "
                            f"({split} chain(s) hold records)")
        return VerifyReport(day, records, problems, chains)

    def _verify_chain(self, partition: str) -> _Checked:
        checked = _Checked()
        problems = checked.problems
        head = self._table.get(partition, HEAD)
        checked.sealed = head is not None
        sealed_seq = int(head["Seq"]) if head is not None else 0
        sealed_mac: str | None = None
        expected_seq, prev = 1, GENESIS
        for row in self._chain(partition):
            checked.records += 1
            name = f"record {partition}/{row.row_key}"
            try:
                seq = int(row["Seq"])
                body = {k: str(row[k]) for k in _FIELDS}
            except (KeyError, ValueError):
                problems.append(f"{name}: inserted (not an audit record of this trail)")
                continue
            gap = False
            if row.row_key != _row_key(seq):
                problems.append(f"{name}: inserted or moved (its sequence number says {seq})")
            elif seq > expected_seq:
                gap = True
                missing = ", ".join(_row_key(s) for s in range(expected_seq, seq))
                problems.append(f"{name}: records before it were deleted ({missing})")
            if not hmac.compare_digest(str(row.get("Mac", "")), self._mac(partition, seq, str(row.get("Prev")), body)):
                problems.append(f"{name}: edited (its content does not match its MAC)")
            elif row.get("Prev") != prev and not gap:
                problems.append(f"{name}: inserted or out of order (it does not chain to the record before)")
            expected_seq, prev = seq + 1, str(row.get("Mac", ""))
            if seq == sealed_seq:
                sealed_mac = prev
        if head is None:
            if checked.records:
                problems.append(f"record {partition}/{HEAD}: the seal was deleted")
        elif not hmac.compare_digest(str(head.get("Seal", "")),
                                     self._seal(partition, int(head["Seq"]), str(head["Mac"]))):
            problems.append(f"record {partition}/{HEAD}: the seal was edited")
        elif expected_seq - 1 < sealed_seq or head["Mac"] != sealed_mac:
            gone = ", ".join(_row_key(s) for s in range(expected_seq, sealed_seq + 1)) or _row_key(sealed_seq)
            problems.append(f"record {partition}/{gone}: deleted (the seal names record {_row_key(sealed_seq)} last)")
        return checked

    def _chain(self, partition: str) -> Iterator[Entity]:
        for row in self._table.query(partition):
            if row.row_key != HEAD:
                yield row

    def _partitions(self, day: date, listed: Iterable[str]) -> list[str]:
        """The day's partitions, known without listing the table: the pre-split one, every shard's, and any
        the manifest lists beyond them."""
        shards = [chain_partition(day, s) for s in range(SHARDS)]
        return [legacy_partition(day), *shards, *sorted(set(listed) - set(shards))]

    def _listed(self, day: date) -> set[str]:
        return self._read_manifest(day, self._table.get(manifest_partition(day), MANIFEST))[0]

    def _read_manifest(self, day: date, manifest: Entity | None) -> tuple[set[str], list[str]]:
        """The chains the manifest lists, and a problem if it was edited (then it lists nothing to trust)."""
        if manifest is None:
            return set(), []
        text = str(manifest.get("Chains", ""))
        if not hmac.compare_digest(str(manifest.get("Mac", "")), self._manifest_mac(day, text)):
            return set(), [f"record {manifest_partition(day)}/{MANIFEST}: the day's manifest was edited"]
        return {f"{day:%Y%m%d}-{s}" for s in text.split(",") if s.isdigit()}, []

    def _list(self, day: date, shard: int) -> None:
        """Add the chain to the day's manifest once its first record is stored; an edited manifest is left as
        found, so verify still names it. A failure here costs nothing but a later try."""
        partition, name = manifest_partition(day), f"{shard:02d}"
        try:
            for _ in range(_ATTEMPTS):
                found = self._table.get(partition, MANIFEST)
                text = str(found.get("Chains", "")) if found is not None else ""
                if found is not None and not hmac.compare_digest(str(found.get("Mac", "")),
                                                                 self._manifest_mac(day, text)):
                    break
                names = {s for s in text.split(",") if s}
                if name not in names:
                    text = ",".join(sorted(names | {name}))
                    entity = Entity(partition, MANIFEST, {"Chains": text, "Mac": self._manifest_mac(day, text)})
                    try:
                        if found is None:
                            self._table.insert(entity)
                        else:
                            self._table.upsert(entity, etag=found.etag)
                    except (EntityExists, PreconditionFailed, EntityNotFound):
                        continue
                break
            else:
                return
        except StorageError as error:
            log.warning("audit chain %s not yet in the day's manifest: %s", chain_partition(day, shard), error)
            return
        self._chains[shard].listed = chain_partition(day, shard)

    def _mac(self, partition: str, seq: int, prev: str, body: Mapping[str, str]) -> str:
        message = _compact_json([partition, seq, prev, [body[k] for k in _FIELDS]])
        return hmac.digest(self._key, message, "sha256").hex()

    def _seal(self, partition: str, seq: int, mac: str) -> str:
        return hmac.digest(self._key, f"{partition}|{seq}|{mac}".encode(), "sha256").hex()

    def _manifest_mac(self, day: date, chains: str) -> str:
        return hmac.digest(self._key, f"{manifest_partition(day)}|{chains}".encode(), "sha256").hex()
