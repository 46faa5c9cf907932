"""The operations console: what it gathers from real tables, how it renders it, who may open it, and a
person's clicks in a real browser against a whole local system after a day with dead letters and
discrepancies."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.host import LocalHost, run_in_background, stop_background
from shared import wiring
from shared.canonical.envelope import Envelope
from shared.canonical.journals import Journal, JournalLine
from shared.flows.payments import POST_QUEUE
from shared.flows.reconcile import EXPLANATIONS, Discrepancy, DiscrepancyType
from shared.flows.settlement import SETTLEMENT_QUEUE, journal_totals, record_discrepancies
from shared.messaging.envelope import to_message
from shared.ops import console
from shared.ops.alerts import Alert
from shared.ops.deadletters import row_id
from shared.storage import tables
from shared.storage.audit import AuditTrail
from shared.storage.entities import Entity
from shared.storage.table_ledger import TableJournals

ROOT = Path(__file__).parents[2]
MASTER_KEY = "console-master-key"
MERCHANT = "MER_console"
CLOSED = date(2026, 11, 26)
PAN = "4111111111111111"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "out" / "test-screenshots"


class Quiet:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[wiring.Services]:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    monkeypatch.setenv("HL365_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HL365_MASTER_KEY", MASTER_KEY)
    for name in ("HL365_STORAGE", "HL365_BUS", "D365_TARGET", "HL365_MERCHANT_ID", "HL365_ALERT_WEBHOOK_URL",
                 "HL365_MAPPING_FILE", "GP_API_URL", "RETAIL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    wiring.reset()
    yield wiring.services()
    wiring.reset()


def _trail(services: wiring.Services, at: list[datetime]) -> AuditTrail:
    """The services' audit table under a clock that hands out ``at`` in turn."""
    moments = iter(at)
    key = services.settings.audit_key.get_secret_value().encode()
    return AuditTrail(services.tables.table(tables.AUDIT_LOG), key=key, clock=lambda: next(moments))


def _envelope(key: str) -> Envelope:
    return Envelope(type="payment.normalised", source="gp", subject=key, idempotency_key=key,
                    correlation_id=f"corr-{key}", data={"external_key": key})


@dataclass
class Planted:
    today: date
    payment_letter: str
    settlement_letter: str


def plant(services: wiring.Services) -> Planted:
    """A day as the flows leave it: audit chains, a close with journals and discrepancies, dead letters."""
    today = datetime.now(UTC).date()
    start = datetime.combine(today, time(9), tzinfo=UTC)
    moments = []
    for n in range(10):  # intake accepted, then posted n+1 seconds later
        moments += [start + timedelta(minutes=n), start + timedelta(minutes=n, seconds=n + 1)]
    trail = _trail(services, [*moments, start + timedelta(hours=2), start + timedelta(hours=3)])
    for n in range(10):
        key = f"gp:TRN_{n}:CAPTURED"
        trail.record(step="intake.gp", event_id=key, correlation_id=f"corr-{n}", outcome="accepted")
        trail.record(step="post.payment", event_id=key, correlation_id=f"corr-{n}", outcome="posted",
                     detail={"document": f"PAY-{n}"})
    trail.record(step="intake.gp", event_id="TRN_card", correlation_id="TRN_card", outcome="rejected_card_data",
                 detail={"fields": "$.card (411111******1111)"})
    journal = Journal(external_key=f"HL-{MERCHANT}-B1", merchant_id=MERCHANT, batch_id="B1", business_date=CLOSED,
                      description="batch B1", lines=(
                          JournalLine(account="110100", currency="USD", debit=Decimal("1234.50")),
                          JournalLine(account="400100", currency="USD", credit=Decimal("1234.50"))))
    trail.record(step="settlement.close", event_id=f"{MERCHANT}-{CLOSED}", correlation_id=f"{MERCHANT}-{CLOSED}",
                 outcome="closed", detail={"journals": 1, "created": 1, "failed_batches": 1, "discrepancies": 2,
                                           "totals": journal_totals([journal])})
    document = TableJournals(services.tables.table(tables.POSTINGS)).create_journal(journal)
    claim = services.keys.claim(f"journal-{MERCHANT}-{CLOSED:%Y%m%d}", journal.external_key)
    services.keys.complete(claim, document)
    record_discrepancies(services.tables.table(tables.DISCREPANCIES), MERCHANT, CLOSED, [
        Discrepancy(type=DiscrepancyType.DEPOSIT_SHORT, amount=Decimal("12.5"), currency="USD", reference="DEP_1",
                    detail="settled 1234.50 less fees 30.00, deposited 1192.00"),
        Discrepancy(type=DiscrepancyType.MISSING_IN_POS, amount=Decimal("40"), currency="USD", reference="TRN_9",
                    detail="settled in batch B2, no POS ticket tendered it"),
    ], Quiet())

    body = to_message(_envelope("gp:TRN_7:CAPTURED")).body
    payment = services.dead_letters.park(queue=POST_QUEUE, body=body, message_id="gp:TRN_7:CAPTURED",
                                         reason="CustomerBlocked", description="<b>customer C-1 is blocked</b>")
    settlement = services.dead_letters.park(
        queue=SETTLEMENT_QUEUE, body=f'{{"merchant":"{MERCHANT}","date":"{CLOSED}","batch":"B2"}}'.encode(),
        message_id=f"settlement-{MERCHANT}-{CLOSED}-B2", reason="UnmappedPaymentType",
        description="batch B2: payment type AMEX has no mapping entry")
    return Planted(today, row_id(payment), row_id(settlement))


# Gathering and rendering, in process --------------------------------------------------------------------------


def test_every_discrepancy_type_the_reconciliation_produces_is_explained() -> None:
    assert set(EXPLANATIONS) == {t.value for t in DiscrepancyType}
    assert all(e.meaning and e.check and e.do for e in EXPLANATIONS.values())


def test_latency_percentiles_are_observed_values_by_nearest_rank() -> None:
    start = datetime(2026, 11, 27, 9, tzinfo=UTC)
    records = []
    for n in range(1, 101):
        for step, outcome, seconds in (("intake.gp", "accepted", 0), ("transform.payment", "normalised", 0.1),
                                       ("post.payment", "posted", n)):
            records.append(console.AuditRecord("20261127", f"{n}{step}", step, f"k{n}", f"c{n}", outcome, "{}",
                                               start + timedelta(seconds=seconds)))
    records.append(console.AuditRecord("20261127", "x", "intake.gp", "k0", "c0", "accepted", "{}", start))
    [latency] = console.latencies(records)
    assert (latency.flow, latency.count, latency.p50, latency.p90, latency.p99, latency.longest) == (
        "post.payment", 100, 50.0, 90.0, 99.0, 100.0)


def test_the_console_gathers_the_day_from_the_tables(services: wiring.Services) -> None:
    planted = plant(services)
    day = console.gather(console.Sources.of(services), day=planted.today)
    assert day.flows["intake.gp"] == {"accepted": 10, "rejected_card_data": 1}
    assert day.flows["post.payment"] == {"posted": 10}
    assert day.flows["settlement.close"] == {"closed": 1}
    [latency] = day.latencies
    assert (latency.flow, latency.count, latency.p50, latency.p90, latency.longest) == ("post.payment", 10, 5, 9, 10)
    assert {p.reason for p in day.dead_letters} == {"CustomerBlocked", "UnmappedPaymentType"}
    [close] = day.closes
    assert (close.merchant, close.business_date, close.counts["failed_batches"]) == (MERCHANT, CLOSED, 1)
    [journal] = close.journals
    assert (journal.document, journal.status, journal.balanced) == (f"GJ-HL-{MERCHANT}-B1", "done", True)
    assert journal.totals == {"USD": (Decimal("1234.50"), Decimal("1234.50"))}
    assert [p.id for p in close.failed] == [planted.settlement_letter]
    assert sorted(d.type for d in day.discrepancies) == ["deposit_short", "missing_in_pos"]
    assert {a.kind for a in day.alerts} == {"dead_lettered", "settlement_failed", "card_data_rejected",
                                            "discrepancies"}
    assert day.integrity is not None and day.integrity.ok and day.records == 22


def test_the_page_shows_each_section_with_money_explanations_and_the_key_in_its_forms(
    services: wiring.Services,
) -> None:
    planted = plant(services)
    html = console.page(services, {"code": MASTER_KEY}, {}).html
    for anchor in ("flows", "deadletters", "discrepancies", "closes", "search", "alerts"):
        assert f"<section id={anchor}>" in html
    assert "<svg role=img" in html and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "1,234.50 USD" in html and "12.50 USD" in html and "40.00 USD" in html
    assert EXPLANATIONS["deposit_short"].do in html.replace("&#x27;", "'")
    assert f"GJ-HL-{MERCHANT}-B1" in html and "batch B2: payment type AMEX has no mapping entry" in html
    assert f'action="console/replay?code={MASTER_KEY}"' in html
    assert f'<input type=hidden name="id" value="{planted.payment_letter}">' not in html  # the id travels as id=
    assert f'name=id value="{planted.payment_letter}"' in html
    assert f'<input type=hidden name="code" value="{MASTER_KEY}">' in html
    assert "Application Insights" in html  # says what it cannot show


def test_everything_shown_is_escaped_and_a_card_number_never_shown(services: wiring.Services) -> None:
    planted = plant(services)
    hostile = Entity(f"dl-{planted.today:%Y%m%d}", "999999999999-evil", {
        "Queue": "payments-post", "MessageId": "<script>alert(1)</script>", "Reason": "Bad<Reason>",
        "Description": f'"><img src=x onerror=alert(1)> card {PAN}', "Body": f'{{"pan": "{PAN}", "x": "</pre>"}}',
        "Truncated": False, "Status": "parked", "ParkedAt": datetime.now(UTC), "Replays": 0})
    services.tables.table(tables.DEAD_LETTERS).insert(hostile)
    html = console.page(services, {"code": MASTER_KEY, "view": row_id(hostile), "q": "<i>x</i>"}, {}).html
    assert "<script>alert" not in html and "<img src=x" not in html and "<i>x</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Bad&lt;Reason&gt;" in html
    assert PAN not in html and "<div id=viewed>" in html and "&lt;/pre&gt;" in html


def test_the_audit_search_shows_the_chain_of_one_event_by_correlation_id_or_key(services: wiring.Services) -> None:
    planted = plant(services)
    sources = console.Sources.of(services)
    by_correlation = console.gather(sources, day=planted.today, query="corr-3")
    by_key = console.gather(sources, day=planted.today, query="gp:TRN_3:CAPTURED")
    assert [(r.step, r.outcome) for r in by_correlation.found] == [("intake.gp", "accepted"),
                                                                    ("post.payment", "posted")]
    assert by_key.found == by_correlation.found
    parked = console.gather(sources, day=planted.today, query="gp:TRN_7:CAPTURED")
    assert [p.id for p in parked.found_dead_letters] == [planted.payment_letter]
    html = console.render(parked, key=MASTER_KEY)
    assert "Dead letters of this event" in html and "CustomerBlocked" in html


def test_a_parameter_the_page_cannot_use_answers_400_naming_it(services: wiring.Services) -> None:
    assert console.page(services, {"date": "26/11/2026"}, {}).status == 400
    assert "YYYY-MM-DD" in console.page(services, {"date": "26/11/2026"}, {}).html
    assert console.page(services, {"date": "0001-01-01"}, {}).status == 400
    assert console.page(services, {"q": "x" * 201}, {}).status == 400
    assert console.page(services, {"view": "no/such"}, {}).status == 200


def test_the_console_replay_is_the_cli_replay_and_keeps_the_idempotency_key(services: wiring.Services) -> None:
    planted = plant(services)
    answer = console.replay(services, {"code": MASTER_KEY}, {"id": planted.payment_letter}, {})
    assert answer.status == 200 and "1 replayed" in answer.html
    assert f'href="../console?code={MASTER_KEY}#deadletters"' in answer.html
    row = services.dead_letters.find(planted.payment_letter)
    assert row is not None and row["Status"] == "replayed" and row["Replays"] == 1
    [sent] = services.bus.receive(POST_QUEUE)  # type: ignore[attr-defined]
    assert Envelope.from_body(sent.body).idempotency_key == "gp:TRN_7:CAPTURED"
    assert sent.message_id == "gp:TRN_7:CAPTURED:replay:1"
    again = console.replay(services, {}, {"id": "dl-20000101/nothing"}, {})
    assert again.status == 404 and "no dead letter" in again.html
    assert console.replay(services, {}, {}, {}).status == 400


# Over HTTP, on the local host ---------------------------------------------------------------------------------


@pytest.fixture
def served(services: wiring.Services) -> Iterator[tuple[httpx.Client, Planted]]:
    planted = plant(services)
    host = LocalHost.from_wiring()
    server, thread, port = run_in_background(host.asgi())
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/admin", timeout=30) as client:
        yield client, planted
    stop_background(server, thread)


def test_the_console_needs_the_master_key_and_takes_it_as_header_or_code(
    served: tuple[httpx.Client, Planted],
) -> None:
    client, _ = served
    assert client.get("/console").status_code == 401
    assert client.get("/console", params={"code": "wrong"}).status_code == 401
    page = client.get("/console", params={"code": MASTER_KEY})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    by_header = client.get("/console", headers={"x-functions-key": MASTER_KEY})
    assert by_header.status_code == 200 and f'value="{MASTER_KEY}"' in by_header.text


def test_a_replay_without_the_key_is_refused_and_the_letter_stays_parked(
    served: tuple[httpx.Client, Planted], services: wiring.Services,
) -> None:
    client, planted = served
    for params in ({}, {"code": "wrong"}):
        refused = client.post("/console/replay", params=params, data={"id": planted.payment_letter, "code": MASTER_KEY})
        assert refused.status_code == 401
    row = services.dead_letters.find(planted.payment_letter)
    assert row is not None and row["Status"] == "parked" and row["Replays"] == 0


# In a real browser, against a whole local system ---------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright; the system's Chromium, since nothing can be downloaded."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: "
                                   ".venv/bin/pip install -r requirements-dev.txt")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def day_with_trouble(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """The sandbox's seeded day (Retail and GP simulators), closed into the embedded ledger while AMEX was
    missing from the mapping: one batch dead-lettered, the planted discrepancies stored, a few payments
    notified and posted."""
    from sandbox.demo import MASTER_KEY as DEMO_KEY
    from sandbox.demo import TIMEZONE, Options, Simulators, _configure
    from sandbox.scenario.day import seed

    saved = dict(os.environ)
    options = Options(day=CLOSED, erp="fo", transactions=60, out=tmp_path)
    sims = Simulators(options)
    truth = seed(sims.apps["retail"].simulated, sims.apps["gp"].simulated,  # type: ignore[arg-type]
                 day=CLOSED, transactions=60, locations=2, seed=3, timezone=TIMEZONE)
    _configure(options, sims, tmp_path / "data")
    mapping = (ROOT / "mapping.yaml").read_text()
    broken = tmp_path / "mapping.yaml"
    broken.write_text(mapping.replace('  AMEX: {method: AMEX, clearing_account: "130200"}\n', ""))
    # The embedded ledger keeps each journal's totals, so the close shows them.
    os.environ.update({"HL365_MAPPING_FILE": str(broken), "D365_TARGET": "embedded"})
    wiring.reset()
    host = LocalHost.from_wiring()
    server, thread, port = run_in_background(host.asgi())
    base = f"http://127.0.0.1:{port}"
    try:
        gp: Any = sims.apps["gp"].simulated
        for transaction in truth.card_transactions[:4]:
            gp.notify(transaction, f"{base}/api/webhooks/gp", status="CAPTURED")
        host.drain(timeout=120)
        closed = httpx.post(f"{base}/api/admin/settlement", params={"date": CLOSED.isoformat()},
                            headers={"x-functions-key": DEMO_KEY}, timeout=300)
        assert closed.status_code == 422, closed.text
        broken.write_text(mapping)  # the finance team adds AMEX back; the replay will find it
        yield f"{base}/api/admin/console?code={DEMO_KEY}", tmp_path, closed.json()
    finally:
        stop_background(server, thread)
        sims.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def test_a_person_reads_the_console_and_replays_a_dead_letter_with_a_click(
    browser: Any, day_with_trouble: tuple[str, Path, dict[str, Any]],
) -> None:
    url, _, closed = day_with_trouble
    [failed] = closed["failed"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {SCREENSHOTS}")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    assert page.goto(url).status == 200
    page.screenshot(path=str(SCREENSHOTS / "console.png"), full_page=True)
    for anchor in ("flows", "deadletters", "discrepancies", "closes", "search", "alerts"):
        assert page.locator(f"section#{anchor}").is_visible()
    assert page.locator("#flows").get_by_text("settlement").count() >= 1
    assert page.locator("#flows svg").count() == 2
    assert "UnmappedPaymentType" in page.locator("#deadletters").inner_text()
    discrepancies = page.locator("#discrepancies").inner_text()
    for kind in ("missing_in_pos", "missing_in_settlement", "amount_mismatch", "deposit_short"):
        assert kind in discrepancies
        assert EXPLANATIONS[kind].meaning in discrepancies
    assert re.search(r"\d{1,3}(,\d{3})*\.\d{2} USD", discrepancies)
    closes = page.locator("#closes").inner_text()
    assert "MER_demo, business date 2026-11-26" in closes and "UnmappedPaymentType" in closes and "AMEX" in closes

    parked = wiring.services().dead_letters.list(days=1)
    [letter] = [row_id(row) for row in parked if row["Reason"] == "UnmappedPaymentType"]
    page.locator(f'button[data-view="{letter}"]').click()
    viewed = page.locator("#viewed").inner_text()
    assert failed["batch"] in viewed and SETTLEMENT_QUEUE in viewed
    page.screenshot(path=str(SCREENSHOTS / "console-view.png"), full_page=True)

    page.locator("#search-form input[name=q]").fill(f"MER_demo-{CLOSED}")
    page.locator("#search-form button").click()
    assert "settlement.close" in page.locator("#search").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "console-search.png"), full_page=True)

    page.locator(f'button[data-replay="{letter}"]').click()
    assert "1 replayed" in page.locator("#replay-result").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "console-replayed.png"), full_page=True)
    ledger = TableJournals(wiring.services().tables.table(tables.POSTINGS))
    assert f"GJ-HL-MER_demo-{failed['batch']}" in [row["DocumentNo"] for row in ledger.recorded()]
    assert [row["Reason"] for row in wiring.services().dead_letters.list(days=1)
            if row["Reason"] == "UnmappedPaymentType"] == []
    page.locator("#back").click()
    assert "UnmappedPaymentType" not in page.locator("#deadletters").inner_text()
    closes = page.locator("#closes").inner_text()  # the replay closed the day again: that is the last close now
    assert f"GJ-HL-MER_demo-{failed['batch']}" in closes and "done" in closes and "yes" in closes
    assert re.search(r"debit \d{1,3}(,\d{3})*\.\d{2} USD / credit", closes)
    assert "settlement_failed" in page.locator("#alerts").inner_text()  # raised today, though replayed since
    page.screenshot(path=str(SCREENSHOTS / "console-after-replay.png"), full_page=True)
    page.close()


