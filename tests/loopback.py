"""Loopback servers shared by the simulator and client tests."""

from __future__ import annotations

from typing import Any


class Swap:
    """A loopback server whose ASGI app each test replaces: a fresh simulator without a new port."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
