"""Field mappings: the ``fields`` section of mapping.yaml and the records built from it."""

from __future__ import annotations

from pathlib import Path

from shared.mapping.fields import is_path_key, is_source_path, map_record, source_of
from shared.mapping.loader import check
from shared.mapping.schema import SuggestedField

ROOT = Path(__file__).parents[2]


def test_a_target_record_is_built_by_the_paths() -> None:
    order = {"Emp #": "E1001", "shipping_address": {"zip": "10118"}, "tags": ["vip", "web"],
             "line_items": [{"sku": "SKU-1", "quantity": 3}, {"sku": "SKU-2", "quantity": 1}]}
    rules = {"PersonnelNumber": "Emp #", "DeliveryAddressZipCode": {"from": "shipping_address.zip", "suggested": 0.9},
             "ItemNumber": "line_items[].sku", "Tags": "tags[]", "Missing": "nowhere.to_be_found"}
    assert map_record(order, rules) == {"PersonnelNumber": "E1001", "DeliveryAddressZipCode": "10118",
                                        "ItemNumber": ["SKU-1", "SKU-2"], "Tags": ["vip", "web"]}


def test_the_path_grammar() -> None:
    assert all(is_source_path(p) for p in ("lines[].sku", "tags[]", "Emp #", "a.b.c", "matrix[][]"))
    assert not any(is_source_path(p) for p in ("", "a..b", ".a", "a.", "a[0]", "lines[]sku", " . "))


def test_a_key_holding_a_dot_or_brackets_cannot_be_a_step_of_a_path() -> None:
    assert all(is_path_key(k) for k in ("zip", "Emp #", "e-mail", "address_1"))
    assert not any(is_path_key(k) for k in ("ship.zip", "bill[to]", "[/x]", "tags[]", "", "  "))
    record = {"ship.zip": "78701", "ship": {"zip": "10118"}}
    assert map_record(record, {"Zip": "ship.zip"}) == {"Zip": "10118"}, "the grammar reads a dot as a step"


def test_the_source_of_a_rule_in_each_of_its_forms() -> None:
    assert source_of("address.zip") == "address.zip"
    assert source_of({"from": "zip", "suggested": 0.9}) == "zip"
    assert source_of(SuggestedField.model_validate({"from": "lines[].sku", "suggested": 0.8})) == "lines[].sku"
    assert source_of({"suggested": 0.9}) == source_of(None) == source_of({"from": 3}) == ""


def _with_fields(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text((ROOT / "mapping.yaml").read_text() + "\nfields:\n" + block)
    return path


def test_the_fields_section_validates(tmp_path: Path) -> None:
    good = _with_fields(tmp_path, "  CustomersV3:\n    AddressZipCode: address.zip\n"
                                  "    PrimaryContactEmail: {from: email, suggested: 0.93}\n")
    mapping, problems = check(good)
    assert problems == [] and mapping is not None
    assert mapping.fields["CustomersV3"]["AddressZipCode"] == "address.zip"
    for block, field in (("  CustomersV3:\n    AddressZipCode: address..zip\n", "fields.CustomersV3.AddressZipCode"),
                         ("  CustomersV3:\n    Email: {from: email, suggested: 1.5}\n", "fields.CustomersV3.Email"),
                         ('  "":\n    Email: email\n', "fields"),
                         ("  CustomersV3:\n    Email: {from: email}\n", "fields.CustomersV3.Email")):
        mapping, problems = check(_with_fields(tmp_path, block))
        assert mapping is None and problems, block
        assert all(p.field.startswith(field) for p in problems), [str(p) for p in problems]
