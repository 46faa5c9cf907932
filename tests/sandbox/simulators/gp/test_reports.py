"""The GP API's searches: paging in the GP envelope and filters."""

from __future__ import annotations

from datetime import timedelta

from tests.sandbox.simulators.gp.client import DAY, Gp, error

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
