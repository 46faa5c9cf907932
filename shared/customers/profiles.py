"""One profile per real customer: the cross-reference of every source record, fields chosen per field, merges a
person can undo.

A merge never touches a source system. It points the cross-reference rows of both profiles at one of them and
marks the other ``merged_into`` it (the row stays), records what each profile held before, and audits it; an
unmerge restores exactly that and remembers the two profiles are different customers, so the next sync does
not merge them again. Profiles only grow by themselves: a record once linked stays linked until a person
unmerges it.

Tables (Table Storage through the port, so the same on Azure and on the embedded store):

* ``CustomerRecords``: PartitionKey the source (``pos``, ``erp``, ``crm``, ``loyalty``), RowKey the record's
  id there; the record's fields as the source sent them, its ``updated_at`` and its ``profile``.
* ``CustomerProfiles``: PartitionKey ``profile``, RowKey the profile id; the surviving fields, where each came
  from, its records, or ``merged_into``.
* ``CustomerMerges``: PartitionKey the surviving profile, RowKey the merge id; who held what before.
* ``CustomerApart``: PartitionKey ``pair``, RowKey two profiles: a person said they are different customers.
* ``CustomerReview``: PartitionKey ``pair``, RowKey the two records; the pairs a person should decide.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from shared.canonical.customers import LoyaltyBalance, SourceRecord
from shared.customers.rules import FIELDS, GROUPS, SOURCES, MatchRules, Survivorship
from shared.storage import tables
from shared.storage.entities import MAX_BATCH, Entity, Operation
from shared.storage.keys import safe_key

if TYPE_CHECKING:
    from shared.ports import TableStore
    from shared.storage.audit import AuditTrail

RECORDS, PROFILES, MERGES, APART, REVIEW = (tables.CUSTOMER_RECORDS, tables.CUSTOMER_PROFILES,
                                           tables.CUSTOMER_MERGES, tables.CUSTOMER_APART, tables.CUSTOMER_REVIEW)
PROFILE_PARTITION = "profile"
APART_PARTITION = "pair"



@dataclass
class Outcome:
    records: int = 0
    profiles: int = 0
    created: int = 0
    linked: int = 0
    merges: list[str] = field(default_factory=list)
    review: int = 0
    touched: list[str] = field(default_factory=list)
    """Profiles this pass created or changed."""
    loyalty_cards: int = 0
    """Touched profiles whose phone found a loyalty card."""
    loyalty_pushed: int = 0
    """ERP customers whose loyalty fields were written."""

    @property
    def merged(self) -> int:
        """Records that share their profile with another record."""
        return self.records - self.profiles

    def row(self) -> dict[str, int]:
        return {"records": self.records, "profiles": self.profiles, "merged": self.merged, "review": self.review}


KEPT = ("merged_into", "loyalty", "loyalty_checked_at", "loyalty_pushed")
"""What a profile row holds that its records do not say: rebuilding its fields keeps these."""
MAX_LISTED = 500
"""Records listed on the row (a Table Storage string holds 64 KiB); ``record_count`` and ``CustomerRecords``
(each record names its profile) hold all of them."""
GROUP_KEYS = {"name": ("last_name",), "address": ("address_line1", "postal_code")}
"""A record lends a group only if it has one of these: a country alone is no address."""


def _members_hash(keys: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _profile_id(keys: Iterable[str]) -> str:
    return "CUS-" + hashlib.sha256(min(keys).encode()).hexdigest()[:12].upper()


def _now() -> datetime:
    return datetime.now(UTC)


class CustomerBook:
    def __init__(self, tables: TableStore, audit: AuditTrail, *, rules: MatchRules | None = None,
                 survivorship: Survivorship | None = None) -> None:
        self._records = tables.table(RECORDS)
        self._profiles = tables.table(PROFILES)
        self._merges = tables.table(MERGES)
        self._apart = tables.table(APART)
        self._review = tables.table(REVIEW)
        self._audit = audit
        self._rules = rules or MatchRules()
        self._survivorship = survivorship or Survivorship()

    # --- reading ---------------------------------------------------------------------------------------

    def records(self) -> list[Entity]:
        return [row for source in SOURCES for row in self._records.query(source)]

    def profile(self, profile_id: str) -> Entity | None:
        return self._profiles.get(PROFILE_PARTITION, profile_id)

    def profiles(self, *, live: bool = True) -> list[Entity]:
        """Every profile; ``live``: not merged into another and still holding a live record."""
        rows = list(self._profiles.query(PROFILE_PARTITION))
        return [r for r in rows if not r.get("merged_into") and not r.get("retired")] if live else rows

    def profile_of(self, source: str, source_id: str) -> str | None:
        row = self._records.get(source, source_id)
        return str(row["profile"]) if row is not None and row.get("profile") else None

    def review_pairs(self) -> list[Entity]:
        return list(self._review.query("pair"))

    def merges(self, profile_id: str) -> list[Entity]:
        return list(self._merges.query(profile_id))

    # --- writing ---------------------------------------------------------------------------------------

    def resolve(self, incoming: Sequence[SourceRecord], *, deleted: Sequence[tuple[str, str]] = (),
                complete: Sequence[tuple[str, str, Sequence[SourceRecord]]] = (), correlation_id: str = "") -> Outcome:
        """Take in new and changed source records, match them against every known one, and link each to a
        profile: a new one, the one its duplicates already have, or the survivor of a merge of several.

        A record its source ``deleted`` (source, id) keeps its link, so history still reads, but no longer
        matches or lends a field to its profile. ``complete`` names full reads (source, origin, the records
        read): a live record of that source and origin they do not hold was deleted too."""
        from shared.customers.matching import match  # the parsers and splink load only when matching
        from shared.customers.normalize import record
        for rec in incoming:
            if rec.source not in SOURCES:
                raise ValueError(f"{rec.key}: source must be one of {', '.join(SOURCES)}")
        known = {f"{row.partition_key}:{row.row_key}": row for row in self.records()}
        # Each record is written back only if no one (a webhook's staging, another sync) changed it since this
        # pass read it: such a write fails the pass, and the next one starts from what is there.
        etags = {key: row.etag for key, row in known.items()}
        changed: dict[str, Entity] = {}
        retired: set[str] = set()
        keys_gone = [f"{source}:{safe_key(source_id)}" for source, source_id in deleted]
        for source, origin, read in complete:
            present = {rec.key for rec in read}
            keys_gone += [key for key, row in known.items() if row.partition_key == source
                          and row.get("origin", "") == origin and key not in present]
        for key in keys_gone:
            row = known.pop(key, None)
            if row is not None and not row.get("deleted_at"):
                changed[key] = Entity(row.partition_key, row.row_key, {**row.data, "deleted_at": _now()})
                retired.add(key)
        for key in [k for k, row in known.items() if row.get("deleted_at")]:
            del known[key]
        for key, row in list(known.items()):
            if row.get("staged"):  # staged by a webhook since the last pass: its profile's fields change
                known[key] = changed[key] = Entity(row.partition_key, row.row_key,
                                                   {k: v for k, v in row.data.items() if k != "staged"})
        for rec in incoming:
            old = known.get(rec.key)
            if old is not None and old.get("updated_at") and old["updated_at"] > rec.updated_at:
                continue  # an older copy of what we hold, delivered late
            fields = orjson.dumps({k: rec.fields.get(k) for k in FIELDS}).decode()
            if old is not None and old["fields"] == fields:
                continue  # pulled again unchanged: it keeps the time it last changed
            row = Entity(rec.source, safe_key(rec.source_id), {
                "fields": fields, "updated_at": rec.updated_at, **({"origin": rec.origin} if rec.origin else {}),
                **({"profile": old["profile"]} if old is not None and old.get("profile") else {})})
            known[rec.key] = changed[rec.key] = row
        normalized = [record({"id": key, "source": row.partition_key, **orjson.loads(row["fields"])})
                      for key, row in sorted(known.items())]
        matches = match(normalized, self._rules)
        outcome = Outcome(records=len(known))
        apart = self._apart_pairs()
        clusters: dict[str, list[str]] = defaultdict(list)
        for key in sorted(known):
            clusters[matches.clusters[key]].append(key)
        assignment: dict[str, str] = {k: str(r["profile"]) for k, r in known.items() if r.get("profile")}
        profiles = {row.row_key: row for row in self.profiles(live=False)}
        touched: set[str] = set()
        absorbed_now: set[str] = set()
        audits: list[dict[str, Any]] = []
        for members in clusters.values():
            held = sorted({assignment[k] for k in members if k in assignment})
            groups = self._groups(held, apart)
            for group in groups:
                survivor = self._final(group, profiles)
                for absorbed in group:
                    if absorbed != survivor:
                        merge_id = self._merge(survivor, absorbed, known, assignment, correlation_id, etags)
                        outcome.merges.append(merge_id)
                        touched.add(survivor)
                        absorbed_now.add(absorbed)  # its row was just marked merged_into: left as it is
            # newcomers join the profile holding most of their cluster (there is one unless a person kept
            # some apart)
            finals = [self._final(g, profiles) for g in groups]
            target = max(finals, key=lambda p: (sum(assignment.get(k) == p for k in members), p)) if finals else None
            for key in members:
                if key in assignment:
                    continue
                if target is None:
                    target = _profile_id(members)
                    outcome.created += 1
                assignment[key] = target
                outcome.linked += 1
                touched.add(target)
                changed[key] = Entity(known[key].partition_key, known[key].row_key,
                                      {**known[key].data, "profile": target})
                known[key] = changed[key]
                audits.append({"step": "customer.link", "event_id": key, "correlation_id": correlation_id or key,
                               "outcome": "linked", "detail": {"profile": target}})
        self._upsert_all(self._records, [Entity(row.partition_key, row.row_key,
                                                {**row.data, "profile": assignment.get(key, row.get("profile"))},
                                                etag=etags.get(key))
                                         for key, row in changed.items()])
        touched.update(assignment[key] for key in changed if key in assignment)  # a changed record's fields
        touched.update(str(changed[key]["profile"]) for key in retired if changed[key].get("profile"))
        members_of: dict[str, list[str]] = defaultdict(list)
        for key, profile_id in assignment.items():
            members_of[profile_id].append(key)
        # a row a failed pass never wrote, or wrote for other records, is written now
        touched.update(pid for pid, keys in members_of.items()
                       if pid not in profiles or profiles[pid].get("members_hash") != _members_hash(sorted(keys)))
        touched -= absorbed_now
        self._upsert_all(self._profiles, [self._profile_row(pid, members_of[pid], known, profiles.get(pid))
                                          for pid in sorted(touched)])
        self._store_review(matches.review)
        if audits:
            self._audit.record_many(audits)
        outcome.profiles = len(set(assignment.values()))
        outcome.review = len(matches.review)
        outcome.touched = sorted(touched)
        return outcome

    def set_loyalty(self, profile_id: str, balance: LoyaltyBalance | None, *, pushed: bool = False) -> bool:
        """Keep the card's balances on the profile; returns whether they differ from those last pushed to the
        ERP (so an unchanged balance is not written again). ``pushed`` records that they were."""
        row = self._profiles.get(PROFILE_PARTITION, profile_id)
        if row is None:
            raise LookupError(f"no profile {profile_id}")
        value = "" if balance is None else orjson.dumps({"gift": str(balance.gift.amount),
                                                         "currency": balance.gift.currency,
                                                         "points": str(balance.points)}).decode()
        data = {**row.data, "loyalty": value, "loyalty_checked_at": _now()}
        if pushed:
            data["loyalty_pushed"] = value
        self._profiles.upsert(Entity(PROFILE_PARTITION, profile_id, data))
        return value != row.get("loyalty_pushed", "")

    def stage(self, incoming: Sequence[SourceRecord]) -> int:
        """Keep new or changed records for the next :meth:`resolve` (which links them); cheap, so a webhook can
        call it. Returns how many were new or changed."""
        rows = []
        held: dict[str, dict[str, Entity]] = {}
        for source in {rec.source for rec in incoming}:
            held[source] = self._records.get_many(source, sorted({safe_key(r.source_id) for r in incoming
                                                                  if r.source == source}))
        for rec in incoming:
            old = held[rec.source].get(safe_key(rec.source_id))
            fields = orjson.dumps({k: rec.fields.get(k) for k in FIELDS}).decode()
            if old is not None and (old["fields"] == fields or old["updated_at"] > rec.updated_at):
                continue
            rows.append(Entity(rec.source, safe_key(rec.source_id), {
                **(old.data if old is not None else {}), "fields": fields, "updated_at": rec.updated_at,
                **({"origin": rec.origin} if rec.origin else {}), "staged": True},
                etag=old.etag if old is not None else None))
        self._upsert_all(self._records, rows)
        return len(rows)

    def unmerge(self, profile_id: str, merge_id: str | None = None, *, correlation_id: str = "") -> str:
        """Undo ``merge_id`` (default: the profile's latest merge still in force); returns the profile split
        off again. Raises ``LookupError`` when there is nothing to undo."""
        current = self._profiles.get(PROFILE_PARTITION, profile_id)
        if current is not None and current.get("merged_into"):
            raise LookupError(f"{profile_id} was itself merged into {current['merged_into']}: unmerge that first")
        candidates = [m for m in self.merges(profile_id) if m.get("state") == "merged"
                      and (merge_id is None or m.row_key == merge_id)]
        if not candidates:
            raise LookupError(f"{profile_id}: no merge to undo" + (f" with id {merge_id}" if merge_id else ""))
        merge = candidates[-1]
        absorbed = str(merge["absorbed"])
        before = orjson.loads(merge["records_before"])
        for key in before:
            source, _, source_id = key.partition(":")
            row = self._records.get(source, source_id)
            if row is not None and row.get("profile") == profile_id:  # not one moved elsewhere since
                self._records.upsert(Entity(source, source_id, {**row.data, "profile": absorbed}))
        old = self._profiles.get(PROFILE_PARTITION, absorbed)
        if old is not None:
            self._profiles.upsert(Entity(PROFILE_PARTITION, absorbed,
                                         {k: v for k, v in old.data.items() if k != "merged_into"}))
        self._merges.upsert(Entity(profile_id, merge.row_key, {**merge.data, "state": "unmerged",
                                                                "unmerged_at": _now()}))
        first, second = sorted((profile_id, absorbed))
        self._apart.upsert(Entity(APART_PARTITION, f"{first}|{second}", {"since": _now(), "merge": merge.row_key}))
        known = {f"{row.partition_key}:{row.row_key}": row for row in self.records() if not row.get("deleted_at")}
        for pid in (profile_id, absorbed):
            self._profiles.upsert(self._profile_row(pid, [k for k, r in known.items() if r.get("profile") == pid],
                                                    known, self._profiles.get(PROFILE_PARTITION, pid)))
        self._audit.record(step="customer.unmerge", event_id=merge.row_key,
                           correlation_id=correlation_id or merge.row_key, outcome="unmerged",
                           detail={"profile": profile_id, "restored": absorbed, "records": len(before)})
        return absorbed

    # --- inside ----------------------------------------------------------------------------------------

    @staticmethod
    def _upsert_all(table: Any, rows: Sequence[Entity]) -> None:
        """Rows written a partition and a hundred at a time, each batch atomic; a row carrying an ETag replaces
        only that version (raises ``BatchError`` when another writer changed it)."""
        by_partition: dict[str, list[Entity]] = defaultdict(list)
        for row in rows:
            by_partition[row.partition_key].append(row)
        for partition_rows in by_partition.values():
            for start in range(0, len(partition_rows), MAX_BATCH):
                table.submit([Operation("upsert", Entity(row.partition_key, row.row_key, row.data), etag=row.etag)
                              for row in partition_rows[start:start + MAX_BATCH]])

    def _apart_pairs(self) -> set[frozenset[str]]:
        """One query: the pairs are few (each is a person's decision), so they share a partition."""
        return {frozenset(row.row_key.split("|", 1)) for row in self._apart.query(APART_PARTITION)}

    @staticmethod
    def _groups(held: list[str], apart: set[frozenset[str]]) -> list[list[str]]:
        """The profiles of one cluster that may merge, as groups: a profile a person kept apart from every
        profile of a group starts its own."""
        groups: list[list[str]] = []
        for profile in held:
            for group in groups:
                if not any(frozenset((profile, other)) in apart for other in group):
                    group.append(profile)
                    break
            else:
                groups.append([profile])
        return groups

    @staticmethod
    def _final(group: list[str], profiles: Mapping[str, Entity]) -> str:
        """The oldest profile of a group: the one a merge keeps."""
        return min(group, key=lambda p: (profiles[p]["created_at"] if p in profiles else _now(), p))

    def _merge(self, survivor: str, absorbed: str, known: dict[str, Entity], assignment: dict[str, str],
               correlation_id: str, etags: dict[str, str | None]) -> str:
        moved = sorted(k for k, p in assignment.items() if p == absorbed)
        merge_id = f"{_now():%Y%m%dT%H%M%S%f}-{absorbed}"
        self._merges.insert(Entity(survivor, merge_id, {
            "absorbed": absorbed, "records_before": orjson.dumps(moved).decode(), "state": "merged",
            "merged_at": _now()}))
        for key in moved:
            assignment[key] = survivor
            row = known[key]
            known[key] = Entity(row.partition_key, row.row_key, {**row.data, "profile": survivor})
            etags[key] = self._records.upsert(known[key], etag=etags.get(key)).etag
        old = self._profiles.get(PROFILE_PARTITION, absorbed)
        self._profiles.upsert(Entity(PROFILE_PARTITION, absorbed, {**(old.data if old else {}),
                                                                   "merged_into": survivor}))
        self._audit.record(step="customer.merge", event_id=merge_id, correlation_id=correlation_id or merge_id,
                           outcome="merged", detail={"into": survivor, "from": absorbed, "records": len(moved)})
        return merge_id

    def _profile_row(self, profile_id: str, members: list[str], known: Mapping[str, Entity],
                     old: Entity | None) -> Entity:
        """The profile's fields chosen again from its live records. What is not derived from them (when it was
        created, what it was merged into, its loyalty balances) is kept. A profile left with no live record
        stays, with no fields, marked ``retired``."""
        chosen: dict[str, Any] = {}
        provenance: dict[str, str] = {}
        rows = [(key, known[key], orjson.loads(known[key]["fields"])) for key in members if key in known]
        for group_name, group in GROUPS.items():
            order = self._survivorship.order(group_name)
            key_fields = GROUP_KEYS.get(group_name, group)
            candidates = [(order.index(row.partition_key) if row.partition_key in order else len(order),
                           -sum(values.get(name) not in (None, "") for name in group),
                           -row["updated_at"].timestamp(), key, values)
                          for key, row, values in rows
                          if any(values.get(name) not in (None, "") for name in key_fields)]
            if candidates:
                *_, key, values = min(candidates)
                for name in group:
                    if values.get(name) not in (None, ""):
                        chosen[name], provenance[name] = values[name], key
        ordered = sorted(k for k, _, _ in rows)
        data: dict[str, Any] = {
            **({k: v for k, v in old.data.items() if k in KEPT} if old is not None else {}),
            "fields": orjson.dumps(chosen).decode(), "provenance": orjson.dumps(provenance).decode(),
            "records": orjson.dumps(ordered[:MAX_LISTED]).decode(), "record_count": len(ordered),
            "members_hash": _members_hash(ordered), "retired": not ordered,
            "created_at": old["created_at"] if old is not None and old.get("created_at") else _now(),
            "updated_at": _now()}
        return Entity(PROFILE_PARTITION, profile_id, data)

    def _store_review(self, pairs: Sequence[Any]) -> None:
        """The pairs now in the review band replace those of the last pass, a hundred writes to a batch."""
        wanted = {safe_key(f"{p.left}|{p.right}"): p for p in pairs}
        stale = [Operation("delete", row) for row in self._review.query("pair") if row.row_key not in wanted]
        for start in range(0, len(stale), MAX_BATCH):
            self._review.submit(stale[start:start + MAX_BATCH])
        self._upsert_all(self._review, [Entity("pair", key, {"probability": f"{pair.probability:.4f}",
                                                             "reasons": orjson.dumps(list(pair.reasons)).decode()})
                                        for key, pair in wanted.items()])
