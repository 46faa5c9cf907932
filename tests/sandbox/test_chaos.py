"""``hl365 chaos`` as CI runs it: a few dated days under every fault, both ERPs, killed trigger processes,
one day on Azure Table Storage (Azurite); every invariant checked against the simulators' ground truth."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.chaos import ChaosOptions, calendar, run
from sandbox.scenario.orders import Order, PaymentTruth, ledger_check


def test_the_days_include_both_daylight_saving_changes_and_a_month_end() -> None:
    days = [day for day, _ in calendar(5, seed=3)]
    assert days[:3] == [date(2026, 3, 8), date(2026, 11, 1), date(2026, 11, 30)]
    assert len(set(days)) == 5 and calendar(5, seed=3) == calendar(5, seed=3)
    assert len({seed for _, seed in calendar(5, seed=3)}) == 5


def test_a_reversal_left_out_of_the_ledger_is_named_by_key_with_both_nets() -> None:
    truth = PaymentTruth(sales={"TRN_A": Order("S-ORD000001", "C1", Decimal("12.50")),
                                "TRN_B": Order("S-ORD000002", "C1", Decimal("3.00"))},
                         amounts={"TRN_A": Decimal("12.50"), "TRN_B": Decimal("3.00")}, reversed={"TRN_A"})
    lost, doubled = ledger_check(truth, [("HPY-TRN_A", Decimal("12.50")), ("HPY-TRN_B", Decimal("3.00")),
                                         ("HPY-TRN_B", Decimal("3.00"))])
    assert lost == [{"key": "HPY-TRN_A", "expected": "0", "posted": "12.50", "currency": "USD"},
                    {"key": "HPY-TRN_B", "expected": "3.00", "posted": "6.00", "currency": "USD"}]
    assert doubled == [{"key": "HPY-TRN_B", "expected": "3.00", "posted": "6.00", "currency": "USD", "times": "2"}]


def test_a_short_chaos_holds_every_invariant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    summary = run(ChaosOptions(days=4, erps=("fo", "bc"), transactions=500, seed=9, kill_workers=True,
                               azurite_days=frozenset({3}), faults=0.2, out=tmp_path,
                               master_data_days=frozenset({3})))
    failed = [{k: row[k] for k in ("day", "erp", "failed", "lost_keys", "double_posted_keys", "in_flight",
                                   "dead_lettered", "audit_problems")} for row in summary["rows"] if not row["ok"]]
    assert not failed, failed
    rows = summary["rows"]
    assert [(r["day"], r["erp"]) for r in rows][:2] == [("2026-03-08", "fo"), ("2026-03-08", "bc")]
    assert {r["storage"] for r in rows} == {"sqlite", "azurite"}
    assert sum(r["workers_killed"] for r in rows) >= len(rows) * 2
    assert all(r["simulator_restarts"] == 2 and r["faults_injected"] > 0 for r in rows)
    assert (tmp_path / "chaos.json").is_file()
