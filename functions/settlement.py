"""End-of-day settlement: the nightly timer and the admin endpoint, both one core call."""

from __future__ import annotations

import azure.functions as func

from functions.http import respond
from shared import wiring
from shared.flows import admin, settlement

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%HL365_EOD_SCHEDULE%", run_on_startup=False, use_monitor=True)
def eod_settlement(timer: func.TimerRequest) -> None:  # noqa: ARG001
    settlement.run_settlement(wiring.services())


@bp.route(route="admin/settlement", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def settlement_run(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/admin/settlement?date=YYYY-MM-DD`` closes that day now (default: yesterday)."""
    return respond(lambda: admin.close_day(wiring.services(), req.params.get("date")))
