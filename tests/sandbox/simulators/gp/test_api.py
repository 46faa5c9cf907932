"""The GP API over real loopback HTTP: the token handshake, headers, and the transaction state machine,
idempotency and card-data rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY
from shared.security.pan import find_pans
from tests.sandbox.simulators.gp.client import Gp, error, sale, secret, sign_in

# Access token and headers ----------------------------------------------------------------------------------


def test_sign_in_issues_a_token_scoped_to_the_merchant_accounts(gp: Gp) -> None:
    answer = sign_in(gp.http)
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "Bearer" and body["seconds_to_expire"] == 600 and body["app_id"] == DEFAULT_APP_ID
    assert body["scope"]["merchant_id"] == gp.sim.merchant_id
    assert sorted(a["id"][:4] for a in body["scope"]["accounts"]) == ["DAA_", "DIA_", "TRA_"]
    assert DEFAULT_APP_KEY not in answer.text


def test_bad_credentials_are_refused_without_a_token(gp: Gp) -> None:
    issued = gp.sim.state()["counts"]["tokens_issued"]
    assert error(sign_in(gp.http, key="not-the-key")) == (403, "ACTION_NOT_AUTHORIZED", "40004")
    nonce = "2025-03-01T15:00:00+00:00"
    unknown = gp.http.post("/ucp/accesstoken", json={"app_id": "someone-else", "nonce": nonce,
                                                     "secret": secret(nonce), "grant_type": "client_credentials"})
    assert error(unknown) == (403, "ACTION_NOT_AUTHORIZED", "40004")
    missing = gp.http.post("/ucp/accesstoken", json={"app_id": DEFAULT_APP_ID, "grant_type": "client_credentials"})
    assert error(missing) == (400, "MANDATORY_DATA_MISSING", "40005")
    too_long = sign_in(gp.http, seconds_to_expire=604_801)
    assert error(too_long) == (400, "INVALID_REQUEST_DATA", "40213")
    assert "seconds_to_expire" in too_long.json()["detailed_error_description"]
    assert gp.sim.state()["counts"]["tokens_issued"] == issued


def test_expired_and_unknown_tokens_are_not_authenticated(gp: Gp) -> None:
    assert gp.http.get("/ucp/transactions").status_code == 200
    gp.sim.advance(601)
    expired = gp.http.get("/ucp/transactions")
    assert error(expired) == (401, "NOT_AUTHENTICATED", "40001")
    assert expired.json()["detailed_error_description"] == "Invalid access token"
    fresh = sign_in(gp.http, seconds_to_expire=120).json()
    assert fresh["seconds_to_expire"] == 120
    headers = {"Authorization": f"Bearer {fresh['token']}"}
    assert gp.http.get("/ucp/transactions", headers=headers).status_code == 200
    gp.sim.advance(121)
    assert gp.http.get("/ucp/transactions", headers=headers).status_code == 401
    assert error(gp.http.get("/ucp/transactions", headers={"Authorization": "Bearer made-up"}))[0] == 401
    assert error(gp.http.get("/ucp/transactions", headers={"Authorization": ""}))[0] == 401


@pytest.mark.parametrize(("method", "path"), [("GET", "/ucp/transactions"), ("POST", "/ucp/accesstoken"),
                                              ("GET", "/ucp/settlement/deposits"), ("POST", "/ucp/batches/BAT_1")])
def test_every_call_needs_x_gp_version(gp: Gp, method: str, path: str) -> None:
    answer = gp.http.request(method, path, headers={"X-GP-Version": ""}, json={})
    assert error(answer) == (400, "MANDATORY_DATA_MISSING", "40005")
    assert "X-GP-Version" in answer.json()["detailed_error_description"]


def test_unknown_paths_answer_in_the_gp_error_shape(gp: Gp) -> None:
    assert error(gp.http.get("/ucp/no-such-thing")) == (404, "RESOURCE_NOT_FOUND", "40008")
    assert error(gp.http.get("/ucp/transactions/TRN_missing")) == (404, "RESOURCE_NOT_FOUND", "40008")


# Transactions ----------------------------------------------------------------------------------------------


def test_an_auto_capture_sale_is_captured_into_the_open_batch(gp: Gp) -> None:
    answer = sale(gp.http, "5410", reference="HR-TICKET-88121")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"].startswith("TRN_") and body["status"] == "CAPTURED" and body["type"] == "SALE"
    assert body["amount"] == "5410" and body["currency"] == "USD" and body["reference"] == "HR-TICKET-88121"
    assert body["batch_id"] == gp.sim.open_batch("USD")
    assert body["payment_method"]["result"] == "00" and body["payment_method"]["id"] == "PMT_test"
    assert body["payment_method"]["card"]["masked_number_last4"].startswith("XXXXXXXXXXXX")
    assert gp.http.get(f"/ucp/transactions/{body['id']}").json()["status"] == "CAPTURED"
    assert gp.sim.state()["transactions"][body["id"]]["status"] == "CAPTURED"


def test_authorise_capture_refund_and_reverse_follow_the_state_machine(gp: Gp) -> None:
    authorised = sale(gp.http, "3000", capture_mode="LATER").json()
    assert authorised["status"] == "PREAUTHORIZED" and authorised["batch_id"] is None
    captured = gp.http.post(f"/ucp/transactions/{authorised['id']}/capture", json={}).json()
    assert captured["id"] == authorised["id"] and captured["status"] == "CAPTURED" and captured["batch_id"]

    refund = gp.http.post(f"/ucp/transactions/{captured['id']}/refund", json={"amount": "1000", "currency": "USD"})
    assert refund.status_code == 200
    refund_body = refund.json()
    assert refund_body["id"] != captured["id"] and refund_body["type"] == "REFUND"
    assert refund_body["parent_resource_id"] == captured["id"] and refund_body["amount"] == "1000"
    assert refund_body["status"] == "CAPTURED"
    assert gp.http.get(f"/ucp/transactions/{captured['id']}").json()["status"] == "CAPTURED"

    reversed_refund = gp.http.post(f"/ucp/transactions/{refund_body['id']}/reversal", json={}).json()
    assert reversed_refund["status"] == "REVERSED"
    whole = gp.http.post(f"/ucp/transactions/{captured['id']}/refund", json={}).json()
    assert whole["amount"] == "3000", "reversing the partial refund gives its amount back to refund"

    voided = sale(gp.http, "700", capture_mode="LATER").json()
    assert gp.http.post(f"/ucp/transactions/{voided['id']}/reversal").json()["status"] == "REVERSED"
    truth = gp.sim.state()["transactions"]
    assert [truth[t]["status"] for t in (captured["id"], refund_body["id"], whole["id"], voided["id"])] == [
        "CAPTURED", "REVERSED", "CAPTURED", "REVERSED"]


def test_invalid_state_changes_are_refused_and_change_nothing(gp: Gp) -> None:
    captured = sale(gp.http, "2000").json()
    authorised = sale(gp.http, "2000", capture_mode="LATER").json()
    refund = gp.http.post(f"/ucp/transactions/{captured['id']}/refund", json={"amount": "500"}).json()
    before = gp.sim.state()["transactions"]
    attempts = [
        (f"/ucp/transactions/{captured['id']}/capture", {}),
        (f"/ucp/transactions/{authorised['id']}/refund", {}),
        (f"/ucp/transactions/{refund['id']}/refund", {}),
        (f"/ucp/transactions/{captured['id']}/refund", {"amount": "1501"}),
        (f"/ucp/transactions/{captured['id']}/reversal", {}),
        (f"/ucp/transactions/{authorised['id']}/capture", {"amount": "2001"}),
    ]
    for path, body in attempts:
        answer = gp.http.post(path, json=body)
        assert error(answer) == (400, "INVALID_TRANSACTION_ACTION", "40042"), path
    gp.http.post(f"/ucp/transactions/{authorised['id']}/reversal")
    again = gp.http.post(f"/ucp/transactions/{authorised['id']}/reversal")
    assert error(again)[1] == "INVALID_TRANSACTION_ACTION"
    assert error(gp.http.post("/ucp/transactions/TRN_nope/capture", json={})) == (404, "RESOURCE_NOT_FOUND", "40008")
    after = gp.sim.state()["transactions"]
    assert set(after) == set(before)
    assert {k: v["status"] for k, v in after.items() if k != authorised["id"]} == {
        k: v["status"] for k, v in before.items() if k != authorised["id"]}


def test_a_replayed_idempotency_key_is_a_duplicate_action(gp: Gp) -> None:
    refused = sale(gp.http, "12.00", key="order-42")
    assert error(refused) == (400, "INVALID_REQUEST_DATA", "40213"), "a refused request does not use up its key"
    first = sale(gp.http, "1400", key="order-42")
    assert first.status_code == 200
    replay = sale(gp.http, "1400", key="order-42")
    assert error(replay) == (409, "DUPLICATE_ACTION", "40039")
    description = replay.json()["detailed_error_description"]
    assert description == f"Idempotency Key seen before: id={first.json()['id']}, status=CAPTURED"
    capture_with_same_key = gp.http.post(f"/ucp/transactions/{first.json()['id']}/reversal",
                                         headers={"x-gp-idempotency": "order-42"})
    assert error(capture_with_same_key)[1] == "DUPLICATE_ACTION"
    truth = gp.sim.state()
    assert truth["counts"]["transactions"] == 1 and truth["counts"]["duplicates_refused"] == 2
    assert truth["idempotency_keys"]["order-42"]["resource_id"] == first.json()["id"]
    assert truth["transactions"][first.json()["id"]]["status"] == "CAPTURED"


@pytest.mark.parametrize(("channel", "payment_method"), [
    ("CP", {"card": {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "30", "cvv": "123"}}),
    ("CNP", {"id": "PMT_x", "card": {"cvv": "123"}}),
    ("CNP", {"id": "PMT_x", "note": "card 4111 1111 1111 1111"}),
])
def test_card_data_is_refused_and_never_kept(gp: Gp, channel: str, payment_method: dict[str, Any]) -> None:
    answer = gp.http.post("/ucp/transactions", json={
        "type": "SALE", "channel": channel, "amount": "100", "currency": "USD", "payment_method": payment_method})
    assert error(answer) == (400, "INVALID_REQUEST_DATA", "40213")
    assert "4111" not in answer.text and "123" not in answer.text
    truth = gp.sim.state()
    assert truth["counts"]["transactions"] == 0 and truth["counts"]["card_data_refused"] == 1
    assert next(find_pans(json.dumps(truth)), None) is None


def test_a_card_not_present_sale_with_the_card_is_tokenised_and_the_number_never_kept(gp: Gp) -> None:
    """GP's own SDKs send the card on a card-not-present sale; GP charges it and keeps only a token."""
    answer = gp.http.post("/ucp/transactions", json={
        "type": "SALE", "channel": "CNP", "amount": "2500", "currency": "USD",
        "payment_method": {"entry_mode": "ECOM", "card": {"number": "5425 2334 3010 9903", "expiry_month": "04",
                                                          "expiry_year": "28", "cvv": "321"}}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "CAPTURED" and body["payment_method"]["id"].startswith("PMT_")
    assert body["payment_method"]["card"]["brand"] == "MASTERCARD"
    assert body["payment_method"]["card"]["masked_number_last4"].endswith("9903")
    truth = json.dumps(gp.sim.state())
    assert next(find_pans(truth), None) is None and "5425233430109903" not in truth and "321" not in answer.text
    assert gp.sim.state()["counts"]["cards_tokenised"] == 1
    again = gp.http.post("/ucp/transactions", json={
        "type": "SALE", "channel": "CNP", "amount": "100", "currency": "USD",
        "payment_method": {"card": {"number": "5425233430109903", "expiry_month": "04", "expiry_year": "28"}}})
    assert again.json()["payment_method"]["id"] == body["payment_method"]["id"], "one card, one token"


def test_query_parameters_sent_empty_are_ignored(gp: Gp) -> None:
    sale(gp.http, "100")
    listed = gp.http.get("/ucp/transactions", params={"from_time_created": "", "status": "", "page_size": "5"})
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["transactions"]) == 1


def test_declines_are_transactions_with_a_non_approval_result(gp: Gp) -> None:
    declined = sale(gp.http, "2051")
    assert declined.status_code == 200
    body = declined.json()
    assert body["status"] == "DECLINED" and body["payment_method"]["result"] == "51" and body["batch_id"] is None
    gp.sim.flag_token("PMT_stolen")
    flagged = sale(gp.http, "2000", stored="PMT_stolen").json()
    assert flagged["status"] == "DECLINED" and flagged["payment_method"]["result"] != "00"
    assert sale(gp.http, "2000").json()["status"] == "CAPTURED"
    assert gp.sim.state()["counts"]["by_status"] == {"DECLINED": 2, "CAPTURED": 1}
    refused_refund = gp.http.post(f"/ucp/transactions/{body['id']}/refund", json={})
    assert error(refused_refund)[1] == "INVALID_TRANSACTION_ACTION"
