"""Microsoft Entra ID tokens for the Dynamics clients, through azure-identity.

``D365_CREDENTIAL`` picks the credential (DESIGN.md §6):

* ``secret``: ``ClientSecretCredential`` (``D365_TENANT_ID``, ``D365_CLIENT_ID``, ``D365_CLIENT_SECRET``; in
  Azure the secret is a Key Vault reference).
* ``certificate``: ``CertificateCredential`` (``D365_TENANT_ID``, ``D365_CLIENT_ID``,
  ``D365_CLIENT_CERTIFICATE_PATH``: PEM or PFX holding the private key, and ``D365_CLIENT_CERTIFICATE_PASSWORD``
  if it is encrypted).
* ``managed_identity``: the function app's own managed identity (``ManagedIdentityCredential``; a user-assigned
  one by ``D365_MANAGED_IDENTITY_CLIENT_ID``), for a Dynamics environment that lists the identity itself.
* ``federated``: workload identity federation, for Dynamics environments that want an app registration:
  ``ClientAssertionCredential`` for the app ``D365_CLIENT_ID`` whose assertion is the managed identity's token
  for ``api://AzureADTokenExchange``; the app registration has a federated identity credential trusting that
  managed identity. No secret or certificate exists anywhere.

``EntraAuth`` turns a credential into the ``auth(refresh)`` callable ``ApiClient`` calls before each request.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import httpx

from shared.errors import ConfigError, PermanentApiError, TransientApiError
from shared.httpclient import DEFAULT_LIMITS
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

CredentialKind = Literal["secret", "certificate", "managed_identity", "federated"]
FEDERATION_SCOPE = "api://AzureADTokenExchange/.default"
"""What a managed identity's token must be issued for to serve as a federated assertion (Entra's fixed audience)."""
REFRESH_MARGIN = 300.0
"""Seconds before ``expires_on`` at which a cached token is renewed: no call leaves with a token about to lapse."""
SOURCE = "entra"
_MSAL_HTTP_ERROR = re.compile(r"HTTP Error: (\d{3})\b")


class EntraAuth:
    """The ``auth`` callable of a Dynamics client: ``auth(refresh)`` returns the ``Authorization`` header.

    The token is cached until ``REFRESH_MARGIN`` seconds before its ``expires_on``. ``refresh=True`` (after a
    401) builds a fresh credential from ``factory``, whose empty cache makes it ask Entra again: a credential
    would otherwise hand back the token the service just refused.

    Args:
        factory: makes the ``TokenCredential`` (``credential_factory(settings)``).
        scope: the resource's ``/.default`` scope, e.g. ``https://contoso.operations.dynamics.com/.default``.
        clock: epoch seconds, the clock of ``AccessToken.expires_on``.

    Raises (from ``__call__``):
        PermanentApiError: Entra refused (bad secret or certificate, unknown app or resource, no managed identity).
        TransientApiError: Entra or the identity endpoint was unreachable, throttled or failing.
    """

    def __init__(self, factory: Callable[[], TokenCredential], scope: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._factory = factory
        self.scope = scope
        self._clock = clock
        self._credential: TokenCredential | None = None
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def __call__(self, refresh: bool = False) -> Mapping[str, str]:
        with self._lock:
            if refresh:
                self._discard()
            if self._token is None or self._clock() >= self._token.expires_on - REFRESH_MARGIN:
                self._token = self._fetch()
            return {"Authorization": f"Bearer {self._token.token}"}

    def _fetch(self) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

        if self._credential is None:
            self._credential = self._factory()
        try:
            token = self._credential.get_token(self.scope)
        except ClientAuthenticationError as exc:
            raise _classify(exc, self.scope) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TransientApiError("TokenUnavailable", f"{self.scope}: {exc}", source=SOURCE) from exc
        self.tokens_fetched += 1
        return token

    def _discard(self) -> None:
        self._token = None
        if self._credential is not None:
            _close(self._credential)
            self._credential = None

    def close(self) -> None:
        with self._lock:
            self._discard()


def _classify(exc: Exception, scope: str) -> PermanentApiError | TransientApiError:
    """Entra's refusals are permanent (a wrong secret stays wrong); throttling and outages are transient."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.identity import CredentialUnavailableError

    cause = exc.__cause__
    while cause is not None:  # azure-identity wraps a connection failure in ClientAuthenticationError
        if isinstance(cause, ServiceRequestError | ServiceResponseError):
            return TransientApiError("TokenUnavailable", f"{scope}: {cause}", source=SOURCE)
        cause = cause.__cause__
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    text = str(getattr(exc, "message", None) or exc)
    message = f"{scope}: {text}"
    if status is None:
        # The MSAL-based credentials (secret, certificate) drop the token endpoint's response and keep only
        # MSAL's "HTTP Error: 503" text: the one place the status survives.
        found = _MSAL_HTTP_ERROR.search(text)
        status = int(found.group(1)) if found else None
    if isinstance(status, int) and (status == 429 or status >= 500):
        return TransientApiError("TokenUnavailable", message, source=SOURCE, status=status)
    if isinstance(exc, CredentialUnavailableError):
        return PermanentApiError("CredentialUnavailable", message, source=SOURCE, status=status)
    return PermanentApiError("TokenRefused", message, source=SOURCE, status=status)


def _close(credential: object) -> None:
    close = getattr(credential, "close", None)
    if callable(close):
        close()


def trusting(verify: ssl.SSLContext | str | bool) -> httpx.BaseTransport | None:
    """A transport trusting ``verify`` (a CA bundle path or an SSL context), or None for the system's authorities."""
    if verify is True:
        return None
    if isinstance(verify, str):
        verify = ssl.create_default_context(cafile=verify)
    return httpx.HTTPTransport(verify=verify, limits=DEFAULT_LIMITS)


def credential_factory(settings: Settings, **options: Any) -> Callable[[], TokenCredential]:
    """A maker of the credential ``D365_CREDENTIAL`` names, with every setting it needs checked now.

    ``options`` go to the azure-identity credential (e.g. ``retry_total=0`` in tests).

    Raises:
        ConfigError: a setting the chosen credential needs is missing or invalid; the message names it.
    """
    from azure.identity import AzureAuthorityHosts

    kind: CredentialKind = settings.d365_credential
    authority = _authority(settings.d365_authority_url)
    common: dict[str, Any] = dict(options)
    if settings.d365_ca_bundle is not None:
        if not settings.d365_ca_bundle.is_file():
            raise ConfigError(f"app setting D365_CA_BUNDLE names {settings.d365_ca_bundle}, which is not a file")
        common["connection_verify"] = str(settings.d365_ca_bundle)
    entra = {**common, "authority": authority}
    if urlparse(authority).hostname not in {urlparse(f"https://{h}").hostname for h in _hosts(AzureAuthorityHosts)}:
        entra["disable_instance_discovery"] = True  # MSAL would ask login.microsoftonline.com to vouch for the host

    if kind == "secret":
        tenant, client_id = settings.require("d365_tenant_id"), settings.require("d365_client_id")
        secret = _required(settings, "d365_client_secret", "secret")

        def secret_credential() -> TokenCredential:
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(tenant, client_id, secret, **entra)

        return secret_credential
    if kind == "certificate":
        tenant, client_id = settings.require("d365_tenant_id"), settings.require("d365_client_id")
        path = _required(settings, "d365_client_certificate_path", "certificate")
        if not path.is_file():
            raise ConfigError(f"app setting D365_CLIENT_CERTIFICATE_PATH names {path}, which is not a file")
        password = settings.d365_client_certificate_password
        secret_password = password.get_secret_value() if password is not None else None

        def certificate_credential() -> TokenCredential:
            from azure.identity import CertificateCredential

            return CertificateCredential(tenant, client_id, certificate_path=str(path), password=secret_password,
                                         **entra)

        return certificate_credential
    identity_id = settings.d365_managed_identity_client_id

    def managed_identity() -> TokenCredential:
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=identity_id, **common)

    if kind == "managed_identity":
        return managed_identity
    tenant, client_id = settings.require("d365_tenant_id"), settings.require("d365_client_id")

    def federated_credential() -> TokenCredential:
        from azure.identity import ClientAssertionCredential

        source = managed_identity()
        return ClientAssertionCredential(tenant, client_id, lambda: source.get_token(FEDERATION_SCOPE).token, **entra)

    return federated_credential


def _required(settings: Settings, name: str, kind: str) -> Any:
    try:
        return settings.require(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc.description} (D365_CREDENTIAL={kind} needs it)") from None


def _authority(url: str) -> str:
    parsed = urlparse(url if "://" in url else f"https://{url}")
    if parsed.scheme != "https" or not parsed.netloc:
        raise ConfigError(f"app setting D365_AUTHORITY_URL must be an https URL (azure-identity refuses anything "
                          f"else), not {url!r}; the sandbox serves its Entra tenant over HTTPS (see D365_CA_BUNDLE)")
    return f"https://{parsed.netloc}"


def _hosts(hosts: object) -> list[str]:
    return [value for name, value in vars(hosts).items() if name.isupper() and isinstance(value, str)]
