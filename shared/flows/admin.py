"""Admin endpoints' answers: the same core calls as the timers and the CLI, shaped for HTTP."""

from __future__ import annotations

from datetime import date

from shared.errors import FatalError, RetriableError
from shared.flows.answer import Answer
from shared.flows.replay import replay
from shared.flows.settlement import run_settlement
from shared.ops.deadletters import row_id
from shared.settings import ConfigError
from shared.wiring import Services


def settlement_answer(services: Services, day: str | None) -> Answer:
    try:
        business_date = date.fromisoformat(day) if day else None
    except ValueError:
        return Answer(400, f"date {day!r} is not YYYY-MM-DD")
    try:
        result = run_settlement(services, business_date)
    except ConfigError as error:
        return Answer(503, f"settlement is not configured: {error}", headers={"Retry-After": "300"})
    except FatalError as error:
        return Answer(422, f"settlement stopped and was dead-lettered: {error}")
    except RetriableError as error:
        return Answer(503, f"settlement will be retried: {error}", headers={"Retry-After": "60"})
    body: dict[str, object] = {
        "merchant": result.merchant_id, "date": result.business_date.isoformat(),
        "journals": [{"external_key": p.external_key, "document": p.document, "created": p.created}
                     for p in result.postings],
        "discrepancies": [d.model_dump(mode="json") for d in result.discrepancies],
        "failed": [{"batch": batch, "reason": error.reason, "description": error.description}
                   for batch, error in sorted(result.failed.items())],
    }
    if result.failed:
        reasons = ", ".join(f"{batch}: {error.reason}" for batch, error in sorted(result.failed.items()))
        return Answer(422, f"{len(result.failed)} batch(es) not posted and dead-lettered ({reasons}); "
                      "the others closed", body)
    return Answer(200, "closed", body)


def _days(value: str | None) -> int | None:
    try:
        days = int(value) if value else 7
    except ValueError:
        return None
    return days if 1 <= days <= 366 else None


def dead_letters_answer(services: Services, days: str | None, reason: str | None) -> Answer:
    span = _days(days)
    if span is None:
        return Answer(400, f"days {days!r} is not a whole number from 1 to 366")
    rows = [{"id": row_id(row), "queue": row["Queue"], "reason": row["Reason"], "description": row["Description"],
             "message_id": row["MessageId"], "parked_at": str(row["ParkedAt"]), "replays": row.get("Replays", 0)}
            for row in services.dead_letters.list(days=span, reason=reason or None)]
    return Answer(200, f"{len(rows)} parked", {"dead_letters": rows})


def replay_answer(services: Services, row: str | None, reason: str | None) -> Answer:
    try:
        results = replay(services, row=row or None, reason=reason or None)
    except ValueError as error:
        return Answer(400 if "exactly one" in str(error) else 404, str(error))
    failed = [r for r in results if not r.ok]
    body = {"replayed": [{"id": r.id, "queue": r.queue, "reason": r.reason, "outcome": r.outcome, "ok": r.ok}
                         for r in results]}
    if failed:
        return Answer(409, f"{len(failed)} of {len(results)} could not be replayed and stay parked", body)
    return Answer(200, f"{len(results)} replayed", body)
