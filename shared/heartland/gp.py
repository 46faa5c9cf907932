"""The GP API ("Unified Payments API", ``/ucp``) client: payments, batch close and settlement reports.

Built on ``ApiClient``, so throttling, 5xx and connection failures are retried with backoff and every
retry of a write carries the same ``x-gp-idempotency`` key. On top of that:

* sign-in is GP's handshake (``secret = sha512(nonce + app_key)``, the key itself never sent); the token
  is renewed shortly before it expires, and once more on a ``NOT_AUTHENTICATED`` answer;
* a replayed idempotency key (``409 DUPLICATE_ACTION``) means "already done": transaction writes load and
  return the original transaction marked ``replayed``; otherwise ``DuplicateAction`` is raised;
* a decline is a result (``Transaction.approved`` is False), not an exception;
* lists stream page by page, so a month of settlement rows never sits in memory at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from shared.canonical.money import Money
from shared.errors import DuplicateAction, PermanentApiError, TransientApiError, UncertainOutcome
from shared.heartland.gp_models import AccessToken, BatchClose, Deposit, SettlementTransaction, Transaction
from shared.heartland.settlement_pages import SETTLED_PAGE, PageError, RowError, SettledRow, decode
from shared.httpclient import Action, ApiClient, RetryPolicy
from shared.security.pan import redact
from shared.settings import Settings

GP_API_VERSION = "2021-03-22"
IDEMPOTENCY_HEADER = "x-gp-idempotency"
SOURCE = "gp"

Model = TypeVar("Model", bound=BaseModel)
Row = TypeVar("Row")
SettledBy = Literal["time_created", "batch_time_created", "deposit_time_created"]


def gp_error(response: httpx.Response) -> dict[str, str] | None:
    """The ``{error_code, detailed_error_code, detailed_error_description}`` of an answer, unwrapped from
    ``"error"`` if GP nested it; None when the body is not a GP error."""
    try:
        document = response.json()
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        document = document["error"]
    if not isinstance(document, dict) or not isinstance(document.get("error_code"), str):
        return None
    return {"error_code": document["error_code"],
            "detailed_error_code": str(document.get("detailed_error_code") or ""),
            "detailed_error_description": str(document.get("detailed_error_description") or "")}


def describe_gp_error(response: httpx.Response) -> str:
    """``error_code/detailed_error_code: description``, the line an operator searches GP's docs with."""
    error = gp_error(response)
    if error is None:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    return f"{error['error_code']}/{error['detailed_error_code']}: {error['detailed_error_description']}"


def classify_gp_error(response: httpx.Response) -> Action | None:
    """Decisions the status alone cannot make: GP's ``error_code`` says what the failure is."""
    error = gp_error(response)
    if error is None:
        return None
    code = error["error_code"]
    if code == "NOT_AUTHENTICATED":
        return Action.REFRESH_TOKEN_THEN_RETRY
    if code == "DUPLICATE_ACTION":
        return Action.FAIL
    if code in ("SYSTEM_ERROR", "SYSTEM_ERROR_DOWNSTREAM"):
        return Action.RETRY
    return None


class GpApiClient:
    """A GP API client for one app (``app_id``/``app_key``) and its merchant's accounts.

    Args:
        base_url: the API root including ``/ucp``, e.g. ``https://apis.globalpay.com/ucp``.
        transport: an httpx transport (tests); None uses the network.
        page_size: rows per page when streaming lists.
        seconds_to_expire: token lifetime to ask for; None takes GP's default.
        transaction_account, data_account: account names to use instead of the token scope's
            ``TRA_`` (payments) and ``DAA_`` (settlement reports) accounts.
        default_currency: for answers that omit the currency (batch close).
        clock: monotonic seconds, for token expiry.
    """

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = 100,
        seconds_to_expire: int | None = None,
        transaction_account: str | None = None,
        data_account: str | None = None,
        default_currency: str = "USD",
        version: str = GP_API_VERSION,
    ) -> None:
        if not app_id or not app_key:
            raise ValueError("GP API app_id and app_key are both required")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._app_id = app_id
        self._app_key = app_key
        self._clock = clock
        self._page_size = page_size
        self._seconds_to_expire = seconds_to_expire
        self._transaction_account = transaction_account
        self._data_account = data_account
        self._default_currency = default_currency
        headers = {"X-GP-Version": version, "Accept": "application/json"}
        options: dict[str, Any] = {"headers": headers, "transport": transport, "sleep": sleep,
                                   "describe_error": describe_gp_error, "retry": retry or RetryPolicy()}
        if timeout is not None:
            options["timeout"] = timeout
        self._api = ApiClient(SOURCE, base_url, auth=self._auth, classify=classify_gp_error, **options)
        self._sign_in_api = ApiClient(SOURCE, base_url, policy={401: Action.FAIL, 403: Action.FAIL}, **options)
        self._token: AccessToken | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self.sign_ins = 0

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> GpApiClient:
        """A client configured by ``GP_API_URL``, ``GP_APP_ID`` and ``GP_APP_KEY``."""
        return cls(settings.require("gp_api_url"), settings.require("gp_app_id"), settings.require("gp_app_key"),
                   **options)

    def close(self) -> None:
        self._api.close()
        self._sign_in_api.close()

    def __enter__(self) -> GpApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent + self._sign_in_api.requests_sent

    # Sign-in -----------------------------------------------------------------------------------------------

    def _auth(self, refresh: bool) -> Mapping[str, str]:
        """The ``auth`` hook of ApiClient: a valid token, signing in when asked or when it is about to expire."""
        with self._lock:
            if refresh or self._token is None or self._clock() >= self._renew_at:
                self._sign_in()
            assert self._token is not None
            return {"Authorization": f"Bearer {self._token.token.get_secret_value()}"}

    def _sign_in(self) -> None:
        nonce = datetime.now(UTC).isoformat()
        body: dict[str, Any] = {"app_id": self._app_id, "nonce": nonce, "grant_type": "client_credentials",
                                "secret": hashlib.sha512(f"{nonce}{self._app_key}".encode()).hexdigest()}
        if self._seconds_to_expire is not None:
            body["seconds_to_expire"] = self._seconds_to_expire
        started = self._clock()
        for attempt in range(3):
            try:
                response = self._sign_in_api.request("POST", "accesstoken", json=body)
                break
            except UncertainOutcome as exc:
                # A sign-in whose answer was lost changes nothing; ask again with a fresh nonce.
                if attempt == 2:
                    raise TransientApiError("TokenUnavailable", exc.description, source=SOURCE) from exc
                nonce = datetime.now(UTC).isoformat()
                body.update(nonce=nonce, secret=hashlib.sha512(f"{nonce}{self._app_key}".encode()).hexdigest())
        token = AccessToken.model_validate(response.json())
        lifetime = float(token.seconds_to_expire)
        self._token = token
        self._renew_at = started + lifetime - min(60.0, lifetime / 10)
        self.sign_ins += 1

    def scope(self) -> AccessToken:
        """The current token's details (merchant, accounts), signing in if there is none yet."""
        self._auth(False)
        assert self._token is not None
        return self._token

    def _account(self, prefix: Literal["TRA_", "DAA_"]) -> str:
        configured = self._transaction_account if prefix == "TRA_" else self._data_account
        if configured:
            return configured
        account = self.scope().scope.account(prefix)
        if account is None:
            raise PermanentApiError("NoAccount", f"the GP app's token grants no {prefix} account", source=SOURCE)
        return account.name

    # Plumbing ----------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, idempotency_key: str | None = None,
                 **kwargs: Any) -> httpx.Response:
        try:
            return self._api.request(method, path, idempotency_header=IDEMPOTENCY_HEADER,
                                     idempotency_key=idempotency_key, **kwargs)
        except PermanentApiError as error:
            if error.status == 409 and error.description.startswith("DUPLICATE_ACTION/"):
                description = error.description.split(": ", 1)[-1]
                raise DuplicateAction(description, idempotency_key=idempotency_key, status=error.status,
                                      body=error.body, request_id=error.request_id) from error
            raise

    def _send(self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return _object(self._request(method, path, idempotency_key=idempotency_key, **kwargs), f"{method} {path}")

    def _write(self, path: str, body: dict[str, Any] | None, idempotency_key: str,
               same: Callable[[Transaction], bool]) -> Transaction:
        """POST a transaction action; a replayed key returns the original transaction if it is this action's."""
        if not idempotency_key:
            raise ValueError("every GP write needs an idempotency key, so a retry cannot apply it twice")
        try:
            return Transaction.model_validate(self._send("POST", path, json=body, idempotency_key=idempotency_key))
        except DuplicateAction as duplicate:
            if duplicate.resource_id is None:
                raise
            original = self.get_transaction(duplicate.resource_id)
            if not same(original):
                raise
            return original.model_copy(update={"replayed": True})

    @staticmethod
    def _id(value: str) -> str:
        if not value:
            raise ValueError("an id is required")
        return quote(value, safe="")

    # Payments ----------------------------------------------------------------------------------------------

    def charge(self, amount: Money, *, reference: str, token: str, capture: bool = True, idempotency_key: str,
               channel: Literal["CP", "CNP"] = "CNP", entry_mode: str = "ECOM", country: str = "US") -> Transaction:
        """Charge a stored payment method (``token``): captured now, or only authorised with ``capture=False``.

        Returns the transaction whatever the issuer said: check ``approved``; a decline is not an error.

        Raises:
            UncertainOutcome: the answer was lost; look the charge up by ``reference`` before charging again.
        """
        if amount.amount <= 0:
            raise ValueError(f"a charge must be positive, not {amount}")
        body = {"account_name": self._account("TRA_"), "type": "SALE", "channel": channel,
                "capture_mode": "AUTO" if capture else "LATER", "amount": str(amount.to_minor()),
                "currency": amount.currency, "reference": reference, "country": country,
                "payment_method": {"id": token, "entry_mode": entry_mode}}
        return self._write("transactions", body, idempotency_key,
                           lambda t: t.type == "SALE" and t.reference == reference and t.currency == amount.currency)

    def capture(self, transaction_id: str, idempotency_key: str, *, amount: Money | None = None) -> Transaction:
        """Capture an authorisation (all of it, or ``amount``)."""
        body = {"amount": str(amount.to_minor())} if amount is not None else None
        return self._write(f"transactions/{self._id(transaction_id)}/capture", body, idempotency_key,
                           lambda t: t.id == transaction_id)

    def refund(self, transaction_id: str, amount: Money | None, idempotency_key: str) -> Transaction:
        """Refund a captured sale (all that is left, or ``amount``); returns the new REFUND transaction."""
        body = {"amount": str(amount.to_minor()), "currency": amount.currency} if amount is not None else None
        return self._write(f"transactions/{self._id(transaction_id)}/refund", body, idempotency_key,
                           lambda t: t.type == "REFUND" and t.parent_resource_id == transaction_id)

    def reverse(self, transaction_id: str, idempotency_key: str) -> Transaction:
        """Void an authorisation or a capture that is not yet batched."""
        return self._write(f"transactions/{self._id(transaction_id)}/reversal", None, idempotency_key,
                           lambda t: t.id == transaction_id)

    def get_transaction(self, transaction_id: str) -> Transaction:
        return Transaction.model_validate(self._send("GET", f"transactions/{self._id(transaction_id)}"))

    def iter_transactions(self, *, page_size: int | None = None, **filters: Any) -> Iterator[Transaction]:
        """Transactions matching GP's search filters (``reference``, ``status``, ``from_time_created``...)."""
        return self._pages("transactions", {"order": "ASC", "order_by": "TIME_CREATED", **_params(filters)},
                           page_size, self._models("transactions", Transaction))

    def find_transactions(self, **filters: Any) -> list[Transaction]:
        """Every match, as a list: for lookups such as ``reference=...`` after an uncertain charge."""
        return list(self.iter_transactions(**filters))

    def close_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchClose:
        """Close a batch and return its totals.

        Raises:
            DuplicateAction: ``idempotency_key`` closed it before (GP offers no batch lookup to reload it).
        """
        document = self._send("POST", f"batches/{self._id(batch_id)}", idempotency_key=idempotency_key)
        return BatchClose.parse(document, self._default_currency)

    # Settlement --------------------------------------------------------------------------------------------

    def iter_settlement_transactions(
        self, date_from: date, date_to: date, *, by: SettledBy = "time_created", page_size: int | None = None,
        **filters: Any,
    ) -> Iterator[SettlementTransaction]:
        """Settled transactions whose ``by`` date lies in ``[date_from, date_to]``, oldest first, one page at a time."""
        params = self._settled_params(date_from, date_to, by, filters)
        return self._pages("settlement/transactions", params, page_size, self._models("transactions",
                                                                                      SettlementTransaction))

    def iter_settled_rows(
        self, date_from: date, date_to: date, *, by: SettledBy = "time_created", page_size: int | None = None,
        **filters: Any,
    ) -> Iterator[SettledRow]:
        """The rows of ``iter_settlement_transactions`` with only what settlement reads, each page decoded
        straight from its bytes: the end-of-day close reads a million of them.

        Raises:
            PermanentApiError: ``InvalidRecord`` naming the row, its id and the field that does not fit.
            TransientApiError: ``InvalidResponse`` when a page is not a page of transactions.
        """
        params = self._settled_params(date_from, date_to, by, filters)
        return self._pages("settlement/transactions", params, page_size, _settled_rows)

    def _settled_params(self, date_from: date, date_to: date, by: SettledBy,
                        filters: Mapping[str, Any]) -> dict[str, str]:
        if date_from > date_to:
            raise ValueError(f"date_from {date_from} is after date_to {date_to}")
        return {"account_name": self._account("DAA_"), f"from_{by}": date_from.isoformat(),
                f"to_{by}": date_to.isoformat(), "order": "ASC", "order_by": "TIME_CREATED", **_params(filters)}

    def iter_deposits(self, date_from: date, date_to: date, *, page_size: int | None = None,
                      **filters: Any) -> Iterator[Deposit]:
        """Deposits made in ``[date_from, date_to]``, oldest first, one page at a time."""
        if date_from > date_to:
            raise ValueError(f"date_from {date_from} is after date_to {date_to}")
        params = {"account_name": self._account("DAA_"), "from_time_created": date_from.isoformat(),
                  "to_time_created": date_to.isoformat(), "order": "ASC", "order_by": "TIME_CREATED",
                  **_params(filters)}
        return self._pages("settlement/deposits", params, page_size, self._models("deposits", Deposit))

    def get_deposit(self, deposit_id: str) -> Deposit:
        return Deposit.model_validate(self._send("GET", f"settlement/deposits/{self._id(deposit_id)}",
                                                 params={"account_name": self._account("DAA_")}))

    def _models(self, key: str, model: type[Model]) -> Callable[[httpx.Response, str], _Page[Model]]:
        """Reads a page as JSON and validates each row with ``model`` as it is taken."""

        def read(response: httpx.Response, where: str) -> _Page[Model]:
            document = _object(response, where)
            rows = document.get(key) or []
            if not isinstance(rows, list):
                raise TransientApiError("InvalidResponse", f"{where}: '{key}' is not a list", source=SOURCE)
            total = document.get("total_record_count", document.get("total_count"))
            served = (document.get("paging") or {}).get("page_size")
            return len(rows), (model.model_validate(row) for row in rows), total, served

        return read

    def _pages(self, path: str, params: dict[str, str], page_size: int | None,
               read: Callable[[httpx.Response, str], _Page[Row]]) -> Iterator[Row]:
        """Every row of a list, page after page until GP's total is reached (or a short page ends it)."""
        size = page_size or self._page_size
        if size < 1:
            raise ValueError("page_size must be at least 1")

        def pages() -> Iterator[Row]:
            page, seen = 1, 0
            while True:
                response = self._request("GET", path, params={**params, "page": str(page), "page_size": str(size)})
                count, rows, total, served = read(response, f"GET {path} page {page}")
                del response
                yield from rows
                seen += count
                total, served = int(total or 0), int(served or size)
                if not count or (seen >= total if total else count < served):
                    return
                page += 1

        return pages()


_Page = tuple[int, Iterable[Row], Any, Any]
"""What a page reader returns: how many rows, the rows, GP's total count and the page size it served."""


def _settled_rows(response: httpx.Response, where: str) -> _Page[SettledRow]:
    try:
        page = decode(SETTLED_PAGE, response.content, "transactions")
    except RowError as error:
        raise PermanentApiError("InvalidRecord", redact(f"{where}: settlement transaction {error}"),
                                source=SOURCE, status=response.status_code) from None
    except PageError as error:
        raise TransientApiError("InvalidResponse", f"{where}: {error}", source=SOURCE,
                                status=response.status_code) from None
    rows = page.transactions or []
    served = page.paging.page_size if page.paging is not None else None
    total = page.total_record_count if page.total_record_count is not None else page.total_count
    return len(rows), rows, total, served


def _params(filters: Mapping[str, Any]) -> dict[str, str]:
    """Search filters as GP's query strings: dates ISO, Money in minor units, enums by value."""
    out: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, Money):
            out[name] = str(value.to_minor())
        elif isinstance(value, date | datetime):
            out[name] = value.isoformat()[:10]
        elif isinstance(value, float):
            raise TypeError(f"filter {name} is a float; give amounts as Money")
        else:
            out[name] = str(getattr(value, "value", value))
    return out


def _object(response: httpx.Response, where: str) -> dict[str, Any]:
    """The answer as a JSON object; anything else is a transient fault of the gateway."""
    try:
        document = response.json()
    except ValueError as exc:
        raise TransientApiError("InvalidResponse", f"{where}: answer is not JSON", source=SOURCE,
                                status=response.status_code) from exc
    if not isinstance(document, dict):
        raise TransientApiError("InvalidResponse", f"{where}: answer is not a JSON object", source=SOURCE,
                                status=response.status_code)
    return document


__all__ = ["GP_API_VERSION", "DuplicateAction", "GpApiClient", "classify_gp_error", "describe_gp_error",
           "gp_error"]

