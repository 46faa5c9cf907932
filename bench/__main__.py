"""``make bench``: every hot path beside its baseline measured in the same run, as one table.

Figures on a shared machine are noisy, so each is read against a baseline taken minutes apart on the same
machine: webhook intake against a bare app on the same server stack, payments end to end against intake
alone, the settlement close against decoding the very same pages into the journal's fields, the embedded bus
against bare SQLite doing the same writes,
customer matching against a tenth of its records, the anomaly detector against msgspec decoding the same file.
The modules run alone too (``python -m bench.intake`` ...).

Usage: ``python -m bench [--transactions N] [--payments N] [--requests N] [--customers N] [--anomaly-rows N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from bench import anomalies, bus, dedupe, intake, payments, settlement


def _stage(text: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"  measuring {text} ...", file=sys.stderr, flush=True)
    return run()


def _row(figure: str, value: str, baseline: str, ratio: str, aim: str, met: bool | None) -> list[str]:
    return [figure, value, baseline, ratio, aim, "" if met is None else ("met" if met else "NOT met")]


def table(intake_: dict[str, Any], payments_: dict[str, Any], close: dict[str, dict[str, Any]],
          bus_: dict[str, Any], dedupe_: dict[str, dict[str, Any]], anomalies_: dict[str, Any]) -> str:
    bare, served, busy = intake_["bare"], intake_["hl365"], intake_["hl365_with_workers"]
    close_ratio = settlement.ratio(close)
    build, floor = close["build"], close["floor"]
    build_net = build["seconds"] - build["render_seconds"]
    floor_net = floor["seconds"] - floor["render_seconds"]
    peak = max(float(r["peak_mb"]) for r in close.values())
    per_1000 = float(payments_["erp_requests_per_1000"])
    rows = [
        _row("webhook intake, req/s (serving HTTP only)", f"{served:,}", f"{bare:,} bare Starlette app",
             f"{served / bare:.2f}", ">= 0.50", served / bare >= 0.5),
        _row("  the same, queue workers on the same cores", f"{busy:,}", f"{bare:,} bare Starlette app",
             f"{busy / bare:.2f}", "", None),
        _row(f"payments end to end, /s ({payments_['payments']:,})", f"{payments_['per_s']:,}",
             f"{served:,} intake alone", f"{payments_['per_s'] / served:.2f}", ">= 1,000/s",
             payments_["per_s"] >= 1000),
        _row("  posted twice", f"{payments_['posted_twice']}", "", "", "0", payments_["posted_twice"] == 0),
        _row("ERP requests per 1,000 payments", f"{per_1000:g}", "1,000 one per payment", f"{per_1000 / 1000:.4f}",
             "<= 5", per_1000 <= 5),
        _row(f"settlement close, s ({build['transactions']:,} + as many tickets)", f"{build_net:.1f}",
             f"{floor_net:.1f} msgspec decode floor", f"{close_ratio:.2f}", "<= 3.0", close_ratio <= 3.0),
        _row("  peak memory, MB", f"{peak:.0f}", "", "", "<= 300", peak <= 300),
        _row(f"customer dedupe, s ({dedupe_['large']['records']:,} records)", f"{dedupe_['large']['seconds']:.1f}",
             f"{dedupe_['small']['seconds']:.1f} for {dedupe_['small']['records']:,}",
             f"{dedupe.growth(dedupe_):.2f} per record", "<= 30 s", dedupe_["large"]["seconds"] <= dedupe.AIM_SECONDS),
        _row("  peak memory, MB; pairwise F1", f"{dedupe_['large']['peak_mb']:.0f}; {dedupe_['large']['f1']:.4f}",
             "", "", "F1 >= 0.97", dedupe_["large"]["f1"] >= 0.97),
        _row(f"payment anomalies, s ({anomalies_['rows']:,} rows: read, detect, write)",
             f"{anomalies_['seconds']:.1f}", f"{anomalies_['floor_seconds']:.1f} msgspec decode alone",
             f"{anomalies_['ratio']:.2f}", f"<= {anomalies.AIM_SECONDS:g} s",
             anomalies_["seconds"] <= anomalies.AIM_SECONDS),
        _row("  peak memory, MB; F1 on the planted month", f"{anomalies_['peak_mb']:.0f}; {anomalies_['f1']:.4f}",
             "", "", "F1 >= 0.9", anomalies_["f1"] >= 0.9),
        _row("embedded bus, msg/s (send, receive, complete)", f"{bus_['bus_per_s']:,}",
             f"{bus_['bare_per_s']:,} bare SQLite, same writes", f"{bus_['bus_per_s'] / bus_['bare_per_s']:.2f}",
             "", None),
    ]
    header = ["figure", "hl365", "baseline (same run)", "ratio", "aim", ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    rule = "-" * len(lines[0])
    note = (f"{os.cpu_count()} cores; close seconds exclude page rendering ({build['render_seconds']:.1f} s build, "
            f"{floor['render_seconds']:.1f} s floor)")
    return "\n".join([lines[0], rule, *lines[1:], rule, note])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000, help="card transactions of the close")
    parser.add_argument("--payments", type=int, default=3_000, help="payments end to end")
    parser.add_argument("--requests", type=int, default=8_000, help="webhook requests per intake run")
    parser.add_argument("--customers", type=int, default=100_000, help="customer records of the large dedupe")
    parser.add_argument("--anomaly-rows", type=int, default=1_000_000, help="payments of the anomaly detector's run")
    args = parser.parse_args()
    print("hl365 bench: each figure beside its baseline from this run", file=sys.stderr)
    intake_ = _stage("webhook intake (bare app, hl365, hl365 with workers)", lambda: intake.measure(args.requests))
    payments_ = _stage("payments end to end", lambda: payments.measure(args.payments))
    close = _stage("the settlement close (render, floor, parse, build)", lambda: settlement.measure(args.transactions))
    bus_ = _stage("the embedded bus", bus.measure)
    dedupe_ = _stage(f"hl365 dedupe ({dedupe.SMALL:,} and {args.customers:,} customer records)",
                     lambda: dedupe.measure(args.customers))
    anomalies_ = _stage(f"hl365 anomalies ({args.anomaly_rows:,} payments)",
                        lambda: anomalies.measure(args.anomaly_rows))
    print(table(intake_, payments_, close, bus_, dedupe_, anomalies_))


if __name__ == "__main__":
    main()
