"""``hl365 demo`` end to end: simulators, the local host, settlement and reconciliation, against ground truth."""

import json
import re
from datetime import date
from pathlib import Path

import pytest

from sandbox.demo import Options, run


@pytest.mark.parametrize("erp", ["fo", "bc"])
def test_a_day_with_duplicates_and_faults_posts_once_and_reconciles(
    erp: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    report = run(Options(day=date(2026, 11, 26), erp=erp, transactions=250, duplicates=0.3, faults=0.1, seed=11,
                         out=tmp_path))  # type: ignore[arg-type]
    assert report["ok"] is True, report
    assert (report["lost"], report["double_posted"]) == (0, 0)
    assert report["journals_balanced"] is True and report["journals_posted"] >= 1
    assert report["settlement_totals"] == report["posted_totals"]
    assert sorted((d["type"], d["reference"]) for d in report["discrepancies"]) == sorted(
        (p["type"], p["reference"]) for p in report["planted"])
    assert [r["created"] for r in report["settlement_runs"]][1:] == [0]
    assert report["duplicates_delivered"] > 0 and report["faults_injected"] > 0
    assert json.loads((tmp_path / "report.json").read_text()) == report
    page = (tmp_path / "report.html").read_text()
    assert "all invariants hold" in page and "HL-MER_demo-" in page
    assert "<th>debit</th><th>credit</th>" in page and "Clearing: Visa" in page and "Card receivable" in page
    totals = re.findall(r"<tfoot><tr><th>total</th><th></th><th></th><th class=num>([\d,.]+)</th>"
                        r"<th class=num>([\d,.]+)</th>", page)
    assert "<b>Check:</b>" in page and all(f"<h3>{d['type']}</h3>" in page for d in report["discrepancies"])
    assert len(totals) == report["journals_posted"] and all(debit == credit for debit, credit in totals), totals
