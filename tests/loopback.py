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


def dynamics_environment(monkeypatch: Any, *, erp_url: str, ca_bundle: Any, data_dir: Any, target: str,
                         **extra: str) -> None:
    """The app settings of a process whose ERP (F&O or Business Central, also the Entra tenant) is a simulator
    served over HTTPS at ``erp_url``, with the shipped mapping and its own data directory; ``extra`` adds
    settings. The wiring is reset, so the next ``wiring.services()`` builds from them."""
    from pathlib import Path

    from sandbox.simulators.fo import DEFAULT_TENANT
    from shared import wiring

    root = Path(__file__).parents[1]
    settings = {
        "HL365_SETTINGS_FILE": str(Path(data_dir) / "absent.json"), "HL365_DATA_DIR": str(data_dir),
        "HL365_MAPPING_FILE": str(root / "mapping.yaml"), "D365_TARGET": target,
        "D365_FO_URL": erp_url, "D365_BC_URL": erp_url, "D365_AUTHORITY_URL": erp_url,
        "D365_TENANT_ID": DEFAULT_TENANT, "D365_CREDENTIAL": "secret", "D365_CLIENT_ID": "hl365-local-client",
        "D365_CLIENT_SECRET": "hl365-local-secret", "D365_CA_BUNDLE": str(ca_bundle), "D365_LEGAL_ENTITY": "USMF",
        **extra}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("D365_BC_COMPANY", raising=False)
    wiring.reset()
