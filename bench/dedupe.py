"""Customer matching at volume: ``python -m bench.dedupe [--records N]``.

``hl365 dedupe`` runs as a user runs it, one fresh process per file, over generated records of 10,000 and
of ``N`` (100,000 by default): its wall time from start to exit, imports included, its peak memory, and
the pairwise F1 of what it found against the generator's truth. The small file is the growth baseline:
near-linear means ten times the records take not much more than ten times as long.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from sandbox.scenario.customers import generate, pairwise

SMALL = 10_000
AIM_SECONDS = 30.0


def _child(source: Path, out: Path) -> None:
    from sandbox.cli import app

    try:
        app(["dedupe", str(source), "--out", str(out)], standalone_mode=False)
    finally:
        print(json.dumps({"peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}),
              file=sys.stderr)


def run(records: int, seed: int, folder: Path) -> dict[str, Any]:
    rows, truth = generate(records, seed)
    source, out = folder / f"in-{records}.jsonl", folder / f"clusters-{records}.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "bench.dedupe", "--child", str(source), str(out)],
                           capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    peak = json.loads(child.stderr.strip().splitlines()[-1])["peak_mb"]
    found = {r["id"]: r["cluster_id"] for r in map(orjson.loads, out.read_bytes().splitlines())}
    score = pairwise(found, {k: v.entity for k, v in truth.items()})
    return {"records": len(rows), "seconds": round(seconds, 2), "peak_mb": peak, "f1": round(score.f1, 4)}


def measure(records: int = 100_000, seed: int = 7) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="hl365-bench-dedupe-") as folder:
        small = run(SMALL, seed, Path(folder))
        large = run(records, seed, Path(folder))
    return {"small": small, "large": large}


def growth(results: dict[str, dict[str, Any]]) -> float:
    """Time per record of the large file over that of the small one: 1.0 is exactly linear."""
    small, large = results["small"], results["large"]
    return (large["seconds"] / large["records"]) / (small["seconds"] / small["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    results = measure(args.records)
    print(json.dumps(results))
    large = results["large"]
    print(f"hl365 dedupe: {large['records']:,} records in {large['seconds']:.1f} s (aim <= {AIM_SECONDS:g} s), "
          f"peak {large['peak_mb']:.0f} MB, F1 {large['f1']:.4f}; {results['small']['records']:,} in "
          f"{results['small']['seconds']:.1f} s; time per record x{growth(results):.2f} at ten times the records",
          file=sys.stderr)


if __name__ == "__main__":
    main()
