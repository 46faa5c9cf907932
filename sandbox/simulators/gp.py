"""The GP API ("Unified Payments API", ``/ucp``) simulator, faithful to ``reference/heartland.md`` §2.1 and §2.2.

It reproduces the parts a client gets wrong first: the ``sha512(nonce + app_key)`` token handshake and
token expiry (``NOT_AUTHENTICATED``/``40001``), the mandatory ``X-GP-Version`` header, minor-unit amount
strings, ``x-gp-idempotency`` replays answered ``409 DUPLICATE_ACTION``, the paging envelope, batch close
and funding, deposits whose empty amounts are ``""`` rather than ``"0"``, and ``status_url`` notifications
signed ``hex(sha512(raw body + app_key))``. It never accepts or keeps a card number: payments name a
stored payment-method token (``payment_method.id``, as the GP SDKs send tokenised cards).

Sign conventions, where the reference is silent: refunds and fees are negative inside batch and deposit
summaries, so every summary's ``amount`` is the sum of its sections; a transaction's own ``amount`` is
always positive (its ``type`` says which way the money moves).

Tests and the demo drive the Python side (``GpSimulator.add_transaction``, ``seed_day``, ``close_batch``,
``fund``, ``notify``, ``out_of_order``) and read ``state()`` as the ground truth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.base import SimulatorApp
from shared.canonical.money import Money
from shared.security.pan import find_pans
from shared.security.signatures import gp_signature

PREFIX = "/ucp"
DEFAULT_APP_ID = "hl365-local-app"
DEFAULT_APP_KEY = "hl365-local-app-key"
TRANSACTION_ACCOUNT = "Transaction_Processing"
DATA_ACCOUNT = "Settlement Reporting"
DISPUTE_ACCOUNT = "Dispute Management"

TRANSACTION_STATUSES = ("INITIATED", "AUTHENTICATED", "PENDING", "DECLINED", "PREAUTHORIZED", "CAPTURED", "BATCHED",
                        "REVERSED", "FUNDED", "REJECTED")
DEPOSIT_STATUSES = ("FUNDED", "SPLIT_FUNDING", "DELAYED", "RESERVED", "IRREG", "RELEASED")
ENTRY_MODES = ("ECOM", "MOTO", "CHIP", "SWIPE", "MANUAL", "CONTACTLESS_CHIP", "CONTACTLESS_SWIPE", "IN_APP", "PHONE",
               "MAIL")
BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "JCB", "DINERS")
_BIN = {"VISA": "476173", "MASTERCARD": "545454", "AMEX": "371449", "DISCOVER": "601100", "JCB": "353011",
        "DINERS": "305693"}
_PAN_LENGTH = {"AMEX": 15, "DINERS": 14}
_CARD_FIELDS = ("number", "cvv", "cvn", "track", "track_data", "tag")
"""Card data the simulator refuses outright: a PAN, a security code, magnetic-stripe or EMV track data."""
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""Ids are letters only, so no id can ever look like a card number to a PAN scanner."""
SETTLED = ("BATCHED", "FUNDED")
MAX_SECONDS_TO_EXPIRE = 604_800
MIN_SECONDS_TO_EXPIRE = 60

ERRORS: Mapping[str, tuple[int, str]] = {
    "NOT_AUTHENTICATED": (401, "40001"),
    "ACTION_NOT_AUTHORIZED": (403, "40004"),
    "MANDATORY_DATA_MISSING": (400, "40005"),
    "RESOURCE_NOT_FOUND": (404, "40008"),
    "DUPLICATE_ACTION": (409, "40039"),
    "INVALID_TRANSACTION_ACTION": (400, "40042"),
    "INVALID_REQUEST_DATA": (400, "40213"),
    "SYSTEM_ERROR_DOWNSTREAM": (502, "50046"),
}
"""``error_code`` → (HTTP status, ``detailed_error_code``): the reference's mapping; 40004 (bad credentials,
403) and 40042 (invalid action) come from the GP SDKs' own tests."""

NotifyMode = Literal["normal", "bad_signature", "duplicate"]
Handler = Callable[[Request], Awaitable[Response]]


def _given(request: Request) -> dict[str, str]:
    """The query parameters a client gave: GP ignores one sent empty (``?from_time_created=``), as SDKs send them."""
    return {k: v for k, v in request.query_params.items() if v != ""}


def _brand_of(number: str) -> str:
    """The card brand of a number by its leading digits (IIN ranges)."""
    if number.startswith(("34", "37")):
        return "AMEX"
    if number.startswith("4"):
        return "VISA"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4]) <= 2720:
        return "MASTERCARD"
    return "DISCOVER" if number.startswith(("6011", "65", "644", "645", "646", "647", "648", "649")) else "VISA"


class GpError(Exception):
    """A GP API error answer; raised by the handlers and by the Python-side scenario API alike."""

    def __init__(self, error_code: str, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.status, self.detailed_error_code = ERRORS[error_code]

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "detailed_error_code": self.detailed_error_code,
                "detailed_error_description": self.description}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status)


@dataclass(frozen=True)
class NotificationDelivery:
    """One POST to a ``status_url``: what was sent and what the receiver answered (None: unreachable)."""

    transaction_id: str
    status: str
    url: str
    mode: str
    status_code: int | None
    signature: str
    error: str | None = None


def _iso(at: datetime) -> str:
    """GP's timestamp form, ``2025-03-01T15:02:05.235Z``; fixed width, so it sorts chronologically."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _letters(text: str, n: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_LETTERS[b % len(_LETTERS)] for b in digest[:n])


def _clone(value: Any) -> Any:
    """A deep copy of plain JSON data (far cheaper than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as the API shows it: internal ``_`` fields removed, detached from the store."""
    return {k: _clone(v) for k, v in record.items() if not k.startswith("_")}


def _minor(value: Any, field: str, *, allow_zero: bool = False) -> int:
    """A minor-unit amount as GP sends it: a string (or integer) of digits, never a decimal or float."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data")
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 15 or (int(text) == 0 and not allow_zero):
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data")
    return int(text)


def _signed(minor: int) -> str:
    return str(minor)


def _deposit_amount(minor: int) -> str:
    """Deposit sections show an empty string, not ``"0"``, when there is nothing in them (§2.2's example)."""
    return "" if minor == 0 else str(minor)


def _day(value: str, field: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data") from None


def _path(record: Mapping[str, Any], *keys: str) -> Any:
    value: Any = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


class GpSimulator:
    """The GP API's state and routes; wrap it with ``create()`` to serve it with fault injection.

    Args:
        seed: makes ids, amounts of seeded days and shuffles reproducible.
        app_id, app_key: the credentials ``/ucp/accesstoken`` accepts; ``app_key`` also signs notifications.
        seconds_to_expire: token lifetime when the sign-in does not ask for one.
        decline_suffixes: a SALE whose minor-unit amount ends with one of these is DECLINED (result "51").
        decline_tokens: payment-method tokens whose SALEs are DECLINED (result "05").
        clock: epoch seconds; ``advance()`` moves the simulator's time on top of it.
        default_page_size, max_page_size: paging limits of the list endpoints.
    """

    name = "gp"

    def __init__(
        self,
        *,
        seed: int = 0,
        app_id: str = DEFAULT_APP_ID,
        app_key: str = DEFAULT_APP_KEY,
        app_name: str = "hl365_local",
        seconds_to_expire: int = 600,
        merchant_id: str | None = None,
        merchant_name: str = "HL365 Local Merchant",
        country: str = "US",
        decline_suffixes: Sequence[str] = ("51",),
        decline_tokens: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        default_page_size: int = 5,
        max_page_size: int = 1000,
        notify_timeout: float = 10.0,
        device_reference: str = "HL365-SIM-01",
    ) -> None:
        self.seed = seed
        self.app_id = app_id
        self.app_key = app_key
        self.app_name = app_name
        self.seconds_to_expire = seconds_to_expire
        self.merchant_id = merchant_id or f"MER_{_letters(f'{seed}:merchant', 14)}"
        self.merchant_name = merchant_name
        self.country = country
        self.decline_suffixes = tuple(decline_suffixes)
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.notify_timeout = notify_timeout
        self.device_reference = device_reference
        self.accounts = {
            "TRA": {"id": f"TRA_{_letters(f'{self.merchant_id}:TRA', 16)}", "name": TRANSACTION_ACCOUNT},
            "DAA": {"id": f"DAA_{_letters(f'{self.merchant_id}:DAA', 16)}", "name": DATA_ACCOUNT},
            "DIA": {"id": f"DIA_{_letters(f'{self.merchant_id}:DIA', 16)}", "name": DISPUTE_ACCOUNT},
        }
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.RLock()
        self._http: httpx.Client | None = None
        self._rng = random.Random(f"gp:{seed}")
        self._tokens: dict[str, float] = {}
        self._tokens_issued = 0
        self._ids: set[str] = set()
        self._transactions: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._open: dict[str, str] = {}
        self._deposits: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, dict[str, Any]] = {}
        self._flagged: set[str] = set(decline_tokens)
        self._notifications: list[dict[str, Any]] = []
        self._events: Counter[str] = Counter()
        self._batch_seq = 845_000 + self._rng.randrange(100_000)
        self._shuffles = 0

    # Time and tokens -----------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock() + self._offset, UTC)

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (tokens expire; new transactions are stamped later)."""
        with self._lock:
            self._offset += seconds

    def expire_tokens(self) -> int:
        """Expire every issued token now, as a gateway-side revocation would; returns how many."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    def flag_token(self, token: str) -> None:
        """Make SALEs on this payment-method token decline from now on."""
        with self._lock:
            self._flagged.add(token)

    # Routes ------------------------------------------------------------------------------------------------

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """GP API's error body (``error_code``, ``detailed_error_code``, ``detailed_error_description``)."""
        if status == 429:
            return ({"error_code": "SYSTEM_ERROR", "detailed_error_code": "50001",
                     "detailed_error_description": "Too many requests; try again later"},
                    {"Retry-After": str(max(1, round(retry_after)))})
        downstream = status in (502, 504)
        return ({"error_code": "SYSTEM_ERROR_DOWNSTREAM" if downstream else "SYSTEM_ERROR",
                 "detailed_error_code": "50046" if downstream else "50000",
                 "detailed_error_description": "Bad Gateway" if downstream else "Service unavailable"},
                {"Retry-After": str(max(1, round(retry_after)))} if status == 503 else {})

    def routes(self) -> list[BaseRoute]:
        api = self._endpoint
        all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route(f"{PREFIX}/accesstoken", api(self._access_token, auth=False), methods=["POST"]),
            Route(f"{PREFIX}/transactions", api(self._create_transaction), methods=["POST"]),
            Route(f"{PREFIX}/transactions", api(self._list_transactions), methods=["GET"]),
            Route(f"{PREFIX}/transactions/{{id}}", api(self._get_transaction), methods=["GET"]),
            Route(f"{PREFIX}/transactions/{{id}}/capture", api(self._capture), methods=["POST"]),
            Route(f"{PREFIX}/transactions/{{id}}/refund", api(self._refund), methods=["POST"]),
            Route(f"{PREFIX}/transactions/{{id}}/reversal", api(self._reversal), methods=["POST"]),
            Route(f"{PREFIX}/settlement/transactions", api(self._list_settlement), methods=["GET"]),
            Route(f"{PREFIX}/settlement/deposits", api(self._list_deposits), methods=["GET"]),
            Route(f"{PREFIX}/settlement/deposits/{{id}}", api(self._get_deposit), methods=["GET"]),
            Route(f"{PREFIX}/batches", api(self._batch_missing), methods=["POST"]),
            Route(f"{PREFIX}/batches/", api(self._batch_missing), methods=["POST"]),
            Route(f"{PREFIX}/batches/{{id}}", api(self._close_batch), methods=["POST"]),
            Route(f"{PREFIX}/{{rest:path}}", api(self._unknown), methods=all_methods),
            Route("/_gp/fund", self._control(self._fund_route), methods=["POST"]),
            Route("/_gp/seed", self._control(self._seed_route), methods=["POST"]),
            Route("/_gp/notify", self._control(self._notify_route), methods=["POST"]),
            Route("/_gp/notify/out-of-order", self._control(self._out_of_order_route), methods=["POST"]),
            Route("/_gp/expire-tokens", self._control(self._expire_route), methods=["POST"]),
        ]

    def _endpoint(self, handler: Handler, *, auth: bool = True) -> Handler:
        """Every ``/ucp`` call: ``X-GP-Version`` first, then the bearer token, then the handler."""

        async def endpoint(request: Request) -> Response:
            try:
                if not request.headers.get("x-gp-version", "").strip():
                    raise GpError("MANDATORY_DATA_MISSING", "Request expects the following fields X-GP-Version")
                if auth:
                    self._authenticate(request)
                return await handler(request)
            except GpError as error:
                return error.response()

        return endpoint

    @staticmethod
    def _control(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except GpError as error:
                return error.response()

        return endpoint

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            expires = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if expires is None or self._clock() + self._offset >= expires:
                raise GpError("NOT_AUTHENTICATED", "Invalid access token")

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            document = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise GpError("INVALID_REQUEST_DATA", "The request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise GpError("INVALID_REQUEST_DATA", "The request body must be a JSON object")
        return document

    # Access token ------------------------------------------------------------------------------------------

    async def _access_token(self, request: Request) -> Response:
        body = await self._json(request)
        for field in ("app_id", "nonce", "secret", "grant_type"):
            if not body.get(field):
                raise GpError("MANDATORY_DATA_MISSING", f"Request expects the following fields {field}")
        if body["grant_type"] != "client_credentials":
            raise GpError("INVALID_REQUEST_DATA", "grant_type contains unexpected data")
        lifetime = self.seconds_to_expire
        if "seconds_to_expire" in body:
            asked = body["seconds_to_expire"]
            if (isinstance(asked, bool) or not isinstance(asked, int)
                    or not MIN_SECONDS_TO_EXPIRE <= asked <= MAX_SECONDS_TO_EXPIRE):
                raise GpError("INVALID_REQUEST_DATA", "seconds_to_expire contains unexpected data")
            lifetime = asked
        if body["app_id"] != self.app_id:
            raise GpError("ACTION_NOT_AUTHORIZED", "App credentials not recognized")
        expected = hashlib.sha512(f"{body['nonce']}{self.app_key}".encode()).hexdigest()
        if not hmac.compare_digest(str(body["secret"]).encode(), expected.encode()):
            raise GpError("ACTION_NOT_AUTHORIZED", "Credentials not recognized to create access token.")
        token = secrets.token_urlsafe(21)
        with self._lock:
            now = self._clock() + self._offset
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
            self._tokens[token] = now + lifetime
            self._tokens_issued += 1
            created = self.now()
        return JSONResponse({
            "token": token, "type": "Bearer", "app_id": self.app_id, "app_name": self.app_name,
            "time_created": _iso(created), "seconds_to_expire": lifetime, "email": "hl365-local@example.com",
            "scope": {"merchant_id": self.merchant_id, "merchant_name": self.merchant_name,
                      "accounts": [dict(a) for a in self.accounts.values()]},
        })

    # Transactions ------------------------------------------------------------------------------------------

    def _tokenise_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """A card-not-present sale may carry the card itself, as GP's own SDKs send it: the card becomes a
        token, its brand and last four digits; the number, security code and expiry are dropped here and
        never stored, answered or logged. Anything else that looks like card data is refused."""
        card = _path(body, "payment_method", "card")
        if body.get("channel") != "CNP" or not isinstance(card, Mapping) or not card.get("number"):
            return body
        number = "".join(ch for ch in str(card["number"]) if ch.isdigit())
        if not 13 <= len(number) <= 19 or next(find_pans(number), None) is None:
            raise GpError("INVALID_REQUEST_DATA", "payment_method.card.number contains unexpected data")
        if any(card.get(f) not in (None, "") for f in ("track", "track_data", "tag")):
            raise GpError("INVALID_REQUEST_DATA", "track data is not accepted for a card-not-present transaction")
        digest = hashlib.sha256(f"{self.app_key}:{number}".encode()).digest()
        token = "PMT_" + "".join(_LETTERS[b % len(_LETTERS)] for b in digest[:16])
        brand = _brand_of(number)
        with self._lock:
            self._events["cards_tokenised"] += 1
        method = {k: v for k, v in body["payment_method"].items() if k != "card"}
        return {**body, "payment_method": {**method, "id": token}, "_card": (brand, number[-4:])}

    def _refuse_card_data(self, body: Mapping[str, Any]) -> None:
        """A raw card number, security code or track data is refused before anything is kept."""
        card = _path(body, "payment_method", "card")
        named = [f for f in _CARD_FIELDS if isinstance(card, Mapping) and card.get(f) not in (None, "")]
        if named or next(find_pans(json.dumps(body, default=str)), None) is not None:
            with self._lock:
                self._events["card_data_refused"] += 1
            field = f"payment_method.card.{named[0]}" if named else "a card number"
            raise GpError("INVALID_REQUEST_DATA",
                          f"{field} is not accepted here: send a stored payment method token in payment_method.id")

    def _check_key(self, key: str | None) -> None:
        if key and key in self._keys:
            seen = self._keys[key]
            self._events["duplicates_refused"] += 1
            seen["replays"] += 1
            raise GpError("DUPLICATE_ACTION",
                          f"Idempotency Key seen before: id={seen['resource_id']}, status={self._status_of(seen)}")

    def _status_of(self, seen: Mapping[str, Any]) -> str:
        resource = self._transactions.get(seen["resource_id"]) or self._batches.get(seen["resource_id"]) or {}
        return str(resource.get("status", "SUCCESS"))

    def _remember_key(self, key: str | None, resource_id: str, action: str) -> None:
        if key:
            self._keys[key] = {"resource_id": resource_id, "action": action, "time_created": _iso(self.now()),
                               "replays": 0}

    async def _create_transaction(self, request: Request) -> Response:
        body = self._tokenise_card(await self._json(request))
        card_of_token = body.pop("_card", (None, None))
        self._refuse_card_data(body)
        key = request.headers.get("x-gp-idempotency")
        for field in ("type", "channel", "amount", "currency", "payment_method"):
            if body.get(field) in (None, "", {}):
                raise GpError("MANDATORY_DATA_MISSING", f"Request expects the following fields {field}")
        kind = body["type"]
        if kind not in ("SALE", "REFUND"):
            raise GpError("INVALID_REQUEST_DATA", "type contains unexpected data")
        if body["channel"] not in ("CP", "CNP"):
            raise GpError("INVALID_REQUEST_DATA", "channel contains unexpected data")
        amount = _minor(body["amount"], "amount")
        currency = self._currency(body["currency"])
        capture_mode = body.get("capture_mode", "AUTO")
        if capture_mode not in ("AUTO", "LATER", "MULTIPLE"):
            raise GpError("INVALID_REQUEST_DATA", "capture_mode contains unexpected data")
        method = body["payment_method"]
        if not isinstance(method, Mapping):
            raise GpError("INVALID_REQUEST_DATA", "payment_method contains unexpected data")
        token = method.get("id")
        if not isinstance(token, str) or not token.strip():
            raise GpError("MANDATORY_DATA_MISSING", "Request expects the following fields payment_method.id")
        entry_mode = method.get("entry_mode") or ("ECOM" if body["channel"] == "CNP" else "CHIP")
        if entry_mode not in ENTRY_MODES:
            raise GpError("INVALID_REQUEST_DATA", "payment_method.entry_mode contains unexpected data")
        self._check_account(body, "TRA")
        reference = body.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise GpError("INVALID_REQUEST_DATA", "reference contains unexpected data")
        with self._lock:
            self._check_key(key)
            record = self._create(kind=kind, amount=amount, currency=currency, token=token.strip(),
                                  capture_mode=capture_mode, channel=body["channel"], entry_mode=entry_mode,
                                  reference=reference, country=str(body.get("country") or self.country),
                                  at=self.now(), status=None, brand=card_of_token[0], last4=card_of_token[1])
            self._remember_key(key, record["id"], "POST /transactions")
            answer = _public(record)
        return JSONResponse(answer)

    def _currency(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            raise GpError("INVALID_REQUEST_DATA", "currency contains unexpected data")
        try:
            Money.of(0, value)
        except ValueError:
            raise GpError("INVALID_REQUEST_DATA", "currency contains unexpected data") from None
        return value.upper()

    def _check_account(self, params: Mapping[str, Any], role: str) -> None:
        """Requests may name the account; a transaction call must name the TRA one, a report the DAA one."""
        account = self.accounts[role]
        for field, expected in (("account_name", account["name"]), ("account_id", account["id"])):
            given = params.get(field)
            if given not in (None, "") and given != expected:
                raise GpError("INVALID_REQUEST_DATA",
                              f"{field} {given} is not this merchant's {role}_ account for this request")

    def _card(self, token: str, brand: str | None = None, last4: str | None = None) -> dict[str, str]:
        digest = hashlib.sha256(f"card:{token}".encode()).digest()
        brand = brand or BRANDS[digest[0] % 4]
        if brand not in BRANDS:
            raise GpError("INVALID_REQUEST_DATA", "brand contains unexpected data")
        last4 = last4 or f"{int.from_bytes(digest[1:4], 'big') % 10_000:04d}"
        if not (len(last4) == 4 and last4.isdigit()):
            raise GpError("INVALID_REQUEST_DATA", "last4 contains unexpected data")
        return {"brand": brand, "last4": last4, "funding": "DEBIT" if digest[4] % 5 == 0 else "CREDIT"}

    def _new_id(self, prefix: str, n: int = 12) -> str:
        while True:
            candidate = prefix + "".join(self._rng.choice(_LETTERS) for _ in range(n))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _random_id(self, prefix: str, n: int) -> str:
        """An id nothing is looked up by (actions, brand references): drawn, never registered."""
        return prefix + "".join(self._rng.choice(_LETTERS) for _ in range(n))

    def _action(self, kind: str, at: datetime, result: str = "SUCCESS") -> dict[str, Any]:
        return {"id": self._random_id("ACT_", 10), "type": kind, "time_created": _iso(at), "result_code": result,
                "app_id": self.app_id, "app_name": self.app_name}

    def _create(self, *, kind: str, amount: int, currency: str, token: str, capture_mode: str, channel: str,
                entry_mode: str, reference: str | None, country: str, at: datetime, status: str | None,
                parent: str | None = None, batch_id: str | None = None, brand: str | None = None,
                last4: str | None = None, transaction_id: str | None = None) -> dict[str, Any]:
        """Make a transaction; ``status=None`` applies the gateway's rules (declines, capture mode)."""
        card = self._card(token, brand, last4)
        result = "00"
        if status is None:
            if kind == "SALE" and token in self._flagged:
                status, result = "DECLINED", "05"
            elif kind == "SALE" and any(str(amount).endswith(s) for s in self.decline_suffixes):
                status, result = "DECLINED", "51"
            elif kind == "SALE" and capture_mode != "AUTO":
                status = "PREAUTHORIZED"
            else:
                status = "CAPTURED"
        elif status == "DECLINED":
            result = "51"
        elif status not in ("CAPTURED", "PREAUTHORIZED"):
            raise GpError("INVALID_REQUEST_DATA", f"status {status} cannot be given at creation")
        if transaction_id is None:
            transaction_id = self._new_id("TRN_")
        elif transaction_id in self._transactions:
            raise GpError("INVALID_REQUEST_DATA", f"transaction {transaction_id} exists already")
        approved = status != "DECLINED"
        action_type = "REFUND" if kind == "REFUND" else ("PREAUTHORIZE" if status == "PREAUTHORIZED" else "AUTHORIZE")
        record: dict[str, Any] = {
            "id": transaction_id,
            "time_created": _iso(at),
            "type": kind,
            "status": status,
            "channel": channel,
            "capture_mode": capture_mode,
            "amount": str(amount),
            "currency": currency,
            "country": country,
            "merchant_id": self.merchant_id,
            "merchant_name": self.merchant_name,
            "account_id": self.accounts["TRA"]["id"],
            "account_name": self.accounts["TRA"]["name"],
            "reference": reference,
            "batch_id": None,
            "parent_resource_id": parent,
            "payment_method": {
                "id": token,
                "result": result,
                "message": "APPROVAL" if approved else "DECLINED",
                "entry_mode": entry_mode,
                "card": {"brand": card["brand"], "masked_number_last4": "XXXXXXXXXXXX" + card["last4"],
                         "authcode": f"{self._rng.randrange(1_000_000):06d}" if approved else "",
                         "brand_reference": self._random_id("", 15)},
            },
            "action": self._action(action_type, at, "SUCCESS" if approved else "DECLINED"),
            "_funding": card["funding"],
            "_first6": _BIN[card["brand"]],
            "_arn": None,
            "_refunded": 0,
        }
        self._transactions[transaction_id] = record
        self._history[transaction_id] = []
        if status == "CAPTURED":
            self._join_batch(record, batch_id, at)
        self._snapshot(record)
        return record

    def _snapshot(self, record: Mapping[str, Any]) -> None:
        self._history[record["id"]].append(_public(record))

    def _join_batch(self, record: dict[str, Any], batch_id: str | None, at: datetime) -> None:
        currency = record["currency"]
        if batch_id is None:
            batch_id = self._open.get(currency)
            if batch_id is None or self._batches[batch_id]["status"] != "OPEN":
                batch_id = self._new_batch(currency, at)
                self._open[currency] = batch_id
        elif batch_id not in self._batches:
            self._new_batch(currency, at, batch_id)
        batch = self._batches[batch_id]
        if batch["status"] != "OPEN" or batch["currency"] != currency:
            raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} does not accept this transaction")
        batch["transaction_ids"].append(record["id"])
        record["batch_id"] = batch_id

    def _new_batch(self, currency: str, at: datetime, batch_id: str | None = None) -> str:
        if batch_id is None:
            self._batch_seq += 1
            batch_id = f"BAT_{self._batch_seq}"
        self._batches[batch_id] = {"id": batch_id, "status": "OPEN", "currency": currency, "time_created": _iso(at),
                                   "time_closed": None, "transaction_ids": [], "deposit_id": None,
                                   "device_reference": self.device_reference}
        return batch_id

    def _find(self, transaction_id: str) -> dict[str, Any]:
        record = self._transactions.get(transaction_id)
        if record is None:
            raise GpError("RESOURCE_NOT_FOUND", f"Transaction {transaction_id} not found at this location.")
        return record

    async def _get_transaction(self, request: Request) -> Response:
        with self._lock:
            answer = _public(self._find(request.path_params["id"]))
            answer["action"] = self._action("TRANSACTION_SINGLE", self.now())
        return JSONResponse(answer)

    async def _capture(self, request: Request) -> Response:
        body = await self._json(request)
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            record = self._find(request.path_params["id"])
            if record["status"] != "PREAUTHORIZED":
                raise GpError("INVALID_TRANSACTION_ACTION",
                              f"Transaction {record['id']} is {record['status']} and cannot be captured")
            if "amount" in body:
                amount = _minor(body["amount"], "amount")
                if amount > int(record["amount"]):
                    raise GpError("INVALID_TRANSACTION_ACTION",
                                  f"Capture amount {amount} exceeds the authorised {record['amount']}")
                record["amount"] = str(amount)
            at = self.now()
            record["status"] = "CAPTURED"
            record["action"] = self._action("CAPTURE", at)
            self._join_batch(record, None, at)
            self._snapshot(record)
            self._remember_key(key, record["id"], "POST /transactions/{id}/capture")
            answer = _public(record)
        return JSONResponse(answer)

    async def _refund(self, request: Request) -> Response:
        body = await self._json(request)
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            parent = self._find(request.path_params["id"])
            if parent["type"] != "SALE" or parent["status"] not in ("CAPTURED", *SETTLED):
                raise GpError("INVALID_TRANSACTION_ACTION",
                              f"Transaction {parent['id']} is a {parent['status']} {parent['type']} and cannot be "
                              "refunded")
            left = int(parent["amount"]) - int(parent["_refunded"])
            amount = _minor(body["amount"], "amount") if "amount" in body else left
            if "currency" in body and self._currency(body["currency"]) != parent["currency"]:
                raise GpError("INVALID_REQUEST_DATA", "currency contains unexpected data")
            if amount > left:
                raise GpError("INVALID_TRANSACTION_ACTION",
                              f"Refund amount {amount} exceeds the {left} left to refund on {parent['id']}")
            card = parent["payment_method"]["card"]
            record = self._create(kind="REFUND", amount=amount, currency=parent["currency"],
                                  token=parent["payment_method"]["id"], capture_mode="AUTO",
                                  channel=parent["channel"], entry_mode=parent["payment_method"]["entry_mode"],
                                  reference=parent["reference"], country=parent["country"], at=self.now(),
                                  status="CAPTURED", parent=parent["id"], brand=card["brand"],
                                  last4=card["masked_number_last4"][-4:])
            parent["_refunded"] = int(parent["_refunded"]) + amount
            self._remember_key(key, record["id"], "POST /transactions/{id}/refund")
            answer = _public(record)
        return JSONResponse(answer)

    async def _reversal(self, request: Request) -> Response:
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            answer = self._reverse(request.path_params["id"])
            self._remember_key(key, answer["id"], "POST /transactions/{id}/reversal")
        return JSONResponse(answer)

    def reverse_transaction(self, transaction_id: str) -> dict[str, Any]:
        """Reverse a transaction as ``POST /transactions/{id}/reversal`` does (a sandbox control)."""
        with self._lock:
            return self._reverse(transaction_id)

    def _reverse(self, transaction_id: str) -> dict[str, Any]:
        record = self._find(transaction_id)
        if record["status"] not in ("PREAUTHORIZED", "CAPTURED") or int(record["_refunded"]):
            raise GpError("INVALID_TRANSACTION_ACTION",
                          f"Transaction {record['id']} is {record['status']} and cannot be reversed")
        if record["parent_resource_id"]:
            parent = self._transactions[record["parent_resource_id"]]
            parent["_refunded"] = int(parent["_refunded"]) - int(record["amount"])
        record["status"] = "REVERSED"
        record["action"] = self._action("REVERSAL", self.now())
        self._snapshot(record)
        return _public(record)

    # Lists -------------------------------------------------------------------------------------------------

    def _page(self, params: Mapping[str, str], rows: list[dict[str, Any]], *, list_key: str, action: str,
              filters: Mapping[str, Callable[[Mapping[str, Any]], Any]],
              dates: Mapping[str, Callable[[Mapping[str, Any]], Any]],
              order_by: Mapping[str, Callable[[Mapping[str, Any]], Any]]) -> dict[str, Any]:
        """Filter, sort and slice ``rows`` into GP's paging envelope; ties sort by id so pages never overlap."""
        page = self._int_param(params, "page", 1, 1, 1_000_000)
        size = self._int_param(params, "page_size", self.default_page_size, 1, self.max_page_size)
        order = params.get("order", "DESC")
        if order not in ("ASC", "DESC"):
            raise GpError("INVALID_REQUEST_DATA", "order contains unexpected data")
        sort = params.get("order_by", "TIME_CREATED")
        if sort not in order_by:
            raise GpError("INVALID_REQUEST_DATA", "order_by contains unexpected data")
        for name, getter in filters.items():
            if name in params:
                wanted = str(_minor(params[name], name, allow_zero=True)) if name.endswith("amount") else params[name]
                rows = [r for r in rows if str(getter(r) if getter(r) is not None else "") == wanted]
        for name, getter in dates.items():
            for bound in ("from", "to"):
                field = f"{bound}_{name}"
                if field in params:
                    day = _day(params[field], field)
                    rows = [r for r in rows if (v := getter(r)) and ((str(v)[:10] >= day) if bound == "from"
                                                                     else (str(v)[:10] <= day))]
        key = order_by[sort]
        rows.sort(key=lambda r: (str(key(r) or ""), r["id"]), reverse=order == "DESC")
        chosen = rows[(page - 1) * size:page * size]
        return {"paging": {"page": page, "page_size": size, "order": order, "order_by": sort},
                "total_record_count": len(rows), "merchant_id": self.merchant_id, list_key: chosen,
                "action": self._action(action, self.now())}

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
        if name not in params:
            return default
        text = params[name]
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise GpError("INVALID_REQUEST_DATA", f"{name} contains unexpected data")
        return int(text)

    _TRANSACTION_FILTERS: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
        "id": lambda r: r["id"],
        "type": lambda r: r["type"],
        "channel": lambda r: r["channel"],
        "amount": lambda r: r["amount"],
        "currency": lambda r: r["currency"],
        "status": lambda r: r["status"],
        "reference": lambda r: r["reference"],
        "batch_id": lambda r: r["batch_id"],
        "account_name": lambda r: r["account_name"],
        "account_id": lambda r: r["account_id"],
        "country": lambda r: r["country"],
        "entry_mode": lambda r: _path(r, "payment_method", "entry_mode"),
        "brand": lambda r: _path(r, "payment_method", "card", "brand"),
        "brand_reference": lambda r: _path(r, "payment_method", "card", "brand_reference"),
        "authcode": lambda r: _path(r, "payment_method", "card", "authcode"),
        "number_last4": lambda r: str(_path(r, "payment_method", "card", "masked_number_last4") or "")[-4:],
        "number_first6": lambda r: r.get("_first6"),
        "payment_method": lambda r: _path(r, "payment_method", "id"),
    }
    _ORDER_BY: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
        "TIME_CREATED": lambda r: r["time_created"],
        "STATUS": lambda r: r.get("status"),
        "TYPE": lambda r: r.get("type"),
        "ID": lambda r: r["id"],
        "DEPOSIT_ID": lambda r: r.get("deposit_id"),
    }

    async def _list_transactions(self, request: Request) -> Response:
        params = _given(request)
        with self._lock:
            envelope = self._page(params, list(self._transactions.values()), list_key="transactions",
                                  action="TRANSACTION_LIST", filters=self._TRANSACTION_FILTERS,
                                  dates={"time_created": lambda r: r["time_created"]}, order_by=self._ORDER_BY)
            envelope["transactions"] = [_public(r) for r in envelope["transactions"]]
        return JSONResponse(envelope)

    def _settlement_row(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A settled transaction as ``/settlement/transactions`` shows it: the card as first 6 / last 4 only."""
        row = _public(record)
        batch = self._batches[record["batch_id"]]
        deposit = self._deposits.get(batch["deposit_id"] or "")
        card = row["payment_method"]["card"]
        last4 = str(card.pop("masked_number_last4", ""))[-4:]
        length = _PAN_LENGTH.get(card["brand"], 16)
        card["masked_number_first6last4"] = f"{record['_first6']}{'X' * (length - 10)}{last4}"
        card["arn"] = record["_arn"]
        card["funding"] = record["_funding"]
        row.update({
            "deposit_id": deposit["id"] if deposit else None,
            "deposit_status": deposit["status"] if deposit else None,
            "deposit_time_created": deposit["time_created"] if deposit else None,
            "deposit_amount": deposit["amount"] if deposit else None,
            "batch_time_created": batch["time_closed"],
            "time_created_reference": record["time_created"],
            "order": {"reference": record["reference"]},
            "system": {**self._system(), "tid": batch["device_reference"]},
        })
        return row

    def _system(self) -> dict[str, str]:
        return {"mid": "101023947262", "hierarchy": "055-70-024-011-019", "name": self.merchant_name.upper(),
                "dba": self.merchant_name}

    async def _list_settlement(self, request: Request) -> Response:
        params = _given(request)
        self._check_account(params, "DAA")
        filters = {**{k: v for k, v in self._TRANSACTION_FILTERS.items() if k not in ("account_name", "account_id")},
                   "deposit_id": lambda r: r["deposit_id"], "deposit_status": lambda r: r["deposit_status"],
                   "arn": lambda r: _path(r, "payment_method", "card", "arn"),
                   "number_last4": lambda r: str(_path(r, "payment_method", "card", "masked_number_first6last4")
                                                 or "")[-4:],
                   "number_first6": lambda r: str(_path(r, "payment_method", "card", "masked_number_first6last4")
                                                  or "")[:6],
                   "system.mid": lambda r: _path(r, "system", "mid"),
                   "system.hierarchy": lambda r: _path(r, "system", "hierarchy")}
        with self._lock:
            rows = [self._settlement_row(r) for r in self._transactions.values() if r["status"] in SETTLED]
            envelope = self._page(params, rows, list_key="transactions", action="TRANSACTION_LIST", filters=filters,
                                  dates={"time_created": lambda r: r["time_created"],
                                         "deposit_time_created": lambda r: r["deposit_time_created"],
                                         "batch_time_created": lambda r: r["batch_time_created"]},
                                  order_by=self._ORDER_BY)
        return JSONResponse(envelope)

    def _deposit_view(self, deposit: Mapping[str, Any]) -> dict[str, Any]:
        view = _public(deposit)
        view["action"] = self._action("DEPOSIT_SINGLE", self.now())
        return view

    async def _list_deposits(self, request: Request) -> Response:
        params = _given(request)
        self._check_account(params, "DAA")
        filters: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
            "id": lambda r: r["id"], "status": lambda r: r["status"], "amount": lambda r: r["amount"],
            "currency": lambda r: r["currency"],
            "masked_account_number_last4": lambda r: _path(r, "bank_transfer", "masked_account_number_last4"),
            "system.mid": lambda r: _path(r, "system", "mid"),
            "system.hierarchy": lambda r: _path(r, "system", "hierarchy")}
        with self._lock:
            envelope = self._page(params, list(self._deposits.values()), list_key="deposits", action="DEPOSIT_LIST",
                                  filters=filters, dates={"time_created": lambda r: r["time_created"]},
                                  order_by={**self._ORDER_BY, "DEPOSIT_ID": lambda r: r["id"]})
            envelope["deposits"] = [_public(d) for d in envelope["deposits"]]
        return JSONResponse(envelope)

    async def _get_deposit(self, request: Request) -> Response:
        self._check_account(_given(request), "DAA")
        deposit_id = request.path_params["id"]
        with self._lock:
            deposit = self._deposits.get(deposit_id)
            if deposit is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Deposit {deposit_id} not found at this location.")
            answer = self._deposit_view(deposit)
        return JSONResponse(answer)

    async def _unknown(self, request: Request) -> Response:
        raise GpError("RESOURCE_NOT_FOUND", f"{request.method} {request.url.path} not found at this location.")

    # Batches and funding -----------------------------------------------------------------------------------

    async def _batch_missing(self, request: Request) -> Response:  # noqa: ARG002
        raise GpError("MANDATORY_DATA_MISSING", "Request expects the batch_id")

    async def _close_batch(self, request: Request) -> Response:
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            answer = self.close_batch(request.path_params["id"])
            self._remember_key(key, answer["id"], "POST /batches/{id}")
        return JSONResponse(answer)

    def close_batch(self, batch_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Close a batch: its CAPTURED members become BATCHED; returns GP's close answer with the totals."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Batch {batch_id} not found at this location.")
            if batch["status"] != "OPEN":
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} is already {batch['status']}")
            when = at or self.now()
            rng = random.Random(f"{self.seed}:arn:{batch_id}")
            for transaction_id in batch["transaction_ids"]:
                record = self._transactions[transaction_id]
                if record["status"] == "CAPTURED":
                    record["status"] = "BATCHED"
                    record["_arn"] = "".join(rng.choice("0123456789") for _ in range(23))
                    self._snapshot(record)
            batch["status"] = "CLOSED"
            batch["time_closed"] = _iso(when)
            if self._open.get(batch["currency"]) == batch_id:
                del self._open[batch["currency"]]
            return self._batch_answer(batch, when)

    def _members(self, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [self._transactions[t] for t in batch["transaction_ids"] if self._transactions[t]["status"] in SETTLED]

    def _batch_answer(self, batch: Mapping[str, Any], at: datetime) -> dict[str, Any]:
        def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
            sales = [int(r["amount"]) for r in rows if r["type"] == "SALE"]
            refunds = [-int(r["amount"]) for r in rows if r["type"] == "REFUND"]
            return {"sales": {"count": len(sales), "amount": _signed(sum(sales))},
                    "refunds": {"count": len(refunds), "amount": _signed(sum(refunds))},
                    "count": len(rows), "amount": _signed(sum(sales) + sum(refunds))}

        members = self._members(batch)
        overall = totals(members)
        brands = sorted({r["payment_method"]["card"]["brand"] for r in members})
        breakdown = [{"brand": b, **totals([r for r in members if r["payment_method"]["card"]["brand"] == b])}
                     for b in brands]
        return {"id": batch["id"], "batch_id": batch["id"], "status": "CLOSED", "transaction_count": overall["count"],
                "amount": overall["amount"], "currency": batch["currency"],
                "device_reference": batch["device_reference"],
                "host_breakdown": {"count": overall["count"], "amount": overall["amount"]},
                "sales": overall["sales"], "refunds": overall["refunds"], "brand_breakdown": breakdown,
                "action": self._action("CLOSE", at)}

    def adjust_deposit(self, deposit_id: str, delta: int) -> dict[str, Any]:
        """Change a deposit's amount by ``delta`` minor units, as a processor's short or late adjustment does."""
        with self._lock:
            deposit = self._deposits.get(deposit_id)
            if deposit is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Deposit {deposit_id} not found at this location.")
            deposit["amount"] = str(int(deposit["amount"]) + delta)
            return self._deposit_view(deposit)

    def fund(self, batch_id: str, fee_rate: Decimal | str | int = "0", deposit_date: date | str | None = None, *,
             status: str = "FUNDED") -> dict[str, Any]:
        """Fund a closed batch: members become FUNDED and one deposit, net of fees, is created.

        ``fee_rate`` applies to the gross sales (rounded half-even to minor units); the deposit's ``fees``
        and ``refunds`` are negative and its ``amount`` is sales + refunds + fees.
        """
        if isinstance(fee_rate, float):
            raise TypeError("give fee_rate as a Decimal or a string; floats cannot hold rates exactly")
        try:
            rate = Decimal(str(fee_rate))
        except InvalidOperation:
            raise GpError("INVALID_REQUEST_DATA", "fee_rate contains unexpected data") from None
        if not rate.is_finite() or not Decimal(0) <= rate < Decimal(1):
            raise GpError("INVALID_REQUEST_DATA", "fee_rate contains unexpected data")
        if status not in DEPOSIT_STATUSES:
            raise GpError("INVALID_REQUEST_DATA", "status contains unexpected data")
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Batch {batch_id} not found at this location.")
            if batch["status"] != "CLOSED":
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} is still open: close it first")
            if batch["deposit_id"]:
                raise GpError("INVALID_TRANSACTION_ACTION", f"Batch {batch_id} was funded by {batch['deposit_id']}")
            day = (date.fromisoformat(deposit_date) if isinstance(deposit_date, str)
                   else deposit_date or self.now().date())
            members = self._members(batch)
            sales = [int(r["amount"]) for r in members if r["type"] == "SALE"]
            refunds = [-int(r["amount"]) for r in members if r["type"] == "REFUND"]
            fee = -int((Decimal(sum(sales)) * rate).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            net = sum(sales) + sum(refunds) + fee
            deposit_id = "DEP_" + "".join(str(self._rng.randrange(10)) for _ in range(10))
            while deposit_id in self._deposits:
                deposit_id = "DEP_" + "".join(str(self._rng.randrange(10)) for _ in range(10))
            empty = {"count": 0, "amount": ""}
            deposit = {
                "id": deposit_id, "time_created": day.isoformat(), "status": status,
                "funding_type": "CREDIT" if net >= 0 else "DEBIT", "amount": str(net), "currency": batch["currency"],
                "aggregation_model": "H-By Date",
                "bank_transfer": {"masked_account_number_last4": "XXXXXX9999", "bank": {"code": "XXXXX0001"}},
                "system": self._system(),
                "sales": {"count": len(sales), "amount": _deposit_amount(sum(sales))},
                "refunds": {"count": len(refunds), "amount": _deposit_amount(sum(refunds))},
                "discounts": dict(empty), "tax": dict(empty),
                "disputes": {"chargebacks": dict(empty), "reversals": dict(empty)},
                "fees": {"amount": _deposit_amount(fee)},
                "_batch_ids": [batch_id], "_fee_rate": str(rate),
            }
            self._deposits[deposit_id] = deposit
            batch["deposit_id"] = deposit_id
            for record in members:
                record["status"] = "FUNDED"
                self._snapshot(record)
            return self._deposit_view(deposit)

    # Scenario API ------------------------------------------------------------------------------------------

    def add_transaction(self, amount: Money | int, *, currency: str = "USD", kind: Literal["SALE", "REFUND"] = "SALE",
                        status: Literal["CAPTURED", "PREAUTHORIZED", "DECLINED"] | None = None,
                        reference: str | None = None, token: str | None = None, brand: str | None = None,
                        last4: str | None = None, time_created: datetime | None = None, batch_id: str | None = None,
                        channel: Literal["CP", "CNP"] = "CP", entry_mode: str = "CHIP",
                        parent_resource_id: str | None = None, transaction_id: str | None = None) -> dict[str, Any]:
        """Put a transaction straight into the gateway, as if a terminal had sent it; returns its API view.

        ``amount`` is Money or an integer of minor units. ``status=None`` applies the gateway's rules
        (declines, then CAPTURED); a CAPTURED one joins ``batch_id`` (created if new) or the open batch.
        """
        if isinstance(amount, Money):
            minor, currency = amount.to_minor(), amount.currency
        elif isinstance(amount, int) and not isinstance(amount, bool):
            minor = amount
        else:
            raise TypeError("amount is Money or an integer count of minor units")
        if minor <= 0:
            raise ValueError("amount must be positive; the type says which way the money moves")
        if entry_mode not in ENTRY_MODES:
            raise ValueError(f"entry_mode {entry_mode!r} is not one of {', '.join(ENTRY_MODES)}")
        with self._lock:
            if parent_resource_id is not None:
                self._find(parent_resource_id)
            record = self._create(
                kind=kind, amount=minor, currency=self._currency(currency),
                token=token or f"PMT_{self._new_id('', 16)}", capture_mode="AUTO", channel=channel,
                entry_mode=entry_mode, reference=reference, country=self.country, at=time_created or self.now(),
                status=status, parent=parent_resource_id, batch_id=batch_id, brand=brand, last4=last4,
                transaction_id=transaction_id)
            if parent_resource_id is not None:
                parent = self._transactions[parent_resource_id]
                parent["_refunded"] = int(parent["_refunded"]) + minor
            return _public(record)

    def open_batch(self, currency: str = "USD") -> str:
        """The id of the batch new captures of ``currency`` join (opened now if none is open)."""
        with self._lock:
            batch_id = self._open.get(currency)
            if batch_id is None:
                batch_id = self._open[currency] = self._new_batch(currency, self.now())
            return batch_id

    def seed_day(self, day: date, *, transactions: int = 100, refunds: int = 0, batches: int = 1,
                 currency: str = "USD", close: bool = True, fund: bool = False, fee_rate: Decimal | str = "0.025",
                 deposit_date: date | None = None, amount_range: tuple[int, int] = (150, 25_000)) -> dict[str, Any]:
        """A business day of card-present sales (and partial refunds) spread over ``batches`` batches.

        Times fall between 08:00 and 22:00 UTC of ``day``; batches close at 23:00 (``close``) and are funded
        the next day (``fund``). Amounts come from a RNG seeded by the simulator's seed and the day.
        Returns the ids made: ``transaction_ids``, ``batch_ids``, ``deposit_ids``.
        """
        if transactions < 1 or batches < 1 or refunds < 0 or refunds > transactions:
            raise ValueError("need transactions >= 1, batches >= 1 and 0 <= refunds <= transactions")
        if fund and not close:
            raise ValueError("a batch must be closed before it is funded")
        rng = random.Random(f"{self.seed}:day:{day.isoformat()}")
        start = datetime.combine(day, datetime.min.time(), UTC)
        made: dict[str, Any] = {"transaction_ids": [], "batch_ids": [], "deposit_ids": []}
        with self._lock:
            batch_ids = [self._new_batch(currency, start + timedelta(hours=8)) for _ in range(batches)]
            made["batch_ids"] = batch_ids
            times = sorted(start + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600)) for _ in range(transactions))
            sales = []
            for number, at in enumerate(times, start=1):
                record = self._create(
                    kind="SALE", amount=rng.randrange(*amount_range), currency=currency,
                    token=f"PMT_{_letters(f'{self.seed}:{day}:{number}', 16)}", capture_mode="AUTO", channel="CP",
                    entry_mode=rng.choice(("CHIP", "CONTACTLESS_CHIP", "SWIPE")),
                    reference=f"HR-{day:%Y%m%d}-T{number:05d}", country=self.country, at=at,
                    status="CAPTURED", batch_id=batch_ids[number % batches])
                sales.append(record)
                made["transaction_ids"].append(record["id"])
            for parent in rng.sample(sales, refunds):
                amount = max(1, int(parent["amount"]) // rng.choice((1, 2, 4)))
                at = datetime.fromisoformat(parent["time_created"].replace("Z", "+00:00")) + timedelta(minutes=20)
                card = parent["payment_method"]["card"]
                record = self._create(
                    kind="REFUND", amount=amount, currency=currency, token=parent["payment_method"]["id"],
                    capture_mode="AUTO", channel="CP", entry_mode=parent["payment_method"]["entry_mode"],
                    reference=parent["reference"], country=self.country, at=min(at, start + timedelta(hours=22)),
                    status="CAPTURED", parent=parent["id"], batch_id=parent["batch_id"], brand=card["brand"],
                    last4=card["masked_number_last4"][-4:])
                parent["_refunded"] = int(parent["_refunded"]) + amount
                made["transaction_ids"].append(record["id"])
            if close:
                for n, batch_id in enumerate(batch_ids):
                    self.close_batch(batch_id, at=start + timedelta(hours=23, minutes=n))
            if fund:
                for batch_id in batch_ids:
                    deposit = self.fund(batch_id, fee_rate, deposit_date or day + timedelta(days=1))
                    made["deposit_ids"].append(deposit["id"])
        return made

    def transaction(self, transaction_id: str) -> dict[str, Any]:
        """A transaction as ``GET /ucp/transactions/{id}`` shows it."""
        with self._lock:
            return _public(self._find(transaction_id))

    # Notifications -----------------------------------------------------------------------------------------

    def notify(self, transaction_id: str, url: str, *, mode: NotifyMode = "normal",
               status: str | None = None) -> list[NotificationDelivery]:
        """POST the transaction JSON to ``url`` as GP does to a ``status_url``, signed with ``X-GP-Signature``.

        ``status`` sends the transaction as it was when it had that status (default: as it is now).
        ``bad_signature`` signs with the wrong key; ``duplicate`` delivers the same bytes twice.
        """
        if mode not in ("normal", "bad_signature", "duplicate"):
            raise ValueError(f"unknown notification mode {mode!r}")
        with self._lock:
            record = self._find(transaction_id)
            body_object = _public(record)
            if status is not None:
                earlier = [s for s in self._history[transaction_id] if s["status"] == status]
                if not earlier:
                    raise GpError("RESOURCE_NOT_FOUND", f"Transaction {transaction_id} was never {status}")
                body_object = _clone(earlier[-1])
        body = json.dumps(body_object, separators=(",", ":")).encode()
        key = self.app_key if mode != "bad_signature" else self.app_key + ":not-the-app-key"
        signature = gp_signature(body, key)
        deliveries = []
        for _ in range(2 if mode == "duplicate" else 1):
            try:
                answer = self._notifier().post(url, content=body, headers={"Content-Type": "application/json",
                                                                           "X-GP-Signature": signature})
                code, error = answer.status_code, None
            except httpx.HTTPError as exc:
                code, error = None, f"{type(exc).__name__}: {exc}"
            deliveries.append(NotificationDelivery(transaction_id, body_object["status"], url, mode, code,
                                                   signature, error))
        with self._lock:
            self._notifications.extend({k: v for k, v in asdict(d).items() if k != "signature"} for d in deliveries)
        return deliveries

    def _notifier(self) -> httpx.Client:
        """One keep-alive client for every notification: building a client per call costs an SSL context."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.notify_timeout,
                                          limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))
            return self._http

    def out_of_order(self, items: Iterable[str | tuple[str, str]], url: str, *, mode: NotifyMode = "normal",
                     seed: int | None = None) -> list[NotificationDelivery]:
        """Send notifications in a seeded shuffled order that is never the given one (when it can differ).

        ``items`` are transaction ids (sent as they are now) or ``(id, status)`` pairs (sent as they were),
        e.g. a CAPTURED notification ahead of its PREAUTHORIZED one.
        """
        pairs: list[tuple[str, str | None]] = [(i, None) if isinstance(i, str) else (i[0], i[1]) for i in items]
        with self._lock:
            self._shuffles += 1
            rng = random.Random(seed if seed is not None else f"{self.seed}:out_of_order:{self._shuffles}")
        order = list(pairs)
        rng.shuffle(order)
        if order == pairs and len(set(pairs)) > 1:
            order = order[1:] + order[:1]
        return [d for transaction_id, status in order
                for d in self.notify(transaction_id, url, mode=mode, status=status)]

    # Sandbox control routes --------------------------------------------------------------------------------

    async def _fund_route(self, request: Request) -> Response:
        body = await self._json(request)
        if not body.get("batch_id"):
            raise GpError("MANDATORY_DATA_MISSING", "Request expects the following fields batch_id")
        rate = body.get("fee_rate", "0")
        day = body.get("deposit_date")
        return JSONResponse(self.fund(str(body["batch_id"]), str(rate), _day(day, "deposit_date") if day else None,
                                      status=str(body.get("status", "FUNDED"))))

    async def _seed_route(self, request: Request) -> Response:
        body = await self._json(request)
        try:
            made = self.seed_day(date.fromisoformat(str(body.get("date", self.now().date().isoformat()))),
                                 transactions=int(body.get("transactions", 100)), refunds=int(body.get("refunds", 0)),
                                 batches=int(body.get("batches", 1)), currency=str(body.get("currency", "USD")),
                                 close=bool(body.get("close", True)), fund=bool(body.get("fund", False)),
                                 fee_rate=str(body.get("fee_rate", "0.025")))
        except (TypeError, ValueError) as exc:
            raise GpError("INVALID_REQUEST_DATA", str(exc)) from None
        return JSONResponse(made)

    async def _notify_route(self, request: Request) -> Response:
        body = await self._json(request)
        for field in ("transaction_id", "url"):
            if not body.get(field):
                raise GpError("MANDATORY_DATA_MISSING", f"Request expects the following fields {field}")
        mode = body.get("mode", "normal")
        if mode not in ("normal", "bad_signature", "duplicate"):
            raise GpError("INVALID_REQUEST_DATA", "mode contains unexpected data")
        deliveries = await run_in_threadpool(self.notify, str(body["transaction_id"]), str(body["url"]), mode=mode,
                                             status=body.get("status"))
        return JSONResponse({"deliveries": [asdict(d) for d in deliveries]})

    async def _out_of_order_route(self, request: Request) -> Response:
        body = await self._json(request)
        items = body.get("transactions") or body.get("transaction_ids")
        if not isinstance(items, list) or not body.get("url"):
            raise GpError("MANDATORY_DATA_MISSING", "Request expects the following fields transaction_ids, url")
        pairs: list[str | tuple[str, str]] = [i if isinstance(i, str) else (str(i[0]), str(i[1])) for i in items]
        mode = body.get("mode", "normal")
        if mode not in ("normal", "bad_signature", "duplicate"):
            raise GpError("INVALID_REQUEST_DATA", "mode contains unexpected data")
        seed = body.get("seed")
        deliveries = await run_in_threadpool(self.out_of_order, pairs, str(body["url"]), mode=mode,
                                             seed=int(seed) if seed is not None else None)
        return JSONResponse({"deliveries": [asdict(d) for d in deliveries]})

    async def _expire_route(self, request: Request) -> Response:  # noqa: ARG002
        return JSONResponse({"expired": self.expire_tokens()})

    # Ground truth ------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the gateway holds, JSON-able: the truth ``lost``/``double_posted`` are computed against."""
        with self._lock:
            transactions = {k: _clone(v) for k, v in self._transactions.items()}
            return {
                "name": self.name,
                "merchant_id": self.merchant_id,
                "accounts": _clone(self.accounts),
                "transactions": transactions,
                "history": _clone(self._history),
                "batches": _clone(self._batches),
                "open_batches": dict(self._open),
                "deposits": {k: _clone(v) for k, v in self._deposits.items()},
                "idempotency_keys": _clone(self._keys),
                "flagged_tokens": sorted(self._flagged),
                "notifications": _clone(self._notifications),
                "sequence": {"batch": self._batch_seq, "shuffles": self._shuffles},
                "counts": {
                    "transactions": len(transactions),
                    "by_status": dict(Counter(t["status"] for t in transactions.values())),
                    "by_type": dict(Counter(t["type"] for t in transactions.values())),
                    "batches": len(self._batches),
                    "open_batches": sum(1 for b in self._batches.values() if b["status"] == "OPEN"),
                    "deposits": len(self._deposits),
                    "tokens_issued": self._tokens_issued,
                    "idempotency_keys": len(self._keys),
                    "duplicates_refused": self._events["duplicates_refused"],
                    "card_data_refused": self._events["card_data_refused"],
                    "cards_tokenised": self._events["cards_tokenised"],
                    "notifications_sent": len(self._notifications),
                },
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a ``state()`` snapshot; tokens are not part of it, so clients sign in again."""
        with self._lock:
            self.merchant_id = state.get("merchant_id", self.merchant_id)
            self.accounts = _clone(state.get("accounts", self.accounts))
            self._transactions = _clone(state.get("transactions", {}))
            self._history = _clone(state.get("history", {}))
            for transaction_id, record in self._transactions.items():
                self._history.setdefault(transaction_id, [_public(record)])
            self._batches = _clone(state.get("batches", {}))
            self._open = dict(state.get("open_batches", {}))
            self._deposits = _clone(state.get("deposits", {}))
            self._keys = _clone(state.get("idempotency_keys", {}))
            self._flagged = set(state.get("flagged_tokens", []))
            self._notifications = _clone(state.get("notifications", []))
            sequence = state.get("sequence", {})
            self._batch_seq = int(sequence.get("batch", self._batch_seq))
            self._shuffles = int(sequence.get("shuffles", 0))
            counts = state.get("counts", {})
            self._tokens_issued = int(counts.get("tokens_issued", 0))
            self._events = Counter({k: int(counts.get(k, 0)) for k in ("duplicates_refused", "card_data_refused",
                                                                          "cards_tokenised")})
            self._ids = set(self._transactions) | set(self._deposits)
            self._tokens.clear()


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The GP API simulator behind fault injection and ``/_sim``; ``options`` go to ``GpSimulator``."""
    return SimulatorApp(GpSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)
