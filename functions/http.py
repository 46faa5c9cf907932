"""Turns a core call's result, or its typed error, into the Functions HTTP response, the same for every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import azure.functions as func

from shared import presenter


def respond(call: Callable[[], object]) -> func.HttpResponse:
    return _response(presenter.respond(call))


async def respond_awaited(call: Callable[[], Awaitable[object]]) -> func.HttpResponse:
    return _response(await presenter.respond_awaited(call))


def _response(answer: presenter.HttpAnswer) -> func.HttpResponse:
    return func.HttpResponse(answer.content(), status_code=answer.status, mimetype=answer.content_type,
                             headers=dict(answer.headers))
