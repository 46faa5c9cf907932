import hashlib

from shared.security.signatures import gp_signature, verify_gp_signature

BODY = b'{"id":"TRN_1","status":"CAPTURED"}'
KEY = "app-key"


def test_signature_is_sha512_of_body_then_key_in_lower_hex() -> None:
    expected = hashlib.sha512(BODY + KEY.encode()).hexdigest()
    assert gp_signature(BODY, KEY) == expected
    assert len(expected) == 128


def test_verifies_exact_bytes_and_accepts_upper_case_hex() -> None:
    signature = gp_signature(BODY, KEY)
    assert verify_gp_signature(BODY, signature, KEY)
    assert verify_gp_signature(BODY, signature.upper(), KEY)


def test_rejects_reformatted_body_other_key_and_missing_header() -> None:
    signature = gp_signature(BODY, KEY)
    assert not verify_gp_signature(b'{"id": "TRN_1", "status": "CAPTURED"}', signature, KEY)
    assert not verify_gp_signature(BODY, signature, "other-key")
    assert not verify_gp_signature(BODY, None, KEY)
    assert not verify_gp_signature(BODY, "", KEY)
    assert not verify_gp_signature(BODY, signature[:-1], KEY)
