"""azure-identity credentials for real: secret, certificate, managed identity and workload identity federation
against the F&O and Business Central simulators' Entra tenant over HTTPS, and what the clients make of a
refusal (a wrong secret, a token for another resource, an unreachable token endpoint)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.simulators.base import FaultRule, Served, SimulatorApp
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.entra import FederatedCredential
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.tls import SandboxCA
from shared.dynamics.bc import SCOPE, BusinessCentralClient
from shared.dynamics.credentials import EntraAuth, credential_factory
from shared.dynamics.fo import FinanceOperationsClient
from shared.errors import ConfigError, PermanentApiError, TransientApiError
from shared.httpclient import RetryPolicy
from shared.settings import Settings
from shared.wiring import Services
from tests.loopback import Swap

CLIENT_ID, SECRET = "hl365-local-client", "hl365-local-secret"


@dataclass
class Erp:
    kind: str
    app: SimulatorApp
    sim: Any
    url: str
    ca_bundle: Path

    @property
    def scope(self) -> str:
        return f"{self.url}/.default" if self.kind == "fo" else SCOPE

    def settings(self, **values: Any) -> Settings:
        return Settings(**{"d365_authority_url": self.url, "d365_tenant_id": DEFAULT_TENANT,
                           "d365_client_id": CLIENT_ID, "d365_ca_bundle": self.ca_bundle, **values})

    def call(self, auth: EntraAuth) -> list[str]:
        """One real API call with ``auth``: F&O customers, or the Business Central company by name."""
        retry = RetryPolicy(max_attempts=2, jitter=lambda _: 0.0)
        if self.kind == "fo":
            with FinanceOperationsClient(self.url, credentials=auth, legal_entity="usmf", retry=retry,
                                         verify=str(self.ca_bundle), sleep=lambda _: None) as fo:
                return [str(c["CustomerAccount"]) for c in fo.iter("CustomersV3", select=["CustomerAccount"])]
        client = BusinessCentralClient.connect(self.url, tenant=DEFAULT_TENANT, credentials=auth,
                                               company="CRONUS USA, Inc.", verify=str(self.ca_bundle), retry=retry,
                                               sleep=lambda _: None)
        try:
            return [str(c["number"]) for c in client.iter("customers")]
        finally:
            client.close()


@pytest.fixture(autouse=True)
def no_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "none.json"))
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["fo", "bc"])
def erp(request: pytest.FixtureRequest, served_https: tuple[Swap, Served], tls: SandboxCA) -> Iterator[Erp]:
    swap, served = served_https
    if request.param == "fo":
        app = create_fo(seed=3, event_interval=None)
        assert isinstance(app.simulated, FinanceOperations)
    else:
        app = create_bc(seed=3, notification_delay=0.05)
        assert isinstance(app.simulated, BusinessCentral)
    swap.app = app
    yield Erp(request.param, app, app.simulated, served.url, tls.ca_bundle)
    if request.param == "bc":
        app.simulated.close()


def auth(erp: Erp, scope: str | None = None, **values: Any) -> EntraAuth:
    return EntraAuth(credential_factory(erp.settings(**values), retry_total=0), scope or erp.scope)


def test_a_client_secret_gets_a_token_over_https_and_the_client_makes_a_real_call(erp: Erp) -> None:
    credentials = auth(erp, d365_client_secret=SECRET)
    assert len(erp.call(credentials)) >= 5
    assert credentials.tokens_fetched == 1 and erp.sim.tokens_issued == 1
    discovery = f"GET /{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration"
    assert erp.app.requests[discovery] == 1  # MSAL read the tenant's discovery document from the authority


def test_a_certificate_signs_an_assertion_the_tenant_checks_against_the_registered_certificate(
        erp: Erp, tls: SandboxCA) -> None:
    path, certificate = tls.client_certificate("hl365-cert-client")
    erp.sim.directory.register("hl365-cert-client", certificate=certificate)
    credentials = auth(erp, d365_credential="certificate", d365_client_id="hl365-cert-client",
                       d365_client_certificate_path=path)
    assert len(erp.call(credentials)) >= 5
    other_path, _ = tls.client_certificate("not-registered")
    stranger = auth(erp, d365_credential="certificate", d365_client_id="hl365-cert-client",
                    d365_client_certificate_path=other_path)
    with pytest.raises(PermanentApiError, match="AADSTS700027") as refused:
        erp.call(stranger)
    assert refused.value.reason == "TokenRefused" and refused.value.source == "entra"


def test_a_token_for_another_resource_is_issued_but_the_api_answers_401(erp: Erp) -> None:
    credentials = auth(erp, "https://graph.microsoft.com/.default", d365_client_secret=SECRET)
    with pytest.raises(PermanentApiError) as refused:
        erp.call(credentials)
    assert refused.value.status == 401
    assert credentials.tokens_fetched == 2  # the client asked for a fresh token once before giving up
    token = credentials(False)["Authorization"]
    path = "/data/CustomersV3" if erp.kind == "fo" else f"/v2.0/{DEFAULT_TENANT}/production/api/v2.0/companies"
    answer = httpx.get(erp.url + path, headers={"Authorization": token},
                       verify=ssl.create_default_context(cafile=str(erp.ca_bundle)))
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    if erp.kind == "fo":
        assert answer.json()["error"]["message"].startswith("The audience 'https://graph.microsoft.com' is invalid")
        assert challenge.startswith('Bearer error="invalid_token", error_description="The audience')
    else:
        assert answer.json()["error"]["code"] == "Authentication_InvalidCredentials"
        assert challenge == (f'Bearer authorization_uri="https://login.microsoftonline.com/{DEFAULT_TENANT}/oauth2/'
                             'authorize", resource_id="https://api.businesscentral.dynamics.com", '
                             'error="invalid_token"')


def test_a_wrong_secret_is_refused_with_entras_reason(erp: Erp) -> None:
    credentials = auth(erp, d365_client_secret="not-the-secret")
    with pytest.raises(PermanentApiError, match="AADSTS7000215: Invalid client secret provided") as refused:
        erp.call(credentials)
    assert refused.value.reason == "TokenRefused" and erp.sim.tokens_issued == 0


def test_an_unreachable_or_failing_token_endpoint_is_transient(erp: Erp) -> None:
    erp.app.faults.rules = [FaultRule("POST /*/oauth2/v2.0/token", "error", 1.0, status=503)]
    with pytest.raises(TransientApiError) as failed:
        auth(erp, d365_client_secret=SECRET)(False)
    assert failed.value.source == "entra"
    erp.app.faults.rules = []
    closed = Settings(d365_authority_url="https://127.0.0.1:9", d365_tenant_id=DEFAULT_TENANT,
                      d365_client_id=CLIENT_ID, d365_client_secret=SECRET, d365_ca_bundle=erp.ca_bundle)
    with pytest.raises(TransientApiError, match="TokenUnavailable"):
        EntraAuth(credential_factory(closed, retry_total=0), erp.scope)(False)


def identity_endpoint(erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    """The App Service / Functions identity endpoint, as the platform announces it to the app."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{erp.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", erp.sim.directory.identity_header)


def test_the_managed_identity_gets_its_token_from_the_identity_endpoint(
        erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    identity_endpoint(erp, monkeypatch)
    credentials = auth(erp, d365_credential="managed_identity")
    assert len(erp.call(credentials)) >= 5
    assert erp.app.requests["GET /msi/token"] == 1
    monkeypatch.setenv("IDENTITY_HEADER", "forged")
    with pytest.raises(PermanentApiError, match="IDENTITY_HEADER"):
        auth(erp, d365_credential="managed_identity")(False)


def test_workload_identity_federation_trades_the_managed_identitys_token_for_the_apps(
        erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    identity_endpoint(erp, monkeypatch)
    directory = erp.sim.directory
    identity = directory.managed_identities[0]
    directory.register("hl365-federated", federated=FederatedCredential(directory.issuer(erp.url),
                                                                       identity.principal_id))
    credentials = auth(erp, d365_credential="federated", d365_client_id="hl365-federated")
    assert len(erp.call(credentials)) >= 5
    assert erp.app.requests["GET /msi/token"] == 1
    assert erp.app.requests[f"POST /{DEFAULT_TENANT}/oauth2/v2.0/token"] == 1
    directory.register("hl365-untrusting", federated=FederatedCredential(directory.issuer(erp.url), "someone-else"))
    with pytest.raises(PermanentApiError, match="AADSTS70021: No matching federated identity record"):
        auth(erp, d365_credential="federated", d365_client_id="hl365-untrusting")(False)


def test_the_wiring_builds_clients_that_trust_the_sandbox_authority(erp: Erp) -> None:
    settings = erp.settings(d365_target=erp.kind, d365_client_secret=SECRET, d365_fo_url=erp.url,
                            d365_bc_url=erp.url, d365_legal_entity="usmf", d365_bc_company="CRONUS USA, Inc.")
    services = Services(settings)
    try:
        if erp.kind == "fo":
            assert next(services.fo.iter("CustomersV3"))["dataAreaId"] == "usmf"
        else:
            assert next(services.bc.iter("customers"))["number"]
    finally:
        services.close()


# -- the adapter and the settings, without a server -------------------------------------------------------------


class FakeCredential:
    def __init__(self, log: list[str], lifetime: float, now: Callable[[], float]) -> None:
        self.log, self.lifetime, self.now = log, lifetime, now

    def get_token(self, *scopes: str, **_: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.log.append(scopes[0])
        return AccessToken(f"token-{len(self.log)}", int(self.now() + self.lifetime))


def test_the_token_is_cached_until_shortly_before_it_expires_and_refresh_forces_a_new_one() -> None:
    now, log, made = [1_000_000.0], [], []

    def factory() -> Any:
        made.append(1)
        return FakeCredential(log, 3600, lambda: now[0])

    credentials = EntraAuth(factory, "https://x.operations.dynamics.com/.default", clock=lambda: now[0])
    assert credentials(False) == {"Authorization": "Bearer token-1"}
    now[0] += 3000
    assert credentials(False) == {"Authorization": "Bearer token-1"}
    now[0] += 400  # within five minutes of expiry
    assert credentials(False) == {"Authorization": "Bearer token-2"}
    assert credentials(True) == {"Authorization": "Bearer token-3"}
    assert len(made) == 2  # a refresh starts from a new credential, whose cache cannot hand back the refused token


@pytest.mark.parametrize(("values", "missing"), [
    ({}, "D365_CLIENT_SECRET"),
    ({"d365_credential": "certificate"}, "D365_CLIENT_CERTIFICATE_PATH"),
    ({"d365_credential": "certificate", "d365_client_certificate_path": Path("/nonexistent.pem")},
     "D365_CLIENT_CERTIFICATE_PATH names /nonexistent.pem, which is not a file"),
    ({"d365_credential": "federated", "d365_client_id": None}, "D365_CLIENT_ID"),
    ({"d365_client_secret": SECRET, "d365_authority_url": "http://127.0.0.1:7103"},
     "D365_AUTHORITY_URL must be an https"),
    ({"d365_client_secret": SECRET, "d365_ca_bundle": Path("/nonexistent-ca.pem")}, "D365_CA_BUNDLE"),
])
def test_a_missing_or_wrong_setting_is_a_config_error_naming_it(values: dict[str, Any], missing: str) -> None:
    settings = Settings(**{"d365_tenant_id": DEFAULT_TENANT, "d365_client_id": CLIENT_ID, **values})
    with pytest.raises(ConfigError, match=missing):
        credential_factory(settings)


def test_the_managed_identity_needs_no_secret_and_the_public_cloud_keeps_instance_discovery() -> None:
    assert callable(credential_factory(Settings(d365_credential="managed_identity")))
    with pytest.raises(ValueError, match="D365_CREDENTIAL"):
        Settings(D365_CREDENTIAL="password")
