"""Heartland Portico gift and loyalty: the gift-card balance and loyalty points behind a customer's alias
(a phone number), for the customer profile.

A small SOAP 1.1 client on ``ApiClient`` (timeouts, retries with backoff on transport errors, 5xx and 429),
not the official SDK: ``globalpayments.api`` 2.0.8 does talk to a Portico URL we give it (its
``PorticoConfig.service_url``; the sandbox simulator is proven against it), but it cannot be installed beside
this project's pins (it requires ``certifi<2025`` and ``pyOpenSSL<25``, hence ``cryptography<45``, where the
Azure SDKs here run on cryptography 50), it patches ``urllib3`` for the whole process at import, keeps its
configuration in a process-wide singleton, never retries, and turns balances into floats. The XML sent here
is the SDK's (``PorticoConnector._build_envelope``): ``PosRequest > Ver1.0 > Header + Transaction >
<Service> > Block1``, default namespace ``http://Hps.Exchange.PosGateway``.

Card numbers never leave this module in clear: a number the gateway answers (``GiftCardAlias`` ``CREATE``) is
masked to its last four before it is returned, and nothing here logs a number, a PIN or an alias (aliases are
phone numbers: personal data, logged by their last four at most).
"""

from __future__ import annotations

import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import httpx

from shared.canonical.customers import LoyaltyBalance
from shared.canonical.money import Money
from shared.errors import PermanentApiError, TransientApiError
from shared.httpclient import Action, ApiClient, RetryPolicy
from shared.settings import Settings

log = logging.getLogger("hl365.portico")

SOURCE = "portico"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
POS_NS = "http://Hps.Exchange.PosGateway"
PATH = "/Hps.Exchange.PosGateway/PosGatewayService.asmx"
CERT_URL = "https://cert.api2.heartlandportico.com"
PRODUCTION_URL = "https://api2.heartlandportico.com"
APPROVED = frozenset({"0", "00"})
INVALID_CARD = frozenset({"3", "8"})
"""Issuer codes the Heartland SDKs map to invalid card data: for a lookup by alias, no card carries it."""
GATEWAY_TRANSIENT = frozenset({"30"})
"""``GatewayRspCode`` 30 is a gateway timeout in the SDKs' mapping: the same request may succeed later."""
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_ANSWER = 256 * 1024


@dataclass(frozen=True)
class LoyaltyCard:
    """A card issued for an alias; its number only as the last four (``************1234``)."""

    masked_number: str


class PorticoDeclined(PermanentApiError):
    """The issuer answered, and not with an approval (``RspCode``/``RspText`` kept); retrying cannot help."""

    def __init__(self, service: str, code: str, text: str, *, gateway_txn_id: str | None = None) -> None:
        super().__init__(f"Portico{service}Rsp{code}", f"{service}: issuer answered {code} {text}".strip(),
                         source=SOURCE, request_id=gateway_txn_id)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class _Answer:
    service: str
    gateway_txn_id: str | None
    code: str
    text: str
    fields: dict[str, str]
    card_data: dict[str, str]


def mask(value: str) -> str:
    """Everything but the last four characters starred; for card numbers and aliases in logs and answers."""
    return "*" * max(0, len(value) - 4) + value[-4:]


def _q(name: str) -> str:
    return f"{{{POS_NS}}}{name}"


def _xml(raw: bytes) -> ET.Element:
    """Parse an answer; a DTD is refused first (SOAP forbids one), so no entity is ever expanded."""
    if len(raw) > MAX_ANSWER or _DTD.search(raw):
        raise ValueError("not a SOAP answer (too large, or it declares a DTD)")
    return ET.fromstring(raw)  # noqa: S314 - no DTD can be present (checked above), so no entities


def _fault(response: httpx.Response) -> tuple[str, str] | None:
    """``(faultcode, faultstring)`` of a SOAP fault answer; None when the body is not one."""
    try:
        root = _xml(response.content)
    except (ValueError, ET.ParseError):
        return None
    element = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if element is None:
        return None
    return (element.findtext("faultcode") or "").strip(), (element.findtext("faultstring") or "").strip()


def describe_portico_error(response: httpx.Response) -> str:
    """``SOAP fault soap:Client: ...`` for a fault, else the status line; never the raw body."""
    found = _fault(response)
    if found is None:
        return f"HTTP {response.status_code} {response.reason_phrase}"
    return f"SOAP fault {found[0]}: {found[1][:500]}"


def classify_portico_error(response: httpx.Response) -> Action | None:
    """A ``soap:Client`` fault is our request's fault (HTTP 500, yet retrying cannot help); any other 500 is
    the service's and is retried by the table."""
    found = _fault(response)
    if found is not None and found[0].split(":")[-1] == "Client":
        return Action.FAIL
    return None


class PorticoLoyalty:
    """Gift balances and loyalty points by alias, through one merchant's Portico credentials.

    Args:
        base_url: the gateway root, e.g. ``https://api2.heartlandportico.com`` (the service path is appended
            unless the URL already names the ``.asmx``).
        secret_api_key: the merchant's secret API key; or else all five of ``site_id``, ``license_id``,
            ``device_id``, ``username``, ``password`` (the SDK refuses a mix, and so does this).
        developer_id, version_number: the integration's certification ids, sent in every header when set.
        transport, retry, timeout, sleep: as ``ApiClient`` takes them (tests).
    """

    def __init__(
        self,
        base_url: str,
        secret_api_key: str | None = None,
        *,
        site_id: str | None = None,
        license_id: str | None = None,
        device_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        developer_id: str | None = None,
        version_number: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        legacy = {"SiteId": site_id, "LicenseId": license_id, "DeviceId": device_id, "UserName": username,
                  "Password": password}
        given = {k: v for k, v in legacy.items() if v}
        if secret_api_key and given:
            raise ValueError("Portico takes a secret API key or the legacy credentials, not both")
        if not secret_api_key and len(given) != len(legacy):
            raise ValueError("Portico needs a secret API key, or all of site_id, license_id, device_id, "
                             "username and password")
        header: list[tuple[str, str]] = [("SecretAPIKey", secret_api_key)] if secret_api_key else list(
            given.items())
        if developer_id:
            header.append(("DeveloperID", developer_id))
        if version_number:
            header.append(("VersionNbr", version_number))
        header.append(("SDKNameVersion", "hl365;portico-loyalty"))
        self._header = tuple(header)
        url = httpx.URL(base_url.rstrip("/"))
        path = url.path if url.path.lower().endswith(".asmx") else url.path.rstrip("/") + PATH
        self._path = path
        options: dict[str, Any] = {"transport": transport, "sleep": sleep, "retry": retry or RetryPolicy(),
                                   "headers": {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"},
                                   "describe_error": describe_portico_error, "classify": classify_portico_error}
        if timeout is not None:
            options["timeout"] = timeout
        self._api = ApiClient(SOURCE, str(url.copy_with(path="/", query=None, fragment=None)), **options)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PorticoLoyalty:
        """A client configured by ``PORTICO_URL`` and ``PORTICO_SECRET_API_KEY``."""
        return cls(settings.require("portico_url"), settings.require("portico_secret_api_key"), **options)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> PorticoLoyalty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent

    # Public API ----------------------------------------------------------------------------------------------

    def balances(self, alias: str) -> LoyaltyBalance | None:
        """The gift balance and points of the card that carries ``alias``; None when no card carries it.

        Raises:
            PorticoDeclined: the issuer refused the inquiry for another reason (an inactive card, say).
            PermanentApiError: bad credentials (``GatewayRspCode`` -2), another gateway refusal, an answer
                that is not Portico's.
            TransientApiError: retries ran out on 5xx, throttling or connection failures.
        """
        answer = self._call("GiftCardBalance", [("CardData", [("Alias", _alias(alias))])], read_only=True)
        if answer.code in INVALID_CARD:
            log.info("portico GiftCardBalance: no card carries alias %s", mask(alias))
            return None
        self._approved(answer)
        return self._balance(answer)

    def enroll(self, alias: str) -> LoyaltyCard:
        """Issue a new card for ``alias`` (``GiftCardAlias`` ``CREATE``); the answer's number is masked here.

        Raises:
            PorticoDeclined: the alias is already on a card, or the issuer refused.
            UncertainOutcome: the answer was lost after sending; look the alias up before enrolling again.
        """
        answer = self._call("GiftCardAlias", [("Action", "CREATE"), ("Alias", _alias(alias))])
        self._approved(answer)
        number = answer.card_data.get("CardNbr", "")
        return LoyaltyCard(masked_number=mask(number) if number else "")

    def add_value(self, alias: str, amount: Money | Decimal) -> LoyaltyBalance:
        """Load dollars (``Money`` in USD) or points (a ``Decimal``) onto the card that carries ``alias``.

        Raises:
            ValueError: a non-USD or non-positive amount.
            PorticoDeclined: no card carries the alias, or the issuer refused.
            UncertainOutcome: the answer was lost after sending; read the balance before loading again.
        """
        currency: Literal["USD", "POINTS"]
        if isinstance(amount, Money):
            if amount.currency != "USD":
                raise ValueError(f"Portico gift cards hold USD, not {amount.currency}")
            value, currency = f"{amount.amount:f}", "USD"
        else:
            value, currency = f"{amount:f}", "POINTS"
        if Decimal(value) <= 0:
            raise ValueError("the amount to add must be positive")
        answer = self._call("GiftCardAddValue", [("Amt", value), ("Currency", currency),
                                                 ("CardData", [("Alias", _alias(alias))])])
        self._approved(answer)
        return self._balance(answer)

    # The exchange --------------------------------------------------------------------------------------------

    def _call(self, service: str, block: Sequence[tuple[str, Any]], *, read_only: bool = False) -> _Answer:
        response = self._api.request("POST", self._path, content=self._envelope(service, block), read_only=read_only)
        answer = self._parse(service, response)
        log.info("portico %s: issuer %s (gateway txn %s)", service, answer.code, answer.gateway_txn_id)
        return answer

    def _envelope(self, service: str, block: Sequence[tuple[str, Any]]) -> bytes:
        root = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_NS})
        request = ET.SubElement(ET.SubElement(root, "soap:Body"), "PosRequest", {"xmlns": POS_NS})
        version = ET.SubElement(request, "Ver1.0")
        _append(ET.SubElement(version, "Header"), self._header)
        _append(ET.SubElement(ET.SubElement(version, "Transaction"), service), [("Block1", block)])
        return ET.tostring(root)

    def _parse(self, service: str, response: httpx.Response) -> _Answer:
        """The header and the service's fields of a 200 answer, with the gateway's verdict applied.

        A refused request carries no ``Transaction``: -2 is bad credentials, 30 a gateway timeout (retriable),
        anything else a refusal. The body is never put into an error: a ``CREATE`` answer holds a card number.
        """
        try:
            root = _xml(response.content)
        except (ValueError, ET.ParseError):
            raise PermanentApiError("PorticoUnexpectedResponse", f"{service}: the answer is not XML",
                                    source=SOURCE, status=response.status_code) from None
        version = root.find(f"{{{SOAP_NS}}}Body/{_q('PosResponse')}/{_q('Ver1.0')}")
        header = None if version is None else version.find(_q("Header"))
        if version is None or header is None:
            raise PermanentApiError("PorticoUnexpectedResponse", f"{service}: no PosResponse/Ver1.0/Header",
                                    source=SOURCE, status=response.status_code)
        gateway_code = (header.findtext(_q("GatewayRspCode")) or "").strip()
        gateway_text = (header.findtext(_q("GatewayRspMsg")) or "").strip()
        txn_id = (header.findtext(_q("GatewayTxnId")) or "").strip() or None
        if gateway_code != "0":
            description = f"{service}: gateway answered {gateway_code} {gateway_text}"
            if gateway_code == "-2":
                raise PermanentApiError("PorticoAuthentication", description + "; check the Portico credentials "
                                        "(PORTICO_SECRET_API_KEY)", source=SOURCE, request_id=txn_id)
            error = TransientApiError if gateway_code in GATEWAY_TRANSIENT else PermanentApiError
            raise error(f"PorticoGateway{gateway_code}", description, source=SOURCE, request_id=txn_id)
        element = version.find(f"{_q('Transaction')}/{_q(service)}")
        if element is None:
            raise PermanentApiError("PorticoUnexpectedResponse", f"{service}: the answer holds no {service}",
                                    source=SOURCE, request_id=txn_id)
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element if len(child) == 0}
        data = element.find(_q("CardData"))
        card_data = {} if data is None else {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in data}
        return _Answer(service, txn_id, fields.get("RspCode", ""), fields.get("RspText", ""), fields, card_data)

    @staticmethod
    def _approved(answer: _Answer) -> None:
        if answer.code not in APPROVED:
            raise PorticoDeclined(answer.service, answer.code, answer.text, gateway_txn_id=answer.gateway_txn_id)

    @staticmethod
    def _balance(answer: _Answer) -> LoyaltyBalance:
        try:
            gift = Money.of(answer.fields.get("BalanceAmt") or "0", "USD")
            points = Decimal(answer.fields.get("PointsBalanceAmt") or "0")
        except (ValueError, InvalidOperation):
            raise PermanentApiError("PorticoUnexpectedResponse", f"{answer.service}: a balance is not a number",
                                    source=SOURCE, request_id=answer.gateway_txn_id) from None
        return LoyaltyBalance(gift=gift, points=points)


def _alias(alias: str) -> str:
    value = alias.strip()
    if not value:
        raise ValueError("an alias is required")
    return value


def _append(parent: ET.Element, fields: Sequence[tuple[str, Any]]) -> None:
    for name, value in fields:
        child = ET.SubElement(parent, name)
        if isinstance(value, str):
            child.text = value
        else:
            _append(child, value)
