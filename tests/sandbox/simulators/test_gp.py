"""The GP API simulator over real loopback HTTP: handshake, state machine, idempotency, reports, notifications."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY, DEPOSIT_STATUSES, GpSimulator, create
from shared.security.pan import find_pans
from shared.security.signatures import verify_gp_signature

VERSION = {"X-GP-Version": "2021-03-22"}
DAY = date(2025, 3, 1)
DATA_ACCOUNT = {"account_name": "Settlement Reporting"}


@dataclass
class Gp:
    sim: GpSimulator
    app: SimulatorApp
    http: httpx.Client


def secret(nonce: str, key: str = DEFAULT_APP_KEY) -> str:
    return hashlib.sha512(f"{nonce}{key}".encode()).hexdigest()


def sign_in(http: httpx.Client, *, key: str = DEFAULT_APP_KEY, **extra: Any) -> httpx.Response:
    nonce = datetime.now(UTC).isoformat()
    return http.post("/ucp/accesstoken", json={"app_id": DEFAULT_APP_ID, "nonce": nonce, "secret": secret(nonce, key),
                                               "grant_type": "client_credentials", **extra})


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error_code", "detailed_error_code", "detailed_error_description"}
    return response.status_code, body["error_code"], body["detailed_error_code"]


def sale(http: httpx.Client, amount: str = "1400", *, key: str | None = None, capture_mode: str = "AUTO",
         reference: str = "ORD-1", stored: str = "PMT_test", **extra: Any) -> httpx.Response:
    body = {"account_name": "Transaction_Processing", "type": "SALE", "channel": "CNP", "capture_mode": capture_mode,
            "amount": amount, "currency": "USD", "reference": reference, "country": "US",
            "payment_method": {"id": stored, "entry_mode": "ECOM"}, **extra}
    return http.post("/ucp/transactions", json=body, headers={"x-gp-idempotency": key} if key else {})


@pytest.fixture
def gp() -> Iterator[Gp]:
    app = create(seed=11)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    server, thread, port = run_in_background(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=VERSION, timeout=5) as http:
        http.headers["Authorization"] = f"Bearer {sign_in(http).json()['token']}"
        yield Gp(sim, app, http)
    stop_background(server, thread)


@dataclass
class Receiver:
    url: str = ""
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's ``status_url`` on loopback that keeps the raw bytes and headers it was sent."""
    kept = Receiver()

    async def status(request: Request) -> Response:
        kept.received.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    server, thread, port = run_in_background(Starlette(routes=[Route("/status", status, methods=["POST"])]))
    kept.url = f"http://127.0.0.1:{port}/status"
    yield kept
    stop_background(server, thread)


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


# Searching and paging --------------------------------------------------------------------------------------


def test_transaction_search_pages_in_the_gp_envelope_and_filters(gp: Gp) -> None:
    made = gp.sim.seed_day(DAY, transactions=23, close=False)
    first = gp.http.get("/ucp/transactions", params={"page": 1, "page_size": 10, "order": "ASC",
                                                     "order_by": "TIME_CREATED"}).json()
    assert set(first) == {"paging", "total_record_count", "merchant_id", "transactions", "action"}
    assert first["paging"] == {"page": 1, "page_size": 10, "order": "ASC", "order_by": "TIME_CREATED"}
    assert first["total_record_count"] == 23 and len(first["transactions"]) == 10
    rows = list(first["transactions"])
    for page in (2, 3, 4):
        rows += gp.http.get("/ucp/transactions", params={"page": page, "page_size": 10, "order": "ASC"}).json()[
            "transactions"]
    assert [r["id"] for r in rows] == made["transaction_ids"], "every row once, oldest first"
    assert [r["time_created"] for r in rows] == sorted(r["time_created"] for r in rows)
    newest = gp.http.get("/ucp/transactions").json()
    assert newest["paging"]["order"] == "DESC" and newest["transactions"][0]["id"] == made["transaction_ids"][-1]

    target = rows[7]
    search = {"reference": target["reference"], "id": target["id"], "amount": target["amount"],
              "batch_id": target["batch_id"], "status": "CAPTURED", "type": "SALE", "currency": "USD",
              "from_time_created": DAY.isoformat(), "to_time_created": DAY.isoformat(),
              "account_name": "Transaction_Processing"}
    for name, value in search.items():
        found = gp.http.get("/ucp/transactions", params={name: value, "page_size": 100}).json()
        assert target["id"] in [r["id"] for r in found["transactions"]], name
    exact = gp.http.get("/ucp/transactions", params={"reference": target["reference"]}).json()
    assert [r["id"] for r in exact["transactions"]] == [target["id"]]
    other_day = (DAY + timedelta(days=1)).isoformat()
    assert gp.http.get("/ucp/transactions", params={"from_time_created": other_day}).json()["total_record_count"] == 0
    assert gp.http.get("/ucp/transactions", params={"status": "FUNDED"}).json()["total_record_count"] == 0
    assert gp.http.get("/ucp/transactions", params={"page": 9}).json()["transactions"] == []
    for bad in ({"page_size": "0"}, {"order": "SIDEWAYS"}, {"order_by": "COLOUR"}, {"from_time_created": "01/03/2025"}):
        assert error(gp.http.get("/ucp/transactions", params=bad)) == (400, "INVALID_REQUEST_DATA", "40213"), bad


# Batches, funding, settlement ------------------------------------------------------------------------------


def test_closing_a_batch_batches_its_members_and_totals_them_by_brand(gp: Gp) -> None:
    batch = gp.sim.open_batch("USD")
    visa1 = gp.sim.add_transaction(1000, brand="VISA")
    gp.sim.add_transaction(2500, brand="VISA")
    gp.sim.add_transaction(4000, brand="MASTERCARD")
    gp.sim.add_transaction(500, kind="REFUND", brand="VISA", parent_resource_id=visa1["id"])
    voided = gp.sim.add_transaction(999, brand="AMEX")
    gp.http.post(f"/ucp/transactions/{voided['id']}/reversal")
    declined = sale(gp.http, "7751").json()

    closed = gp.http.post(f"/ucp/batches/{batch}", json={})
    assert closed.status_code == 200
    body = closed.json()
    assert body["id"] == body["batch_id"] == batch and body["status"] == "CLOSED"
    assert body["transaction_count"] == 4 and body["amount"] == "7000"
    assert body["sales"] == {"count": 3, "amount": "7500"} and body["refunds"] == {"count": 1, "amount": "-500"}
    assert body["brand_breakdown"] == [
        {"brand": "MASTERCARD", "sales": {"count": 1, "amount": "4000"}, "refunds": {"count": 0, "amount": "0"},
         "count": 1, "amount": "4000"},
        {"brand": "VISA", "sales": {"count": 2, "amount": "3500"}, "refunds": {"count": 1, "amount": "-500"},
         "count": 3, "amount": "3000"},
    ]
    assert body["action"]["type"] == "CLOSE" and body["action"]["result_code"] == "SUCCESS"
    truth = gp.sim.state()
    assert truth["batches"][batch]["status"] == "CLOSED"
    statuses = [truth["transactions"][t]["status"] for t in truth["batches"][batch]["transaction_ids"]]
    assert statuses == ["BATCHED", "BATCHED", "BATCHED", "BATCHED", "REVERSED"]
    assert truth["transactions"][declined["id"]]["status"] == "DECLINED"
    assert sale(gp.http, "100").json()["batch_id"] not in (None, batch), "later captures open a new batch"

    assert error(gp.http.post(f"/ucp/batches/{batch}")) == (400, "INVALID_TRANSACTION_ACTION", "40042")
    assert error(gp.http.post("/ucp/batches/BAT_000001")) == (404, "RESOURCE_NOT_FOUND", "40008")
    missing = gp.http.post("/ucp/batches/")
    assert error(missing) == (400, "MANDATORY_DATA_MISSING", "40005")
    assert missing.json()["detailed_error_description"] == "Request expects the batch_id"


def test_funding_makes_a_deposit_net_of_fees_and_settles_the_rows(gp: Gp) -> None:
    made = gp.sim.seed_day(DAY, transactions=12, refunds=2, close=True)
    batch = made["batch_ids"][0]
    assert error(gp.http.post("/_gp/fund", json={"batch_id": "BAT_000001"}))[0] == 404
    open_batch = gp.sim.open_batch("USD")
    assert error(gp.http.post("/_gp/fund", json={"batch_id": open_batch}))[1] == "INVALID_TRANSACTION_ACTION"

    funded = gp.http.post("/_gp/fund", json={"batch_id": batch, "fee_rate": "0.03", "deposit_date": "2025-03-03"})
    assert funded.status_code == 200
    deposit = funded.json()
    truth = gp.sim.state()["transactions"]
    sales = sum(int(t["amount"]) for t in truth.values() if t["type"] == "SALE")
    refunds = sum(int(t["amount"]) for t in truth.values() if t["type"] == "REFUND")
    fee = int((Decimal(sales) * Decimal("0.03")).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert deposit["amount"] == str(sales - refunds - fee)
    assert deposit["sales"] == {"count": 12, "amount": str(sales)}
    assert deposit["refunds"] == {"count": 2, "amount": str(-refunds)}
    assert deposit["fees"] == {"amount": str(-fee)}
    assert deposit["discounts"] == {"count": 0, "amount": ""}, "empty sections are empty strings, as GP sends them"
    assert deposit["status"] in DEPOSIT_STATUSES and deposit["time_created"] == "2025-03-03"
    assert {t["status"] for t in truth.values()} == {"FUNDED"}
    assert error(gp.http.post("/_gp/fund", json={"batch_id": batch}))[1] == "INVALID_TRANSACTION_ACTION"

    listed = gp.http.get("/ucp/settlement/deposits", params={**DATA_ACCOUNT, "from_time_created": "2025-03-03",
                                                             "to_time_created": "2025-03-03"}).json()
    assert listed["total_record_count"] == 1 and listed["deposits"][0]["id"] == deposit["id"]
    assert gp.http.get("/ucp/settlement/deposits", params={"from_time_created": "2025-03-04"}).json()[
        "deposits"] == []
    single = gp.http.get(f"/ucp/settlement/deposits/{deposit['id']}").json()
    assert single["amount"] == deposit["amount"] and single["action"]["type"] == "DEPOSIT_SINGLE"
    assert error(gp.http.get("/ucp/settlement/deposits/DEP_0000000000"))[0] == 404

    settled = gp.http.get("/ucp/settlement/transactions", params={
        **DATA_ACCOUNT, "deposit_id": deposit["id"], "page_size": 100}).json()
    assert settled["total_record_count"] == 14
    for row in settled["transactions"]:
        assert row["status"] == "FUNDED" and row["deposit_id"] == deposit["id"] and row["deposit_status"] == "FUNDED"
        assert row["batch_id"] == batch and row["batch_time_created"].startswith("2025-03-01T23:00")
        assert row["deposit_time_created"] == "2025-03-03" and row["order"]["reference"] == row["reference"]
        card = row["payment_method"]["card"]
        assert "masked_number_last4" not in card and len(card["arn"]) == 23
        assert card["masked_number_first6last4"][6:-4].strip("X") == ""
    refund_rows = [r for r in settled["transactions"] if r["type"] == "REFUND"]
    assert len(refund_rows) == 2 and all(r["parent_resource_id"] in truth for r in refund_rows)
    assert next(find_pans(json.dumps(settled)), None) is None
    wrong_account = gp.http.get("/ucp/settlement/transactions", params={"account_name": "Transaction_Processing"})
    assert error(wrong_account) == (400, "INVALID_REQUEST_DATA", "40213")


def test_settlement_rows_filter_by_batch_and_deposit_dates(gp: Gp) -> None:
    first = gp.sim.seed_day(DAY, transactions=6, fund=True)
    second = gp.sim.seed_day(DAY + timedelta(days=1), transactions=4, fund=True)
    gp.sim.add_transaction(1234)

    def ids(**params: str) -> set[str]:
        answer = gp.http.get("/ucp/settlement/transactions", params={"page_size": 50, **params}).json()
        return {r["id"] for r in answer["transactions"]}

    assert ids() == set(first["transaction_ids"]) | set(second["transaction_ids"]), "unbatched rows are not settled"
    assert ids(from_batch_time_created="2025-03-01", to_batch_time_created="2025-03-01") == set(
        first["transaction_ids"])
    assert ids(from_deposit_time_created="2025-03-03") == set(second["transaction_ids"])
    assert ids(to_time_created="2025-03-01") == set(first["transaction_ids"])
    assert ids(batch_id=second["batch_ids"][0]) == set(second["transaction_ids"])
    assert ids(deposit_status="FUNDED") == ids()


# Notifications ---------------------------------------------------------------------------------------------


def test_a_notification_is_signed_with_sha512_of_body_and_app_key(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http, "5410").json()
    sent = gp.http.post("/_gp/notify", json={"transaction_id": transaction["id"], "url": receiver.url})
    assert sent.status_code == 200 and [d["status_code"] for d in sent.json()["deliveries"]] == [200]
    [(body, headers)] = receiver.received
    assert headers["content-type"] == "application/json"
    assert verify_gp_signature(body, headers["x-gp-signature"], DEFAULT_APP_KEY)
    assert not verify_gp_signature(body + b" ", headers["x-gp-signature"], DEFAULT_APP_KEY)
    assert json.loads(body)["id"] == transaction["id"] and json.loads(body)["status"] == "CAPTURED"


def test_bad_signature_mode_fails_verification(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http).json()
    [delivery] = gp.sim.notify(transaction["id"], receiver.url, mode="bad_signature")
    [(body, headers)] = receiver.received
    assert len(headers["x-gp-signature"]) == 128 and delivery.signature == headers["x-gp-signature"]
    assert not verify_gp_signature(body, headers["x-gp-signature"], DEFAULT_APP_KEY)


def test_duplicate_mode_delivers_the_same_bytes_twice(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http).json()
    deliveries = gp.sim.notify(transaction["id"], receiver.url, mode="duplicate")
    assert [d.status_code for d in deliveries] == [200, 200]
    assert len(receiver.received) == 2 and receiver.received[0] == receiver.received[1]
    assert all(verify_gp_signature(b, h["x-gp-signature"], DEFAULT_APP_KEY) for b, h in receiver.received)
    assert gp.sim.state()["counts"]["notifications_sent"] == 2


def test_out_of_order_sends_earlier_statuses_after_later_ones(gp: Gp, receiver: Receiver) -> None:
    authorised = sale(gp.http, "900", capture_mode="LATER").json()
    gp.http.post(f"/ucp/transactions/{authorised['id']}/capture", json={})
    other = sale(gp.http, "1200").json()
    items: list[str | tuple[str, str]] = [(authorised["id"], "PREAUTHORIZED"), (authorised["id"], "CAPTURED"),
                                          other["id"]]
    deliveries = gp.sim.out_of_order(items, receiver.url, seed=3)
    sent = [(d.transaction_id, d.status) for d in deliveries]
    expected = [(authorised["id"], "PREAUTHORIZED"), (authorised["id"], "CAPTURED"), (other["id"], "CAPTURED")]
    assert sorted(sent) == sorted(expected) and sent != expected
    received = [(json.loads(b)["id"], json.loads(b)["status"]) for b, _ in receiver.received]
    assert received == sent, "delivered in the shuffled order, each as it was at that status"
    assert all(verify_gp_signature(b, h["x-gp-signature"], DEFAULT_APP_KEY) for b, h in receiver.received)
    assert [(d.transaction_id, d.status) for d in gp.sim.out_of_order(items, receiver.url, seed=3)] == sent
    pair = [authorised["id"], other["id"]]
    for seed in range(4):
        assert [d.transaction_id for d in gp.sim.out_of_order(pair, receiver.url, seed=seed)] == pair[::-1], seed


def test_an_unreachable_status_url_is_reported_not_raised(gp: Gp) -> None:
    transaction = sale(gp.http).json()
    [delivery] = gp.sim.notify(transaction["id"], "http://127.0.0.1:9/status")
    assert delivery.status_code is None and delivery.error


# Faults and snapshots --------------------------------------------------------------------------------------


def test_throttling_from_sim_faults_answers_429_with_retry_after(gp: Gp) -> None:
    rules = {"rules": [{"route": "POST /ucp/transactions", "kind": "throttle", "rate": 1.0, "retry_after": 3}]}
    assert gp.http.put("/_sim/faults", json=rules).status_code == 200
    throttled = sale(gp.http, key="k-1")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
    assert gp.sim.state()["counts"]["transactions"] == 0 and "k-1" not in gp.sim.state()["idempotency_keys"]
    gp.http.delete("/_sim/faults")
    assert sale(gp.http, key="k-1").status_code == 200, "a throttled request did not use up its key"


def test_state_survives_a_snapshot_and_new_ids_do_not_collide(tmp_path: Path) -> None:
    path = tmp_path / "gp.json"
    app = create(seed=4, snapshot=path)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    made = sim.seed_day(DAY, transactions=5, refunds=1, fund=True)
    server, thread, port = run_in_background(app)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.post("/_sim/snapshot").status_code == 200
    finally:
        stop_background(server, thread)
    again = create(seed=4, snapshot=path).simulated
    assert isinstance(again, GpSimulator)
    assert again.state() == {**sim.state(), "counts": again.state()["counts"]}
    assert again.state()["counts"]["transactions"] == 6
    added = again.add_transaction(100)
    assert added["id"] not in made["transaction_ids"] and added["batch_id"] not in made["batch_ids"]
