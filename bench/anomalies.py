"""Payment anomalies at volume: ``python -m bench.anomalies [--anomaly-rows N]``.

A labelled month of ``N`` card payments (1,000,000 by default) is generated once and written as JSON Lines;
then, in one process, the file is read, decoded, checked for card numbers, run through the detector and its
flags written, as ``hl365 anomalies`` does. The baseline, measured in the same run on the same file, is msgspec
decoding every line into the same row struct and nothing else: the floor any reader of this file pays. Peak
memory is the highest resident set of the process that reads and detects; precision, recall and F1 are the
flags' against the month's planted truth, per row and per incident (``sandbox.scenario.payments_month``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

from sandbox.scenario.payments_month import evaluate, generate, locations, write
from shared.anomalies.detector import Flag, detect, load_locations
from shared.anomalies.rows import Reader, Row

AIM_SECONDS = 60.0
MONTH = date(2026, 11, 1)


def _peak_mb() -> float:
    """This process's peak resident set. ``ru_maxrss`` would do, but Linux carries it over from the parent at
    fork, and the parent holds the whole generated month; ``VmHWM`` starts afresh at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, source: Path, places: Path, out: Path) -> None:
    """One measurement in a fresh process, so its peak memory is its own and not the generator's."""
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if mode == "floor":
        decoder = msgspec.json.Decoder(Row)
        with source.open("rb") as lines:
            result["rows"] = len([decoder.decode(line) for line in lines])
    else:
        reader = Reader(str(source))
        rows = reader.read(source)
        flags = detect(rows, load_locations(places))
        with out.open("wb") as sink:
            for flag in flags:
                sink.write(msgspec.json.encode(flag) + b"\n")
        result.update(rows=len(rows), malformed=reader.malformed, flags=len(flags))
    result["seconds"] = time.perf_counter() - started
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


def _spawn(mode: str, source: Path, places: Path, out: Path) -> dict[str, Any]:
    child = subprocess.run([sys.executable, "-m", "bench.anomalies", "--child", mode, str(source), str(places),
                            str(out)], capture_output=True, text=True, check=True)
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def measure(rows: int = 1_000_000, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hl365-bench-anomalies-") as folder:
        where = Path(folder)
        generated, truth = generate(MONTH, seed, rows_per_day=max(100, rows // 30))
        source, places, out = where / "rows.jsonl", where / "locations.json", where / "flags.jsonl"
        write(generated, truth, source, where / "truth.jsonl")
        places.write_bytes(msgspec.json.encode(locations()))
        count = len(generated)
        del generated
        floor = _spawn("floor", source, places, out)
        run = _spawn("detect", source, places, out)
        flags = [msgspec.json.decode(line, type=Flag) for line in out.read_bytes().splitlines()]
    figures = evaluate(flags, truth)
    return {"rows": count, "seconds": round(run["seconds"], 2), "floor_seconds": round(floor["seconds"], 2),
            "ratio": round(run["seconds"] / floor["seconds"], 2), "peak_mb": round(run["peak_mb"], 1),
            "floor_peak_mb": round(floor["peak_mb"], 1), "flags": len(flags),
            "malformed": run["malformed"], "precision": round(figures.overall.precision, 4),
            "recall": round(figures.overall.recall, 4), "f1": round(figures.overall.f1, 4),
            "incident_precision": round(figures.incidents.precision, 4),
            "incident_recall": round(figures.incidents.recall, 4), "incident_f1": round(figures.incidents.f1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anomaly-rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *paths = args.child
        _child(mode, *(Path(p) for p in paths))
        return
    result = measure(args.anomaly_rows)
    print(json.dumps(result))
    print(f"hl365 anomalies: {result['rows']:,} rows read, detected and written in {result['seconds']:.1f} s "
          f"(aim <= {AIM_SECONDS:g} s) beside {result['floor_seconds']:.1f} s for msgspec decoding alone "
          f"(x{result['ratio']:.2f}); peak {result['peak_mb']:.0f} MB; F1 {result['f1']:.4f} per row, "
          f"{result['incident_f1']:.4f} per incident", file=sys.stderr)


if __name__ == "__main__":
    main()
