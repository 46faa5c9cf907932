"""The simulated Entra tenant the F&O and Business Central simulators serve, over HTTPS on loopback: what MSAL
reads (discovery, keys), the client-assertion checks, the identity endpoint, and a tenant outliving a restart."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization

from sandbox.simulators.base import Served, serve
from sandbox.simulators.entra import ASSERTION_TYPE, thumbprint
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations, create, simulator
from sandbox.simulators.tls import SandboxCA


@dataclass
class Tenant:
    sim: FinanceOperations
    served: Served
    http: httpx.Client
    tls: SandboxCA

    @property
    def token_url(self) -> str:
        return f"{self.served.url}/{DEFAULT_TENANT}/oauth2/v2.0/token"


@pytest.fixture(scope="module")
def tls() -> Iterator[SandboxCA]:
    with SandboxCA() as ca:
        yield ca


@pytest.fixture
def tenant(tls: SandboxCA) -> Iterator[Tenant]:
    app = create(seed=5, event_interval=None, demo_data=False)
    served = serve(app, tls=tls)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca_bundle))) as http:
        yield Tenant(simulator(app), served, http, tls)
    served.stop()


def test_the_discovery_document_and_the_keys_describe_the_tenant_at_this_host(tenant: Tenant) -> None:
    base = tenant.served.url
    document = tenant.http.get(f"{base}/{DEFAULT_TENANT}/v2.0/.well-known/openid-configuration").json()
    assert document["issuer"] == f"{base}/{DEFAULT_TENANT}/v2.0"
    assert document["token_endpoint"] == tenant.token_url
    assert tenant.http.get(f"{base}/someone-else/v2.0/.well-known/openid-configuration").status_code == 400
    [key] = tenant.http.get(document["jwks_uri"]).json()["keys"]
    answer = tenant.http.post(tenant.token_url, data={"grant_type": "client_credentials",
                                                      "client_id": "hl365-local-client",
                                                      "client_secret": "hl365-local-secret",
                                                      "scope": f"{base}/.default"}).json()
    public = jwt.PyJWK(key).key
    claims = jwt.decode(answer["access_token"], public, algorithms=["RS256"], audience=base)
    assert claims["appid"] == "hl365-local-client" and claims["tid"] == DEFAULT_TENANT


def _assertion(client_id: str, key_pem: bytes, certificate: bytes, audience: str) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certificate)
    key = serialization.load_pem_private_key(key_pem, password=None)
    now = int(time.time())
    return jwt.encode({"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now,
                       "exp": now + 600}, key, algorithm="RS256",  # type: ignore[arg-type]
                      headers={"x5t": thumbprint(cert, hashes.SHA1())})  # noqa: S303


@pytest.mark.parametrize(("audience", "code"), [("token endpoint", None),
                                               ("https://example.com/token", "AADSTS700027")])
def test_a_certificate_assertion_must_name_the_token_endpoint(tenant: Tenant, audience: str,
                                                              code: str | None) -> None:
    path, certificate = tenant.tls.client_certificate("assertion-app")
    tenant.sim.directory.register("assertion-app", certificate=certificate)
    key_pem = path.read_bytes()
    assertion = _assertion("assertion-app", key_pem, certificate,
                           tenant.token_url if audience == "token endpoint" else audience)
    answer = tenant.http.post(tenant.token_url, data={
        "grant_type": "client_credentials", "client_id": "assertion-app", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion, "scope": f"{tenant.served.url}/.default"})
    if code is None:
        assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    else:
        assert answer.status_code == 401 and answer.json()["error_description"].startswith(code)


def test_the_identity_endpoint_wants_the_identity_header_and_a_known_resource(tenant: Tenant) -> None:
    url = f"{tenant.served.url}/msi/token"
    params = {"api-version": "2019-08-01", "resource": tenant.served.url}
    assert tenant.http.get(url, params=params).status_code == 401
    header = {"X-IDENTITY-HEADER": tenant.sim.directory.identity_header}
    answer = tenant.http.get(url, params=params, headers=header)
    assert answer.status_code == 200 and int(answer.json()["expires_on"]) > time.time()
    unknown = tenant.http.get(url, params={**params, "resource": "https://nowhere.example"}, headers=header)
    assert unknown.status_code == 400 and "AADSTS500011" in unknown.json()["message"]


def test_a_restarted_service_keeps_the_tenant_and_its_tokens(tenant: Tenant) -> None:
    base = tenant.served.url
    token = tenant.http.post(tenant.token_url, data={"grant_type": "client_credentials",
                                                     "client_id": "hl365-local-client",
                                                     "client_secret": "hl365-local-secret",
                                                     "scope": f"{base}/.default"}).json()["access_token"]
    fresh = FinanceOperations(seed=5, demo_data=False, event_interval=None, resource=base)
    with pytest.raises(Exception, match="no valid bearer token"):
        fresh.directory.authenticate(f"Bearer {token}", base)
    fresh.directory.adopt(tenant.sim.directory)
    assert fresh.directory.authenticate(f"Bearer {token}", base).app_id == "hl365-local-client"
