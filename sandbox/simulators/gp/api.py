"""The GP API under ``/ucp``: the ``sha512(nonce + app_key)`` token handshake and token expiry
(``NOT_AUTHENTICATED``/``40001``), the mandatory ``X-GP-Version`` header, card-data refusal and tokenisation,
``x-gp-idempotency`` replays answered ``409 DUPLICATE_ACTION``, and the transaction and batch endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators import jsonio
from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.notifications import Notifications
from sandbox.simulators.gp.reports import Reports
from sandbox.simulators.gp.wire import CARD_FIELDS, ENTRY_MODES, SETTLED, brand_of, iso, minor, nested, public
from sandbox.simulators.ids import derived_id
from shared.security.pan import find_pans

PREFIX = "/ucp"
MAX_SECONDS_TO_EXPIRE = 604_800
MIN_SECONDS_TO_EXPIRE = 60

Handler = Callable[[Request], Awaitable[Response]]


class HttpApi(Reports, Notifications):
    """Request handling, mixed into ``GpSimulator``, which owns the state and the credentials."""

    app_key: str
    seconds_to_expire: int
    _tokens: dict[str, float]
    _tokens_issued: int

    def routes(self) -> list[BaseRoute]:
        """The ``/ucp`` routes (``GpSimulator`` adds its ``/_gp`` sandbox controls)."""
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
            document = jsonio.loads(raw)
        except ValueError:
            raise GpError("INVALID_REQUEST_DATA", "The request body is not valid JSON") from None
        if not isinstance(document, dict):
            raise GpError("INVALID_REQUEST_DATA", "The request body must be a JSON object")
        return document

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
            "time_created": iso(created), "seconds_to_expire": lifetime, "email": "hl365-local@example.com",
            "scope": {"merchant_id": self.merchant_id, "merchant_name": self.merchant_name,
                      "accounts": [dict(a) for a in self.accounts.values()]},
        })

    def expire_tokens(self) -> int:
        """Expire every issued token now, as a gateway-side revocation would; returns how many."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    def _tokenise_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """A card-not-present sale may carry the card itself, as GP's own SDKs send it: the card becomes a
        token, its brand and last four digits; the number, security code and expiry are dropped here and
        never stored, answered or logged. Anything else that looks like card data is refused."""
        card = nested(body, "payment_method", "card")
        if body.get("channel") != "CNP" or not isinstance(card, Mapping) or not card.get("number"):
            return body
        number = "".join(ch for ch in str(card["number"]) if ch.isdigit())
        if not 13 <= len(number) <= 19 or next(find_pans(number), None) is None:
            raise GpError("INVALID_REQUEST_DATA", "payment_method.card.number contains unexpected data")
        if any(card.get(f) not in (None, "") for f in ("track", "track_data", "tag")):
            raise GpError("INVALID_REQUEST_DATA", "track data is not accepted for a card-not-present transaction")
        token = derived_id(f"{self.app_key}:{number}", 16, "PMT_")
        brand = brand_of(number)
        with self._lock:
            self._events["cards_tokenised"] += 1
        method = {k: v for k, v in body["payment_method"].items() if k != "card"}
        return {**body, "payment_method": {**method, "id": token}, "_card": (brand, number[-4:])}

    def _refuse_card_data(self, body: Mapping[str, Any]) -> None:
        """A raw card number, security code or track data is refused before anything is kept."""
        card = nested(body, "payment_method", "card")
        named = [f for f in CARD_FIELDS if isinstance(card, Mapping) and card.get(f) not in (None, "")]
        if named or next(find_pans(json.dumps(body, default=str)), None) is not None:
            with self._lock:
                self._events["card_data_refused"] += 1
            field = f"payment_method.card.{named[0]}" if named else "a card number"
            raise GpError("INVALID_REQUEST_DATA",
                          f"{field} is not accepted here: send a stored payment method token in payment_method.id")

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
        amount = minor(body["amount"], "amount")
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
            answer = public(record)
        return JSONResponse(answer)

    async def _get_transaction(self, request: Request) -> Response:
        with self._lock:
            answer = public(self._find(request.path_params["id"]))
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
                amount = minor(body["amount"], "amount")
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
            answer = public(record)
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
            amount = minor(body["amount"], "amount") if "amount" in body else left
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
            answer = public(record)
        return JSONResponse(answer)

    async def _reversal(self, request: Request) -> Response:
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            answer = self._reverse(request.path_params["id"])
            self._remember_key(key, answer["id"], "POST /transactions/{id}/reversal")
        return JSONResponse(answer)

    async def _unknown(self, request: Request) -> Response:
        raise GpError("RESOURCE_NOT_FOUND", f"{request.method} {request.url.path} not found at this location.")

    async def _batch_missing(self, request: Request) -> Response:  # noqa: ARG002
        raise GpError("MANDATORY_DATA_MISSING", "Request expects the batch_id")

    async def _close_batch(self, request: Request) -> Response:
        key = request.headers.get("x-gp-idempotency")
        with self._lock:
            self._check_key(key)
            answer = self.close_batch(request.path_params["id"])
            self._remember_key(key, answer["id"], "POST /batches/{id}")
        return JSONResponse(answer)
