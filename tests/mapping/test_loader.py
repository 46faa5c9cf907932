"""The mapping file: what a finance user sees when they edit it."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import FatalError
from shared.mapping.loader import MappingError, check, load
from shared.mapping.schema import PostingMode, UnmappedError

ROOT = Path(__file__).parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    return path


def shipped() -> str:
    return (ROOT / "mapping.yaml").read_text()


def test_the_shipped_mapping_is_valid() -> None:
    mapping = load(ROOT / "mapping.yaml")
    assert mapping.journal.posting_mode is PostingMode.REVIEW
    assert mapping.payment_type("VISA").clearing_account == "130100"
    assert mapping.base_currency == "USD"


def test_every_problem_is_reported_with_line_and_field(tmp_path: Path) -> None:
    text = shipped().replace('  bank: "110110"', '  bnak: "110110"').replace("line_limit: 1000", "line_limit: 2")
    text = text.replace("base_currency: USD", "base_currency: XYZ")
    mapping, problems = check(write(tmp_path, text))
    assert mapping is None
    rendered = [str(p) for p in problems]
    lines = text.splitlines()
    by_field = {p.field: p for p in problems}
    assert set(by_field) == {"base_currency", "journal.line_limit", "accounts.bank", "accounts.bnak"}
    assert lines[by_field["accounts.bnak"].line - 1].strip().startswith("bnak:")
    assert lines[by_field["journal.line_limit"].line - 1].strip().startswith("line_limit:")
    assert lines[by_field["base_currency"].line - 1].startswith("base_currency:")
    assert by_field["accounts.bank"].message == "required and missing"
    assert by_field["accounts.bnak"].message == "not a setting of this section (misspelt?)"
    assert all(r.startswith(f"{tmp_path / 'mapping.yaml'}:") for r in rendered)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    mapping, problems = check(write(tmp_path, "version: 1\naccounts: [unclosed\n"))
    assert mapping is None and problems[0].field == "(syntax)" and problems[0].line >= 2


def test_unsafe_yaml_is_refused(tmp_path: Path) -> None:
    mapping, problems = check(write(tmp_path, "!!python/object/apply:os.system ['true']\n"))
    assert mapping is None and problems


def test_unmapped_names_are_fatal_with_a_reason() -> None:
    mapping = load(ROOT / "mapping.yaml")
    with pytest.raises(UnmappedError) as caught:
        mapping.payment_type("DINERS")
    assert isinstance(caught.value, FatalError)
    assert caught.value.reason == "UnmappedPaymentType" and "DINERS" in caught.value.description
    with pytest.raises(UnmappedError, match="tax component 'STATE_X'"):
        mapping.tax_component("STATE_X")


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as caught:
        load(write(tmp_path, "version: 1\n"))
    assert {p.field for p in caught.value.problems} >= {"legal_entity", "journal", "accounts"}


def test_config_check_command(tmp_path: Path) -> None:
    hl365 = str(Path(sys.executable).with_name("hl365"))
    good = subprocess.run([hl365, "config", "check", str(ROOT / "mapping.yaml")], capture_output=True, text=True,
                          check=False)
    assert good.returncode == 0 and "valid" in good.stdout
    bad_file = write(tmp_path, shipped().replace("  CASH: {method: CASH, clearing_account: \"110100\"}",
                                                  "  CASH: {method: CASH}"))
    bad = subprocess.run([hl365, "config", "check", str(bad_file)], capture_output=True, text=True, check=False,
                         env={"COLUMNS": "200", "PATH": ""})
    assert bad.returncode == 1
    assert "payment_types.CASH.clearing_account: required and missing" in bad.stdout
