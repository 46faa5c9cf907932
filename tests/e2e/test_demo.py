"""``hl365 demo``: the skeleton day against its own ground truth."""

import json
from datetime import date
from pathlib import Path

import pytest

from sandbox.demo import Options, run


def test_a_day_with_duplicates_posts_every_payment_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    report = run(Options(day=date(2026, 11, 26), transactions=300, duplicates=0.3, seed=11, out=tmp_path))
    assert report["ok"] is True
    assert report["transactions_generated"] == 300 and report["payments_posted"] == 300
    assert report["duplicates_delivered"] > 50
    assert report["webhooks_delivered"] == 300 + report["duplicates_delivered"] + 3
    assert report["rejected"] == {"400": 1, "401": 1, "422": 1}
    assert (report["lost"], report["double_posted"], report["unexpected_answers"]) == (0, 0, 0)
    assert report["settlement_totals"] == report["posted_totals"]
    assert report["audit_intact"] is True
    assert json.loads((tmp_path / "report.json").read_text()) == report
