"""Admin endpoints' answers: the same core calls as the timers and the CLI, shaped for HTTP."""

from __future__ import annotations

from datetime import date

from shared.canonical.journals import JournalUnbalanced
from shared.errors import FatalError, RetriableError
from shared.flows.answer import Answer
from shared.flows.settlement import run_settlement
from shared.wiring import Services


def settlement_answer(services: Services, day: str | None) -> Answer:
    try:
        business_date = date.fromisoformat(day) if day else None
    except ValueError:
        return Answer(400, f"date {day!r} is not YYYY-MM-DD")
    try:
        result = run_settlement(services, business_date)
    except (FatalError, JournalUnbalanced) as error:
        return Answer(422, f"settlement stopped and was dead-lettered: {error}")
    except RetriableError as error:
        return Answer(503, f"settlement will be retried: {error}", headers={"Retry-After": "60"})
    return Answer(200, "closed", {
        "merchant": result.merchant_id, "date": result.business_date.isoformat(),
        "journals": [{"external_key": p.external_key, "document": p.document, "created": p.created}
                     for p in result.postings],
        "discrepancies": [d.model_dump(mode="json") for d in result.discrepancies],
    })
