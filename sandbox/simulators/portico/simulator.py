"""``PorticoSimulator``: the Portico SOAP gateway's gift and loyalty services, its credentials, its seeded cards,
the ``/_portico`` sandbox control and its ground truth; ``PorticoApp`` gives injected faults Portico's own bodies."""

from __future__ import annotations

import hmac
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.base import Message, Receive, Scope, Send, SimulatorApp
from sandbox.simulators.portico.issuer import (
    CARD_KEYS,
    CardKey,
    Currency,
    GatewayRefusal,
    GiftIssuer,
    Outcome,
    amount_of,
)
from sandbox.simulators.portico.wire import (
    CONTENT_TYPE,
    PATH,
    Fields,
    PosRequest,
    SoapFault,
    envelope,
    fault,
    parse_envelope,
    q,
    text,
)

DEFAULT_SECRET_API_KEY = "skapi_cert_hl365LocalPorticoGiftKey"  # noqa: S105 - the sandbox's published default
DEFAULT_LEGACY = {"SiteId": "100001", "LicenseId": "100002", "DeviceId": "1000003", "UserName": "hl365local",
                  "Password": "hl365-local-portico"}
"""The legacy credential set the gateway also accepts (``SiteId``/``LicenseId``/``DeviceId``/``UserName``/
``Password``), as ``PorticoConfig`` sends it when no secret API key is configured."""
AUTH_FAILED = ("-2", "Authentication Error")
"""``GatewayRspCode`` -2 is authentication failure in every Heartland SDK's gateway validation (verified); the
``GatewayRspMsg`` text the real gateway sends with it is not (unverified)."""
SERVICES = ("GiftCardActivate", "GiftCardAddValue", "GiftCardBalance", "GiftCardSale", "GiftCardAlias",
            "GiftCardReward", "GiftCardVoid")
NEEDS_AMOUNT = ("GiftCardActivate", "GiftCardAddValue", "GiftCardSale", "GiftCardReward")
ALIAS_ACTIONS = ("ADD", "DELETE", "CREATE")


class PorticoSimulator:
    """The gateway's state and routes; wrap it with ``create()`` to serve it with fault injection.

    Args:
        seed: makes the seeded cards, PINs, tokens, transaction ids and auth codes reproducible.
        cards: how many cards to seed (every third unactivated stock, half carrying a phone alias).
        secret_api_key, legacy: the credentials the gateway accepts.
        points_per_dollar: the loyalty earning rule of ``GiftCardReward`` in ``USD``.
        clock: epoch seconds, for ``RspDT`` and transaction times.
    """

    name = "portico"

    def __init__(self, *, seed: int = 0, cards: int = 6, secret_api_key: str = DEFAULT_SECRET_API_KEY,
                 legacy: dict[str, str] | None = None, points_per_dollar: Decimal | str = "1",
                 clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.secret_api_key = secret_api_key
        self.legacy = dict(legacy or DEFAULT_LEGACY)
        self.issuer = GiftIssuer(seed, points_per_dollar=Decimal(points_per_dollar))
        self._clock = clock
        self._lock = threading.RLock()
        self._events: Counter[str] = Counter()
        self._seed_cards(cards)

    def _seed_cards(self, count: int) -> None:
        rng = random.Random(f"portico-cards:{self.seed}")
        for n in range(count):
            active = n % 3 != 2
            aliases = [f"555{rng.randrange(10**7):07d}"] if n % 2 == 0 else []
            self.issuer.issue(balance=Decimal(rng.randrange(0, 10_001)) / 100 if active else Decimal(0),
                              points_balance=Decimal(rng.randrange(0, 501)) if active else Decimal(0),
                              aliases=aliases, active=active)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # Simulated protocol --------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self._soap, methods=["POST"]),
                Route("/_portico/cards", self._cards_route, methods=["POST"])]

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """A placeholder body: ``PorticoApp`` rewrites every injected fault on the SOAP path into what IIS in
        front of an ASMX service sends (a ``soap:Server`` fault for 500, an HTML status page otherwise)."""
        headers = {"Retry-After": str(max(1, round(retry_after)))} if status in (429, 503) else {}
        return {"status": status}, headers

    # Scenario API --------------------------------------------------------------------------------------------

    def issue_card(self, *, balance: Decimal | str = "0", points: Decimal | str = "0",
                   aliases: list[str] | tuple[str, ...] = (), active: bool = True,
                   pin: str | None = None) -> dict[str, Any]:
        """Issue a card straight at the issuer, as a merchant's card order would; returns the issuer's record
        (number and PIN included: tests use them, nothing else should)."""
        with self._lock:
            return dict(self.issuer.issue(balance=balance, points_balance=points, aliases=list(aliases),
                                          active=active, pin=pin, at=self.now()))

    def card_by_alias(self, alias: str) -> dict[str, Any] | None:
        with self._lock:
            card = self.issuer.find("Alias", alias)
            return dict(card) if card else None

    # SOAP ----------------------------------------------------------------------------------------------------

    async def _soap(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("text/xml"):
            return Response("SOAP 1.1 requests are text/xml", 415, media_type="text/plain")
        raw = await request.body()
        try:
            parsed = parse_envelope(raw)
            with self._lock:
                body = self._answer(parsed)
        except SoapFault as error:
            with self._lock:
                self._events["faults"] += 1
            return Response(fault(error), 500, media_type=CONTENT_TYPE)
        return Response(body, 200, media_type=CONTENT_TYPE)

    def _answer(self, request: PosRequest) -> bytes:
        if not self._authenticated(request.header):
            self._events["auth_failures"] += 1
            return envelope(self._header(request, *AUTH_FAILED))
        if request.service not in SERVICES:
            raise SoapFault(f"{request.service} is not a service this gateway simulates ({', '.join(SERVICES)})")
        try:
            outcome = self._serve(request.service, request.block1())
        except GatewayRefusal as refusal:
            self._events["gateway_refusals"] += 1
            return envelope(self._header(request, refusal.code, refusal.message))
        self._events[f"{request.service}:{outcome.code}"] += 1
        return envelope(self._header(request, "0", "Success", outcome.txn_id), request.service, outcome.wire())

    def _serve(self, service: str, block: Any) -> Outcome:
        """One gift service on its ``Block1``: find the card, check the PIN and amount, let the issuer act."""
        at = self.now()
        if service == "GiftCardVoid":
            txn_id = text(block, "GatewayTxnId")
            if not txn_id:
                raise SoapFault("GiftCardVoid: GatewayTxnId is required")
            return self.issuer.void(txn_id, at)
        currency = self._currency(block)
        action = (text(block, "Action") or "").upper() if service == "GiftCardAlias" else ""
        if service == "GiftCardAlias":
            if action not in ALIAS_ACTIONS:
                raise SoapFault(f"GiftCardAlias: Action must be one of {', '.join(ALIAS_ACTIONS)}")
            alias = text(block, "Alias")
            if not alias:
                raise SoapFault("GiftCardAlias: Alias is required")
            card = None if action == "CREATE" else self._card(block)
            if card is not None and not self._pin_ok(block, card):
                return Outcome("invalid_pin")
            return self.issuer.alias(action, alias, card, at)
        card = self._card(block)
        if card is None:
            return Outcome("invalid_card")
        if not self._pin_ok(block, card):
            return Outcome("invalid_pin")
        if service == "GiftCardBalance":
            return self.issuer.balance(card)
        raw_amount = text(block, "Amt")
        if raw_amount is None:
            raise SoapFault(f"{service}: Amt is required")
        amount = amount_of(raw_amount, currency)
        if amount is None:
            return Outcome("invalid_amount")
        act = {"GiftCardActivate": self.issuer.activate, "GiftCardAddValue": self.issuer.add_value,
               "GiftCardSale": self.issuer.sale, "GiftCardReward": self.issuer.reward}[service]
        return act(card, amount, currency, at)

    def _card(self, block: Any) -> dict[str, Any] | None:
        """The card ``CardData`` names; it must carry exactly one of ``CardNbr``, ``TrackData``, ``TokenValue``,
        ``Alias`` (plus an optional ``PIN``), as the schema's choice requires."""
        data = block.find(q("CardData"))
        if data is None:
            raise SoapFault("CardData is required")
        named = [(key, text(data, key)) for key in CARD_KEYS if data.find(q(key)) is not None]
        if len(named) != 1 or not named[0][1]:
            raise SoapFault("CardData must carry exactly one of CardNbr, TrackData, TokenValue or Alias")
        key, value = named[0]
        return self.issuer.find(cast(CardKey, key), cast(str, value))

    @staticmethod
    def _pin_ok(block: Any, card: dict[str, Any]) -> bool:
        data = block.find(q("CardData"))
        pin = None if data is None else text(data, "PIN")
        return pin is None or hmac.compare_digest(pin, card["pin"])

    @staticmethod
    def _currency(block: Any) -> Currency:
        value = (text(block, "Currency") or "USD").upper()
        if value not in ("USD", "POINTS"):
            raise SoapFault(f"Currency {value!r} is not USD or POINTS")
        return cast(Currency, value)

    def _authenticated(self, header: dict[str, str]) -> bool:
        key = header.get("SecretAPIKey")
        if key is not None:
            return hmac.compare_digest(key.encode(), self.secret_api_key.encode())
        return all(hmac.compare_digest(header.get(name, "").encode(), value.encode())
                   for name, value in self.legacy.items())

    def _header(self, request: PosRequest, code: str, message: str, txn_id: str | None = None) -> Fields:
        fields: list[tuple[str, Any]] = [("LicenseId", self.legacy["LicenseId"]), ("SiteId", self.legacy["SiteId"]),
                                         ("DeviceId", self.legacy["DeviceId"])]
        if request.header.get("ClientTxnId"):
            fields.append(("ClientTxnId", request.header["ClientTxnId"]))
        fields += [("GatewayTxnId", txn_id or self.issuer.reserve_txn_id()), ("GatewayRspCode", code),
                   ("GatewayRspMsg", message), ("RspDT", self.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])]
        return fields

    # Sandbox control -----------------------------------------------------------------------------------------

    async def _cards_route(self, request: Request) -> Response:
        """``POST /_portico/cards {"balance", "points", "aliases", "active", "pin"}``: issue a card; answers its
        id, token, masked number and balances, never the number itself."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body is a JSON object"}, 400)
        aliases = body.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            return JSONResponse({"error": "aliases is a list of non-empty strings"}, 400)
        try:
            card = self.issue_card(balance=_decimal(body.get("balance", "0")), points=_decimal(body.get("points", "0")),
                                   aliases=aliases, active=bool(body.get("active", True)),
                                   pin=str(body["pin"]) if body.get("pin") is not None else None)
        except (ValueError, InvalidOperation) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(public(card), 201)

    # Ground truth --------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Every card (number and PIN included: this is the issuer's truth), alias and transaction."""
        with self._lock:
            state = self.issuer.state()
            return {"name": self.name, **state, "events": dict(self._events),
                    "counts": {"cards": len(state["cards"]), "aliases": len(state["aliases"]),
                               "transactions": len(state["transactions"]),
                               "voided": sum(1 for t in state["transactions"].values() if t["voided"])}}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.issuer.restore(state)
            self._events = Counter({k: int(v) for k, v in state.get("events", {}).items()})


def public(card: dict[str, Any]) -> dict[str, Any]:
    """A card as the sandbox control answers it: the number masked to its last four, no PIN."""
    return {"id": card["id"], "token": card["token"], "masked_number": "*" * 15 + card["number"][-4:],
            "aliases": list(card["aliases"]), "balance": card["balance"], "points": card["points"],
            "active": card["active"]}


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise ValueError("give amounts as strings")
    return Decimal(str(value))


_OUTAGE_TITLES = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def outage(status: int) -> tuple[bytes, bytes]:
    """What the gateway's front end answers for an injected fault: a ``soap:Server`` fault for 500 (the ASMX
    service failed), an HTML status page for everything else (IIS or the load balancer answered)."""
    if status == 500:
        return fault(SoapFault("Server was unable to process request. ---> Service temporarily unavailable",
                               code="soap:Server")), CONTENT_TYPE.encode()
    title = _OUTAGE_TITLES.get(status, "Error")
    page = f"<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>"
    return page.encode(), b"text/html; charset=utf-8"


class PorticoApp(SimulatorApp):
    """``SimulatorApp`` whose injected faults on the SOAP path answer in Portico's formats, not JSON."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await super().__call__(scope, receive, send)
            return
        held: list[Message] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and content_type.startswith(b"application/json"):
                    held.append(message)
                    return
            elif held and message["type"] == "http.response.body":
                start = held.pop()
                body, content_type = outage(start["status"])
                kept = [(k, v) for k, v in start.get("headers", []) if k not in (b"content-type", b"content-length")]
                kept += [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
                await send({**start, "headers": kept})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await super().__call__(scope, receive, rewrite)
