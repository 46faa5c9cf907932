"""``hl365 chaos``: business day after business day under every fault, each checked against the
simulators' ground truth.

Each day has its own date and seed. The first three are the days a calendar gets wrong: the spring
and autumn daylight-saving changes and a month-end, in the merchant's time zone. The rest are drawn
from the seed. Every day runs with duplicates and shuffled notifications, 429s with ``Retry-After``,
5xx answers, timeouts, writes applied with their answer lost, and the ERP and gateway simulators
restarted from their snapshot. With ``kill_workers`` the queue triggers run in processes that are
killed at random moments. A day passes when nothing is lost or posted twice, every journal balances,
posted equals settled per currency, reconciliation finds exactly what was planted, the audit chain
verifies, no message is left in a queue and every dead letter carries a reason.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from sandbox import demo
from sandbox.azurite import run_azurite

CALENDAR_EDGES = (
    date(2026, 3, 8),  # clocks go forward in America/Chicago: a 23-hour business day
    date(2026, 11, 1),  # clocks go back: a 25-hour business day
    date(2026, 11, 30),  # a month-end
)


@dataclass(frozen=True)
class ChaosOptions:
    days: int = 10
    erps: tuple[Literal["fo", "bc"], ...] = ("fo", "bc")
    transactions: int = 2000
    seed: int = 1
    kill_workers: bool = False
    storage: Literal["sqlite", "azurite"] = "sqlite"
    azurite_days: frozenset[int] = field(default_factory=frozenset)  # these days on Azurite even with sqlite
    faults: float = 0.1
    duplicates: float = 0.2
    out: Path = Path("out/chaos")
    master_data_days: frozenset[int] | None = None  # days that also run customers, catalogue and payroll (None: all)


def calendar(days: int, seed: int) -> list[tuple[date, int]]:
    """``(business date, seed)`` of each day: the calendar's edges first, then dates drawn from ``seed``."""
    rng = random.Random(f"chaos:{seed}")
    chosen = list(CALENDAR_EDGES[:days])
    while len(chosen) < days:
        drawn = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 334))
        if drawn not in chosen:
            chosen.append(drawn)
    return [(day, seed * 1000 + n) for n, day in enumerate(chosen)]


CHECKS = ("lost", "double_posted", "journals_balanced", "posted_equals_settled", "found_equals_planted",
          "audit_verifies", "queues_empty", "dead_letters_explained", "settlement_answers")


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """Each invariant of a day, from its demo report."""
    found = {(d["type"], d["reference"]) for d in report["discrepancies"]}
    planted = {(p["type"], p["reference"]) for p in report["planted"]}
    return {
        "lost": report["lost"] == 0,
        "double_posted": report["double_posted"] == 0,
        "journals_balanced": bool(report["journals_balanced"]),
        "posted_equals_settled": report["posted_totals"] == report["settlement_totals"],
        "found_equals_planted": found == planted,
        "audit_verifies": not report["audit_problems"],
        "queues_empty": not report["in_flight"],
        "dead_letters_explained": all(d["reason"] for d in report["dead_lettered"]),
        "settlement_answers": all(r["http_status"] == 200 for r in report["settlement_runs"])
        and all(r["created"] == 0 for r in report["settlement_runs"][1:]),
    }


@contextmanager
def _storage(on_azurite: bool) -> Iterator[str | None]:
    """A fresh Azurite for the day, or None for SQLite."""
    if not on_azurite:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="hl365-azurite-") as workdir, run_azurite(Path(workdir)) as connection:
        yield connection


def run(options: ChaosOptions, progress: demo.Progress | None = None,
        on_day: Any = None) -> dict[str, Any]:
    """Run every day on every ERP; ``chaos.json`` in ``options.out`` holds one row per day and ERP."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    options.out.mkdir(parents=True, exist_ok=True)
    for n, (day, seed) in enumerate(calendar(options.days, options.seed)):
        for erp in options.erps:
            on_azurite = options.storage == "azurite" or n in options.azurite_days
            with _storage(on_azurite) as connection:
                mark = time.perf_counter()
                report = demo.run(demo.Options(
                    day=day, erp=erp, transactions=options.transactions, locations=1 + seed % 4, seed=seed,
                    duplicates=options.duplicates, faults=options.faults, out=options.out / f"{day}-{erp}",
                    speedup=10.0, lease_seconds=60, http_timeout=5.0, every_fault=True,
                    worker_processes=2 if options.kill_workers else 0, kill_workers=options.kill_workers,
                    storage_connection=connection,
                    master_data=options.master_data_days is None or n in options.master_data_days), progress)
            checks = verdicts(report)
            row = {"day": day.isoformat(), "erp": erp, "seed": seed, "storage": "azurite" if on_azurite else "sqlite",
                   "ok": all(checks.values()), "failed": [name for name, ok in checks.items() if not ok],
                   "tickets": report["tickets_generated"], "orders_paid": report["orders_paid"],
                   "faults_injected": report["faults_injected"], "workers_killed": report["workers_killed"],
                   "simulator_restarts": report["simulator_restarts"], "lost": report["lost"],
                   "double_posted": report["double_posted"], "lost_keys": report["lost_keys"],
                   "double_posted_keys": report["double_posted_keys"], "in_flight": report["in_flight"],
                   "dead_lettered": report["dead_lettered"], "audit_problems": report["audit_problems"],
                   "seconds": round(time.perf_counter() - mark, 1)}
            rows.append(row)
            if on_day is not None:
                on_day(row)
    summary = {"days": options.days, "erps": list(options.erps), "seed": options.seed,
               "transactions": options.transactions, "kill_workers": options.kill_workers,
               "storage": options.storage, "ok": all(r["ok"] for r in rows), "rows": rows,
               "elapsed_seconds": round(time.perf_counter() - started, 1)}
    (options.out / "chaos.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
