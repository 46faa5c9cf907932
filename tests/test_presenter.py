"""One presenter: each typed error and each result becomes the status a sender acts on and text a person
reads; flows never choose a status code."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pytest

from shared import presenter
from shared.errors import (
    ConfigError,
    FatalError,
    IntegrationError,
    InvalidRequest,
    NotFound,
    PermanentApiError,
    TooLarge,
    TransientApiError,
    Unauthenticated,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.flows.admin import NoSubscriptionNeeded, Parked
from shared.flows.intake import Accepted, Handshake
from shared.flows.replay import Replayed, Replays
from shared.flows.settlement import DayResult, Posting
from shared.ports import SubscriptionState


@pytest.mark.parametrize(("error", "status", "retry_after"), [
    (InvalidRequest("body is not valid JSON"), 400, None),
    (Unauthenticated("X-GP-Signature is missing"), 401, None),
    (NotFound("no dead letter 'x'"), 404, None),
    (TooLarge("body of 9 bytes exceeds 8"), 413, None),
    (UnsupportedMediaType("content type 'text/xml'"), 415, None),
    (Unprocessable("card data is not accepted"), 422, None),
    (ConfigError("app setting GP_APP_KEY is required here and is not set"), 503, "300"),
    (TransientApiError("Throttled", "429 from Business Central", source="bc", status=429), 503, "60"),
    (PermanentApiError("BadRequest", "the customer is blocked", source="bc", status=400), 502, None),
    (FatalError("NoExchangeRate", "no CAD/USD rate for 2026-11-30"), 422, None),
])
def test_each_error_gets_its_status_and_a_reason_naming_the_cause(
    error: IntegrationError, status: int, retry_after: str | None,
) -> None:
    answer = presenter.respond(lambda: (_ for _ in ()).throw(error))
    assert answer.status == status and answer.headers.get("Retry-After") == retry_after
    assert error.description in answer.reason
    assert orjson.loads(answer.content()) == {"status": status, "reason": answer.reason}
    report = presenter.report(lambda: (_ for _ in ()).throw(error))
    assert not report.ok and error.description in report.summary


def test_a_bug_is_not_dressed_up_as_an_answer() -> None:
    with pytest.raises(KeyError):
        presenter.respond(lambda: {}["missing"])


def test_intake_results_answer_202_and_a_repeat_says_it_was_a_duplicate() -> None:
    first = presenter.respond(lambda: Accepted(1, 0, 0, ["c1"]))
    again = presenter.respond(lambda: Accepted(0, 1, 0, ["c1"]))
    assert (first.status, first.reason, again.status, again.reason) == (
        202, "accepted", 202, "duplicate: already accepted")
    assert orjson.loads(again.content()) == {"status": 202, "reason": "duplicate: already accepted", "accepted": 0,
                                             "duplicates": 1, "ignored": 0, "correlation_ids": ["c1"]}


def test_a_handshake_is_echoed_as_plain_text() -> None:
    answer = presenter.respond(lambda: Handshake("abc-123"))
    assert (answer.status, answer.content(), answer.content_type) == (200, b"abc-123", "text/plain")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def _day(failed: bool) -> DayResult:
    result = DayResult("MER_1", date(2026, 11, 30), postings=[Posting("HL-MER_1-B1", "GJ-1", True),
                                                             Posting("HL-MER_1-B2", "GJ-2", False)])
    if failed:
        result.failed["B3"] = FatalError("UnmappedPaymentType", "payment type 'CHEQUE' is not in the mapping")
    return result


def test_a_closed_day_lists_its_journals_and_a_failed_batch_makes_it_422() -> None:
    closed, partial = presenter.http(_day(False)), presenter.http(_day(True))
    assert (closed.status, closed.reason) == (200, "closed")
    assert [j["created"] for j in closed.body["journals"]] == [True, False]
    assert partial.status == 422 and "B3: UnmappedPaymentType" in partial.reason
    assert partial.body["failed"] == [{"batch": "B3", "reason": "UnmappedPaymentType",
                                       "description": "payment type 'CHEQUE' is not in the mapping"}]
    text = presenter.text(_day(False))
    assert text.ok and [row[2] for row in text.rows] == ["created", "already there"]
    assert "HL-MER_1-B1  GJ-1          created" in text.text()
    assert not presenter.text(_day(True)).ok


def test_replays_answer_409_while_any_row_stays_parked() -> None:
    good = Replayed("dl-1/a", "payments-post", "CustomerOnHold", "sent back to payments-post", True)
    bad = Replayed("dl-1/b", "payments-post", "CustomerOnHold", "body was truncated", False)
    assert presenter.http(Replays([good])).status == 200
    mixed = presenter.http(Replays([good, bad]))
    assert mixed.status == 409 and mixed.reason == "1 of 2 could not be replayed and stay parked"
    assert [r["ok"] for r in mixed.body["replayed"]] == [True, False]


def test_lists_and_subscriptions_read_the_same_in_both_forms() -> None:
    parked = Parked([{"id": "dl-1/a", "queue": "q", "reason": "R", "description": "d", "replays": 0}])
    assert presenter.http(parked).reason == "1 parked" == presenter.text(parked).summary
    state = SubscriptionState("renewed", "sub-1", datetime(2026, 12, 9, tzinfo=UTC), "https://x/api/webhooks/bc",
                              "/api/v2.0/companies(c)/salesOrders")
    assert presenter.http(state).body["expires"] == "2026-12-09T00:00:00+00:00"
    assert "sub-1: renewed" in presenter.text(state).summary
    assert presenter.http(NoSubscriptionNeeded("not bc")).body == {"action": "none"}
