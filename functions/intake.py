"""HTTP intake: webhooks in, 202 out; the work happens behind the queues."""

from __future__ import annotations

import azure.functions as func

from functions.http import respond_awaited
from shared import wiring
from shared.flows import intake, payments

bp = func.Blueprint()


@bp.route(route="webhooks/gp", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def gp_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """GP API sends no Functions key, so the route is anonymous and ``X-GP-Signature`` authenticates it.
    Async: concurrent deliveries share one commit (``intake.accept_together``)."""
    return await respond_awaited(lambda: intake.accept_together(wiring.services(), payments.GP, req.get_body(),
                                                                req.headers))


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:  # noqa: ARG001
    return func.HttpResponse('{"status":"ok"}', status_code=200, mimetype="application/json")
