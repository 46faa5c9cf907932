"""Profiles: every source record linked once, fields chosen per field, merges audited and undone by a person."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from shared.customers.profiles import CustomerBook, SourceRecord, Survivorship
from shared.ports import TableStore
from shared.storage.audit import AuditTrail

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def book(store: TableStore) -> tuple[CustomerBook, AuditTrail]:
    audit = AuditTrail(store.table("AuditLog"), key=b"test-key", clock=lambda: datetime.now(UTC))
    return CustomerBook(store, audit), audit


def rec(source: str, source_id: str, hours: int = 0, **fields: str) -> SourceRecord:
    return SourceRecord(source, source_id, fields, T0 + timedelta(hours=hours))


ANA_ERP = rec("erp", "US-0042", 0, first_name="Ana", last_name="Ruiz", email="ana.ruiz@oldmail.com",
              phone="512-555-0111", address_line1="12 Oak Street", city="Austin", state="TX", postal_code="78701")
ANA_POS = rec("pos", "5013", 5, first_name="ANA", last_name="RUIZ", phone="(512) 555-0111")
ANA_CRM = rec("crm", "0b1f6a52-0000-4000-8000-000000000001", 2, first_name="Ana", last_name="Ruiz",
              email="ana.ruiz@newmail.com", phone="512 555 0111", city="Austin", state="TX")
BEN_POS = rec("pos", "5014", 1, first_name="Ben", last_name="Ruiz", phone="512-555-0199",
              address_line1="12 Oak St", postal_code="78701")


def test_one_profile_per_customer_with_every_source_id(store: TableStore) -> None:
    customers, _ = book(store)
    outcome = customers.resolve([ANA_ERP, ANA_POS, ANA_CRM, BEN_POS])
    assert outcome.row() == {"records": 4, "profiles": 2, "merged": 2, "review": 0}
    ana = customers.profile_of("erp", "US-0042")
    assert ana and ana == customers.profile_of("pos", "5013") == customers.profile_of("crm", ANA_CRM.source_id)
    assert customers.profile_of("pos", "5014") not in (None, ana)  # the husband at the same address
    profile = customers.profile(ana)
    assert profile is not None
    assert orjson.loads(profile["records"]) == sorted(["erp:US-0042", "pos:5013", f"crm:{ANA_CRM.source_id}"])


def test_survivorship_picks_per_field_by_source_then_recency(store: TableStore) -> None:
    customers, _ = book(store)
    customers.resolve([ANA_ERP, ANA_POS, ANA_CRM])
    ana = customers.profile(customers.profile_of("erp", "US-0042") or "")
    assert ana is not None
    fields, provenance = orjson.loads(ana["fields"]), orjson.loads(ana["provenance"])
    assert fields["email"] == "ana.ruiz@newmail.com" and provenance["email"].startswith("crm:")  # CRM first
    assert fields["address_line1"] == "12 Oak Street" and provenance["address_line1"] == "erp:US-0042"
    assert fields["phone"] == "(512) 555-0111" and provenance["phone"] == "pos:5013"  # the till's phone
    assert fields["first_name"] == "Ana"  # the ERP's spelling beats the POS's capitals


def test_a_rerun_changes_nothing_and_a_late_older_copy_is_ignored(store: TableStore) -> None:
    customers, _ = book(store)
    first = customers.resolve([ANA_ERP, ANA_POS, BEN_POS])
    before = {p.row_key: p["records"] for p in customers.profiles()}
    again = customers.resolve([ANA_ERP, ANA_POS, BEN_POS, rec("pos", "5013", -1, first_name="Anna")])
    assert (again.records, again.profiles, again.created, again.linked, again.merges) == (3, 2, 0, 0, [])
    assert {p.row_key: p["records"] for p in customers.profiles()} == before
    assert first.created == 2


def test_a_new_record_bridging_two_profiles_merges_them_audited_and_unmerge_undoes_it(store: TableStore) -> None:
    customers, audit = book(store)
    erp = rec("erp", "C-1", 0, first_name="Robert", last_name="Young", address_line1="5585 E Franklin Pl",
              city="Hartford", state="CT", postal_code="06127")
    loyalty = rec("loyalty", "L-9", 1, first_name="Bob", last_name="Young", email="rob.young@gmail.com",
                  phone="860-771-9390")
    customers.resolve([erp, loyalty])
    a, b = customers.profile_of("erp", "C-1"), customers.profile_of("loyalty", "L-9")
    assert a and b and a != b  # nothing yet says they are one person
    bridge = rec("crm", "X-7", 2, first_name="Robert", last_name="Young", email="rob.young@gmail.com",
                 address_line1="5585 East Franklin Place", city="Hartford", state="CT", postal_code="06127")
    outcome = customers.resolve([bridge])
    [merge_id] = outcome.merges
    survivor = customers.profile_of("crm", "X-7")
    assert survivor == customers.profile_of("erp", "C-1") == customers.profile_of("loyalty", "L-9")
    absorbed = b if survivor == a else a
    assert customers.profile(absorbed)["merged_into"] == survivor  # linked, not deleted
    assert [m.row_key for m in customers.merges(survivor)] == [merge_id]
    day = datetime.now(UTC).date()
    steps = [(r["Step"], r["Outcome"]) for r in audit.records(day)]
    assert ("customer.merge", "merged") in steps

    restored = customers.unmerge(survivor)
    assert restored == absorbed
    moved_back = [k for k in ("erp:C-1", "loyalty:L-9") if customers.profile_of(*k.split(":")) == absorbed]
    assert len(moved_back) == 1
    assert "merged_into" not in customers.profile(absorbed).data
    assert [m["state"] for m in customers.merges(survivor)] == ["unmerged"]
    assert ("customer.unmerge", "unmerged") in [(r["Step"], r["Outcome"]) for r in audit.records(day)]

    again = customers.resolve([bridge, erp, loyalty])  # a person said two customers: the sync keeps it so
    assert again.merges == [] and customers.profile_of(*moved_back[0].split(":")) == absorbed
    with pytest.raises(LookupError, match="no merge to undo"):
        customers.unmerge(survivor)


def test_survivorship_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="not one of the fields a profile chooses"):
        Survivorship(fields={"shoe_size": ("pos",)})
    with pytest.raises(ValueError, match="sources must be some of"):
        Survivorship(default=("erp", "web"))


def clustered(monkeypatch: pytest.MonkeyPatch, *groups: set[str]) -> None:
    """The matcher answers these clusters (record keys ``source:id``), so a test can stage chains of merges."""
    from shared.customers import matching

    def match(records: object, rules: object = None) -> matching.Matches:
        ids = [r.id for r in records]  # type: ignore[attr-defined]
        out = {i: i for i in ids}
        for group in groups:
            present = sorted(group & set(ids))
            for i in present:
                out[i] = present[0]
        return matching.Matches(out, [])

    monkeypatch.setattr(matching, "match", match)


def test_an_unmerge_inside_a_chain_of_merges_puts_every_record_back_where_it_was(
        store: TableStore, monkeypatch: pytest.MonkeyPatch) -> None:
    customers, _ = book(store)
    one, two, three = rec("pos", "1", 0, last_name="A"), rec("pos", "2", 1, last_name="B"), rec("pos", "3", 2,
                                                                                                last_name="C")
    clustered(monkeypatch)
    for record in (one, two, three):  # oldest first: the oldest profile of a merge survives it
        customers.resolve([record])
    p1, p2, p3 = (customers.profile_of("pos", i) for i in "123")
    clustered(monkeypatch, {"pos:2", "pos:3"})
    customers.resolve([])
    clustered(monkeypatch, {"pos:1", "pos:2", "pos:3"})
    customers.resolve([])
    assert {customers.profile_of("pos", i) for i in "123"} == {p1}
    with pytest.raises(LookupError, match="was itself merged into"):
        customers.unmerge(p2)  # type: ignore[arg-type]
    assert customers.unmerge(p1) == p2  # type: ignore[arg-type]
    assert [customers.profile_of("pos", i) for i in "123"] == [p1, p2, p2]
    assert customers.unmerge(p2) == p3  # type: ignore[arg-type]
    assert [customers.profile_of("pos", i) for i in "123"] == [p1, p2, p3]
    for pid, key in ((p1, "pos:1"), (p2, "pos:2"), (p3, "pos:3")):
        row = customers.profile(pid)  # type: ignore[arg-type]
        assert row is not None and orjson.loads(row["records"]) == [key], pid


def test_a_profile_row_a_failed_pass_never_wrote_is_written_by_the_next(store: TableStore) -> None:
    customers, _ = book(store)
    customers.resolve([ANA_ERP, ANA_POS])
    ana = customers.profile_of("erp", "US-0042")
    store.table("CustomerProfiles").delete("profile", ana)  # type: ignore[arg-type]
    customers.resolve([])
    row = customers.profile(ana)  # type: ignore[arg-type]
    assert row is not None and row["record_count"] == 2


def test_a_profile_whose_records_were_all_deleted_is_retired_and_deleted_records_lend_nothing(
        store: TableStore) -> None:
    customers, _ = book(store)
    customers.resolve([ANA_ERP, ANA_CRM, BEN_POS])
    ana, ben = customers.profile_of("erp", "US-0042"), customers.profile_of("pos", "5014")
    customers.resolve([], deleted=[("pos", "5014"), ("crm", ANA_CRM.source_id)])
    assert ben not in {p.row_key for p in customers.profiles()}
    retired = customers.profile(ben)  # type: ignore[arg-type]
    assert retired is not None and retired["retired"] and orjson.loads(retired["fields"]) == {}
    fields = orjson.loads(customers.profile(ana)["fields"])  # type: ignore[arg-type,index]
    assert fields["email"] == "ana.ruiz@oldmail.com"  # the deleted CRM record's e-mail is gone from the profile


def test_rebuilding_a_profile_keeps_its_loyalty_balances(store: TableStore) -> None:
    from shared.canonical.customers import LoyaltyBalance
    from shared.canonical.money import Money

    customers, _ = book(store)
    customers.resolve([ANA_ERP, ANA_POS])
    ana = customers.profile_of("erp", "US-0042")
    customers.set_loyalty(ana, LoyaltyBalance(Money.of("12.00", "USD"), Decimal(40)), pushed=True)  # type: ignore[arg-type]
    customers.resolve([rec("pos", "5013", 9, first_name="Ana", last_name="Ruiz", phone="512-555-0112")])
    row = customers.profile(ana)  # type: ignore[arg-type]
    assert row is not None and orjson.loads(row["loyalty"])["points"] == "40" and row["loyalty_pushed"]
    assert orjson.loads(row["fields"])["phone"] == "512-555-0112"  # the rebuild did happen


def test_a_record_with_part_of_an_address_does_not_hide_a_whole_one(store: TableStore) -> None:
    customers, _ = book(store)
    erp = rec("erp", "E-1", 0, first_name="Ana", last_name="Ruiz", email="ana@example.com", country="US")
    crm = rec("crm", "C-1", 0, first_name="Ana", last_name="Ruiz", email="ana@example.com",
              address_line1="12 Oak Street", city="Austin", state="TX", postal_code="78701")
    customers.resolve([erp, crm])
    fields = orjson.loads(customers.profile(customers.profile_of("erp", "E-1"))["fields"])  # type: ignore[arg-type,index]
    assert (fields["address_line1"], fields["postal_code"]) == ("12 Oak Street", "78701")


def test_a_record_staged_while_a_pass_matches_is_not_overwritten_by_it(store: TableStore,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.customers import matching
    from shared.storage.errors import BatchError

    customers, _ = book(store)
    customers.resolve([ANA_ERP, ANA_POS])
    real = matching.match

    def match_while_a_webhook_stages(records: object, rules: object = None) -> matching.Matches:
        customers.stage([rec("pos", "5013", 20, first_name="Ana", last_name="Ruiz", phone="512-555-0999")])
        return real(records, rules)  # type: ignore[arg-type]

    monkeypatch.setattr(matching, "match", match_while_a_webhook_stages)
    with pytest.raises(BatchError):
        customers.resolve([rec("pos", "5013", 10, first_name="Ana", last_name="Ruiz", phone="512-555-0123")])
    staged = store.table("CustomerRecords").get("pos", "5013")
    assert staged is not None and staged.get("staged")
    assert orjson.loads(staged["fields"])["phone"] == "512-555-0999"  # the webhook's, not the pass's older copy
    monkeypatch.setattr(matching, "match", real)
    customers.resolve([])
    ana = customers.profile(customers.profile_of("erp", "US-0042"))  # type: ignore[arg-type]
    assert ana is not None and orjson.loads(ana["fields"])["phone"] == "512-555-0999"
