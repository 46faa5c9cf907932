"""``hl365 mapping apply``: suggestions into mapping.yaml, the person's file respected."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shared.mapping.apply import apply, main_apply
from shared.mapping.loader import check
from shared.mapping.suggest import suggest_entry

ROOT = Path(__file__).parents[2]
PERSON = """
fields:                        # written by our controller, March
  CustomersV3:
    PrimaryContactEmail: email # the e-mail the till takes
"""


def mapping(tmp_path: Path, extra: str = PERSON) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text((ROOT / "mapping.yaml").read_text() + extra)
    return path


def field(source: str, target: str, confidence: float, **more: object) -> dict:
    return {"source_field": source, "target_field": target, "target_entity": "CustomersV3",
            "confidence": confidence, "reason": "synonym", **more}


def test_apply_adds_keeps_the_person_s_entries_and_comments(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    before = path.read_text()
    report = apply(path, [field("address.zip", "AddressZipCode", 0.93), field("contact", "PrimaryContactEmail", 0.9),
                          field("zip", "AddressZipCode", 0.7), field("phone", "PrimaryContactPhone", 0.8,
                                                                      accepted=False),
                          field("city", "AddressCity", 0.3)])
    after = path.read_text()
    assert report.written and report.problems == []
    assert after.startswith(before.split("\nfields:")[0])
    assert "# written by our controller, March" in after and "# the e-mail the till takes" in after
    assert "# hl365 mapping: how Heartland's vocabulary lands" in after
    rules = yaml.safe_load(after)["fields"]["CustomersV3"]
    assert rules == {"PrimaryContactEmail": "email", "AddressZipCode": {"from": "address.zip", "suggested": 0.93}}
    assert any("written by a person" in line for line in report.kept)
    assert any("accepted: false" in line for line in report.skipped)
    assert any("below" in line for line in report.skipped)
    assert check(path)[1] == []


def test_a_better_suggestion_replaces_an_earlier_one_but_never_a_person_s(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    apply(path, [field("zip", "AddressZipCode", 0.6)])
    report = apply(path, [field("address.zip", "AddressZipCode", 0.9), field("mail", "PrimaryContactEmail", 0.99)])
    rules = yaml.safe_load(path.read_text())["fields"]["CustomersV3"]
    assert rules["AddressZipCode"] == {"from": "address.zip", "suggested": 0.9}
    assert rules["PrimaryContactEmail"] == "email" and len(report.replaced) == 1


def test_one_source_fills_one_target_per_entity(tmp_path: Path) -> None:
    path = mapping(tmp_path, "")
    apply(path, [field("address.zip", "AddressZipCode", 0.9), field("address.zip", "PostalCode", 0.8)])
    assert yaml.safe_load(path.read_text())["fields"]["CustomersV3"] == {
        "AddressZipCode": {"from": "address.zip", "suggested": 0.9}}


def test_a_result_that_would_not_validate_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    before = path.read_bytes()
    bad = {"section": "payment_types", "key": "AMEX_CORPORATE", "entry": {"method": "AMEX"}, "confidence": 0.8,
           "like": "AMEX"}
    report = apply(path, [bad, field("address.zip", "AddressZipCode", 0.9)])
    assert not report.written and report.problems
    assert any("payment_types.AMEX_CORPORATE" in p and str(path) in p for p in report.problems)
    assert path.read_bytes() == before
    suggestions = tmp_path / "suggestions.json"
    suggestions.write_text(json.dumps([bad]))
    assert main_apply(suggestions, path, False, 0.5) == 1
    assert path.read_bytes() == before


def test_an_unmapped_value_gets_its_entry_and_check_passes(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    document = yaml.safe_load(path.read_text())
    entries = [suggest_entry(document, "payment_types", "AMEX_CORPORATE").as_dict(),
               suggest_entry(document, "payroll.codes.earning", "OT2").as_dict(),
               suggest_entry(document, "payment_types", "ZQX_WIRE").as_dict(),
               {**suggest_entry(document, "payment_types", "VISA").as_dict(), "key": "VISA"}]
    suggestions = tmp_path / "suggestions.json"
    suggestions.write_text(json.dumps(entries))
    assert main_apply(suggestions, path, True, 0.5) == 0
    assert "AMEX_CORPORATE" not in path.read_text()
    assert main_apply(suggestions, path, False, 0.5) == 0
    text = path.read_text()
    assert '  AMEX_CORPORATE: {method: AMEX, clearing_account: "130200"}' in text
    mapping_now, problems = check(path)
    assert problems == [] and mapping_now is not None
    assert mapping_now.payment_type("AMEX_CORPORATE").clearing_account == "130200"
    assert mapping_now.payroll is not None and mapping_now.payroll.codes.earning["OT2"] == "601110"
    assert "ZQX_WIRE" not in text


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main_apply(bad, path, False, 0.5) == 2
    assert main_apply(tmp_path / "missing.json", path, False, 0.5) == 2
    good = tmp_path / "good.json"
    good.write_text("[]")
    assert main_apply(good, tmp_path / "missing.yaml", False, 0.5) == 2
    assert main_apply(good, path, False, 0.5) == 0
