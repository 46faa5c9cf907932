"""The mapping's ``catalog`` section: who owns each product field, and which ERP warehouse a POS location is."""

import subprocess
import sys
from pathlib import Path

import pytest

from shared.canonical.products import StockPlace, Warehouse
from shared.mapping.loader import check, load
from shared.mapping.schema import Owner, UnmappedError
from tests.mapping.test_loader import ROOT, shipped, write


def test_the_shipped_catalog_section_is_valid_and_says_who_owns_what() -> None:
    catalog = load(ROOT / "mapping.yaml").catalog
    assert catalog is not None
    assert catalog.fields_owned_by(Owner.ERP) == ("description", "price", "cost", "active")
    assert catalog.fields_owned_by(Owner.POS) == ("barcode",)
    assert catalog.inventory.master is Owner.ERP
    assert catalog.place("MAIN", "fo") == StockPlace("MAIN", Warehouse("11", "1"))
    assert catalog.place("MAIN", "bc") == StockPlace("MAIN", Warehouse("MAIN"))
    assert catalog.place("MAIN", "pos") == StockPlace("MAIN")


def test_a_bad_owner_is_refused_with_the_field_its_line_and_the_choices(tmp_path: Path) -> None:
    text = shipped().replace("    price: erp ", "    price: retail ")
    mapping, problems = check(write(tmp_path, text))
    assert mapping is None
    [problem] = problems
    assert problem.field == "catalog.owners.price"
    assert text.splitlines()[problem.line - 1].strip().startswith("price: retail")
    assert problem.message == "Input should be 'erp' or 'pos'"


def test_config_check_prints_the_bad_owner(tmp_path: Path) -> None:
    hl365 = str(Path(sys.executable).with_name("hl365"))
    bad = write(tmp_path, shipped().replace("    barcode: pos", "    barcode: nobody"))
    answer = subprocess.run([hl365, "config", "check", str(bad)], capture_output=True, text=True, check=False,
                            env={"COLUMNS": "200", "PATH": ""})
    assert answer.returncode == 1
    assert "catalog.owners.barcode: Input should be 'erp' or 'pos'" in answer.stdout


def test_every_field_must_have_an_owner(tmp_path: Path) -> None:
    mapping, problems = check(write(tmp_path, shipped().replace("    cost: erp\n", "")))
    assert mapping is None and [(p.field, p.message) for p in problems] == [
        ("catalog.owners.cost", "required and missing")]


@pytest.mark.parametrize(("rule", "says"), [
    ('{fo_site: "1"}', "give fo_site and fo_warehouse together (an F&O warehouse belongs to a site)"),
    ("{}", "name the ERP warehouse: fo_site and fo_warehouse, or bc_location, or both"),
])
def test_a_location_must_name_a_whole_warehouse(tmp_path: Path, rule: str, says: str) -> None:
    text = shipped().replace('{fo_site: "1", fo_warehouse: "11", bc_location: MAIN}', rule)
    mapping, problems = check(write(tmp_path, text))
    assert mapping is None and [(p.field, p.message) for p in problems] == [("catalog.inventory.locations.MAIN", says)]


def test_business_central_stock_stands_for_one_location_only(tmp_path: Path) -> None:
    text = shipped().replace("      MAIN: {", '      EAST: {bc_location: EAST}\n      MAIN: {')
    mapping, problems = check(write(tmp_path, text))
    assert mapping is None
    assert "one inventory figure per item" in problems[0].message and "EAST, MAIN" in problems[0].message


def test_one_fo_warehouse_cannot_stand_for_two_locations(tmp_path: Path) -> None:
    text = shipped().replace("      MAIN: {", '      EAST: {fo_site: "1", fo_warehouse: "11"}\n      MAIN: {')
    mapping, problems = check(write(tmp_path, text))
    assert mapping is None and "counted twice" in problems[0].message


def test_an_unmapped_location_is_fatal_with_a_reason() -> None:
    catalog = load(ROOT / "mapping.yaml").catalog
    assert catalog is not None
    with pytest.raises(UnmappedError, match=r"'WEST' is not in catalog\.inventory\.locations"):
        catalog.place("WEST", "fo")


def test_a_mapping_without_a_catalog_section_is_still_valid(tmp_path: Path) -> None:
    text = shipped()
    mapping, problems = check(write(tmp_path, text[:text.index("catalog:")]))
    assert problems == [] and mapping is not None and mapping.catalog is None
