"""Loopback servers shared by the simulator and client tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class Swap:
    """A loopback server whose ASGI app each test replaces: a fresh simulator without a new port."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def wait_for(condition: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll until ``condition`` returns something truthy (a webhook arrived, a debounce fired)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
