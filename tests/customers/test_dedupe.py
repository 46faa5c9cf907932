"""``hl365 dedupe`` as a data steward runs it: a file in, clusters and a review list out, bad lines named."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shared.customers.dedupe import InputError, read

HL365 = str(Path(sys.executable).with_name("hl365"))
ROOT = Path(__file__).parents[2]


def write(path: Path, *rows: object) -> Path:
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows))
    return path


def test_every_bad_line_is_named_and_nothing_is_matched(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl",
                   {"id": "a", "source": "pos", "first_name": "Ana"},
                   b"{not json",
                   {"source": "pos"},
                   {"id": "b", "source": "shop"},
                   {"id": "c", "source": "crm", "phone": ["312"]},
                   {"id": "a", "source": "erp"},
                   [1, 2])
    with pytest.raises(InputError) as caught:
        read(source)
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == [f"{source}:{n}" for n in (2, 3, 4, 5, 6, 7)]
    text = str(caught.value)
    for expected in ("not JSON", "id: required", "'shop' is not one of pos, erp, crm, loyalty",
                     "phone: must be a string or null", "id 'a' already on line 1", "must be a JSON object"):
        assert expected in text


def test_the_command_writes_a_cluster_for_every_id_and_the_review_pairs(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl",
        {"id": 1, "source": "erp", "first_name": "Robert", "last_name": "Young", "email": "rob.young@gmail.com",
         "phone": "8607719390", "address_line1": "5585 E Franklin Pl", "city": "Hartford", "state": "CT",
         "postal_code": "06127", "country": "US", "company": None},
        {"id": 2, "source": "loyalty", "first_name": "Bob", "last_name": "Young", "email": "robyoung+x@gmail.com",
         "phone": "", "address_line1": None, "city": "", "state": None, "postal_code": "", "country": None},
        {"id": 3, "source": "crm", "first_name": "Ana", "last_name": "Ruiz", "city": "Austin", "state": "TX"},
        {"id": 4, "source": "pos", "first_name": "Ana", "last_name": "Ruiz", "city": "Austin", "state": "TX",
         "phone": "512-555-0111"},
    )
    out, review = tmp_path / "clusters.jsonl", tmp_path / "review.jsonl"
    result = subprocess.run([HL365, "dedupe", str(source), "--out", str(out), "--review", str(review),
                             "--threshold", "0.99", "--review-from", "0.05"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3, 4]  # every id, in input order, as the number it was
    clusters = {r["id"]: r["cluster_id"] for r in rows}
    assert clusters[1] == clusters[2] and clusters[3] != clusters[4] and clusters[1] != clusters[3]
    pairs = [orjson.loads(line) for line in review.read_bytes().splitlines()]
    assert {(p["id_l"], p["id_r"]) for p in pairs} == {("3", "4")}
    assert pairs[0]["reasons"] and 0.05 <= pairs[0]["match_probability"] < 0.99
    assert "4 records → 3 customers" in result.stdout


def test_a_bad_file_exits_1_naming_its_lines_without_a_traceback(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", {"id": "a", "source": "pos"}, {"id": "b", "source": "web"})
    out = tmp_path / "clusters.jsonl"
    result = subprocess.run([HL365, "dedupe", str(source), "--out", str(out)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, check=False, env={"COLUMNS": "200", "PATH": "/usr/bin"})
    assert result.returncode == 1
    assert f"{source}:2: source: 'web' is not one of" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr and not out.exists()


def test_generated_records_evaluate_end_to_end(tmp_path: Path) -> None:
    records, truth, clusters = tmp_path / "in.jsonl", tmp_path / "truth.jsonl", tmp_path / "clusters.jsonl"
    for args in (["customers", "generate", "--records", "600", "--seed", "5", "--out", str(records), "--truth",
                  str(truth)],
                 ["dedupe", str(records), "--out", str(clusters)],
                 ["customers", "evaluate", str(clusters), str(truth)]):
        result = subprocess.run([HL365, *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                                env={"COLUMNS": "200", "PATH": "/usr/bin"})
        assert result.returncode == 0, result.stdout + result.stderr
    f1 = float(result.stdout.rsplit("F1 ", 1)[1].split()[0])
    assert f1 >= 0.95 and "household" in result.stdout


def test_a_loyalty_export_is_imported_staged_and_linked_by_the_next_sync(tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "PATH": "/usr/bin", "HL365_SETTINGS_FILE": str(tmp_path / "absent.json"),
           "HL365_DATA_DIR": str(tmp_path / "data"), "HL365_MAPPING_FILE": str(ROOT / "mapping.yaml")}
    members = write(tmp_path / "members.jsonl",
                    {"id": "L-1", "source": "loyalty", "first_name": "Ana", "last_name": "Ruiz",
                     "email": "ana.ruiz+points@gmail.com", "phone": "512-555-0111"},
                    {"id": "L-2", "source": "loyalty", "first_name": "Ben", "last_name": "Ruiz",
                     "phone": "512-555-0199"},
                    {"id": "E-9", "source": "erp", "first_name": "Ana", "last_name": "Ruiz",
                     "email": "anaruiz@gmail.com", "address_line1": "12 Oak St"})

    def hl365(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([HL365, *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                              env=env)

    imported = hl365("customers", "import", str(members))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "3 records read, 3 new or changed staged" in imported.stdout
    assert "0 new or changed" in hl365("customers", "import", str(members)).stdout  # the same file again
    synced = hl365("customers", "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "customers (profiles)" in synced.stdout and "records joined to another's profile" in synced.stdout
    shown = hl365("customers", "show", "erp:E-9")
    assert shown.returncode == 0 and "loyalty:L-1" in shown.stdout and "loyalty:L-2" not in shown.stdout
    bad = write(tmp_path / "bad.jsonl", {"id": "L-3", "source": "loyalty"}, {"id": "L-4", "source": "club"})
    refused = hl365("customers", "import", str(bad))
    assert refused.returncode == 1 and f"{bad}:2: source: 'club'" in refused.stdout and "nothing imported" in \
        refused.stdout
