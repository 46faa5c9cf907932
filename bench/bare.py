"""The baseline: a bare ASGI app on the same server stack, answering 202 to any POST."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":202}', status_code=202, media_type="application/json")


app = Starlette(routes=[Route("/api/{path:path}", accept, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
