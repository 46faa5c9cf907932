"""Turns a core call's result, or its typed error, into the Functions HTTP response, the same for every route."""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from shared import presenter


def respond(call: Callable[[], object]) -> func.HttpResponse:
    answer = presenter.respond(call)
    return func.HttpResponse(answer.content(), status_code=answer.status, mimetype=answer.content_type,
                             headers=dict(answer.headers))
