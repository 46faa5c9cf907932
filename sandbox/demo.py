"""``hl365 demo``: a sandbox business day end to end, checked against the simulators' ground truth.

Simulators of Heartland Retail, the GP API and the chosen ERP run on free loopback ports; the
local Functions host serves the app; the day is seeded; the gateway sends its payment
notifications (with duplicates, if asked); the day is closed through the admin endpoint (twice,
with duplicates, to prove the second run posts nothing); reconciliation runs; the report compares
what the ERP holds with what the simulators were made to hold.
"""

from __future__ import annotations

import html
import json
import os
import random
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import httpx

from sandbox.host import LocalHost, TriggerProcesses, Undrained, run_in_background, stop_background
from sandbox.scenario import intelligence_day, master_data, payroll_day
from sandbox.scenario.day import Truth, seed
from sandbox.scenario.orders import (
    PaymentTruth,
    customer_ledger,
    ledger_check,
    pay_orders,
    prepare_customer_ledger,
    seed_orders,
)
from sandbox.simulators import create
from sandbox.simulators.base import FaultRule, Served, SimulatorApp, serve
from sandbox.simulators.payroll import DEFAULT_API_KEY as PAYROLL_API_KEY
from sandbox.simulators.payroll import DEFAULT_CLIENT_CODE as PAYROLL_CLIENT_CODE
from sandbox.simulators.payroll import DEFAULT_PASSWORD as PAYROLL_PASSWORD
from sandbox.simulators.payroll import DEFAULT_USERNAME as PAYROLL_USERNAME
from sandbox.simulators.tls import SandboxCA
from shared import wiring
from shared.canonical.money import Money
from shared.dynamics.journals import FO_SEGMENTS
from shared.flows.reconcile import EXPLANATIONS, DiscrepancyType
from shared.settings import SANDBOX_AUDIT_KEY

ROOT = Path(__file__).resolve().parents[1]
TENANT = "00000000-0000-0000-0000-000000000365"
MASTER_KEY = "hl365-demo-master-key"
MERCHANT = "MER_demo"
TIMEZONE = "America/Chicago"
FO_COMPANY = "usmf"
PORTICO_KEY = "skapi_cert_hl365LocalPorticoGiftKey"


class Progress(Protocol):
    """Where a long run shows how far it is: one bar per phase."""

    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int = 1, *, remaining: int | None = None) -> None: ...


class Quiet:
    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int = 1, *, remaining: int | None = None) -> None:
        pass


@dataclass(frozen=True)
class Options:
    day: date
    erp: Literal["fo", "bc"] = "fo"
    transactions: int = 1000
    locations: int = 2
    seed: int = 7
    duplicates: float = 0.2
    faults: float = 0.0
    out: Path = Path("out")
    speedup: float = 10.0  # the embedded bus's timers (retries, locks) run this many times faster
    drain_timeout: float = 900.0
    lease_seconds: int = 300  # idempotency leases (the product's own): longer than any one post
    http_timeout: float = 30.0
    every_fault: bool = False  # also timeouts, gateway 502/504s and simulators restarted from their snapshot
    worker_processes: int = 0  # 0: queue triggers as threads here; N: N trigger processes
    kill_workers: bool = False  # kill trigger processes at random moments (needs worker_processes)
    storage_connection: str | None = None  # Azure Tables (Azurite) instead of SQLite
    master_data: bool = True  # also customers, the catalogue and payroll (chaos leaves them out of some days)


class Simulators:
    """The three simulators of a run, each on its own loopback port. The ERP, which is also the sandbox's Entra
    tenant, serves HTTPS with a certificate from an authority made for the run (azure-identity talks to an https
    authority only; the app trusts it through ``D365_CA_BUNDLE``); the Heartland simulators stay plain HTTP."""

    def __init__(self, options: Options) -> None:
        self._seed = options.seed
        self.restarts = 0
        self.tls = SandboxCA()
        self._erp = options.erp
        self.apps: dict[str, SimulatorApp] = {
            "retail": create("retail", seed=options.seed),
            "gp": create("gp", seed=options.seed),
            options.erp: create(options.erp, seed=options.seed),
            "dataverse": create("dataverse", seed=options.seed),
            "portico": create("portico", seed=options.seed),
            "payroll": create("payroll", seed=options.seed),
        }
        self._servers: dict[str, Served] = {name: self._serve(name, app) for name, app in self.apps.items()}
        self.urls = {name: served.url for name, served in self._servers.items()}
        # One Entra tenant for the ERP and the CRM, as in a customer's Azure: the ERP's issues the CRM's tokens.
        erp_directory = self.apps[options.erp].simulated.directory  # type: ignore[attr-defined]
        erp_directory.other_resources.add(self.urls["dataverse"])
        self.apps["dataverse"].simulated.directory.adopt(erp_directory)  # type: ignore[attr-defined]

    def _serve(self, name: str, app: SimulatorApp, port: int = 0) -> Served:
        return serve(app, tls=self.tls if name in (self._erp, "dataverse") else None, port=port)

    def stop(self) -> None:
        for served in self._servers.values():
            served.stop()
        self.tls.close()

    def restart(self, name: str) -> None:
        """Stop one simulator and start it again on its port from a snapshot of its state, as a service
        comes back after a restart; access tokens stay valid, as signed tokens do."""
        old = self.apps[name]
        state = json.loads(json.dumps(old.simulated.state(), default=str))
        served = self._servers[name]
        served.stop()
        fresh = create(name, seed=self._seed)
        fresh.simulated.restore(state)
        directory = getattr(old.simulated, "directory", None)
        if directory is not None:  # Entra is not restarted with the ERP: its key and tokens carry on
            fresh.simulated.directory.adopt(directory)  # type: ignore[attr-defined]
        for attribute in ("_tokens", "tokens"):
            if isinstance(getattr(old.simulated, attribute, None), dict):
                getattr(fresh.simulated, attribute).update(getattr(old.simulated, attribute))
        fresh.faults.rules, fresh.faults.injected = old.faults.rules, old.faults.injected
        fresh.requests.update(old.requests)
        self.apps[name] = fresh
        self._servers[name] = self._serve(name, fresh, port=served.port)
        self.restarts += 1

    def requests(self, name: str) -> int:
        return sum(self.apps[name].requests.values())

    def faults_injected(self) -> int:
        return sum(sum(app.faults.injected.values()) for app in self.apps.values())


def run(options: Options, progress: Progress | None = None) -> dict[str, Any]:
    """Run the day; the report's ``ok`` is True only if every invariant holds."""
    progress = progress or Quiet()
    started = time.perf_counter()
    data_dir = options.out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("*.sqlite*"):
        stale.unlink()
    shutil.rmtree(data_dir / "blobs", ignore_errors=True)  # the watched folders of an earlier day
    sims = Simulators(options)
    phases: dict[str, float] = {}
    saved_environment = dict(os.environ)
    try:
        progress.phase("seeding the day")
        truth = seed(sims.apps["retail"].simulated, sims.apps["gp"].simulated,  # type: ignore[arg-type]
                     day=options.day, transactions=options.transactions, locations=options.locations,
                     seed=options.seed, timezone=TIMEZONE)
        _prepare_erp(options.erp, sims.apps[options.erp])
        orders = _seed_orders(options, sims)
        phases["seed"] = round(time.perf_counter() - started, 2)
        _configure(options, sims, data_dir)
        if options.faults:
            _inject_faults(sims, options)
        return _run_day(options, sims, truth, orders, started, phases, progress)
    finally:
        sims.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved_environment)


def _configure(options: Options, sims: Simulators, data_dir: Path) -> None:
    gp = sims.apps["gp"].simulated
    erp_url = sims.urls[options.erp]
    os.environ.update({
        "HL365_SETTINGS_FILE": str(data_dir / "no-local-settings.json"),
        "HL365_DATA_DIR": str(data_dir), "HL365_BUS": "sqlite",
        "HL365_STORAGE": "azure" if options.storage_connection else "sqlite",
        # Table Storage is outside the sandbox's published audit key: each day seals its chain with its own.
        "HL365_AUDIT_KEY": (secrets.token_hex(32) if options.storage_connection
                            else SANDBOX_AUDIT_KEY.get_secret_value()),
        "HL365_IDEMPOTENCY_LEASE_SECONDS": str(options.lease_seconds),
        "HL365_HTTP_TIMEOUT_SECONDS": str(options.http_timeout),
        "HL365_MAPPING_FILE": str(ROOT / "mapping.yaml"), "HL365_MASTER_KEY": MASTER_KEY,
        "HL365_MERCHANT_ID": MERCHANT, "HL365_MERCHANT_TIMEZONE": TIMEZONE,
        "GP_API_URL": sims.urls["gp"] + "/ucp", "GP_APP_ID": gp.app_id, "GP_APP_KEY": gp.app_key,  # type: ignore[attr-defined]
        "RETAIL_API_URL": sims.urls["retail"] + "/api", "RETAIL_API_TOKEN": "hl365-local-retail-token",
        "D365_TARGET": options.erp, "D365_AUTHORITY_URL": erp_url, "D365_TENANT_ID": TENANT,
        "D365_CREDENTIAL": "secret", "D365_CA_BUNDLE": str(sims.tls.ca_bundle),
        "D365_CLIENT_ID": "hl365-local-client", "D365_CLIENT_SECRET": "hl365-local-secret",
        "D365_FO_URL": erp_url, "D365_LEGAL_ENTITY": FO_COMPANY, "D365_BC_URL": erp_url,
        "D365_DATAVERSE_URL": sims.urls["dataverse"],
        "PORTICO_URL": sims.urls["portico"], "PORTICO_SECRET_API_KEY": PORTICO_KEY,
        "HEARTLAND_PAYROLL_URL": sims.urls["payroll"], "HEARTLAND_PAYROLL_USERNAME": PAYROLL_USERNAME,
        "HEARTLAND_PAYROLL_PASSWORD": PAYROLL_PASSWORD, "HEARTLAND_PAYROLL_API_KEY": PAYROLL_API_KEY,
        "HEARTLAND_PAYROLL_CLIENT_CODE": PAYROLL_CLIENT_CODE,
        "HL365_EMBEDDED_BUS_SPEEDUP": str(options.speedup),
    })
    if options.storage_connection:
        os.environ["AzureWebJobsStorage"] = options.storage_connection
    for name in ("HL365_ALERT_WEBHOOK_URL", "D365_BC_COMPANY", "D365_CLIENT_CERTIFICATE_PATH",
                 "D365_MANAGED_IDENTITY_CLIENT_ID") + (() if options.storage_connection
                                                                   else ("AzureWebJobsStorage",)):
        os.environ.pop(name, None)
    wiring.reset()


def _prepare_erp(erp: str, app: SimulatorApp) -> None:
    """The chart of accounts the mapping names, as a finance team sets it up before go-live."""
    from shared.mapping.loader import load

    mapping = load(ROOT / "mapping.yaml")
    accounts = {mapping.accounts.processing_fees, mapping.accounts.tips_payable, mapping.accounts.discounts,
                mapping.accounts.refunds, mapping.accounts.gift_card_liability, mapping.accounts.undeposited,
                mapping.accounts.suspense}
    accounts |= {rule.clearing_account for rule in mapping.payment_types.values()}
    accounts |= {rule.account for rule in mapping.tax_components.values()}
    accounts |= {rule.revenue_account for rule in mapping.departments.values()}
    if mapping.payroll is not None:
        codes = mapping.payroll.codes
        accounts |= {codes.net_direct_deposit, codes.net_check}
        for family in (codes.earning, codes.withholding, codes.deduction_pre_tax, codes.deduction_post_tax):
            accounts |= set(family.values())
        for employer in (codes.employer_tax, codes.employer_contribution):
            accounts |= {a for item in employer.values() for a in (item.expense, item.liability)}
    sim: Any = app.simulated
    if erp == "fo":
        existing = {row["MainAccountId"] for row in sim.rows("MainAccounts")}
        for account in sorted(accounts - existing):
            sim.add_main_account(account, f"hl365 {account}")
        sim.add_bank_account(mapping.accounts.bank, company=FO_COMPANY)
    else:
        existing = {row["number"] for row in sim.records("accounts")}
        for account in sorted(accounts - existing):
            sim.add_account(account, f"hl365 {account}")
        sim.add_bank_account(mapping.accounts.bank, "Operating account")


def _inject_faults(sims: Simulators, options: Options) -> None:
    """Throttling, 5xx and lost answers on the data routes; token endpoints stay clean, as Entra's does.

    With ``every_fault``, also reads and writes that outlast the client's timeout (a write that times out
    still lands, a moment later), answers held back, gateway 502s and 504s (on a write the client cannot tell
    whether it landed) and GP's 500s.
    """
    rate = options.faults
    gp_reads, retail_reads = "GET /ucp/settlement/*", "GET /api/*"
    erp_routes = "* /data/*" if options.erp == "fo" else "* /v2.0/*/api/v2.0/*"
    write = "POST /data/$batch" if options.erp == "fo" else "POST /v2.0/*/api/v2.0/*$batch"
    late = options.http_timeout + 0.5
    sims.apps["gp"].faults.rules = [FaultRule(gp_reads, "throttle", rate / 2, retry_after=1),
                                    FaultRule(gp_reads, "error", rate / 2, status=503)]
    sims.apps["retail"].faults.rules = [FaultRule(retail_reads, "throttle", rate / 2, retry_after=1),
                                        FaultRule(retail_reads, "error", rate / 2, status=503)]
    sims.apps[options.erp].faults.rules = [FaultRule(write, "lost", min(0.5, rate * 3)),
                                           FaultRule(erp_routes, "throttle", rate / 2, retry_after=1),
                                           FaultRule(erp_routes, "error", rate / 2, status=503)]
    if options.every_fault:
        sims.apps["gp"].faults.rules[:0] = [FaultRule(gp_reads, "timeout", rate / 10, delay=late),
                                            FaultRule(gp_reads, "error", rate / 4, status=500)]
        sims.apps["retail"].faults.rules[:0] = [FaultRule(retail_reads, "timeout", rate / 10, delay=late),
                                                FaultRule(retail_reads, "error", rate / 4, status=502)]
        sims.apps[options.erp].faults.rules[:0] = [FaultRule(write, "timeout", rate / 2, delay=late),
                                                   FaultRule(write, "hang", rate / 2, delay=0.5),
                                                   FaultRule(write, "error", rate / 4, status=504),
                                                   FaultRule("GET " + erp_routes[2:], "error", rate / 4, status=502)]


def _seed_orders(options: Options, sims: Simulators) -> OrderPayments:
    """The day's web orders, paid by card the next morning: their payments belong in the customer ledger,
    and, captured after the close, they stay out of the day's settlement."""
    from shared.mapping.loader import load

    erp: Any = sims.apps[options.erp].simulated
    prepare_customer_ledger(options.erp, erp, load(ROOT / "mapping.yaml"), bank="110110")
    rng = random.Random(f"{options.seed}:orders")
    orders = seed_orders(options.erp, erp, rng, max(10, options.transactions // 20))
    paid_at = datetime.combine(options.day + timedelta(days=1), datetime.min.time(), ZoneInfo(TIMEZONE))
    paid = OrderPayments(PaymentTruth())
    paid.notifications = pay_orders(sims.apps["gp"].simulated, orders, rng, paid.truth,
                                    at=paid_at.replace(hour=9).astimezone(UTC))
    return paid


@dataclass
class OrderPayments:
    truth: PaymentTruth
    notifications: list[tuple[str, str]] = field(default_factory=list)


def _run_day(options: Options, sims: Simulators, truth: Truth, orders: OrderPayments, started: float,
             phases: dict[str, float], progress: Progress) -> dict[str, Any]:
    host = LocalHost.from_wiring()
    services = wiring.services()
    server, thread, port = run_in_background(host.asgi())
    workers = TriggerProcesses(options.worker_processes) if options.worker_processes else None
    if workers is not None:
        workers.start()
    else:
        host.start()
    chaos = Mayhem(options, sims, workers)
    in_flight: list[tuple[str, str, str]] = []
    try:
        mark = time.perf_counter()
        webhooks, duplicates = _deliver_notifications(sims, truth, orders, options,
                                                      f"http://127.0.0.1:{port}/api/webhooks/gp", progress, chaos)
        phases["notifications"] = round(time.perf_counter() - mark, 2)
        mark = time.perf_counter()
        progress.phase("closing the day")
        runs = [_close(port, options.day, options.speedup)]
        phases["settlement"] = round(time.perf_counter() - mark, 2)
        if options.duplicates:
            mark = time.perf_counter()
            progress.phase("closing the day again")
            runs.append(_close(port, options.day, options.speedup))
            phases["settlement_again"] = round(time.perf_counter() - mark, 2)
        chaos.stop()
        mark = time.perf_counter()
        progress.phase("draining the queues")
        try:
            host.drain(timeout=options.drain_timeout, progress=lambda left: progress.advance(0, remaining=left))
        except Undrained as undrained:
            in_flight = undrained.messages
        phases["drain"] = round(time.perf_counter() - mark, 2)
        host.run_timer("dead_letter_sweep")  # what the bus dead-lettered itself joins DeadLetters, with its reason
        mark = time.perf_counter()
        progress.phase("anomaly watch and rules")
        intelligence = intelligence_day.run(services, options.day)
        phases["intelligence"] = round(time.perf_counter() - mark, 2)
        master: dict[str, Any] = {}
        if options.master_data:
            mark = time.perf_counter()
            progress.phase("customers, items and stock")
            master = master_data.run(options.erp, sims.apps, services,
                                     customers=max(200, options.transactions // 40), seed=options.seed,
                                     day=options.day)
            phases["master_data"] = round(time.perf_counter() - mark, 2)
            mark = time.perf_counter()
            progress.phase("payroll")
            master |= payroll_day.run(options.erp, sims.apps, host, services, day=options.day, seed=options.seed,
                                      journals=_erp_journals)
            phases["payroll"] = round(time.perf_counter() - mark, 2)
    finally:
        chaos.stop()
        if workers is not None:
            workers.stop()
        host.stop()
        stop_background(server, thread)
    report = _report(options, sims, truth, orders, services, runs, webhooks, duplicates, started, in_flight,
                     master | intelligence)
    report["phases_seconds"] = phases
    report["workers_killed"] = workers.killed if workers is not None else 0
    report["simulator_restarts"] = sims.restarts
    (options.out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


class Mayhem:
    """While the gateway's notifications go out: trigger processes killed at random moments
    (``kill_workers``), and the ERP and gateway simulators each restarted once from their snapshot
    (``every_fault``). The moments are notifications drawn from the day's seed, so a short day gets
    its share of mayhem as surely as a long one."""

    def __init__(self, options: Options, sims: Simulators, workers: TriggerProcesses | None) -> None:
        self._rng = random.Random(f"{options.seed}:mayhem")
        self._lock = threading.Lock()
        self._plan: list[tuple[float, Callable[[], None]]] = []
        if options.kill_workers and workers is not None:
            self._plan += [(self._rng.uniform(0.05, 0.95), partial(workers.kill, self._rng.randrange))
                           for _ in range(self._rng.randint(2, 4))]
        if options.every_fault:
            self._plan += [(self._rng.uniform(0.1, 0.9), partial(sims.restart, name)) for name in (options.erp, "gp")]
        self._plan.sort(key=lambda item: item[0])

    def at(self, done: int, total: int) -> None:
        """``done`` of ``total`` notifications are out: do what is due by now."""
        with self._lock:
            while self._plan and self._plan[0][0] * total <= done:
                _, act = self._plan.pop(0)
                act()

    def stop(self) -> None:
        """No more mayhem: the rest of the day drains in peace."""
        with self._lock:
            self._plan.clear()


def _deliver_notifications(sims: Simulators, truth: Truth, orders: OrderPayments, options: Options,
                           url: str, progress: Progress, chaos: Mayhem) -> tuple[int, int]:
    """The POS sales' and the web orders' notifications, some twice, the orders' ones shuffled."""
    gp: Any = sims.apps["gp"].simulated
    rng = random.Random(options.seed)
    sales = [(t, "CAPTURED") for t in truth.card_transactions if gp.transaction(t)["type"] == "SALE"]
    web = list(orders.notifications)
    rng.shuffle(web)
    plan = [(item, "duplicate" if rng.random() < options.duplicates else "normal") for item in sales + web]

    def send(planned: tuple[tuple[str, str], str]) -> int:
        (transaction, status), mode = planned
        delivered = len(gp.notify(transaction, url, mode=mode, status=status))
        progress.advance()
        with counter_lock:
            sent[0] += 1
            done = sent[0]
        chaos.at(done, len(plan))
        return delivered

    sent, counter_lock = [0], threading.Lock()
    progress.phase("sending the gateway's notifications", len(plan))
    with ThreadPoolExecutor(max_workers=8) as pool:
        delivered = sum(pool.map(send, plan))
    return delivered, sum(1 for _, mode in plan if mode == "duplicate")


def _close(port: int, day: date, speedup: float = 1.0, attempts: int = 12) -> dict[str, Any]:
    """Close the day through the admin endpoint as an operator's scheduler would: a 503 is tried again after
    its ``Retry-After`` (on the sandbox's faster clock)."""
    retried: list[str] = []
    for attempt in range(1, attempts + 1):
        answer = httpx.post(f"http://127.0.0.1:{port}/api/admin/settlement", params={"date": day.isoformat()},
                            headers={"x-functions-key": MASTER_KEY}, timeout=600)
        if answer.status_code != 503 or attempt == attempts:
            break
        retried.append(str(answer.json().get("reason", "")))
        time.sleep(float(answer.headers.get("Retry-After", "60")) / speedup)
    document: dict[str, Any] = answer.json()
    document["http_status"] = answer.status_code
    document["retried"] = retried
    return document


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
    return str(value)


def _account_and_dimensions(display: str) -> tuple[str, str]:
    """``401100-001-022`` is the main account, then F&O's dimension segments in structure order."""
    account, *segments = display.split("-")
    return account, ", ".join(f"{name} {value}" for name, value in zip(FO_SEGMENTS, segments, strict=False) if value)


def _erp_journals(erp: str, app: SimulatorApp, prefix: str = "HL-") -> list[dict[str, Any]]:
    """Every journal the ERP holds under a key of ``prefix`` (settlement's ``HL-``, payroll's ``PR-``), as (key,
    lines, balanced, totals), from its ground truth."""
    sim: Any = app.simulated
    found = []
    if erp == "fo":
        for journal in sim.state()["journals"]:
            key = str(journal.get("IntegrationKey") or "")
            if key.startswith(prefix):
                found.append({"key": key, "document": journal["JournalBatchNumber"], "lines": journal["lines"],
                              "balanced": journal["balanced"], "posted": journal.get("IsPosted") == "Yes",
                              "amounts": [(line["AccountDisplayValue"], Decimal(str(line["DebitAmount"]))
                                           - Decimal(str(line["CreditAmount"])), line["CurrencyCode"])
                                          for line in journal["lines"]]})
    else:
        state = sim.state()
        for journal in state["journals"]:
            key = str(journal.get("displayName") or "")
            if key.startswith(prefix):
                lines = journal.get("lines", [])
                total = sum((Decimal(str(line["amount"])) for line in lines), Decimal(0))
                found.append({"key": key, "document": journal["code"], "lines": lines, "balanced": total == 0,
                              "posted": False, "amounts": [(line["accountNumber"], Decimal(str(line["amount"])),
                                                            "USD") for line in lines]})
    return found


def _batch_nets(gp: Any) -> dict[str, tuple[Decimal, str]]:
    """What each settlement batch came to at the gateway (sales less refunds), by batch id."""
    nets: dict[str, tuple[Decimal, str]] = {}
    for record in gp.state()["transactions"].values():
        if record.get("batch_id"):
            amount = Money.from_minor(record["amount"], record["currency"])
            signed = amount.amount if record["type"] == "SALE" else -amount.amount
            total, _ = nets.get(record["batch_id"], (Decimal(0), amount.currency))
            nets[record["batch_id"]] = (total + signed, amount.currency)
    return nets


def _journal_checks(journals: list[dict[str, Any]], expected_keys: set[str], settlement_side: set[str],
                    gp: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Settlement journals missing from the ERP or in it twice, each with the batch's net at the gateway
    and what the ERP's journals under that key put through the settlement accounts."""
    nets = _batch_nets(gp)
    posted: dict[str, Decimal] = {}
    for journal in journals:
        for account, amount, _ in journal["amounts"]:
            if account.split("-")[0] in settlement_side:
                posted[journal["key"]] = posted.get(journal["key"], Decimal(0)) + amount
    times = Counter(j["key"] for j in journals)

    def entry(key: str) -> dict[str, str]:
        batch = key.removeprefix(f"HL-{MERCHANT}-").split("-")[0]
        expected, currency = nets.get(batch, (Decimal(0), "USD"))
        return {"key": key, "expected": str(expected), "posted": str(posted.get(key, Decimal(0))),
                "currency": currency}

    lost = [entry(k) for k in sorted(expected_keys - set(times))]
    doubled = [entry(k) | {"times": str(n)} for k, n in sorted(times.items()) if n > 1]
    return lost, doubled


def _report(options: Options, sims: Simulators, truth: Truth, orders: OrderPayments, services: wiring.Services,
            runs: list[dict[str, Any]], webhooks: int, duplicates: int, started: float,
            in_flight: list[tuple[str, str, str]], master: dict[str, Any]) -> dict[str, Any]:
    mapping = services.mapping
    journals = _erp_journals(options.erp, sims.apps[options.erp])
    keys = Counter(j["key"] for j in journals)
    settlement_side = {mapping.accounts.bank, mapping.accounts.processing_fees, mapping.accounts.undeposited}
    posted_totals: dict[str, Decimal] = {}
    for journal in journals:
        for account, amount, currency in journal["amounts"]:
            if account.split("-")[0] in settlement_side:
                posted_totals[currency] = posted_totals.get(currency, Decimal(0)) + amount
    expected_keys = {p["external_key"] for p in runs[0].get("journals", [])}
    discrepancies = runs[-1].get("discrepancies", [])
    found = {(d["type"], d["reference"]) for d in discrepancies}
    planted = {(p["type"], p["reference"]) for p in truth.planted}
    ledger = customer_ledger(options.erp, sims.apps[options.erp].simulated)
    payments_lost, payments_doubled = ledger_check(orders.truth, ledger)
    journals_lost, journals_doubled = _journal_checks(journals, expected_keys, settlement_side,
                                                      sims.apps["gp"].simulated)
    lost_keys, double_posted_keys = journals_lost + payments_lost, journals_doubled + payments_doubled
    audit_days = {datetime.fromtimestamp(at, UTC).date() for at in (time.time() - (time.perf_counter() - started),
                                                                    time.time())}
    audit = [services.audit.verify(d) for d in sorted(audit_days)]
    parked = list(services.dead_letters.list(days=1, status=None))
    dead = Counter(str(row.get("Reason") or "") for row in parked)
    report: dict[str, Any] = {
        "date": options.day.isoformat(),
        "erp": options.erp,
        "transactions_generated": len(truth.card_transactions),
        "tickets_generated": truth.tickets,
        "webhooks_delivered": webhooks,
        "duplicates_delivered": duplicates,
        "faults_injected": sims.faults_injected(),
        "orders_paid": len(orders.truth.sales),
        "payments_posted": len(ledger),
        "journals_posted": len(keys),
        "journal_lines": sum(len(j["lines"]) for j in journals),
        "journals_balanced": bool(journals) and all(j["balanced"] for j in journals),
        "settlement_totals": {c: str(v) for c, v in sorted(truth.settled_totals.items())},
        "posted_totals": {c: str(v) for c, v in sorted(posted_totals.items())},
        "discrepancies": [{k: d[k] for k in ("type", "amount", "currency", "reference")} for d in discrepancies],
        "planted": truth.planted,
        "dead_lettered": [{"reason": r, "count": n} for r, n in sorted(dead.items())],
        "lost": len(lost_keys),
        "double_posted": sum(int(k["times"]) - 1 for k in double_posted_keys),
        "lost_keys": lost_keys,
        "double_posted_keys": double_posted_keys,
        "in_flight": [{"queue": q, "message_id": m, "state": st} for q, m, st in in_flight],
        "audit_records": sum(a.records for a in audit),
        "audit_problems": [p for a in audit for p in a.problems],
        "settlement_runs": [{"http_status": r["http_status"], "retried": r["retried"],
                             "created": sum(1 for j in r.get("journals", [])
                                                                             if j["created"])} for r in runs],
        "erp_requests": sims.requests(options.erp),
        **master,
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }
    report["ok"] = (report["lost"] == 0 and report["double_posted"] == 0 and not in_flight
                    and all(dead) and not report["audit_problems"] and report["journals_balanced"]
                    and report["settlement_totals"] == report["posted_totals"] and found == planted
                    and all(r["http_status"] == 200 for r in runs)
                    and all(r["created"] == 0 for r in report["settlement_runs"][1:])
                    and report["anomalies"]["new_on_a_second_run"] == 0
                    and (not options.master_data or (report["master_data_ok"] and report["payroll_ok"])))
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (options.out / "report.html").write_text(render_html(report, journals, mapping.account_names()),
                                             encoding="utf-8")
    return report


def render_html(report: dict[str, Any], journals: list[dict[str, Any]], account_names: dict[str, str]) -> str:
    """A page an accountant can read: totals, each journal in debit and credit with its accounts named,
    discrepancies, and the keys the ERP got wrong."""
    def table(headers: list[str], rows: list[list[Any]], foot: list[Any] | None = None) -> str:
        def cells(tag: str, row: list[Any]) -> str:
            return "".join(f"<{tag}{' class=num' if isinstance(c, Decimal) else ''}>{html.escape(_cell(c))}</{tag}>"
                           for c in row)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
        tail = f"<tfoot><tr>{cells('th', foot)}</tr></tfoot>" if foot else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{tail}</table>"

    verdict = "all invariants hold" if report["ok"] else "AN INVARIANT FAILED"
    summary = table(["measure", "value"], [[k, report[k]] for k in (
        "date", "erp", "transactions_generated", "webhooks_delivered", "duplicates_delivered", "faults_injected",
        "payments_posted", "journals_posted", "journal_lines", "journals_balanced", "settlement_totals",
        "posted_totals", "lost", "double_posted", "erp_requests", "elapsed_seconds")])
    sections = [f"<h1>hl365 demo, {html.escape(report['date'])} ({html.escape(report['erp'])})</h1>",
                f"<p class={'ok' if report['ok'] else 'bad'}>{verdict}</p>", "<h2>Totals</h2>", summary]
    broken = [["lost", k["key"], k["expected"], k["posted"], k["currency"]] for k in report["lost_keys"]]
    broken += [[f"posted {k['times']} times", k["key"], k["expected"], k["posted"], k["currency"]]
               for k in report["double_posted_keys"]]
    if broken:
        sections += ["<h2 class=bad>What the ERP got wrong</h2>",
                     table(["problem", "key", "gateway's net", "ERP's net", "currency"], broken)]
    if report["in_flight"]:
        sections += ["<h2 class=bad>Still in flight when the day ended</h2>",
                     table(["queue", "message", "state"],
                           [[m["queue"], m["message_id"], m["state"]] for m in report["in_flight"]])]
    sections.append("<h2>Discrepancies</h2>")
    for kind in sorted({d["type"] for d in report["discrepancies"]}):
        explained = EXPLANATIONS[DiscrepancyType(kind)]
        sections += [f"<h3>{html.escape(kind)}</h3><p>{html.escape(explained.meaning)}</p>"
                     f"<p><b>Check:</b> {html.escape(explained.check)}</p>"
                     f"<p><b>Do:</b> {html.escape(explained.do)}</p>",
                     table(["reference", "amount", "currency"],
                           [[d["reference"], Decimal(d["amount"]), d["currency"]]
                            for d in report["discrepancies"] if d["type"] == kind])]
    sections.append("<h2>Journals</h2>")
    for journal in journals:
        sections.append(f"<h3>{html.escape(journal['key'])} (ERP document {html.escape(str(journal['document']))}, "
                        f"{'balanced' if journal['balanced'] else 'UNBALANCED'})</h3>")
        rows, debits, credits = [], Decimal(0), Decimal(0)
        for display, amount, currency in journal["amounts"]:
            account, dimensions = _account_and_dimensions(display)
            debit, credit = (amount, None) if amount >= 0 else (None, -amount)
            debits, credits = debits + (debit or 0), credits + (credit or 0)
            rows.append([account, account_names.get(account, ""), dimensions, debit, credit, currency])
        sections.append(table(["account", "name", "dimensions", "debit", "credit", "currency"], rows,
                              ["total", "", "", debits, credits, ""]))
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.num{text-align:right}"
             "tfoot th{border-top:2px solid #333}.ok{color:#060}.bad{color:#a00}")
    return f"<!doctype html><html><head><meta charset=utf-8><title>hl365 demo</title><style>{style}</style></head>" \
           f"<body>{''.join(sections)}</body></html>\n"
