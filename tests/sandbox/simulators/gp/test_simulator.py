"""The GP simulator as a whole: faults through ``/_sim`` and snapshots."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.gp import GpSimulator, create
from tests.sandbox.simulators.gp.client import DAY, Gp, sale

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
