"""The operations console: one server-rendered page that tells the person on call what happened today
and what is waiting for them, from what hl365 stores (audit trail, dead letters, discrepancies,
idempotency keys), so it reads the same under ``hl365 serve`` and in Azure.

No build step and no external asset: CSS and the SVG charts are inline, the page works with scripting
off, and every value is escaped, because what it shows came from outside (webhooks, ERP error text).
The admin key the page was opened with rides in its forms, since a browser has no other way to send it.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from shared import presenter
from shared.flows.reconcile import EXPLANATIONS, DiscrepancyType
from shared.flows.replay import replay as replay_parked
from shared.flows.settlement import SETTLEMENT_QUEUE
from shared.ops.anomaly_flags import AnomalyFlags, StoredFlag
from shared.ops.deadletters import REPLAYED, DeadLetters, row_id
from shared.ports import Table
from shared.security.pan import redact
from shared.storage import idempotency
from shared.storage import tables as names
from shared.storage.audit import AuditTrail, VerifyReport
from shared.storage.entities import Condition, Entity
from shared.storage.keys import safe_key

if TYPE_CHECKING:
    from shared.ports import Ports

LOOKBACK_DAYS = 7
"""How far back the last close, the search and the dead letters reach: the dead letters' own default."""
MAX_QUERY = 200
MAX_ROWS = 500
"""Rows shown per table; a page a browser renders in a blink even on a bad day."""
CLOSE_STEP = "settlement.close"
CENT = Decimal("0.01")
EARLIEST, LATEST = date(2000, 1, 1), date(9999, 12, 1)


NOT_RECORDED = (
    "ERP requests and throttling are counted only by the hl365.messages counter (stages retried and throttled), "
    "which goes to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set; hl365's own storage "
    "keeps no count of them, so this page cannot show them. Retries that gave up appear below as dead letters "
    "(reason RetriesExhausted).",
    "Alerts are sent to the log and to HL365_ALERT_WEBHOOK_URL, not stored: the list below is rebuilt from what "
    "raised them (dead letters, card data refused at intake, stored discrepancies, the audit chain).",
)


class BadRequest(ValueError):
    """A query parameter the page cannot use; the message names it."""


# Data ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRecord:
    partition: str
    row: str
    step: str
    event_id: str
    correlation_id: str
    outcome: str
    detail: str
    at: datetime | None

    @classmethod
    def of(cls, entity: Entity) -> AuditRecord:
        return cls(entity.partition_key, entity.row_key, str(entity.get("Step", "")), str(entity.get("EventId", "")),
                   str(entity.get("CorrelationId", "")), str(entity.get("Outcome", "")),
                   str(entity.get("Detail", "")), _instant(entity.get("At")))

    def details(self) -> dict[str, object]:
        try:
            loaded = json.loads(self.detail)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class Latency:
    """Seconds from intake to the record that posted (or charged) the event, over one day's chains."""

    flow: str
    count: int
    p50: float
    p90: float
    p99: float
    longest: float


@dataclass(frozen=True)
class Parked:
    id: str
    queue: str
    reason: str
    description: str
    message_id: str
    parked_at: str
    status: str
    replays: int
    body: str
    truncated: bool

    @classmethod
    def of(cls, entity: Entity) -> Parked:
        return cls(row_id(entity), str(entity.get("Queue", "")), str(entity.get("Reason", "")),
                   str(entity.get("Description", "")), str(entity.get("MessageId", "")),
                   str(entity.get("ParkedAt", "")), str(entity.get("Status", "")), int(entity.get("Replays", 0) or 0),
                   str(entity.get("Body", "")), bool(entity.get("Truncated", False)))


@dataclass(frozen=True)
class StoredDiscrepancy:
    merchant: str
    business_date: date
    type: str
    amount: str
    currency: str
    reference: str
    detail: str


@dataclass(frozen=True)
class ClosedJournal:
    """One journal of a close; ``totals`` (debit, credit per currency) as the close recorded them."""

    external_key: str
    document: str
    status: str
    totals: Mapping[str, tuple[Decimal, Decimal]] | None

    @property
    def balanced(self) -> bool | None:
        if self.totals is None:
            return None
        return all(debit == credit for debit, credit in self.totals.values())


@dataclass(frozen=True)
class Close:
    merchant: str
    business_date: date
    at: datetime | None
    counts: Mapping[str, object]
    journals: list[ClosedJournal]
    failed: list[Parked]


@dataclass(frozen=True)
class RaisedAlert:
    kind: str
    at: str
    message: str


@dataclass
class Console:
    """Everything the page shows for one day."""

    day: date
    records: int = 0
    flows: dict[str, Counter[str]] = field(default_factory=dict)
    hourly: list[int] = field(default_factory=lambda: [0] * 24)
    latencies: list[Latency] = field(default_factory=list)
    dead_letters: list[Parked] = field(default_factory=list)
    viewed: Parked | None = None
    closes: list[Close] = field(default_factory=list)
    discrepancies: list[StoredDiscrepancy] = field(default_factory=list)
    alerts: list[RaisedAlert] = field(default_factory=list)
    integrity: VerifyReport | None = None
    query: str = ""
    found: list[AuditRecord] = field(default_factory=list)
    found_dead_letters: list[Parked] = field(default_factory=list)
    flags: list[StoredFlag] = field(default_factory=list)


@dataclass(frozen=True)
class Sources:
    """The stores the console reads."""

    audit: AuditTrail
    dead_letters: DeadLetters
    discrepancies: Table
    keys: Table
    flags: AnomalyFlags | None = None

    @classmethod
    def of(cls, ports: Ports) -> Sources:
        tables = ports.tables
        return cls(ports.audit, ports.dead_letters, tables.table(names.DISCREPANCIES),
                   tables.table(names.IDEMPOTENCY_KEYS), AnomalyFlags(tables.table(names.ANOMALY_FLAGS)))


def gather(sources: Sources, *, day: date, query: str = "", view: str = "") -> Console:
    """Read the day's audit trail once and everything the page shows beside it."""
    console = Console(day=day, query=query)
    records = [AuditRecord.of(e) for e in sources.audit.records(day)]
    console.records = len(records)
    flows: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        flows[record.step][record.outcome] += 1
        if record.at is not None:
            console.hourly[record.at.hour] += 1
    console.flows = dict(sorted(flows.items()))
    console.latencies = latencies(records)
    console.integrity = sources.audit.verify(day)
    console.dead_letters = [Parked.of(e) for e in sources.dead_letters.list(days=LOOKBACK_DAYS, today=day)]
    console.viewed = _find(sources.dead_letters, view)
    console.closes = last_closes(sources, day)
    for close in console.closes:
        partition = safe_key(f"{close.merchant}-{close.business_date:%Y%m%d}")
        console.discrepancies.extend(
            StoredDiscrepancy(close.merchant, close.business_date, str(e.get("Type", "")), str(e.get("Amount", "")),
                              str(e.get("Currency", "")), str(e.get("Reference", "")), str(e.get("Detail", "")))
            for e in sources.discrepancies.query(partition))
    parked_today = [Parked.of(e) for e in sources.dead_letters.list(days=1, status=None, today=day)]
    console.alerts = raised_alerts(console, records, parked_today)
    if sources.flags is not None:
        console.flags = sorted(sources.flags.recent(days=LOOKBACK_DAYS, today=day),
                               key=lambda f: (f.day, -f.score), reverse=True)
    if query:
        console.found, console.found_dead_letters = search(sources, query, day)
    return console


def latencies(records: Iterable[AuditRecord]) -> list[Latency]:
    """Per flow (the step that finished the event), intake-to-finish percentiles over the day's chains.

    A chain that began on the day before (UTC) is not in this day's partition and is left out.
    """
    chains: dict[str, list[AuditRecord]] = defaultdict(list)
    for record in records:
        if record.at is not None and record.correlation_id:
            chains[record.correlation_id].append(record)
    spans: dict[str, list[float]] = defaultdict(list)
    for chain in chains.values():
        starts = [r.at for r in chain if r.at and r.step.startswith("intake.") and r.outcome == "accepted"]
        ends = [(r.at, r.step) for r in chain if r.at and r.step.startswith(("post.", "charge."))]
        if not starts or not ends:
            continue
        finished, flow = max(ends)
        seconds = (finished - min(starts)).total_seconds()
        if seconds >= 0:
            spans[flow].append(seconds)
    return [Latency(flow, len(values), _percentile(values, 50), _percentile(values, 90), _percentile(values, 99),
                    max(values)) for flow, values in sorted(spans.items())]


def _percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: a value that was observed, never an interpolation between two."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def last_closes(sources: Sources, day: date) -> list[Close]:
    """Each merchant's latest close recorded on ``day`` or the days before it, newest first."""
    latest: dict[str, tuple[AuditRecord, date]] = {}
    for offset in range(LOOKBACK_DAYS):
        for entity in sources.audit.find(day - timedelta(days=offset), [Condition("Step", "eq", CLOSE_STEP)]):
            record = AuditRecord.of(entity)
            merchant, business_date = _close_of(record.event_id)
            if business_date is None:
                continue
            known = latest.get(merchant)
            if known is None or (record.at and known[0].at and record.at > known[0].at):
                latest[merchant] = (record, business_date)
        if latest:
            break
    closes = [_close(sources, merchant, business_date, record)
              for merchant, (record, business_date) in sorted(latest.items())]
    return sorted(closes, key=lambda c: c.at or datetime.min.replace(tzinfo=UTC), reverse=True)


def _close_of(event_id: str) -> tuple[str, date | None]:
    """``{merchant}-{YYYY-MM-DD}``, the event id the close records, split back into its parts."""
    merchant, day = event_id[:-11], event_id[-10:]
    try:
        return merchant, date.fromisoformat(day)
    except ValueError:
        return event_id, None


def _close(sources: Sources, merchant: str, business_date: date, record: AuditRecord) -> Close:
    partition = safe_key(f"journal-{merchant}-{business_date:%Y%m%d}")
    journals = []
    for key in sources.keys.query(partition):
        external_key = str(key.get("Key", key.row_key))
        status = str(key.get("Status", ""))
        document = str(key.get("ResultRef") or "") if status == idempotency.KeyStatus.DONE else ""
        journals.append(ClosedJournal(external_key, document, status, _totals(record.details(), external_key)))
    failed = []
    for row in sources.dead_letters.list(days=LOOKBACK_DAYS, status=None, today=record.at.date() if record.at
                                         else business_date):
        if row.get("Queue") != SETTLEMENT_QUEUE:
            continue
        try:
            body = json.loads(str(row.get("Body", "")))
        except ValueError:
            continue
        if isinstance(body, dict) and (body.get("merchant"), body.get("date")) == (merchant, business_date.isoformat()):
            failed.append(Parked.of(row))
    counts = {name: value for name, value in record.details().items() if name != "totals"}
    return Close(merchant, business_date, record.at, counts, journals, failed)


def _totals(details: Mapping[str, object], external_key: str) -> dict[str, tuple[Decimal, Decimal]] | None:
    """The journal's debit and credit per currency, as its close recorded them."""
    recorded = details.get("totals")
    stored = recorded.get(external_key) if isinstance(recorded, dict) else None
    if not isinstance(stored, dict):
        return None
    try:
        return {str(c): (Decimal(str(d)), Decimal(str(k))) for c, (d, k) in stored.items()}
    except (ValueError, TypeError, InvalidOperation):
        return None


def raised_alerts(console: Console, records: Iterable[AuditRecord],
                  parked_today: Iterable[Parked]) -> list[RaisedAlert]:
    """The alerts the day raised, rebuilt from what raised them (alerts themselves are not stored);
    ``parked_today`` holds the day's dead letters, those replayed since included."""
    found: list[RaisedAlert] = []
    day = console.day.isoformat()
    for parked in parked_today:
        if parked.parked_at[:10] == day:
            kind = "settlement_failed" if parked.queue == SETTLEMENT_QUEUE else "dead_lettered"
            found.append(RaisedAlert(kind, parked.parked_at, f"{parked.queue} message {parked.message_id}: "
                                                             f"{parked.reason}"))
    for record in records:
        if record.outcome == "rejected_card_data":
            found.append(RaisedAlert("card_data_rejected", record.at.isoformat() if record.at else "",
                                     f"{record.step} {record.event_id} carried card data"))
    for close in console.closes:
        of_close = [d for d in console.discrepancies
                    if (d.merchant, d.business_date) == (close.merchant, close.business_date)]
        if of_close and close.at is not None and close.at.date() == console.day:
            kinds = ", ".join(sorted({d.type for d in of_close}))
            found.append(RaisedAlert("discrepancies", close.at.isoformat(), f"{len(of_close)} discrepancies for "
                                     f"{close.merchant} on {close.business_date}: {kinds}"))
    if console.integrity is not None and not console.integrity.ok:
        found.append(RaisedAlert("audit_tampered", day, f"audit trail of {day} failed verification: "
                                                        f"{'; '.join(console.integrity.problems[:5])}"))
    return sorted(found, key=lambda a: a.at)


def search(sources: Sources, query: str, day: date) -> tuple[list[AuditRecord], list[Parked]]:
    """The chain of records of one event, by correlation id or idempotency key, over the last days."""
    seen: dict[tuple[str, str], AuditRecord] = {}
    for offset in range(LOOKBACK_DAYS):
        for name in ("CorrelationId", "EventId"):
            for entity in sources.audit.find(day - timedelta(days=offset), [Condition(name, "eq", query)]):
                record = AuditRecord.of(entity)
                seen[(record.partition, record.row)] = record
    records = sorted(seen.values(), key=lambda r: (r.at or datetime.min.replace(tzinfo=UTC), r.partition,
                                                    r.row))[:MAX_ROWS]
    parked = [Parked.of(row) for row in sources.dead_letters.list(days=LOOKBACK_DAYS, status=None, today=day)
              if str(row.get("MessageId", "")).startswith(query) or query in str(row.get("Body", ""))]
    return records, parked[:MAX_ROWS]


def _find(dead_letters: DeadLetters, row: str) -> Parked | None:
    if not row:
        return None
    try:
        found = dead_letters.find(row)
    except (ValueError, TypeError):  # not a key Table Storage could hold: no such row
        return None
    return Parked.of(found) if found is not None else None


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# HTTP ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    headers: Mapping[str, str] = field(default_factory=dict)


SECURITY_HEADERS = {
    # The key is in the page's forms and URLs: keep it out of caches and out of other sites' Referer.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def key_of(params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The key the page was opened with, which its forms carry on (the host has already checked it)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return params.get("code") or lowered.get("x-functions-key", "")


def page(ports: Ports, params: Mapping[str, str], headers: Mapping[str, str],
         *, today: date | None = None) -> Page:
    """``GET /api/admin/console``: the whole page, or a 400 page naming the parameter it cannot use."""
    key = key_of(params, headers)
    try:
        day = _day(params.get("date", ""), today)
        query = _text(params, "q")
        console = gather(Sources.of(ports), day=day, query=query, view=_text(params, "view"))
    except BadRequest as error:
        return Page(400, _document("Bad request", f"<p class=bad>{escape(str(error))}</p>"
                                   f"<p><a href=\"{escape(_link(key))}\">Back to the console</a></p>"),
                    SECURITY_HEADERS)
    return Page(200, render(console, key=key), SECURITY_HEADERS)


def replay(ports: Ports, params: Mapping[str, str], form: Mapping[str, str], headers: Mapping[str, str]) -> Page:
    """``POST /api/admin/console/replay``: the Replay button, through the same call as ``hl365 dlq replay``.

    Answers a page with each row's outcome and the way back; a row that could not be replayed stays parked.
    """
    key = key_of(params, headers)
    row = (form.get("id") or "").strip()
    reason = (form.get("reason") or "").strip()
    answer = presenter.respond(lambda: replay_parked(ports, row=row, reason=reason))
    replayed = answer.body.get("replayed")
    results = replayed if isinstance(replayed, list) else []
    items = "".join(
        f"<li data-id=\"{escape(str(r['id']))}\"><span class={'ok' if r['ok'] else 'bad'}>"
        f"{'replayed' if r['ok'] else 'still parked'}</span> {escape(str(r['id']))} ({escape(str(r['queue']))}, "
        f"{escape(str(r['reason']))}): {escape(redact(str(r['outcome'])))}</li>" for r in results)
    # This page is at console/replay: one level up is the console.
    back = "../" + _link(key) + "#deadletters"
    body = (f"<p class={'ok' if answer.status == 200 else 'bad'} id=replay-result>{escape(answer.reason)}</p>"
            + (f"<ul>{items}</ul>" if items else "")
            + f"<p><a id=back href=\"{escape(back)}\">Back to the console</a></p>")
    return Page(answer.status, _document("Replayed" if answer.status == 200 else "Replay refused", body),
                SECURITY_HEADERS)


def _day(value: str, today: date | None) -> date:
    if not value:
        return today or datetime.now(UTC).date()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"date {value!r} is not YYYY-MM-DD") from None
    if not EARLIEST <= day <= LATEST:
        raise BadRequest(f"date {value!r} is outside {EARLIEST} to {LATEST}")
    return day


def _text(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if len(value) > MAX_QUERY:
        raise BadRequest(f"{name} is longer than {MAX_QUERY} characters")
    if any(ord(c) < 0x20 for c in value):
        raise BadRequest(f"{name} holds a control character")
    return value


def _link(key: str, **params: str) -> str:
    query = urlencode({"code": key, **params}) if key else urlencode(params)
    return "console" + (f"?{query}" if query else "")


# HTML ----------------------------------------------------------------------------------------------------------

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f4f6f9}
header{background:#12355b;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:20px;margin:0}header a{color:#cfe3ff}
main{padding:16px 24px;display:grid;gap:16px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #e6eaef;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:8px;overflow:auto;max-height:360px;white-space:pre-wrap}
.note{color:#5a6473;font-size:13px}.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
.banner{background:#e8f3ff;border:1px solid #9cc3f5;padding:8px 12px;border-radius:4px}
form.inline{display:inline;margin:0}button{cursor:pointer;padding:2px 10px}
.grid{display:flex;gap:24px;flex-wrap:wrap}.grid>div{flex:1 1 420px}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
"""


def render(console: Console, *, key: str) -> str:
    """The page; ``key`` goes into every form and link so a click carries it."""
    sections = [_flows(console), _dead_letters(console, key), _discrepancies(console), _anomalies(console),
                _closes(console), _search(console, key), _alerts(console)]
    nav = " ".join(f"<a href=\"#{anchor}\">{label}</a>" for anchor, label in (
        ("flows", "Flows"), ("deadletters", "Dead letters"), ("discrepancies", "Discrepancies"),
        ("anomalies", "Anomalies"), ("closes", "Last close"), ("search", "Audit search"), ("alerts", "Alerts")))
    head = (f"<header><h1>hl365 operations</h1><span>{escape(console.day.isoformat())} (UTC)</span>"
            f"<nav>{nav}</nav>{_day_form(console, key)}</header>")
    return _document(f"hl365 operations {console.day.isoformat()}", head + "<main>" + "".join(sections) + "</main>",
                     wrap=False)


def _document(title: str, body: str, *, wrap: bool = True) -> str:
    content = f"<main><section><h1>{escape(title)}</h1>{body}</section></main>" if wrap else body
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content=\"width=device-width,initial-scale=1\"><meta name=referrer content=no-referrer>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{content}</body></html>")


def _hidden(key: str, **values: str) -> str:
    fields = {"code": key, **values} if key else values
    return "".join(f"<input type=hidden name=\"{escape(n)}\" value=\"{escape(v)}\">" for n, v in fields.items() if v)


def _day_form(console: Console, key: str) -> str:
    return (f"<form method=get action=console class=inline>{_hidden(key)}<label>Day "
            f"<input type=date name=date value=\"{escape(console.day.isoformat())}\"></label> "
            f"<button type=submit>Show</button></form>")


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """A table of cells that are already HTML (escaped by the caller)."""
    right = set(numeric)
    head = "".join(f"<th{' class=n' if i in right else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{' class=n' if i in right else ''}>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(title: str, items: Sequence[tuple[str, float]], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG; labels are escaped like any other text."""
    if not items:
        return ""
    width, label_width, row = 640, 230, 22
    peak = max(value for _, value in items) or 1
    height = row * len(items) + 8
    bars = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        length = max(1.0, (width - label_width - 70) * value / peak)
        shown = f"{value:g}{unit}"
        bars.append(f"<text x=\"{label_width - 6}\" y=\"{y + 15}\" text-anchor=end>{escape(label[:34])}</text>"
                    f"<rect x=\"{label_width}\" y=\"{y + 3}\" width=\"{length:.1f}\" height=\"{row - 6}\" "
                    f"fill=\"#2f6fb3\" rx=2><title>{escape(label)}: {escape(shown)}</title></rect>"
                    f"<text x=\"{label_width + length + 6:.1f}\" y=\"{y + 15}\">{escape(shown)}</text>")
    return (f"<svg role=img aria-label=\"{escape(title)}\" width=\"{width}\" height=\"{height}\" "
            f"viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{escape(title)}</title>"
            + "".join(bars) + "</svg>")


def _columns(title: str, values: Sequence[int]) -> str:
    """Records per hour (UTC) as vertical bars."""
    width, height, gap = 640, 120, 2
    step = width / len(values)
    peak = max(values) or 1
    cols = []
    for hour, value in enumerate(values):
        h = (height - 20) * value / peak
        cols.append(f"<rect x=\"{hour * step + gap:.1f}\" y=\"{height - 16 - h:.1f}\" width=\"{step - 2 * gap:.1f}\" "
                    f"height=\"{h:.1f}\" fill=\"#5b8fd1\"><title>{hour:02d}:00 {value}</title></rect>")
        if hour % 3 == 0:
            cols.append(f"<text x=\"{hour * step + gap:.1f}\" y=\"{height - 2}\">{hour:02d}</text>")
    return (f"<svg role=img aria-label=\"{escape(title)}\" width=\"{width}\" height=\"{height}\" "
            f"viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{escape(title)}</title>"
            + "".join(cols) + "</svg>")


def _flows(console: Console) -> str:
    outcomes = sorted({outcome for counts in console.flows.values() for outcome in counts})
    rows = []
    for step, counts in console.flows.items():
        source, stage = _source_and_stage(step)
        rows.append([escape(source), escape(stage)] + [str(counts.get(o, 0)) for o in outcomes]
                    + [str(sum(counts.values()))])
    table = (_table(["source", "stage", *outcomes, "total"], rows, range(2, len(outcomes) + 3)) if rows
             else "<p class=note>No audit records on this day.</p>")
    totals = [(step, float(sum(counts.values()))) for step, counts in console.flows.items()]
    latency = (_table(["flow", "events", "p50 s", "p90 s", "p99 s", "longest s"],
                      [[escape(x.flow), str(x.count), f"{x.p50:.3f}", f"{x.p90:.3f}", f"{x.p99:.3f}",
                        f"{x.longest:.3f}"] for x in console.latencies], range(1, 6))
               if console.latencies else "<p class=note>No event went from intake to posting on this day.</p>")
    return (f"<section id=flows><h2>Flows on {escape(console.day.isoformat())}</h2>"
            f"<p class=note>{console.records} audit records, counted per source, stage and outcome.</p>{table}"
            f"<div class=grid><div>{_bars('audit records per step', totals)}</div>"
            f"<div>{_columns('audit records per hour (UTC)', console.hourly)}</div></div>"
            f"<h3>Latency, intake to posting</h3>{latency}"
            f"<h3>ERP requests and throttling</h3><p class=note>{escape(NOT_RECORDED[0])}</p></section>")


def _source_and_stage(step: str) -> tuple[str, str]:
    """Steps are named ``stage.source`` (``intake.gp``, ``post.payment``); the close is the settlement's."""
    if step == CLOSE_STEP:
        return "settlement", "close"
    stage, _, source = step.partition(".")
    return source or "-", stage


def _dead_letters(console: Console, key: str) -> str:
    parked = console.dead_letters
    by_reason = Counter(p.reason for p in parked)
    parts = [f"<section id=deadletters><h2>Dead letters ({len(parked)} parked, last {LOOKBACK_DAYS} days)</h2>"]
    if console.viewed is not None:
        parts.append(_viewed(console.viewed))
    if not parked:
        parts.append("<p class=ok>Nothing is parked.</p></section>")
        return "".join(parts)
    parts.append(_bars("dead letters by reason", [(reason, float(n)) for reason, n in by_reason.most_common()]))
    for reason, count in sorted(by_reason.items()):
        rows = []
        for p in [p for p in parked if p.reason == reason][:MAX_ROWS]:
            view = (f"<form method=get action=console class=inline>"
                    f"{_hidden(key, date=console.day.isoformat(), view=p.id)}<button type=submit "
                    f"name=v value=1 data-view=\"{escape(p.id)}\">View</button></form>")
            again = (f"<form method=post action=\"{escape(_replay_action(key))}\" class=inline>"
                     f"<input type=hidden name=id value=\"{escape(p.id)}\"><button type=submit "
                     f"data-replay=\"{escape(p.id)}\">Replay</button></form>")
            rows.append([escape(p.parked_at[:19]), escape(p.queue), escape(p.message_id),
                         escape(redact(p.description)), str(p.replays), view + " " + again])
        everything = (f"<form method=post action=\"{escape(_replay_action(key))}\" class=inline>"
                      f"<input type=hidden name=reason value=\"{escape(reason)}\"><button type=submit>"
                      f"Replay all {count}</button></form>")
        parts.append(f"<h3>{escape(reason)} ({count}) {everything}</h3>"
                     + _table(["parked at", "queue", "message", "the target's error", "replays", ""], rows, [4]))
    parts.append("</section>")
    return "".join(parts)


def _replay_action(key: str) -> str:
    # Hosts read the key from the query string or a header, never from a form body.
    return "console/replay" + (f"?code={quote(key, safe='')}" if key else "")


def _viewed(p: Parked) -> str:
    text = redact(p.body)
    try:
        text = json.dumps(json.loads(text), indent=2, sort_keys=True)
    except ValueError:
        pass
    note = " The body was truncated when parked and cannot be replayed." if p.truncated else ""
    return (f"<div id=viewed><h3>Parked message {escape(p.id)}</h3><p class=note>Queue {escape(p.queue)}, "
            f"reason {escape(p.reason)}, status {escape(p.status)}, message {escape(p.message_id)}.{note}</p>"
            f"<p>{escape(redact(p.description))}</p><pre>{escape(text)}</pre></div>")


def money(amount: str | Decimal, currency: str) -> str:
    """Two decimals and the currency; a stored value that is not a number is shown as stored."""
    try:
        value = Decimal(str(amount)).quantize(CENT)
    except InvalidOperation:
        return f"{amount} {currency}".strip()
    return f"{value:,} {currency}".strip()


def _discrepancies(console: Console) -> str:
    found = console.discrepancies
    parts = [f"<section id=discrepancies><h2>Discrepancies ({len(found)})</h2>"]
    if not console.closes:
        parts.append("<p class=note>No close in the audit trail of the last days, so no stored discrepancies to "
                     "show.</p></section>")
        return "".join(parts)
    if not found:
        parts.append("<p class=ok>The last close of each merchant left nothing unreconciled.</p></section>")
        return "".join(parts)
    by_type = Counter(d.type for d in found)
    parts.append(_bars("discrepancies by type", [(t, float(n)) for t, n in by_type.most_common()]))
    for kind in sorted(by_type):
        rows = [[escape(d.merchant), escape(d.business_date.isoformat()), escape(d.reference),
                 escape(money(d.amount, d.currency)), escape(d.detail)]
                for d in found if d.type == kind][:MAX_ROWS]
        explained = EXPLANATIONS.get(DiscrepancyType(kind)) if kind in set(DiscrepancyType) else None
        words = (f"<p>{escape(explained.meaning)}</p><p><strong>Check:</strong> {escape(explained.check)}</p>"
                 f"<p><strong>Do:</strong> {escape(explained.do)}</p>" if explained
                 else "<p class=note>A type this page has no explanation for.</p>")
        parts.append(f"<div class=discrepancy data-type=\"{escape(kind)}\"><h3>{escape(kind)} ({by_type[kind]})</h3>"
                     f"{words}{_table(['merchant', 'business date', 'reference', 'amount', 'detail'], rows, [3])}"
                     "</div>")
    parts.append("</section>")
    return "".join(parts)


def _anomalies(console: Console) -> str:
    found = console.flags
    parts = [f"<section id=anomalies><h2>Anomalies ({len(found)}, last {LOOKBACK_DAYS} days)</h2>"]
    if not found:
        parts.append("<p class=ok>The anomaly watch flagged no payment.</p></section>")
        return "".join(parts)
    by_pattern = Counter(f.pattern for f in found)
    parts.append(_bars("flags by pattern", [(p.replace("_", " "), float(n)) for p, n in by_pattern.most_common()]))
    rows = [[escape(f.day.isoformat()), escape(f.transaction_id), escape(f.pattern.replace("_", " ")),
             f"{f.score:.2f}", escape(f.reason)] for f in found[:MAX_ROWS]]
    parts.append(_table(["day", "transaction", "pattern", "score", "evidence"], rows, [3]))
    parts.append("<p class=note>A rule in the rules file that reads <code>flags</code> holds such a payment's "
                 "posting for review; the held ones are among the dead letters (reason HeldForReview).</p></section>")
    return "".join(parts)


def _closes(console: Console) -> str:
    parts = ["<section id=closes><h2>Last close</h2>"]
    if not console.closes:
        parts.append(f"<p class=note>No close recorded in the audit trail of the {LOOKBACK_DAYS} days up to "
                     f"{escape(console.day.isoformat())}.</p></section>")
        return "".join(parts)
    for close in console.closes:
        counts = ", ".join(f"{escape(str(k).replace('_', ' '))} {escape(str(v))}"
                           for k, v in sorted(close.counts.items()))
        at = close.at.isoformat(timespec="seconds") if close.at else "unknown"
        rows = []
        for j in close.journals:
            if j.totals is None:
                totals = "<span class=note>not recorded</span>"
                balanced = ("<span class=ok>yes</span> <span class=note>(proved before posting)</span>"
                            if j.status == idempotency.KeyStatus.DONE else "<span class=note>-</span>")
            else:
                totals = "<br>".join(f"debit {escape(money(d, c))} / credit {escape(money(k, c))}"
                                     for c, (d, k) in sorted(j.totals.items()))
                balanced = "<span class=ok>yes</span>" if j.balanced else "<span class=bad>no</span>"
            rows.append([escape(j.external_key), escape(j.document or "-"), escape(j.status), totals, balanced])
        journals = (_table(["journal (external key)", "ERP document", "status", "totals", "balanced"], rows)
                    if rows else "<p class=note>No journal was built.</p>")
        failed = "".join(f"<li><span class={'ok' if p.status == REPLAYED else 'bad'}>{escape(p.status)}</span> "
                         f"{escape(p.reason)}: {escape(redact(p.description))} <span class=note>({escape(p.id)})"
                         f"</span></li>" for p in close.failed)
        parts.append(f"<h3>{escape(close.merchant)}, business date {escape(close.business_date.isoformat())}</h3>"
                     f"<p class=note>closed at {escape(at)}; {counts}</p>{journals}"
                     + (f"<p>Batches of this day that were dead-lettered:</p><ul>{failed}</ul>" if failed else ""))
    parts.append("</section>")
    return "".join(parts)


def _search(console: Console, key: str) -> str:
    form = (f"<form method=get action=console id=search-form>{_hidden(key, date=console.day.isoformat())}"
            f"<label>Correlation id or idempotency key <input name=q size=60 maxlength={MAX_QUERY} "
            f"value=\"{escape(console.query)}\"></label> <button type=submit>Search</button></form>")
    parts = [f"<section id=search><h2>Audit search</h2>{form}"]
    if console.query:
        records = console.found
        parts.append(f"<p class=note>{len(records)} records for {escape(console.query)} in the {LOOKBACK_DAYS} days "
                     f"up to {escape(console.day.isoformat())}.</p>")
        if records:
            parts.append(_table(["at", "step", "outcome", "event", "correlation", "detail"], [
                [escape(r.at.isoformat(timespec="milliseconds") if r.at else ""), escape(r.step), escape(r.outcome),
                 escape(r.event_id), escape(r.correlation_id), f"<code>{escape(r.detail)}</code>"] for r in records]))
        if console.found_dead_letters:
            parts.append("<h3>Dead letters of this event</h3>" + _table(
                ["id", "queue", "reason", "status", "the target's error"],
                [[escape(p.id), escape(p.queue), escape(p.reason), escape(p.status), escape(redact(p.description))]
                 for p in console.found_dead_letters]))
    parts.append("</section>")
    return "".join(parts)


def _alerts(console: Console) -> str:
    integrity = console.integrity
    if integrity is None:
        chain = ""
    elif integrity.ok:
        chain = (f"<p class=ok>The audit chain of {escape(console.day.isoformat())} verifies "
                 f"({integrity.records} records).</p>")
    else:
        chain = (f"<p class=bad>The audit chain of {escape(console.day.isoformat())} does not verify:</p><ul>"
                 + "".join(f"<li>{escape(p)}</li>" for p in integrity.problems[:50]) + "</ul>")
    rows = [[escape(a.at[:19].replace("T", " ")), escape(a.kind), escape(redact(a.message))]
            for a in console.alerts[:MAX_ROWS]]
    table = _table(["at", "kind", "alert"], rows) if rows else "<p class=ok>No alert on this day.</p>"
    return (f"<section id=alerts><h2>Alerts ({len(console.alerts)})</h2>{chain}{table}"
            f"<p class=note>{escape(NOT_RECORDED[1])}</p></section>")
