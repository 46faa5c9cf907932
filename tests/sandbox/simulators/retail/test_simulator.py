"""The Retail simulator's scenario API and ground truth: tickets as settlement needs them, a seeded business
day, snapshots."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators import create as create_named
from sandbox.simulators.retail import Line, RetailSimulator, Tender, create
from shared.security.pan import find_pans
from tests.sandbox.simulators.retail.client import CST, Running

# --- the scenario API and ground truth -------------------------------------------------------------------


def test_add_ticket_records_what_settlement_needs(running: Running) -> None:
    sim = running.sim
    sale = sim.add_ticket(
        location_id=1,
        lines=[Line(item_id=1002, qty=3, discounts={"Promo": "5.97"}), Line.gift_card("50.00", "0042")],
        payments=[Tender.gift_card("10.00", "7788"),
                  Tender.card("97.92", brand="MASTERCARD", last4="5454", tip="4.00", transaction_id="TRN_fixedIDxyzab",
                              reference="HR-TICKET-SALE1", auth_code="OK1234")],
        completed_at=datetime(2025, 3, 1, 15, 2, 11, tzinfo=CST))
    item_line, gift_line = sale["lines"]
    assert (item_line["department"], item_line["extended_price"], item_line["discount_total"],
            item_line["net_amount"]) == ("Apparel", "59.97", "5.97", "54.00")
    assert {t["name"]: t["amount"] for t in item_line["taxes"]} == {"State": "3.38", "City": "0.54"}
    assert (gift_line["type"], gift_line["net_amount"], gift_line["taxes"]) == ("GiftCardLine", "50.00", [])
    assert sale["total"] == "107.92" and sale["completed_at"] == "2025-03-01T15:02:11-06:00"
    refund = sim.add_ticket(location_id=1, lines=[Line(item_id=1001, qty=-1)],
                            payments=[Tender.card("-12.87", brand="VISA", last4="4242")])
    assert refund["total"] == "-12.87" and refund["lines"][0]["net_amount"] == "-12.00"
    card = refund["payments"][0]
    assert card["gateway_transaction_id"].startswith("TRN_")
    assert card["gateway_reference"] == f"HR-TICKET-{refund['id']}"
    with pytest.raises(ValueError, match="balance"):
        sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], payments=[Tender.cash("1.00")])
    day = sim.totals(date(2025, 3, 1))
    assert day["tickets"] == 1 and day["gift_cards_sold"] == "50.00" and day["tips"] == "4.00"
    assert day["tenders"] == {"Credit Card": "97.92", "Gift Card": "10.00"}
    assert day["card_brands"] == {"MASTERCARD": "101.92"}


def test_a_business_day_is_consistent_and_free_of_card_numbers(running: Running) -> None:
    sim = running.sim
    created = sim.seed_business_day(date(2025, 3, 1), tickets=300, seed=11)
    assert len(created) == 300
    state = sim.state()
    kinds = {p["type"] for t in state["tickets"] for p in t["payments"]}
    assert kinds == {"CashPayment", "CreditCardPayment", "GiftCardPayment"}
    assert any(Decimal(t["total"]) < 0 for t in state["tickets"]), "no refund in the day"
    assert any(line["type"] == "GiftCardLine" for t in state["tickets"] for line in t["lines"])
    assert any(Decimal(t["tip_total"]) > 0 for t in state["tickets"])
    for ticket in state["tickets"]:
        lines, payments = ticket["lines"], ticket["payments"]
        net = sum(Decimal(line["net_amount"]) + Decimal(line["tax_total"]) for line in lines)
        assert Decimal(ticket["total"]) == net
        assert Decimal(ticket["balance"]) == 0 == Decimal(ticket["total"]) - sum(Decimal(p["amount"]) for p in payments)
    complete = [t for t in state["tickets"] if t["status"] == "complete"]
    day = state["totals_by_day"]["2025-03-01"]
    assert day["tickets"] == len(complete)
    assert Decimal(day["total"]) == sum(Decimal(t["total"]) for t in complete)
    assert Decimal(day["total"]) == sum(Decimal(v) for v in day["tenders"].values())
    assert list(find_pans(json.dumps(state))) == []
    again = RetailSimulator(seed=5)
    again.seed_business_day(date(2025, 3, 1), tickets=300, seed=11)
    assert again.state()["tickets"] == state["tickets"]


def test_state_survives_a_snapshot_and_restore(tmp_path: Path) -> None:
    snapshot = tmp_path / "retail.json"
    first = create(seed=1, snapshot=snapshot)
    seeded = first.simulated
    assert isinstance(seeded, RetailSimulator)
    seeded.seed_business_day(date(2025, 3, 1), tickets=20)
    server, thread, port = run_in_background(first)
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/_sim/snapshot").status_code == 200
    finally:
        stop_background(server, thread)
    second = create_named("retail", snapshot=snapshot)
    assert second.ground_truth() == first.ground_truth()
    restored: Any = second.simulated
    ticket = restored.add_ticket(location_id=1, lines=[Line(item_id=1001)])
    assert ticket["id"] == max(t["id"] for t in first.ground_truth()["tickets"]) + 1


def test_naive_times_are_refused_by_the_scenario_api() -> None:
    sim = RetailSimulator()
    with pytest.raises(ValueError, match="time zone"):
        sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], completed_at=datetime(2025, 3, 1, 12))
    assert sim.state()["tickets"] == []
    assert sim.add_ticket(location_id=1, lines=[Line(item_id=1001)],
                          completed_at=datetime(2025, 3, 1, 12, tzinfo=UTC))["status"] == "complete"
