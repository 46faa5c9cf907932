"""Loopback servers shared by the simulator and client tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


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


class EntraToken:
    """Client credentials from a simulator's own Entra endpoint, renewed after a 401: the credentials callable
    the Dynamics clients take, without azure-identity."""

    def __init__(self, base: str, tenant: str, scope: str) -> None:
        self.url, self.scope, self.value = f"{base}/{tenant}/oauth2/v2.0/token", scope, ""

    def __call__(self, refresh: bool) -> dict[str, str]:
        if refresh or not self.value:
            form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
                    "client_secret": "hl365-local-secret", "scope": self.scope}
            self.value = httpx.post(self.url, data=form, timeout=5).json()["access_token"]
        return {"Authorization": f"Bearer {self.value}"}
