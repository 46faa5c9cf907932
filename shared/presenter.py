"""The one place a flow's result or typed error becomes what a person or a sender reads: an HTTP answer for
the routes, a report for the command line. Flows return domain results and raise errors under
``IntegrationError``; they never pick a status code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

import orjson

from shared.customers.profiles import Outcome as CustomersOutcome
from shared.errors import (
    ApiError,
    ConfigError,
    FatalError,
    IntegrationError,
    InvalidRequest,
    NotFound,
    RetriableError,
    TooLarge,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.flows.admin import NoSubscriptionNeeded, Parked
from shared.flows.catalog import CatalogResult
from shared.flows.employees import EmployeesResult
from shared.flows.intake import Accepted, Handshake
from shared.flows.payroll import PayrollResult
from shared.flows.replay import Replays
from shared.flows.settlement import DayResult
from shared.payroll.journal import journal_summary
from shared.ports import SubscriptionState

STATUS_OF_REQUEST_ERROR: Mapping[type[IntegrationError], int] = {
    InvalidRequest: 400, Unauthenticated: 401, NotFound: 404, TooLarge: 413, UnsupportedMediaType: 415,
    Unprocessable: 422,
}
NOT_CONFIGURED_RETRY = "300"
UNAVAILABLE_RETRY = "60"


@dataclass(frozen=True)
class HttpAnswer:
    """One shape for every route: ``{"status", "reason", ...body}`` as JSON, or a plain-text body."""

    status: int
    reason: str
    body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    """A plain-text body instead of JSON (a subscription handshake's echo)."""

    @property
    def content_type(self) -> str:
        return "text/plain" if self.text is not None else "application/json"

    def content(self) -> bytes:
        if self.text is not None:
            return self.text.encode()
        return orjson.dumps({"status": self.status, "reason": self.reason, **self.body})

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclass(frozen=True)
class Report:
    """What the command line prints: an optional table, then a summary; ``ok`` False exits 1."""

    ok: bool
    summary: str
    title: str = ""
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()

    def text(self) -> str:
        """Plain text: the table's columns aligned, then the summary."""
        if not self.columns:
            return self.summary
        widths = [max([len(c), *(len(r[i]) for r in self.rows)]) for i, c in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in [list(self.columns), *self.rows]]
        return "\n".join([*lines, self.summary])


def respond(call: Callable[[], object]) -> HttpAnswer:
    """Run a core call and present its result, or the typed error it raised."""
    try:
        return http(call())
    except IntegrationError as error:
        return http(error)


async def respond_awaited(call: Callable[[], Awaitable[object]]) -> HttpAnswer:
    """``respond`` for a core call that is awaited (intake's group commit)."""
    try:
        return http(await call())
    except IntegrationError as error:
        return http(error)


def report(call: Callable[[], object]) -> Report:
    """Run a core call and present its result, or the typed error it raised, for a person at a terminal."""
    try:
        outcome = call()
    except IntegrationError as error:
        return Report(False, error_text(error))
    return text(outcome)


# HTTP -----------------------------------------------------------------------------------------------------------


@singledispatch
def http(outcome: object) -> HttpAnswer:
    raise TypeError(f"no HTTP answer for {type(outcome).__name__}")


@http.register
def _(error: IntegrationError) -> HttpAnswer:
    status = _request_status(error)
    if status is not None:
        return HttpAnswer(status, error.description)
    if isinstance(error, ConfigError):
        return HttpAnswer(503, error_text(error), headers={"Retry-After": NOT_CONFIGURED_RETRY})
    if isinstance(error, RetriableError):
        return HttpAnswer(503, error_text(error), headers={"Retry-After": UNAVAILABLE_RETRY})
    if isinstance(error, ApiError) and isinstance(error, FatalError):
        return HttpAnswer(502, error_text(error))
    return HttpAnswer(422, error_text(error))


@http.register
def _(result: Accepted) -> HttpAnswer:
    reason = "duplicate: already accepted" if result.duplicates and not result.accepted else "accepted"
    return HttpAnswer(202, reason, {"accepted": result.accepted, "duplicates": result.duplicates,
                                    "ignored": result.ignored, "correlation_ids": result.correlation_ids})


@http.register
def _(result: Handshake) -> HttpAnswer:
    return HttpAnswer(200, "handshake", headers={"X-Content-Type-Options": "nosniff"}, text=result.token)


@http.register
def _(result: DayResult) -> HttpAnswer:
    body: dict[str, Any] = {
        "merchant": result.merchant_id, "date": result.business_date.isoformat(),
        "journals": [{"external_key": p.external_key, "document": p.document, "created": p.created}
                     for p in result.postings],
        "discrepancies": [d.model_dump(mode="json") for d in result.discrepancies],
        "failed": [{"batch": batch, "reason": error.reason, "description": error.description}
                   for batch, error in sorted(result.failed.items())],
    }
    if result.failed:
        return HttpAnswer(422, _failed_batches(result), body)
    return HttpAnswer(200, "closed", body)


@http.register
def _(result: Parked) -> HttpAnswer:
    return HttpAnswer(200, f"{len(result.rows)} parked", {"dead_letters": [dict(row) for row in result.rows]})


@http.register
def _(result: Replays) -> HttpAnswer:
    body = {"replayed": [{"id": r.id, "queue": r.queue, "reason": r.reason, "outcome": r.outcome, "ok": r.ok}
                         for r in result.replayed]}
    if result.failed:
        return HttpAnswer(409, _replay_summary(result), body)
    return HttpAnswer(200, _replay_summary(result), body)


@http.register
def _(result: SubscriptionState) -> HttpAnswer:
    return HttpAnswer(200, result.action, {
        "action": result.action, "subscription_id": result.subscription_id, "expires": result.expires.isoformat(),
        "notification_url": result.notification_url, "resource": result.resource,
        "lost_since": result.lost_since.isoformat() if result.lost_since else None})


@http.register
def _(result: NoSubscriptionNeeded) -> HttpAnswer:
    return HttpAnswer(200, result.reason, {"action": "none"})


# Text -----------------------------------------------------------------------------------------------------------


def error_text(error: IntegrationError) -> str:
    """One line a person can act on: what kind of failure, and the description."""
    if isinstance(error, ConfigError):
        return f"not configured: {error.description}"
    if isinstance(error, RetriableError):
        return f"unavailable, will be retried: {error.reason}: {error.description}"
    if isinstance(error, ApiError) and isinstance(error, FatalError):
        return f"{error.source} refused: {error.reason}: {error.description}"
    if _request_status(error) is not None:
        return error.description
    return f"{error.reason}: {error.description}"


@singledispatch
def text(outcome: object) -> Report:
    raise TypeError(f"no report for {type(outcome).__name__}")


@text.register
def _(result: DayResult) -> Report:
    rows = [[p.external_key, p.document, "created" if p.created else "already there"] for p in result.postings]
    day = result.business_date.isoformat()
    summary = (f"{len(result.discrepancies)} discrepancies; `hl365 reconcile --date {day}` lists them"
               if not result.failed else _failed_batches(result))
    return Report(not result.failed, summary, f"settlement {result.merchant_id} {day}",
                  ("journal", "ERP document", "result"), rows)


@text.register
def _(result: Parked) -> Report:
    rows = [[str(r["id"]), str(r["queue"]), str(r["reason"]), str(r["description"])[:200], str(r["replays"])]
            for r in result.rows]
    return Report(True, f"{len(rows)} parked", "dead letters", ("id", "queue", "reason", "description", "replays"),
                  rows)


@text.register
def _(result: Replays) -> Report:
    rows = [[r.id, r.queue, r.reason, "ok" if r.ok else "failed", r.outcome] for r in result.replayed]
    return Report(not result.failed, _replay_summary(result), "replayed",
                  ("id", "queue", "reason", "result", "outcome"), rows)


@text.register
def _(result: SubscriptionState) -> Report:
    return Report(True, f"subscription {result.subscription_id}: {result.action}, expires "
                  f"{result.expires.isoformat()} (notifications to {result.notification_url})")


@text.register
def _(result: NoSubscriptionNeeded) -> Report:
    return Report(True, result.reason)


@text.register
def _(result: CustomersOutcome) -> Report:
    rows = [["records", f"{result.records:,}"], ["customers (profiles)", f"{result.profiles:,}"],
            ["records joined to another's profile", f"{result.merged:,}"], ["new profiles", f"{result.created:,}"],
            ["records linked this run", f"{result.linked:,}"], ["profiles merged this run", f"{len(result.merges):,}"],
            ["pairs waiting for a person", f"{result.review:,}"],
            ["loyalty cards found (profiles touched)", f"{result.loyalty_cards:,}"],
            ["ERP customers given their loyalty balances", f"{result.loyalty_pushed:,}"]]
    summary = (f"{result.review} pairs to decide: `hl365 customers review`" if result.review
               else "nothing waits for a person")
    return Report(True, summary, "customers", ("", "count"), rows)


@text.register
def _(result: CatalogResult) -> Report:
    """Exit 1 when something was left different: a conflict for the owner to settle, a stock difference not
    adjusted, POS sales the ERP could not take."""
    summary = result.summary()
    rows = [[c["item_number"], c["field"], str(c["erp_value"]), str(c["pos_value"]), c["reason"]]
            for c in summary["conflicts"]]
    rows += [[m["item_number"], f"stock at {m['location']} ({m['warehouse']})", m["erp_qty"], m["pos_qty"],
              "adjusted" if m["adjusted"] else ("selling now: next run" if m["moving"] else "left as is")]
             for m in summary["stock_mismatches"]]
    to_book = [b for b in result.sales if b.reason and (b.sold or b.failed)]
    for booking in result.sales:
        where = f"POS sales {booking.location} {booking.business_date}"
        rows += [[number, where, "", str(quantity),
                  f"booked in {booking.external_key}" if number in booking.movement else
                  (booking.reason or "already booked")]
                 for number, quantity in sorted(booking.sold.items())
                 if number in booking.movement or booking.reason]
        if booking.failed and not booking.sold:
            rows.append(["", where, "", "", booking.reason or ""])
        rows += [[number, where, "", str(quantity), "sold at the POS, no such ERP item: not booked"]
                 for number, quantity in sorted(booking.not_in_erp.items())]
    left = (len(summary["conflicts"]) + sum(not m["adjusted"] and not m["moving"] for m in summary["stock_mismatches"])
            + len(to_book) + sum(len(b.not_in_erp) for b in result.sales))
    booked = [b.external_key for b in result.sales if b.external_key]
    text = (f"{len(booked)} POS sales movements booked; {summary['items_created']} items created, "
            f"{summary['items_updated']} updated ({summary['prices_changed']} prices), {summary['unchanged']} "
            f"unchanged; {len(summary['adjustment_sets'])} stock adjustment sets; {left} differences left for a "
            "person")
    return Report(left == 0, text, f"catalog {result.erp} → Heartland Retail",
                  ("item", "field", "ERP", "POS", "outcome"), rows)


@text.register
def _(result: EmployeesResult) -> Report:
    rows = [["added to payroll", str(len(result.added)), ", ".join(result.added)],
            ["updated", str(len(result.updated)), ", ".join(result.updated)],
            ["terminated", str(len(result.terminated)), ", ".join(result.terminated)],
            ["linked to an employee added in payroll", str(len(result.linked)), ", ".join(result.linked)],
            ["unchanged", str(result.unchanged), ""]]
    rows += [["left for a person", number, problem] for number, problem in sorted(result.problems.items())]
    return Report(not result.problems, f"{result.read} workers read from {result.erp}; {len(result.problems)} left for "
                  "a person", f"employees {result.erp} → Heartland Payroll", ("", "workers", "detail"), rows)


@text.register
def _(result: PayrollResult) -> Report:
    """The journal's lines (on a dry run or a posting), or every problem and difference that held the run."""
    summary = result.summary()
    if result.problems:
        return Report(False, f"{len(result.problems)} problems in {result.source}; nothing was posted",
                      f"payroll register {result.source}", ("problem",), [[p] for p in result.problems])
    if result.discrepancies:
        rows = [[d.kind.value, d.subject, str(d.expected), str(d.found), d.detail] for d in result.discrepancies]
        return Report(False, f"{len(rows)} differences in {summary['run']}; the run is held and nothing was posted",
                      f"payroll {summary['run']}", ("difference", "subject", "expected", "found", "detail"), rows)
    rows = [list(row) for row in journal_summary(result.journal)] if result.journal else []
    state = "posted" if result.auto_posted else "created for review"
    what = ("dry run: nothing posted" if result.dry_run else
            f"{state} as {result.document}" if result.created else f"already in the ERP as {result.document}: "
            "nothing posted again")
    return Report(True, f"{summary['run']} check date {summary['check_date']}: {summary['employees']} employees, gross "
                  f"{summary['gross']}, net {summary['net']}; journal of {summary['journal_lines']} lines, balanced; "
                  f"{what}", f"payroll journal {summary['run']}", ("account", "dimensions", "debit", "credit"), rows)


def _request_status(error: IntegrationError) -> int | None:
    """The status of a request its sender must change (the nearest kind in the error's ancestry); None for a
    failure of hl365 or of a target."""
    return next((STATUS_OF_REQUEST_ERROR[kind] for kind in type(error).__mro__ if kind in STATUS_OF_REQUEST_ERROR),
                None)


def _failed_batches(result: DayResult) -> str:
    reasons = ", ".join(f"{batch}: {error.reason}" for batch, error in sorted(result.failed.items()))
    return f"{len(result.failed)} batch(es) not posted and dead-lettered ({reasons}); the others closed"


def _replay_summary(result: Replays) -> str:
    if result.failed:
        return f"{len(result.failed)} of {len(result.replayed)} could not be replayed and stay parked"
    return f"{len(result.replayed)} replayed"


__all__ = ["HttpAnswer", "Report", "error_text", "http", "report", "respond", "text"]
