"""A dead letter caused by a name the mapping lacks gets the entry to add; applying it and replaying closes
the loop with no code change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from shared import wiring
from shared.canonical.envelope import Envelope
from shared.errors import InvalidRequest
from shared.flows.deadletter_fixes import suggest_fix, unmapped
from shared.flows.replay import replay
from shared.mapping.apply import apply
from shared.mapping.suggest import suggestions_of
from shared.messaging.envelope import to_message
from shared.ops.deadletters import row_id
from tests.flows.conftest import take

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("reason", "description", "expected"), [
    ("UnmappedPaymentType", "batch BAT_1: payment type 'AMEX_CORPORATE' is not in the mapping",
     [("payment_types", "AMEX_CORPORATE")]),
    ("UnmappedTaxComponent", "tax component 'COUNTY_TRANSIT' is not in the mapping",
     [("tax_components", "COUNTY_TRANSIT")]),
    ("UnmappedDepartment", "department 'GIFTS' is not in the mapping", [("departments", "GIFTS")]),
    ("UnmappedPayrollCode", "payroll code OT2 (earning, at reg.csv:14) is not in payroll.codes.earning; payroll code "
     "HOL (earning, at reg.csv:20) is not in payroll.codes.earning; department 'Bakery' (at reg.csv:31) is not in "
     "payroll.departments",
     [("payroll.departments", "Bakery"), ("payroll.codes.earning", "OT2"), ("payroll.codes.earning", "HOL")]),
    ("UnmappedLocation", "POS location 'STORE-9' is not in catalog.inventory.locations",
     [("catalog.inventory.locations", "STORE-9")]),
    ("UnknownOrder", "sales order 'S-ORD9' named by GP transaction TRN_1 is not in the company", []),
])
def test_the_missing_names_are_read_from_the_reason_and_description(reason: str, description: str,
                                                                    expected: list[tuple[str, str]]) -> None:
    assert sorted(unmapped(reason, description)) == sorted(expected)


@pytest.fixture
def services(tmp_path: Path, ports_with: Callable[..., wiring.Services]) -> wiring.Services:
    mapping = tmp_path / "mapping.yaml"
    shutil.copy(ROOT / "mapping.yaml", mapping)
    return ports_with(HL365_MAPPING_FILE=str(mapping))


def test_an_unmapped_payment_type_gets_its_entry_applied_and_replayed(services: wiring.Services) -> None:
    envelope = Envelope(type="payment.normalised", source="heartland.gp", subject="TRN_1",
                        idempotency_key="gp:TRN_1:CAPTURED", data={"transaction_id": "TRN_1"})
    row = row_id(services.dead_letters.park(
        queue="payments-post", body=to_message(envelope).body, message_id="m1", reason="UnmappedPaymentType",
        description="payment type 'AMEX_CORPORATE' is not in the mapping"))

    fix = suggest_fix(services, row)

    [proposal] = fix.suggestions
    assert (proposal.section, proposal.key, proposal.like) == ("payment_types", "AMEX_CORPORATE", "AMEX")
    assert proposal.entry == {"method": "AMEX", "clearing_account": "130200"} and proposal.confidence >= 0.5
    assert fix.replay == f"hl365 dlq replay --id {row}"
    with pytest.raises(Exception, match="AMEX_CORPORATE"):
        services.mapping.payment_type("AMEX_CORPORATE")

    proposals = suggestions_of(fix.suggestions)
    apply(services.settings.mapping_file, proposals)  # not yet accepted: a proposal naming accounts waits
    with pytest.raises(Exception, match="AMEX_CORPORATE"):
        services.mapping.payment_type("AMEX_CORPORATE")
    apply(services.settings.mapping_file, [{**item, "accepted": True} for item in proposals])

    assert services.mapping.payment_type("AMEX_CORPORATE").clearing_account == "130200"
    text = services.settings.mapping_file.read_text()
    assert "# Heartland payment type / card brand -> ERP method and clearing account" in text, "comments kept"
    assert yaml.safe_load(text)["payment_types"]["AMEX"] == {"method": "AMEX", "clearing_account": "130200"}
    [replayed] = replay(services, row=row).replayed
    assert replayed.ok and [m.message_id for m in take(services.bus, "payments-post")] == [
        "gp:TRN_1:CAPTURED:replay:1"]


def test_a_name_like_nothing_known_gets_no_guess(services: wiring.Services) -> None:
    row = row_id(services.dead_letters.park(queue="payments-post", body=b"{}", message_id="m2",
                                            reason="UnmappedPaymentType",
                                            description="payment type 'ZELLE' is not in the mapping"))
    [proposal] = suggest_fix(services, row).suggestions
    assert proposal.entry is None and proposal.confidence < 0.5
    assert "method" in proposal.reason and "clearing_account" in proposal.reason


def test_a_mapping_that_cannot_be_read_is_said_so(services: wiring.Services) -> None:
    row = row_id(services.dead_letters.park(queue="payments-post", body=b"{}", message_id="m4",
                                            reason="UnmappedPaymentType",
                                            description="payment type 'VISA_FLEET' is not in the mapping"))
    services.settings.mapping_file.write_text("payment_types: [unclosed\n")
    with pytest.raises(InvalidRequest, match="config check"):
        suggest_fix(services, row)


def test_a_dead_letter_no_mapping_entry_can_fix_is_said_so(services: wiring.Services) -> None:
    row = row_id(services.dead_letters.park(queue="payments-post", body=b"{}", message_id="m3",
                                            reason="CustomerOnHold", description="customer C-1 is on hold"))
    with pytest.raises(InvalidRequest, match="no mapping entry can fix it"):
        suggest_fix(services, row)
