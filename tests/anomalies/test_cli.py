from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.anomalies.cli import main

SALE = ('{{"id":"{id}","time":"2026-11-03T{t}-06:00","location":"CHI01","type":"SALE","amount":"49.99",'
        '"result":"APPROVED","masked_card":"411111******1111","card_fingerprint":"fp_a","cashier":"C1"}}')


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_flags_are_written_one_object_a_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"), SALE.format(id="t2", t="10:01:00"),
                   "{oops")
    places = tmp_path / "locations.json"
    places.write_text('{"CHI01": {"metro": "CHI", "opens": "08:00", "closes": "21:00"}}')
    assert main([str(source), "--out", str(tmp_path / "out" / "flags.jsonl"), "--locations", str(places)]) == 1
    lines = (tmp_path / "out" / "flags.jsonl").read_text().splitlines()
    flags = [json.loads(line) for line in lines]
    assert [list(f) for f in flags] == [["id", "pattern", "score", "reason"]]
    assert flags[0]["id"] == "t2" and flags[0]["pattern"] == "duplicate_charge" and 0 < flags[0]["score"] <= 1
    out = capsys.readouterr().out
    assert "in.jsonl:3: not a JSON object" in out and "duplicate_charge" in out and "1 malformed row" in out


def test_no_flag_exits_0(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"))
    assert main([str(source), "--out", str(tmp_path / "flags.jsonl")]) == 0
    assert (tmp_path / "flags.jsonl").read_text() == ""


def test_unreadable_input_or_bad_locations_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "f.jsonl")]) == 2
    assert "missing.jsonl: cannot be read" in capsys.readouterr().out
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"))
    places = write(tmp_path / "l.json", '{"CHI01": {"metro": "CHI", "opens": "08:00"}}')
    assert main([str(source), "--out", str(tmp_path / "f.jsonl"), "--locations", str(places)]) == 2
    assert "give both opens and closes" in capsys.readouterr().out
    junk = write(tmp_path / "junk.jsonl", "nope", "[1]")
    assert main([str(junk), "--out", str(tmp_path / "f.jsonl")]) == 2
