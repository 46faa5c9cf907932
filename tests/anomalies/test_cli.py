from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from shared.anomalies import cli
from shared.anomalies.cli import run

SALE = ('{{"id":"{id}","time":"2026-11-03T{t}-06:00","location":"CHI01","type":"SALE","amount":"49.99",'
        '"result":"APPROVED","masked_card":"411111******1111","card_fingerprint":"fp_a","cashier":"C1"}}')
PLACES = '{"CHI01": {"metro": "CHI", "opens": "08:00", "closes": "21:00"}}'


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_flags_are_written_one_object_a_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"), SALE.format(id="t2", t="10:01:00"),
                   "{oops")
    places = write(tmp_path / "locations.json", PLACES)
    assert run(source, tmp_path / "out" / "flags.jsonl", places) == 1
    flags = [json.loads(line) for line in (tmp_path / "out" / "flags.jsonl").read_text().splitlines()]
    assert [list(f) for f in flags] == [["id", "pattern", "score", "reason"]]
    assert flags[0]["id"] == "t2" and flags[0]["pattern"] == "duplicate_charge" and 0 < flags[0]["score"] <= 1
    out = capsys.readouterr().out
    assert "in.jsonl:3: not a JSON object" in out and "duplicate_charge" in out and "1 malformed row" in out


def test_no_flag_exits_0(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"))
    assert run(source, tmp_path / "flags.jsonl") == 0
    assert (tmp_path / "flags.jsonl").read_text() == ""


def test_unreadable_input_or_bad_locations_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "missing.jsonl", tmp_path / "f.jsonl") == 2
    assert "missing.jsonl: cannot be read" in capsys.readouterr().out
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"))
    places = write(tmp_path / "l.json", '{"CHI01": {"metro": "CHI", "opens": "08:00"}}')
    assert run(source, tmp_path / "f.jsonl", places) == 2
    assert "give both opens and closes" in capsys.readouterr().out
    junk = write(tmp_path / "junk.jsonl", "nope", "[1]")
    assert run(junk, tmp_path / "f.jsonl") == 2
    assert "no usable row (2 malformed)" in capsys.readouterr().out


def test_an_out_that_is_a_directory_or_unwritable_exits_2_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"), SALE.format(id="t2", t="10:01:00"))
    assert run(source, tmp_path) == 2
    assert "is a directory" in capsys.readouterr().out
    assert run(source, source / "flags.jsonl") == 2  # its folder is a file: no one, root included, can write it
    assert "cannot be written" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["[bold]in.jsonl", "in\\[red].jsonl", "x[link=y]z[i].jsonl"])
def test_rich_markup_in_file_names_is_printed_as_text(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "PROGRESS_FROM", 0)  # the progress bar names the file too
    source = write(tmp_path / name, SALE.format(id="t1", t="10:00:00"), "{oops")
    assert run(source, tmp_path / f"out{name}") == 0
    assert run(tmp_path / f"missing{name}", tmp_path / "f.jsonl") == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert f"{name}:2: not a JSON object" in out and f"missing{name}: cannot be read" in out


def test_the_hl365_command_calls_run(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", SALE.format(id="t1", t="10:00:00"), SALE.format(id="t2", t="10:01:00"))
    places = write(tmp_path / "locations.json", PLACES)
    out = tmp_path / "flags.jsonl"
    result = CliRunner().invoke(app, ["anomalies", str(source), "--out", str(out), "--locations", str(places)])
    assert result.exit_code == 1, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["t2"]
    assert "duplicate_charge" in result.output
    result = CliRunner().invoke(app, ["anomalies", str(source), "--out", str(tmp_path), "--locations", str(places)])
    assert result.exit_code == 2 and "is a directory" in result.output and "Traceback" not in result.output
