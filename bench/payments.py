"""Payments end to end: signed GP notifications into ``hl365 serve`` until every payment is a line in the F&O
simulator's customer payment journals; payments/s and ERP requests per 1,000 payments.

Usage: ``python -m bench.payments [PAYMENTS]``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import load
from bench.intake import _wait_for, free_port
from sandbox.demo import FO_COMPANY, TENANT, _prepare_erp
from sandbox.scenario.orders import prepare_customer_ledger, seed_orders
from sandbox.scenario.transactions import transaction
from sandbox.simulators import create
from sandbox.simulators.base import serve
from sandbox.simulators.tls import SandboxCA
from shared.mapping.loader import load as load_mapping
from shared.security.signatures import gp_signature

ROOT = Path(__file__).parents[1]
APP_KEY = "bench-app-key"


def measure(count: int = 3_000) -> dict[str, Any]:
    """Payments per second from the first notification to the last journal line, and the ERP requests made."""
    fo = create("fo", seed=1)
    simulated: Any = fo.simulated
    _prepare_erp("fo", fo)
    prepare_customer_ledger("fo", simulated, load_mapping(ROOT / "mapping.yaml"), bank="110110")
    rng = random.Random(42)
    orders = seed_orders("fo", simulated, rng, count, customers=200)
    tls = SandboxCA()  # the ERP and its Entra tenant over HTTPS, as azure-identity requires
    served = serve(fo, tls=tls)
    fo_url = served.url
    started_at = datetime.now(UTC) - timedelta(minutes=5)
    requests = []
    for number, order in enumerate(orders):
        payload = transaction(rng, date(2026, 11, 26), number, "MER_bench")
        created = started_at + timedelta(seconds=number)
        payload.update(reference=order.number, amount=str(int(order.amount.scaleb(2))), currency="USD",
                       status="CAPTURED", type="SALE", time_created=created.isoformat())
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", "X-GP-Signature": gp_signature(body, APP_KEY)}
        requests.append(load.request_bytes("/api/webhooks/gp", body, headers))
    data = Path(tempfile.mkdtemp(prefix="hl365-bench-payments-"))
    port = free_port()
    env = {**os.environ, "HL365_DATA_DIR": str(data), "GP_APP_KEY": APP_KEY, "HL365_STORAGE": "sqlite",
           "HL365_BUS": "sqlite", "HL365_SETTINGS_FILE": str(data / "none.json"), "D365_TARGET": "fo",
           "D365_FO_URL": fo_url, "D365_AUTHORITY_URL": fo_url, "D365_TENANT_ID": TENANT,
           "D365_CLIENT_ID": "hl365-local-client", "D365_CLIENT_SECRET": "hl365-local-secret",
           "D365_LEGAL_ENTITY": FO_COMPANY, "HL365_MAPPING_FILE": str(ROOT / "mapping.yaml"),
           "D365_CA_BUNDLE": str(tls.ca_bundle)}
    hl365 = shutil.which("hl365", path=str(Path(sys.executable).parent)) or "hl365"
    process = subprocess.Popen([hl365, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_for(port, process)
        before = sum(n for route, n in fo.requests.items() if "/oauth2/" not in route)
        started = time.perf_counter()
        sent, statuses = load.run(port, requests)
        deadline = time.monotonic() + 600
        while len(simulated.rows("CustomerPaymentJournalLines")) < count:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"only {len(simulated.rows('CustomerPaymentJournalLines'))} of {count} "
                                   "payments were posted")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        erp_requests = sum(n for route, n in fo.requests.items() if "/oauth2/" not in route) - before
    finally:
        process.terminate()
        process.wait(timeout=20)
        served.stop()
        tls.close()
        shutil.rmtree(data, ignore_errors=True)
    lines = simulated.rows("CustomerPaymentJournalLines")
    return {"payments": count, "intake_seconds": round(sent, 2), "seconds": round(elapsed, 2),
            "per_s": round(count / elapsed), "statuses": dict(statuses),
            "journals": len({line["JournalBatchNumber"] for line in lines}),
            "posted_twice": len(lines) - len({line["PaymentReference"] for line in lines}),
            "erp_requests": erp_requests, "erp_requests_per_1000": round(erp_requests * 1000 / count, 1)}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3_000)))
