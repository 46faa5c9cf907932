"""Batches, funding and settlement rows in the GP simulator."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sandbox.simulators.gp import DEPOSIT_STATUSES
from shared.security.pan import find_pans
from tests.sandbox.simulators.gp.client import DATA_ACCOUNT, DAY, Gp, error, sale

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
