"""Turns a core answer into the Functions HTTP response, so every route answers the same way."""

from __future__ import annotations

import azure.functions as func

from shared.flows.answer import Answer


def respond(answer: Answer) -> func.HttpResponse:
    return func.HttpResponse(answer.json(), status_code=answer.status, mimetype="application/json",
                             headers=dict(answer.headers))
