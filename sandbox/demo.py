"""``hl365 demo``: a sandbox business day through the local host, checked against its ground truth."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from sandbox.host import LocalHost, load_app, run_in_background, stop_background
from sandbox.scenario import Delivery, generate
from shared import wiring
from shared.dynamics.embedded import EmbeddedLedger
from shared.messaging.embedded import EmbeddedBus

DEMO_APP_KEY = "hl365-demo-app-key"


@dataclass(frozen=True)
class Options:
    day: date
    transactions: int = 1000
    duplicates: float = 0.2
    seed: int = 7
    out: Path = Path("out")


def run(options: Options) -> dict[str, Any]:
    """Run the day and return the report; ``report["ok"]`` is True only if every invariant holds."""
    started = time.perf_counter()
    data_dir = options.out / "data"
    for stale in data_dir.glob("*.sqlite*"):
        stale.unlink()
    os.environ.update({"HL365_DATA_DIR": str(data_dir), "HL365_STORAGE": "sqlite", "HL365_BUS": "sqlite",
                       "D365_TARGET": "embedded", "GP_APP_KEY": DEMO_APP_KEY})
    wiring.reset()
    services = wiring.services()
    if not isinstance(services.bus, EmbeddedBus):
        raise RuntimeError("the demo runs on the embedded bus")
    host = LocalHost(load_app(), bus=services.bus, settings=services.settings)
    day = generate(day=options.day, transactions=options.transactions, duplicates=options.duplicates,
                   app_key=DEMO_APP_KEY, seed=options.seed)
    server, thread, port = run_in_background(host.asgi())
    host.start()
    try:
        answers = _deliver(f"http://127.0.0.1:{port}/api/webhooks/gp", day.deliveries)
        host.drain()
    finally:
        host.stop()
        stop_background(server, thread)

    ledger = services.ledger
    assert isinstance(ledger, EmbeddedLedger)
    postings = ledger.postings()
    posted_ids = [str(p["DocumentNo"]).removeprefix("PAY-") for p in postings]
    truth = day.transactions
    unexpected = [(d.expect, got) for d, got in zip(day.deliveries, answers, strict=True) if d.expect != got]
    settled = sum((Decimal(str(t["amount"])) / 100 for t in truth.values()), Decimal(0))
    posted = sum((Decimal(str(p["Amount"])) for p in postings), Decimal(0))
    audit = services.audit.verify(datetime.now(UTC).date())
    report: dict[str, Any] = {
        "date": options.day.isoformat(),
        "erp": "embedded",
        "transactions_generated": len(truth),
        "webhooks_delivered": len(day.deliveries),
        "duplicates_delivered": sum(d.duplicate for d in day.deliveries),
        "rejected": {str(code): sum(1 for a in answers if a == code) for code in (400, 401, 422)},
        "unexpected_answers": len(unexpected),
        "payments_posted": len(postings),
        "settlement_totals": {"USD": str(settled)},
        "posted_totals": {"USD": str(posted)},
        "lost": len(set(truth) - set(posted_ids)),
        "double_posted": len(posted_ids) - len(set(posted_ids)),
        "messages_completed": host.stats.messages_completed,
        "messages_abandoned": host.stats.messages_abandoned,
        "audit_records": audit.records,
        "audit_intact": audit.ok,
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }
    report["ok"] = (not unexpected and report["lost"] == 0 and report["double_posted"] == 0
                    and settled == posted and audit.ok)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    wiring.reset()
    return report


def _deliver(url: str, deliveries: list[Delivery]) -> list[int]:
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=8)) as client:

        def post(delivery: Delivery) -> int:
            """Send as the gateway does: a 503 with Retry-After is tried again after the wait it asks for."""
            for _ in range(5):
                answer = client.post(url, content=delivery.body, headers=delivery.headers)
                if answer.status_code != 503:
                    break
                time.sleep(min(float(answer.headers.get("retry-after", "1")), 1.0))
            return answer.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(post, deliveries))
