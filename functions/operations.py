"""Operations timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func

from functions.http import respond
from shared import wiring
from shared.flows import admin, operations, orders, payments, pipeline, replay
from shared.openapi import document_json
from shared.ops import console

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="0 30 2 * * *", run_on_startup=False, use_monitor=True)
def audit_verify(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Each night, prove yesterday's audit trail is intact; a broken chain raises an alert."""
    operations.check_audit_trail(wiring.services(), (datetime.now(UTC) - timedelta(days=1)).date())


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def dead_letter_sweep(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Every five minutes, move what the bus dead-lettered itself (poison messages) into DeadLetters."""
    pipeline.sweep(wiring.services(), payments.QUEUES + orders.QUEUES)


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:  # noqa: ARG001
    """``GET /api/openapi.json``: the OpenAPI 3.1 document of every route."""
    return func.HttpResponse(document_json(), status_code=200, mimetype="application/json")


@bp.route(route="admin/deadletters", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def dead_letters_list(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/admin/deadletters?days=7&reason=R``: what is parked, newest day last."""
    return respond(lambda: admin.parked(wiring.services(), req.params.get("days"), req.params.get("reason")))


@bp.route(route="admin/deadletters/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def dead_letters_replay(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/admin/deadletters/replay?id=ID`` or ``?reason=R``: send them back, keys unchanged."""
    return respond(lambda: replay.replay(wiring.services(), row=req.params.get("id"), reason=req.params.get("reason")))


@bp.route(route="admin/console", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def operations_console(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/admin/console``: the page a person on call reads first (flows, dead letters, closes)."""
    return _html(console.page(wiring.services(), req.params, req.headers))


@bp.route(route="admin/console/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def operations_console_replay(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /api/admin/console/replay``: the console's Replay button, the replay ``hl365 dlq replay`` runs."""
    return _html(console.replay(wiring.services(), req.params, req.form, req.headers))


def _html(page: console.Page) -> func.HttpResponse:
    return func.HttpResponse(page.html, status_code=page.status, mimetype="text/html", charset="utf-8",
                             headers=dict(page.headers))
