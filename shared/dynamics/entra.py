"""Microsoft Entra ID client-credentials tokens, cached until shortly before they expire."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import httpx

from shared.errors import PermanentApiError, TransientApiError


class ClientCredentials:
    """An ``auth`` callable for ``ApiClient``: ``auth(refresh)`` returns the Authorization header.

    Args:
        authority: the token endpoint's host, e.g. ``https://login.microsoftonline.com``.
        tenant: the directory (tenant) id.
        scope: the resource's ``/.default`` scope, e.g. ``https://contoso.operations.dynamics.com/.default``.
    """

    def __init__(
        self,
        *,
        authority: str,
        tenant: str,
        client_id: str,
        client_secret: str,
        scope: str,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                      "scope": scope}
        self._clock = clock
        self._http = httpx.Client(timeout=httpx.Timeout(15.0), transport=transport)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.tokens_issued = 0

    def __call__(self, refresh: bool = False) -> Mapping[str, str]:
        with self._lock:
            if refresh or self._token is None or self._clock() >= self._expires:
                self._fetch()
            return {"Authorization": f"Bearer {self._token}"}

    def _fetch(self) -> None:
        try:
            response = self._http.post(self._url, data=self._form)
        except httpx.TransportError as exc:
            raise TransientApiError("TokenUnavailable", f"token endpoint unreachable: {exc}", source="entra") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientApiError("TokenUnavailable", response.text[:500], source="entra",
                                    status=response.status_code)
        if response.status_code != 200:
            raise PermanentApiError("TokenRefused", response.text[:500], source="entra", status=response.status_code)
        document = response.json()
        self._token = str(document["access_token"])
        self._expires = self._clock() + max(0.0, float(document.get("expires_in", 3599)) - 60.0)
        self.tokens_issued += 1

    def close(self) -> None:
        self._http.close()
