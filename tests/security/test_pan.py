import pytest

from shared.security.pan import find_pans, find_ssns, luhn_valid, mask_pan, redact, scan, scan_json

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
VISA_13 = "4222222222222"
DINERS_14 = "30569309025904"
NINETEEN = "6011000990139424000"


@pytest.mark.parametrize("pan", [VISA, MASTERCARD, AMEX, VISA_13, DINERS_14])
def test_test_card_numbers_pass_luhn(pan: str) -> None:
    assert luhn_valid(pan)
    assert not luhn_valid(pan[:-1] + str((int(pan[-1]) + 1) % 10))


@pytest.mark.parametrize(
    "text",
    [VISA, f"card {VISA} ok", "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", f"x{VISA_13}y",
     "pan:5555-5555-5555-4444;"],
)
def test_finds_card_numbers_with_or_without_separators(text: str) -> None:
    assert [d for _, _, d in find_pans(text)]


@pytest.mark.parametrize(
    "text",
    ["4111111111111112", "411111111111", "41111111111111111111", "TRN_BHZ1whvNJnMv", "2026-11-27T10:00:00Z",
     "555-123-4567", "4111  1111 1111 1111", "amount 5410", ""],
)
def test_ignores_what_is_not_a_card_number(text: str) -> None:
    assert list(find_pans(text)) == []


def test_masks_to_first_six_and_last_four_at_most() -> None:
    assert mask_pan(VISA) == "411111******1111"
    assert mask_pan("4111 1111 1111 1111") == "411111******1111"
    assert mask_pan(VISA_13) == "422222***2222"
    masked = redact(f"a {VISA} b {AMEX} c")
    assert VISA not in masked and AMEX not in masked
    assert masked == "a 411111******1111 b 378282*****0005 c"


def test_scan_reaches_every_depth_and_type() -> None:
    payload = {
        "id": "TRN_1",
        "amount": "5410",
        "payment_method": {"card": {"number": f"{VISA}", "brand": "VISA"}},
        "notes": ["fine", {"deep": [f"call me about {MASTERCARD}"]}],
        "raw": int(AMEX),
        MASTERCARD: "key",
        "flag": True,
        "missing": None,
    }
    findings = scan(payload)
    paths = [f.path for f in findings]
    assert paths == sorted(["$.payment_method.card.number", "$.notes[1].deep[0]", "$.raw", "$.555555******4444"])
    assert all(VISA not in f.masked and MASTERCARD not in f.masked and AMEX not in f.masked for f in findings)
    assert all(MASTERCARD not in f.path for f in findings)


def test_clean_payload_has_no_findings() -> None:
    assert scan({"id": "TRN_1", "amount": "5410", "card": {"masked_number_last4": "XXXXXXXXXXXX1111"}}) == []


@pytest.mark.parametrize(
    "raw",
    [b'{"n": "4111111111111111"}', b'{"n": 4111111111111111}', b'{"n": "\\u0034111111111111111"}',
     b'{"n": 4.111111111111111e15}', b'{"4111 1111 1111 1111": 1}', b'{"a": [{"b": "x 4111-1111-1111-1111"}]}'],
)
def test_the_raw_text_shortcut_never_hides_a_card_number(raw: bytes) -> None:
    import json

    payload = json.loads(raw)
    assert scan(payload)
    assert scan_json(raw, payload) == scan(payload)


def test_the_raw_text_shortcut_passes_clean_payloads() -> None:
    raw = b'{"id": "TRN_x", "amount": "5410", "time": "2026-11-27T10:00:00Z", "n": 1.5e3}'
    import json

    assert scan_json(raw, json.loads(raw)) == []


@pytest.mark.parametrize(("text", "masked"), [
    ("worker 987-65-4320 hired", "worker ***-**-4320 hired"),
    ("ssn 987 65 4321", "ssn ***-**-4321"),
    ("card 4111 1111 1111 1111, ssn 987-65-4322", "card 411111******1111, ssn ***-**-4322"),
])
def test_redact_masks_ssns_written_as_one_beside_card_numbers(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize("text", ["phone 206-555-0142", "ZIP 98101-1234", "on 2026-11-20", "EIN 57-1234567",
                                  "order 123-45-67890", "id 1123-45-6789"])
def test_redact_leaves_what_only_looks_like_an_ssn(text: str) -> None:
    assert redact(text) == text


def test_find_ssns_names_where_an_ssn_is_written_or_keyed() -> None:
    payload = {"employee": {"SSN": "987654320", "socialSecurityNumber": 987654321, "zip": "981011234"},
               "notes": ["hired", "ssn 987-65-4322"], "routing": "021000021", "businessNumber": "123456789",
               "AddressNumber": "987654329", "taxId": "571234567", "code": "A987-65-4323"}
    assert find_ssns(payload) == ["$.employee.SSN", "$.employee.socialSecurityNumber", "$.notes[1]"]
