from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.anomalies.cli import run
from shared.anomalies.rows import Reader

GOOD = (b'{"id":"a","time":"2026-11-03T10:00:00-06:00","location":"CHI01","type":"SALE","amount":"49.99",'
        b'"result":"APPROVED","masked_card":"411111******1111","card_fingerprint":"fp_a","extra":{"x":1}}')
PAN = "4111111111111111"


@pytest.mark.parametrize("amount", [b"999999999999.9999", b"49.990000", b"0E-9", b"1E+11", b"0"])
def test_amounts_up_to_12_digits_and_4_decimals_are_kept(amount: bytes) -> None:
    reader = Reader("in.jsonl")
    rows = list(reader.rows([GOOD.replace(b"49.99", amount)]))
    assert reader.problems == [] and str(rows[0].amount) == amount.decode()


def test_good_rows_decode_with_decimal_amounts_and_aware_times() -> None:
    rows = list(Reader("in.jsonl").rows([GOOD]))
    assert rows[0].amount.as_tuple().exponent == -2 and str(rows[0].amount) == "49.99"
    assert rows[0].time.utcoffset() is not None and rows[0].time.hour == 10


@pytest.mark.parametrize(("line", "reason"), [
    (b"not json", "not a JSON object"),
    (GOOD.replace(b"-06:00", b""), "timezone"),
    (GOOD.replace(b'"49.99"', b'"4x"'), "Invalid decimal"),
    (GOOD.replace(b'"49.99"', b'"-5.00"'), "not a positive amount"),
    (GOOD.replace(b'"49.99"', b'"1e50000000"'), "amount 1E+50000000 has 50,000,001 digit(s) before the point"),
    (GOOD.replace(b'"49.99"', b'"1000000000000.00"'), "has 13 digit(s) before the point and 0 decimal(s); an "
                                                      "amount has at most 12 and 4"),
    (GOOD.replace(b'"49.99"', b'"0.00001"'), "5 decimal(s)"),
    (GOOD.replace(b'"49.99"', b'"' + b"9" * 5000 + b'"'), "99999999999999999999…(5,000 characters) has 5,000"),
    (GOOD.replace(b'"APPROVED"', b'"MAYBE"'), "$.result"),
    (GOOD.replace(b'"id":"a",', b""), "missing required field `id`"),
    (GOOD.replace(b"411111******1111", b"4111111111**1111"), "masked_card shows 14 digits (411111****1111)"),
])
def test_a_malformed_row_is_named_with_its_line_and_skipped(line: bytes, reason: str) -> None:
    reader = Reader("in.jsonl")
    rows = list(reader.rows([GOOD, b"", line, GOOD]))
    assert len(rows) == 2 and reader.malformed == 1
    assert reader.problems[0].startswith("in.jsonl:3: ") and reason in reader.problems[0]


@pytest.mark.parametrize("where", [b'"note":"4111 1111 1111 1111"', b'"masked_card":"4111111111111111"',
                                   b'"reference":"x4111111111111111"', b'"card_number":4111111111111111'])
def test_a_full_card_number_is_refused_and_never_shown(where: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    line = GOOD[:-1] + b"," + where + b"}"
    line = line.replace(b'"masked_card":"411111******1111",', b"") if b"masked_card" in where else line
    reader = Reader("in.jsonl")
    assert list(reader.rows([line])) == []
    assert reader.problems == ["in.jsonl:1: refused: a full card number (411111******1111) in the row; only "
                               "masked_card and card_fingerprint may name the card"]
    source = tmp_path / "in.jsonl"
    source.write_bytes(GOOD + b"\n" + line + b"\n")
    assert run(source, tmp_path / "flags.jsonl") == 0
    shown = capsys.readouterr()
    for text in (shown.out, shown.err, caplog.text, (tmp_path / "flags.jsonl").read_text()):
        assert PAN not in text and "4111 1111" not in text
    assert "in.jsonl:2: refused" in shown.out.replace("\n", "")
