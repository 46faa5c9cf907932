"""The anomaly watch on the live stream, end to end: GP's notifications of a duplicate charge arrive first and
wait, since a rule reads flags and the watch has not read past them; the `anomaly_watch` timer of the real
function app, over the GP simulator on loopback HTTP, flags the second charge, alerts it once and shows it in
the console; then the waiting payments are judged: the first charge posts, the flagged one is held for review."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sandbox.host import Undrained, run_in_background, stop_background
from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY, GpSimulator
from sandbox.simulators.gp import create as create_gp
from shared.flows.payments import HELD_FOR_REVIEW, notification_of
from shared.security.signatures import gp_signature
from tests.e2e.conftest import MASTER_KEY, System

RULES = """\
locations:
  {merchant}: {{metro: CHI, opens: "00:00", closes: "23:59"}}
rules:
  - name: hold flagged payments
    when: '"duplicate_charge" in flags'
    then:
      - hold_for_review: the anomaly watch flagged it
"""


@pytest.fixture
def world(tmp_path: Path, system_with: Callable[..., System]) -> Iterator[tuple[System, GpSimulator]]:
    app = create_gp(seed=31)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    server, thread, port = run_in_background(app)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(merchant=sim.merchant_id))
    yield system_with(GP_APP_KEY=DEFAULT_APP_KEY, GP_APP_ID=DEFAULT_APP_ID, GP_API_URL=f"http://127.0.0.1:{port}/ucp",
                      HL365_RULES_FILE=str(rules), HL365_EMBEDDED_BUS_SPEEDUP="100"), sim
    stop_background(server, thread)


def test_a_duplicate_charge_is_flagged_alerted_once_shown_and_its_posting_held(
        world: tuple[System, GpSimulator]) -> None:
    system, sim = world
    now = datetime.now(UTC)
    for n in range(40):  # an ordinary hour of the store
        sim.add_transaction(1_000 + 37 * n, brand="VISA", last4=f"{1000 + n}", status="CAPTURED",
                            time_created=now - timedelta(minutes=90 - 2 * n), reference=f"HR-TICKET-{n:06d}")
    first = sim.add_transaction(4_999, brand="MASTERCARD", last4="4444", status="CAPTURED",
                                time_created=now - timedelta(minutes=6), reference="S-ORD000123")
    second = sim.add_transaction(4_999, brand="MASTERCARD", last4="4444", status="CAPTURED",
                                 time_created=now - timedelta(minutes=4), reference="S-ORD000123")

    listed = {t.id: t for t in system.services.gateway.iter_transactions(from_time_created=now.date(),
                                                                        to_time_created=now.date())}
    for made in (first, second):
        body = orjson.dumps(notification_of(listed[made["id"]]))
        answer = system.http.post("/api/webhooks/gp", content=body, headers={
            "Content-Type": "application/json", "X-GP-Signature": gp_signature(body, DEFAULT_APP_KEY)})
        assert answer.status_code == 202
    with pytest.raises(Undrained):  # both wait, rescheduled: the watch has not run
        system.host.drain(timeout=2)
    assert list(system.services.ledger.postings()) == []  # type: ignore[attr-defined]

    system.host.run_timer("anomaly_watch")
    system.host.run_timer("anomaly_watch")  # an overlapping run finds the same flag: stored and alerted once

    anomalies = [a for a in system.alerts.alerts if a["kind"] == "anomaly"]
    assert [a["context"]["transaction"] for a in anomalies] == [second["id"]], anomalies
    assert anomalies[0]["context"]["pattern"] == "duplicate_charge"
    assert "…4444" in anomalies[0]["text"] and "49.99" in anomalies[0]["text"]

    system.host.drain()
    posted = {str(p.data["DocumentNo"]) for p in system.services.ledger.postings()}  # type: ignore[attr-defined]
    assert posted == {f"PAY-{first['id']}"}
    [held] = [r for r in system.services.dead_letters.list(days=1) if r["Reason"] == HELD_FOR_REVIEW]
    assert held["Description"] == "rule hold flagged payments: the anomaly watch flagged it"
    assert second["id"] in str(held["Body"])

    page = system.http.get("/api/admin/console", params={"code": MASTER_KEY})
    assert page.status_code == 200
    assert "duplicate charge" in page.text and second["id"] in page.text
