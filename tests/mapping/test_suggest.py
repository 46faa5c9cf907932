"""The mapping suggester: what a person accepting or rejecting its suggestions relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandbox.scenario.mapping_pairs import HELD_OUT, PAIRS, evaluate
from sandbox.simulators.bc.schema import edmx
from sandbox.simulators.fo.model import metadata
from shared.errors import ConfigError, PermanentApiError, TransientApiError
from shared.mapping.suggest import (
    THRESHOLD,
    TargetField,
    concepts,
    fields_from_metadata,
    main_suggest,
    source_fields,
    suggest,
    suggest_entry,
    unwritable_fields,
)

ROOT = Path(__file__).parents[2]


def top(suggestions: list, source: str) -> str | None:
    """The target the field is suggested for (at 0.5 or above), or None."""
    found = [s for s in suggestions if s.source_field == source and s.confidence >= THRESHOLD]
    return found[0].target_field if found else None


def test_the_corpus_meets_the_aims() -> None:
    each, overall = evaluate(PAIRS)
    assert len(PAIRS) + len(HELD_OUT) >= 12
    assert overall.top1 >= 0.85, [m for f in each for m in f.misses]
    assert overall.abstention >= 0.9, [m for f in each for m in f.misses]


def test_the_held_out_pairs_are_reported_and_not_far_off() -> None:
    _, overall = evaluate(HELD_OUT)
    assert overall.mapped and overall.unmapped
    assert overall.top1 >= 0.75 and overall.abstention >= 0.85


def test_source_paths_are_dotted_arrays_written_with_brackets_and_keys_verbatim() -> None:
    sample = {"id": 1, "Emp #": "E1", "tags": ["a", "b"], "lines": [{"sku": "A"}, {"sku": "B", "qty": 2}],
              "address": {"zip": "78701"}, "custom": {}, "notes": []}
    paths = dict(source_fields(sample))
    assert list(paths) == ["id", "Emp #", "tags[]", "lines[].sku", "lines[].qty", "address.zip", "custom", "notes[]"]
    assert paths["lines[].sku"] == ["A", "B"] and paths["tags[]"] == ["a", "b"] and paths["notes[]"] == []


def test_the_trade_s_words_are_read() -> None:
    assert concepts("Emp #") == ("employee", "number")
    assert concepts("zip") == concepts("PostalCode") == concepts("address1_postalcode")[-1:]
    assert concepts("UPC") == concepts("gtin") == concepts("Barcode")
    assert concepts("Amt") == concepts("amount") and concepts("Qty") == concepts("Quantity")


@pytest.mark.parametrize("entity, targets", [
    ("CustomersV3", [TargetField("dataAreaId", "Edm.String", key=True), TargetField("RecId", "Edm.Int64"),
                     TargetField("CustomerAccount", "Edm.String", key=True)]),
    ("customers", [TargetField("id", "Edm.Guid", key=True), TargetField("SystemId", "Edm.Guid"),
                   TargetField("@odata.etag"), TargetField("lastModifiedDateTime", "Edm.DateTimeOffset"),
                   TargetField("number")]),
])
def test_a_system_id_never_maps_to_a_system_id(entity: str, targets: list[TargetField]) -> None:
    sample = {"id": 5012, "uuid": "0f8fad5b-d9cb-469f-a165-70867728950e", "updated_at": "2026-06-01T10:00:00Z",
              "customer_id": 77, "@odata.etag": 'W/"1"'}
    suggestions = suggest(sample, entity, targets)
    system = {"dataAreaId", "RecId", "id", "SystemId", "@odata.etag", "lastModifiedDateTime"}
    assert not [s for s in suggestions if s.target_field in system]
    assert all(s.confidence < THRESHOLD for s in suggestions)


def test_read_only_totals_and_assigned_numbers_are_never_proposed() -> None:
    sample = {"total": "51.96", "order_number": 1001, "email": "ana@example.com"}
    targets = [TargetField("totalAmountIncludingTax", "Edm.Decimal", read_only=True),
               TargetField("SalesOrderNumber", "Edm.String", "Sales order, from the number sequence"),
               TargetField("OrderTotal", "decimal", "Computed by the ERP from the lines")]
    assert [s for s in suggest(sample, "salesOrders", targets) if s.confidence >= THRESHOLD] == []


def test_values_say_what_a_renamed_field_is() -> None:
    sample = {"contact": "ana@example.com", "amount": "5410", "ccy": "USD", "when": "2026-06-01T15:02:05Z"}
    targets = [TargetField("PrimaryContactEmail"), TargetField("PrimaryContactPhone"),
               TargetField("CreditAmount", "Edm.Decimal"), TargetField("CurrencyCode"),
               TargetField("TransactionDate", "Edm.DateTimeOffset")]
    suggestions = suggest(sample, "CustomerPaymentJournalLines", targets)
    assert top(suggestions, "contact") == "PrimaryContactEmail"
    assert top(suggestions, "ccy") == "CurrencyCode"
    amount = next(s for s in suggestions if s.source_field == "amount")
    assert amount.target_field == "CreditAmount" and "minor units" in amount.reason
    assert all(s.target_entity == "CustomerPaymentJournalLines" and s.reason for s in suggestions)
    assert all(len([s for s in suggestions if s.source_field == p]) <= 3 for p in sample)


def test_metadata_of_both_erps_gives_keys_and_system_fields() -> None:
    fo = {f.name: f for f in fields_from_metadata(metadata(), "CustomersV3")}
    assert fo["CustomerAccount"].key and fo["dataAreaId"].read_only
    bc = {f.name: f for f in fields_from_metadata(edmx().decode(), "customers")}
    assert bc["id"].read_only and bc["lastModifiedDateTime"].read_only and bc["postalCode"].type == "Edm.String"
    computed = ('<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0"><edmx:DataServices>'
                '<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="N"><EntityType Name="Order">'
                '<Key><PropertyRef Name="No"/></Key><Property Name="No" Type="Edm.String"/>'
                '<Property Name="Total" Type="Edm.Decimal"><Annotation Term="Org.OData.Core.V1.Computed" '
                'Bool="true"/></Property></EntityType><EntityContainer Name="C"><EntitySet Name="Orders" '
                'EntityType="N.Order"/></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>')
    orders = {f.name: f for f in fields_from_metadata(computed, "Orders")}
    assert orders["No"].key and orders["Total"].read_only and not orders["No"].read_only


def test_suggest_entry_copies_amex_for_amex_corporate_and_abstains_for_an_unknown_name() -> None:
    document = yaml.safe_load((ROOT / "mapping.yaml").read_text())
    amex = suggest_entry(document, "payment_types", "AMEX_CORPORATE")
    assert amex.entry == document["payment_types"]["AMEX"] and amex.like == "AMEX"
    assert amex.confidence >= THRESHOLD and "AMEX" in amex.reason
    overtime = suggest_entry(document, "payroll.codes.earning", "OT2")
    assert overtime.like == "OT" and overtime.entry == document["payroll"]["codes"]["earning"]["OT"]
    unknown = suggest_entry(document, "payment_types", "ZQX_WIRE")
    assert unknown.entry is None and unknown.confidence < THRESHOLD
    assert unknown.needs == ("method", "clearing_account") and "method" in unknown.reason
    holiday = suggest_entry({"payroll": {"codes": {"earning": {"REG": "1", "HOLIDAY": "2"}}}},
                            "payroll.codes.earning", "HOL")
    assert holiday.like == "HOLIDAY" and holiday.entry == "2"


def test_the_command_writes_json_and_refuses_a_malformed_input(tmp_path: Path, capsys) -> None:
    good = tmp_path / "input.json"
    good.write_text(json.dumps({"source_sample": {"zip": "78701", "id": 3}, "target_entity": "customers",
                                "target_fields": [{"name": "postalCode", "type": "string", "description": ""}]}))
    out = tmp_path / "out.json"
    assert main_suggest(good, out, None, None) == 0
    written = json.loads(out.read_text())
    assert written[0]["source_field"] == "zip" and written[0]["target_field"] == "postalCode"
    assert set(written[0]) == {"source_field", "target_field", "target_entity", "confidence", "reason"}
    bad = tmp_path / "bad.json"
    for text in ("{", json.dumps({"source_sample": [], "target_entity": "x"}),
                 json.dumps({"source_sample": {"a": 1}, "target_entity": "x", "target_fields": [{"type": "s"}]})):
        bad.write_text(text)
        assert main_suggest(bad, None, None, None) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_the_command_reads_target_fields_from_metadata_with_entity(tmp_path: Path) -> None:
    source = tmp_path / "input.json"
    source.write_text(json.dumps({"source_sample": {"zip": "78701"}, "target_entity": "customers"}))
    out = tmp_path / "out.json"
    assert main_suggest(source, out, "customers", lambda _entity: edmx().decode()) == 0
    assert json.loads(out.read_text())[0]["target_field"] == "postalCode"
    assert main_suggest(source, out, "nosuch", lambda _entity: edmx().decode()) == 2


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A console wide enough that no sentence is wrapped."""
    monkeypatch.setenv("COLUMNS", "400")


def _input(tmp_path: Path, sample: dict) -> Path:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"source_sample": sample, "target_entity": "customers",
                                "target_fields": [{"name": "postalCode"}, {"name": "city"}]}))
    return path


def test_keys_and_names_that_look_like_markup_are_printed_as_they_are(tmp_path: Path, capsys) -> None:
    source = _input(tmp_path, {"[/x]": "78701", "zip": "78701"})
    assert main_suggest(source, None, None, None) == 0
    assert "[/x]" in capsys.readouterr().out
    folder = tmp_path / "a[" / "b]"
    folder.mkdir(parents=True)
    assert main_suggest(folder / "missing.json", None, None, None) == 2
    assert main_suggest(source, folder / "out.json", "[/e]", lambda _entity: edmx().decode()) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "a[/b]" in err and "[/e]" in err
    assert main_suggest(source, folder / "out.json", None, None) == 0
    assert "a[/b]" in capsys.readouterr().out.replace("\n", "")


def test_an_out_that_cannot_be_written_exits_2(tmp_path: Path, capsys) -> None:
    source = _input(tmp_path, {"zip": "78701"})
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for out in (tmp_path, a_file / "out.json", tmp_path / "no" / "such" / "folder" / "out.json"):
        assert main_suggest(source, out, None, None) == 2, out
        err = capsys.readouterr().err
        assert "cannot write" in err and "Traceback" not in err


@pytest.mark.parametrize("error, words", [
    (ConfigError("D365_TENANT is not set"), "D365_TENANT is not set"),
    (PermanentApiError("Unauthorized", "the ERP refused the token (401)", source="fo", status=401), "401"),
    (TransientApiError("ConnectError", "the ERP could not be reached", source="bc"), "could not be reached"),
])
def test_an_erp_whose_metadata_cannot_be_read_exits_2_with_its_words(tmp_path: Path, capsys, wide: None,
                                                                      error: Exception, words: str) -> None:
    def metadata(_entity: str) -> str:
        raise error

    assert main_suggest(_input(tmp_path, {"zip": "78701"}), None, "customers", metadata) == 2
    err = capsys.readouterr().err
    assert words in err and "customers" in err and "Traceback" not in err


def test_a_key_a_path_cannot_write_gets_no_suggestion_and_says_why(tmp_path: Path, capsys, wide: None) -> None:
    sample = {"ship.zip": "78701", "ship": {"zip": "10118"}, "bill[to]": {"city": "Austin"}, "city": "Austin"}
    targets = [TargetField("postalCode"), TargetField("city"), TargetField("shipToPostCode")]
    suggestions = suggest(sample, "salesOrders", targets)
    unwritable = unwritable_fields(sample)
    assert set(unwritable) == {"ship.zip", "bill[to].city"}
    assert "'bill[to]'" in unwritable["bill[to].city"] and "cannot be written as a path" in unwritable["ship.zip"]
    assert top(suggestions, "ship.zip") is None and top(suggestions, "bill[to].city") is None
    assert top(suggestions, "city") == "city"
    assert not [s for s in suggestions if s.source_field in unwritable]
    assert main_suggest(_input(tmp_path, {"ship.zip": "78701"}), None, None, None) == 0
    assert "its key 'ship.zip' cannot be written as a path" in capsys.readouterr().out


def test_a_likeness_of_spelling_alone_copies_no_entry() -> None:
    document = yaml.safe_load((ROOT / "mapping.yaml").read_text())
    bakery = suggest_entry(document, "payroll.departments", "Bakery")
    assert bakery.entry is None and bakery.confidence < THRESHOLD and "spelt like BAR" in bakery.reason
    jcb = suggest_entry(document, "payment_types", "JCB")
    assert jcb.entry is None and jcb.confidence < THRESHOLD
    store = suggest_entry(document, "payroll.locations", "STORE4")
    assert store.entry is None and store.confidence < THRESHOLD
    assert suggest_entry(document, "payroll.departments", "BARISTA").entry is None
    assert suggest_entry(document, "payroll.locations", "STORE10").entry is None


@pytest.mark.parametrize("section, name, like", [
    ("payment_types", "AMEX_CORPORATE", "AMEX"), ("payment_types", "VISA_DEBIT", "VISA"),
    ("payment_types", "MC", "MASTERCARD"), ("payroll.codes.earning", "OT2", "OT"),
    ("payroll.codes.withholding", "FICA-MEDICARE", "FICA-MED"),
    ("payroll.codes.deduction_post_tax", "GARN2", "GARN"),
])
def test_a_family_or_a_kind_of_copies_its_entry(section: str, name: str, like: str) -> None:
    document = yaml.safe_load((ROOT / "mapping.yaml").read_text())
    found = suggest_entry(document, section, name)
    assert found.like == like and found.confidence >= THRESHOLD and found.entry is not None
