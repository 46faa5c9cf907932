"""``hl365 mapping apply``: suggestions into mapping.yaml, the person's file respected."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
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


def test_no_entry_already_there_is_replaced_not_even_by_a_surer_suggestion(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    apply(path, [field("zip", "AddressZipCode", 0.6), field("town", "AddressCity", 0.6)])
    corrected = path.read_text().replace("{from: zip, suggested: 0.6}", "{from: address.zip, suggested: 0.6}")
    path.write_text(corrected)  # a person corrects the applied source and leaves `suggested` as it was

    report = apply(path, [field("shipping.zip", "AddressZipCode", 0.95), field("address.city", "AddressCity", 0.9),
                          field("mail", "PrimaryContactEmail", 0.99)])

    rules = yaml.safe_load(path.read_text())["fields"]["CustomersV3"]
    assert rules["AddressZipCode"] == {"from": "address.zip", "suggested": 0.6}
    assert rules["AddressCity"] == {"from": "town", "suggested": 0.6}
    assert rules["PrimaryContactEmail"] == "email"
    assert report.added == [] and not report.written and len(report.kept) == 3
    assert all("delete it to take the new suggestion" in line for line in report.kept)
    assert any("address.zip" in line and "shipping.zip (0.95)" in line for line in report.kept)


def test_one_source_fills_one_target_per_entity(tmp_path: Path) -> None:
    path = mapping(tmp_path, "")
    apply(path, [field("address.zip", "AddressZipCode", 0.9), field("address.zip", "PostalCode", 0.8)])
    assert yaml.safe_load(path.read_text())["fields"]["CustomersV3"] == {
        "AddressZipCode": {"from": "address.zip", "suggested": 0.9}}


def test_a_result_that_would_not_validate_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = mapping(tmp_path)
    before = path.read_bytes()
    bad = {"section": "payment_types", "key": "AMEX_CORPORATE", "entry": {"method": "AMEX"}, "confidence": 0.8,
           "like": "AMEX", "accepted": True}
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
    entries = [{**suggest_entry(document, "payment_types", "AMEX_CORPORATE").as_dict(), "accepted": True},
               {**suggest_entry(document, "payroll.codes.earning", "OT2").as_dict(), "accepted": True},
               suggest_entry(document, "payment_types", "ZQX_WIRE").as_dict(),
               {**suggest_entry(document, "payment_types", "VISA").as_dict(), "key": "VISA", "accepted": True}]
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


def test_an_entry_suggestion_is_applied_only_when_a_person_accepted_it(tmp_path: Path, capsys) -> None:
    path = mapping(tmp_path, "")
    before = path.read_bytes()
    document = yaml.safe_load(path.read_text())
    amex = suggest_entry(document, "payment_types", "AMEX_CORPORATE").as_dict()
    assert amex["confidence"] >= 0.5 and "accepted" not in amex

    report = apply(path, [amex], min_confidence=0.1)

    assert report.not_accepted and "AMEX_CORPORATE" in report.not_accepted[0] and not report.added
    assert path.read_bytes() == before
    suggestions = tmp_path / "suggestions.json"
    suggestions.write_text(json.dumps([amex]))
    assert main_apply(suggestions, path, False, 0.5) == 0
    out = capsys.readouterr().out
    assert "Not accepted" in out and '"accepted": true' in out and path.read_bytes() == before

    a_person_s = {"section": "payment_types", "key": "ZELLE", "confidence": 0.14, "like": None, "accepted": True,
                  "entry": {"method": "ZELLE", "clearing_account": "130100"}}
    report = apply(path, [{**amex, "accepted": True}, a_person_s])
    assert report.written and len(report.added) == 2
    assert yaml.safe_load(path.read_text())["payment_types"]["ZELLE"]["method"] == "ZELLE"


def test_a_symlinked_mapping_is_written_through_and_keeps_its_mode(tmp_path: Path) -> None:
    real = mapping(tmp_path, "")
    os.chmod(real, 0o644)
    (tmp_path / "conf").mkdir()
    link = tmp_path / "conf" / "mapping.yaml"
    link.symlink_to(real)

    report = apply(link, [field("address.zip", "AddressZipCode", 0.9)])

    assert report.written and link.is_symlink() and link.resolve() == real.resolve()
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    assert "AddressZipCode" in real.read_text()
    assert [p.name for p in (tmp_path / "conf").iterdir()] == ["mapping.yaml"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mapping.yaml.")]


def test_a_mapping_that_is_a_folder_or_cannot_be_written_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    suggestions = tmp_path / "suggestions.json"
    suggestions.write_text(json.dumps([field("address.zip", "AddressZipCode", 0.9)]))
    assert main_apply(suggestions, tmp_path, False, 0.5) == 2
    assert "cannot read" in capsys.readouterr().err
    path = mapping(tmp_path, "")
    before = path.read_bytes()

    def refused(_src: object, _dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refused)
    assert main_apply(suggestions, path, False, 0.5) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Permission denied" in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mapping.yaml.")]
    assert main_apply(suggestions, path, True, 0.5) == 0, "a dry run writes nothing beside the mapping"


@pytest.mark.parametrize("dry_run", [True, False])
def test_paths_and_names_that_look_like_markup_are_printed_as_they_are(tmp_path: Path, capsys,
                                                                         dry_run: bool) -> None:
    folder = tmp_path / "a[" / "b]"
    folder.mkdir(parents=True)
    path = mapping(folder, "")
    suggestions = folder / "suggestions.json"
    suggestions.write_text(json.dumps([field("[/x]", "AddressZipCode", 0.9),
                                       {"section": "payment_types", "key": "[/y]", "entry": {"method": "AMEX"},
                                        "confidence": 0.9, "like": "AMEX"}]))
    assert main_apply(suggestions, path, dry_run, 0.5) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert "a[/b]" in out and "[/x]" in out and "[/y]" in out
    assert main_apply(folder / "missing.json", path, dry_run, 0.5) == 2
    assert "a[/b]" in capsys.readouterr().err
