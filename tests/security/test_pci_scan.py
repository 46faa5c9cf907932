import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.scenario.pci_corpus import corpus, detects, evaluate
from shared.security import pci_scan
from shared.security.pan import find_pans, redact
from shared.security.pci_scan import main, scan_file, scan_paths

VISA = "4111111111111111"
AMEX = "378282246310005"


def test_the_corpus_covers_every_form_and_lookalike_and_scores() -> None:
    payloads = corpus()
    assert len(payloads) >= 300
    result = evaluate(payloads)
    assert result["recall"] >= 1.0
    assert result["false_alarm_rate"] <= 0.0
    assert len(result["per_form"]) == 40
    assert all(form["right"] == form["total"] for form in result["per_form"].values())


@pytest.mark.parametrize(("text", "found"), [
    ("memo=card%3A%204111%201111%201111%201111&x=1", True),
    ("memo=card+4111+1111+1111+1111+exp", True),
    ("%B4111111111111111^DOE/JOHN^2512101?", True),
    (";4111111111111111=25121010000?", True),
    ("REF4111111111111111X", True),
    ("4111 1111 1111 1111 123", True),
    ("3782 822463 10005", True),
    (json.dumps({"body": json.dumps({"card": VISA})}), True),
    ("/Date(4222222222222)/", False),
    ("ARN 74111111111111111111110", False),
    ("1234 4111 1111 1111 1111", False),
    ("barcode 4222222222222", False),
    ('{"gtin": 4222222222222}', False),
    ("call +4222222222222", False),
    ("sha256=4111111111111111abcdef0123abcdef", False),
    ('{"createdAt": 1795783821246}', False),
    ('{"accountNumber": "4111111111111111"}', False),
    ('{"cardAccountNumber": "4111111111111111"}', True),
])
def test_hard_forms(text: str, found: bool) -> None:
    assert detects(text) is found


@pytest.mark.parametrize("text", ["card 4111%201111%201111%201111", "q=4111+1111+1111+1111", f"x{VISA}y",
                                  "4111-1111-1111-1111"])
def test_redaction_leaves_no_digits_in_any_encoding(text: str) -> None:
    masked = redact(text)
    assert VISA not in masked.replace("%20", "").replace("+", "").replace("-", "").replace(" ", "")
    assert list(find_pans(masked)) == []


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "clean.txt": "order SO-1 paid 5410 on 2026-11-27\n",
        "text.log": f"line one\npaid with {VISA} ok\nurl /x?c=4111%201111%201111%201111 and 4111+1111+1111+1111\n",
        "doc.json": json.dumps({"a": {"b": [1, {"pan": AMEX}]}}, indent=2),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    paths["binary.bin"] = tmp_path / "binary.bin"
    paths["binary.bin"].write_bytes(b"\x00\x01" + VISA.encode())
    paths["latin1.txt"] = tmp_path / "latin1.txt"
    paths["latin1.txt"].write_bytes(f"caf\xe9 {VISA}".encode("latin-1"))
    return paths


def test_findings_name_file_location_and_masked(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    assert scan_file(paths["clean.txt"]) == []
    text = scan_file(paths["text.log"])
    assert [(f.location, f.masked) for f in text] == [("2:11", "411111******1111"), ("3:10", "411111******1111"),
                                                      ("3:40", "411111******1111")]
    [doc] = scan_file(paths["doc.json"])
    assert doc.location == "$.a.b[1].pan (line 6)" and doc.masked == "378282*****0005"
    assert [f.location for f in scan_file(paths["latin1.txt"])] == ["1:6"]
    with pytest.raises(pci_scan.UnreadableFile, match="binary"):
        scan_file(paths["binary.bin"])


def test_exit_codes(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    assert scan_paths([paths["clean.txt"]]).exit_code == 0
    assert scan_paths([paths["clean.txt"], paths["doc.json"]]).exit_code == 1
    report = scan_paths([paths["clean.txt"], tmp_path / "missing.txt", paths["binary.bin"]])
    assert report.exit_code == 2 and len(report.unreadable) == 2 and report.clean == [str(paths["clean.txt"])]


_ENCODINGS = (VISA, "4111 1111 1111 1111", "4111%201111%201111%201111", "4111+1111+1111+1111", "4111-1111-1111-1111",
              AMEX, "3782 822463 10005")


def _leaks(output: str) -> list[str]:
    return [form for form in _ENCODINGS if form in output]


def test_no_full_pan_reaches_stdout_stderr_or_a_log(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    paths = _files(tmp_path)
    named = tmp_path / f"{VISA}.txt"
    named.write_text(f"x {VISA}")
    argv = [str(p) for p in (*paths.values(), named, tmp_path / f"missing-{VISA}")]
    with caplog.at_level(logging.DEBUG):
        assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "411111******1111" in out and "378282*****0005" in out
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert _leaks(out) == [] and _leaks(err) == [] and _leaks(logged) == []
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
            "from shared.security.pci_scan import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.returncode == 2
    assert "411111******1111" in done.stdout and "pci-scan" in done.stderr
    assert _leaks(done.stdout) == [] and _leaks(done.stderr) == []
