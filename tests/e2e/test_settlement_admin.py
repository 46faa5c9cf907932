"""Closing a day through the admin endpoint and the CLI, against the simulators over loopback."""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from sandbox.demo import MASTER_KEY, TIMEZONE, Options, Simulators, _configure, _prepare_erp
from sandbox.host import LocalHost, run_in_background, stop_background
from sandbox.scenario.day import seed
from shared import wiring

DAY = date(2026, 11, 26)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Simulators, httpx.Client, Path]]:
    saved = dict(os.environ)
    options = Options(day=DAY, erp="fo", transactions=60, out=tmp_path)
    sims = Simulators(options)
    seed(sims.apps["retail"].simulated, sims.apps["gp"].simulated, day=DAY, transactions=60,  # type: ignore[arg-type]
         locations=2, seed=3, timezone=TIMEZONE)
    _prepare_erp("fo", sims.apps["fo"])
    _configure(options, sims, tmp_path / "data")
    host = LocalHost.from_wiring()
    server, thread, port = run_in_background(host.asgi())
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        yield sims, client, tmp_path
    stop_background(server, thread)
    sims.stop()
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


def close(client: httpx.Client, key: str = MASTER_KEY, day: str = DAY.isoformat()) -> httpx.Response:
    return client.post("/api/admin/settlement", params={"date": day}, headers={"x-functions-key": key})


def test_the_admin_endpoint_needs_the_master_key_and_a_valid_date(world: tuple[Simulators, httpx.Client, Path]) -> None:
    _, client, _ = world
    assert close(client, key="wrong").status_code == 401
    answer = close(client, day="26/11/2026")
    assert answer.status_code == 400 and "YYYY-MM-DD" in answer.json()["reason"]


def test_an_unmapped_payment_type_dead_letters_its_batch_and_a_replay_posts_it_once_fixed(
    world: tuple[Simulators, httpx.Client, Path],
) -> None:
    sims, client, tmp_path = world
    mapping = (Path(__file__).parents[2] / "mapping.yaml").read_text()
    broken = tmp_path / "mapping.yaml"
    broken.write_text(mapping.replace('  AMEX: {method: AMEX, clearing_account: "130200"}\n', ""))
    os.environ["HL365_MAPPING_FILE"] = str(broken)
    wiring.reset()
    answer = close(client)
    assert answer.status_code == 422 and "UnmappedPaymentType" in answer.json()["reason"]
    [failed] = answer.json()["failed"]
    assert failed["reason"] == "UnmappedPaymentType" and "AMEX" in failed["description"]
    fo = sims.apps["fo"].simulated
    assert [j for j in fo.journals() if str(j.get("IntegrationKey", "")).startswith("HL-")] == []  # type: ignore[attr-defined]
    parked = list(wiring.services().dead_letters.list(days=1))
    assert [(row["Queue"], row["Reason"]) for row in parked] == [("eod-settlement", "UnmappedPaymentType")]
    broken.write_text(mapping)
    wiring.reset()
    admin = {"x-functions-key": MASTER_KEY}
    replayed = client.post("/api/admin/deadletters/replay", params={"reason": "UnmappedPaymentType"}, headers=admin)
    assert replayed.status_code == 200, replayed.text
    keys = [j["IntegrationKey"] for j in fo.journals() if str(j.get("IntegrationKey", "")).startswith("HL-")]  # type: ignore[attr-defined]
    assert keys == [f"HL-MER_demo-{failed['batch']}"]
    assert client.get("/api/admin/deadletters", headers=admin).json()["dead_letters"] == []


def test_hl365_settle_and_reconcile_from_the_command_line(world: tuple[Simulators, httpx.Client, Path]) -> None:
    hl365 = str(Path(sys.executable).with_name("hl365"))
    env = {**os.environ, "COLUMNS": "200"}
    settled = subprocess.run([hl365, "settle", "--date", DAY.isoformat()], capture_output=True, text=True,
                             env=env, check=False, timeout=300)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "HL-MER_demo-" in settled.stdout and "created" in settled.stdout
    again = subprocess.run([hl365, "settle", "--date", DAY.isoformat()], capture_output=True, text=True, env=env,
                           check=False, timeout=300)
    assert "already there" in again.stdout and "created" not in again.stdout.replace("already", "")
    listed = subprocess.run([hl365, "reconcile", "--date", DAY.isoformat()], capture_output=True, text=True,
                            env=env, check=False, timeout=120)
    assert listed.returncode == 0
    for kind in ("missing_in_pos", "missing_in_settlement", "amount_mismatch", "deposit_short"):
        assert kind in listed.stdout
