"""A Microsoft Entra ID tenant as the F&O and Business Central simulators serve it on their own port,
so azure-identity's credentials are tested for real (reference/dynamics.md §4.1, DESIGN.md §6).

Routes (``{tenant}`` is the directory id):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant discovery document MSAL reads
  before its first token request (its ``issuer`` and endpoints name the host the request came to).
* ``GET /{tenant}/discovery/v2.0/keys``: the signing keys (JWKS).
* ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant, authenticated by a client secret,
  by a certificate's signed assertion (``client_assertion``: signature checked against the certificate
  registered on the app, ``aud`` = this token endpoint, ``iss`` = ``sub`` = the client id), or by a
  federated assertion (a token this tenant issued to a managed identity for ``api://AzureADTokenExchange``,
  matched against the app's federated identity credentials: issuer, subject, audience).
* ``GET /msi/token``: the App Service / Azure Functions managed-identity endpoint (``IDENTITY_ENDPOINT``),
  guarded by ``X-IDENTITY-HEADER`` (``IDENTITY_HEADER``), api-version 2019-08-01.

Access tokens are RS256 JWTs (v1 claims: ``aud`` = the resource, ``appid``, ``tid``, ``oid``) signed by a key
the tenant makes at start. As in Entra, a token is issued for any resource the tenant knows (the
simulated service's own and a few well-known ones); it is the API that refuses a token whose audience
is another resource. Unknown resources get AADSTS500011.

Decisions where the reference is silent (unverified): the AADSTS codes of a bad client assertion
(700027 signature or key, 700024 time range, 70021 no matching federated credential); the token for
``api://AzureADTokenExchange`` carries that string as its ``aud`` (Entra uses the resource's app id).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
"""The audience of a managed identity's token that an app registration's federated credential trusts."""
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
WELL_KNOWN_RESOURCES = frozenset({
    "https://graph.microsoft.com", "https://management.azure.com", "https://vault.azure.net",
    "https://storage.azure.com", "https://api.businesscentral.dynamics.com", FEDERATION_AUDIENCE})
"""Resources every tenant knows: a token for one of them is issued, and refused by the Dynamics APIs."""
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential on an app registration: which external token it accepts."""

    issuer: str
    subject: str
    audience: str = FEDERATION_AUDIENCE


@dataclass
class AppRegistration:
    client_id: str
    secrets: list[str] = field(default_factory=list)
    certificates: list[x509.Certificate] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class ManagedIdentity:
    """The function app's managed identity as the identity endpoint knows it."""

    client_id: str
    principal_id: str


@dataclass(frozen=True)
class Caller:
    """Who a valid access token speaks for."""

    app_id: str
    audience: str
    claims: Mapping[str, Any]


class TokenRejected(Exception):
    """An access token the API must refuse; ``problem`` says why, as an ``error_description``."""

    def __init__(self, problem: str, *, presented: bool) -> None:
        super().__init__(problem)
        self.problem = problem
        self.presented = presented


def thumbprint(certificate: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    """A certificate's thumbprint as the JWT ``x5t`` / ``x5t#S256`` header carries it."""
    return base64.urlsafe_b64encode(certificate.fingerprint(algorithm)).decode().rstrip("=")


class Directory:
    """One Entra tenant: app registrations, the function app's managed identity, signing key, issued tokens.

    Args:
        tenant: the directory (tenant) id.
        resources: the simulated service's own resources (application ID URIs) for a request's base URL.
        clock: epoch seconds by which tokens are issued and expire (a simulator's own clock).
        token_lifetime: seconds an access token lives.
    """

    def __init__(self, tenant: str, *, resources: Callable[[str], Iterable[str]],
                 clock: Callable[[], float] = time.time, token_lifetime: float = 3599.0) -> None:
        self.tenant = tenant
        self.resources = resources
        self.other_resources: set[str] = set()
        """Resources of other services of the tenant (the CRM beside the ERP): tokens for them are issued here."""
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.apps: dict[str, AppRegistration] = {}
        self.identity_header = "hl365-local-identity-header"
        self.managed_identities: list[ManagedIdentity] = [
            ManagedIdentity("hl365-local-managed-identity", "11111111-0000-0000-0000-000000000365")]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = uuid.uuid4().hex
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0

    # -- set-up -------------------------------------------------------------------------------------------------

    def register(self, client_id: str, *, secret: str | None = None, certificate: bytes | None = None,
                 federated: FederatedCredential | None = None) -> AppRegistration:
        """Register an app, or add a secret, a certificate (PEM) or a federated credential to it."""
        app = self.apps.setdefault(client_id, AppRegistration(client_id))
        if secret is not None:
            app.secrets.append(secret)
        if certificate is not None:
            app.certificates.append(x509.load_pem_x509_certificate(certificate))
        if federated is not None:
            app.federated.append(federated)
        return app

    def adopt(self, other: Directory) -> None:
        """Take over ``other``'s registrations, signing key and issued tokens: the tenant outlives a restart of the
        service that simulates it, so tokens issued before the restart stay valid, as signed tokens do."""
        with other._lock:
            self.apps, self.managed_identities = other.apps, other.managed_identities
            self.identity_header, self._key, self.key_id = other.identity_header, other._key, other.key_id
            self._expiry, self.tokens_issued = dict(other._expiry), other.tokens_issued
            self.other_resources = set(other.other_resources)

    def issuer(self, base: str) -> str:
        """The v2.0 issuer of this tenant at the host ``base`` (also the issuer of managed-identity assertions)."""
        return f"{base}/{self.tenant}/v2.0"

    # -- tokens -------------------------------------------------------------------------------------------------

    def issue(self, audience: str, *, app_id: str, object_id: str, version: str = "1.0",
              issuer: str | None = None) -> tuple[str, int]:
        """A signed access token for ``audience``; returns it and its lifetime in seconds."""
        now = self.clock()
        jti = uuid.uuid4().hex
        lifetime = int(self.token_lifetime)
        claims = {"aud": audience, "iss": issuer or f"https://sts.windows.net/{self.tenant}/", "iat": int(now),
                  "nbf": int(now), "exp": int(now + lifetime), "appid" if version == "1.0" else "azp": app_id,
                  "idtyp": "app", "oid": object_id, "sub": object_id, "tid": self.tenant, "ver": version,
                  "uti": jti}
        if audience == "https://api.businesscentral.dynamics.com":
            claims["roles"] = ["API.ReadWrite.All"]
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"})
        with self._lock:
            self._expiry[jti] = now + lifetime
            self.tokens_issued += 1
        return token, lifetime

    def _verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this tenant signed and has not ended; raises ``jwt.InvalidTokenError``."""
        claims: dict[str, Any] = jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                                            options={"verify_aud": False, "verify_exp": False,
                                                     "verify_iat": False, "verify_nbf": False})
        with self._lock:
            expires = self._expiry.get(str(claims.get("uti")), float(claims.get("exp", 0)))
        if self.clock() >= expires:
            raise jwt.ExpiredSignatureError("The access token has expired.")
        return claims

    def authenticate(self, authorization: str, audience: str) -> Caller:
        """Check an ``Authorization`` header for ``audience`` as a Dynamics API does on every call.

        Raises:
            TokenRejected: no bearer token, a token not signed by this tenant, expired, or for another resource.
        """
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejected("The request has no bearer token.", presented=False)
        try:
            claims = self._verify(token)
        except jwt.ExpiredSignatureError:
            raise TokenRejected("The access token has expired.", presented=True) from None
        except jwt.InvalidTokenError:
            raise TokenRejected("The request has no valid bearer token.", presented=True) from None
        if str(claims.get("tid", "")).lower() != self.tenant.lower():
            raise TokenRejected(f"The token was issued for the tenant '{claims.get('tid')}'.", presented=True)
        if claims.get("aud") != audience:
            raise TokenRejected(f"The audience '{claims.get('aud')}' is invalid; this service is {audience}.",
                                presented=True)
        return Caller(str(claims.get("appid") or claims.get("azp") or ""), audience, claims)

    def expire_tokens(self) -> None:
        """End every token issued so far, now (as a revocation or a clock jump would)."""
        with self._lock:
            ended = self.clock() - 1
            self._expiry = dict.fromkeys(self._expiry, ended)

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/msi/token", self._identity, methods=["GET"]),
        ]

    def _known(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant.lower()

    async def _discovery(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not self._known(tenant):
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you "
                             "have the correct tenant ID and are signing into the correct cloud.")
        base = _base(request)
        root = f"{base}/{self.tenant}"
        return JSONResponse({
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(base),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
        })

    async def _keys(self, request: Request) -> Response:  # noqa: ARG002
        numbers = self._key.public_key().public_numbers()

        def b64(value: int) -> str:
            return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return JSONResponse({"keys": [{"kty": "RSA", "use": "sig", "kid": self.key_id, "n": b64(numbers.n),
                                       "e": b64(numbers.e), "x5t": self.key_id,
                                       "issuer": f"https://sts.windows.net/{self.tenant}/",
                                       "spki": base64.b64encode(der).decode()}]})

    async def _token(self, request: Request) -> Response:
        """Entra's client-credentials grant, with its AADSTS errors for the mistakes integrators make."""
        tenant = request.path_params["tenant"]
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id", "")
        if not self._known(tenant):
            return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure you "
                             "have the correct tenant ID and are signing into the correct cloud.")
        if form.get("grant_type") != "client_credentials":
            return aad_error(400, "unsupported_grant_type", 70003,
                             f"The app requested an unsupported grant type '{form.get('grant_type', '')}'.")
        app = self.apps.get(client_id)
        if app is None:
            return aad_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was "
                             f"not found in the directory '{tenant}'. This can happen if the application has not "
                             "been installed by the administrator of the tenant or consented to by any user in the "
                             "tenant. You may have sent your authentication request to the wrong tenant.")
        refused = self._client_authentication(app, form, f"{_base(request)}{request.url.path}")
        if refused is not None:
            return refused
        scopes = [s for s in form.get("scope", "").split() if s not in _RESERVED_SCOPES]
        if not scopes:
            return aad_error(400, "invalid_request", 900144, "The request body must contain the following "
                             "parameter: 'scope'.")
        scope = scopes[0]
        if len(scopes) > 1 or not scope.endswith("/.default"):
            return aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {form['scope']} is not "
                             "valid. Client credential flows must have a scope value with /.default suffixed to "
                             "the resource identifier (application ID URI).")
        resource = scope.removesuffix("/.default")
        unknown = self._unknown_resource(resource, _base(request))
        if unknown is not None:
            return unknown
        token, lifetime = self.issue(resource, app_id=client_id, object_id=app.object_id)
        return JSONResponse({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                             "access_token": token})

    def _unknown_resource(self, resource: str, base: str) -> Response | None:
        own = set(self.resources(base)) | self.other_resources
        if resource in own | WELL_KNOWN_RESOURCES:  # exactly: F&O's resource has no trailing slash (reference §1.1)
            return None
        return aad_error(400, "invalid_resource", 500011, f"The resource principal named {resource} was not "
                         f"found in the tenant named {self.tenant}. This can happen if the application has not been "
                         "installed by the administrator of the tenant or consented to by any user in the tenant. "
                         "You might have sent your authentication request to the wrong tenant. (this simulator "
                         f"serves {', '.join(sorted(own))}; its scope is that URL + /.default)")

    def _client_authentication(self, app: AppRegistration, form: Mapping[str, str], endpoint: str) -> Response | None:
        secret, assertion = form.get("client_secret"), form.get("client_assertion")
        if assertion is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type; expected "
                                 f"'{ASSERTION_TYPE}'.")
            problem = self._check_assertion(app, assertion, endpoint)
            return None if problem is None else aad_error(401, "invalid_client", *problem)
        if secret is None:
            return aad_error(401, "invalid_client", 7000218, "The request body must contain the following parameter: "
                             "'client_assertion' or 'client_secret'.")
        if not any(secrets.compare_digest(secret.encode(), known.encode()) for known in app.secrets):
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being "
                             "sent in the request is the client secret value, not the client secret ID, for a secret "
                             f"added to app '{app.client_id}'.")
        return None

    def _check_assertion(self, app: AppRegistration, assertion: str, endpoint: str) -> tuple[int, str] | None:
        """None if ``assertion`` authenticates ``app``; else the AADSTS code and description."""
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            return 50027, f"JWT token is invalid or is malformed: {exc}."
        if unverified.get("iss") != app.client_id:
            return self._check_federated(app, assertion)
        sha256, sha1 = str(header.get("x5t#S256", "")).rstrip("="), str(header.get("x5t", "")).rstrip("=")
        certificate = next((c for c in app.certificates
                            if sha256 == thumbprint(c, hashes.SHA256())
                            or sha1 == thumbprint(c, hashes.SHA1())), None)  # noqa: S303
        if certificate is None:
            return 700027, (f"The certificate with identifier used to sign the client assertion is not registered "
                            f"on application '{app.client_id}'.")
        try:
            claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                                audience=endpoint, issuer=app.client_id,
                                options={"require": ["aud", "iss", "sub", "exp"]})
        except jwt.InvalidSignatureError:
            return 700027, "Client assertion failed signature validation."
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return 700024, "Client assertion is not within its valid time range."
        except jwt.InvalidAudienceError:
            return 700027, (f"Client assertion contains an invalid audience '{unverified.get('aud')}'; expected the "
                            f"token endpoint '{endpoint}'.")
        except jwt.InvalidTokenError as exc:
            return 700027, f"Client assertion failed validation: {exc}."
        if claims.get("sub") != app.client_id:
            return 700027, "Client assertion contains an invalid subject; it must be the client id."
        return None

    def _check_federated(self, app: AppRegistration, assertion: str) -> tuple[int, str] | None:
        try:
            claims = self._verify(assertion)
        except jwt.ExpiredSignatureError:
            return 700024, "Client assertion is not within its valid time range."
        except jwt.InvalidTokenError:
            return 700027, "Client assertion failed signature validation."
        issuer, subject, audience = claims.get("iss"), claims.get("sub"), claims.get("aud")
        if any(f.issuer == issuer and f.subject == subject and f.audience == audience for f in app.federated):
            return None
        return 70021, (f"No matching federated identity record found for presented assertion. Assertion Issuer: "
                       f"'{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'.")

    async def _identity(self, request: Request) -> Response:
        """The App Service managed-identity endpoint (what ``IDENTITY_ENDPOINT`` names inside Azure Functions)."""
        def refuse(status: int, message: str) -> Response:
            return JSONResponse({"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())},
                                status)

        if not secrets.compare_digest(request.headers.get("x-identity-header", "").encode(),
                                      self.identity_header.encode()):
            return refuse(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        params = request.query_params
        if params.get("api-version") != "2019-08-01":
            return refuse(400, f"Unsupported api-version '{params.get('api-version', '')}'.")
        resource = params.get("resource", "")
        if not resource:
            return refuse(400, "The 'resource' query parameter is required.")
        wanted = params.get("client_id") or params.get("principal_id") or params.get("object_id")
        identity = next((m for m in self.managed_identities if wanted in (None, m.client_id, m.principal_id)), None)
        if identity is None:
            return refuse(400, "Unable to load the proper Managed Identity.")
        resource = resource.removesuffix("/.default")
        if self._unknown_resource(resource, _base(request)) is not None:
            return refuse(400, f"AADSTS500011: The resource principal named {resource} was not found in the tenant "
                          f"named {self.tenant}.")
        if resource == FEDERATION_AUDIENCE:
            token, lifetime = self.issue(resource, app_id=identity.client_id, object_id=identity.principal_id,
                                         version="2.0", issuer=self.issuer(_base(request)))
        else:
            token, lifetime = self.issue(resource, app_id=identity.client_id, object_id=identity.principal_id)
        return JSONResponse({"access_token": token, "expires_on": str(int(time.time()) + lifetime),
                             "resource": resource, "token_type": "Bearer", "client_id": identity.client_id})


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def aad_error(status: int, error: str, code: int, description: str) -> JSONResponse:
    """An Entra (AADSTS) error body, as ``login.microsoftonline.com`` answers."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return JSONResponse({
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
                             f"Timestamp: {now}",
        "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}"}, status)

