"""``GpSimulator``: the GP API simulator's options and state, its ``/_gp`` sandbox controls, the Python-side
scenario API, and its ground truth."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.scenario import gateway
from sandbox.simulators.gp.api import HttpApi
from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.wire import ENTRY_MODES, clone, iso_day, public
from sandbox.simulators.ids import derived_id
from shared.canonical.money import Money

DEFAULT_APP_ID = "hl365-local-app"
DEFAULT_APP_KEY = "hl365-local-app-key"
TRANSACTION_ACCOUNT = "Transaction_Processing"
DATA_ACCOUNT = "Settlement Reporting"
DISPUTE_ACCOUNT = "Dispute Management"


class GpSimulator(HttpApi):
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
        self.merchant_id = merchant_id or f"MER_{derived_id(f'{seed}:merchant', 14)}"
        self.merchant_name = merchant_name
        self.country = country
        self.decline_suffixes = tuple(decline_suffixes)
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.notify_timeout = notify_timeout
        self.device_reference = device_reference
        self.accounts = {
            "TRA": {"id": f"TRA_{derived_id(f'{self.merchant_id}:TRA', 16)}", "name": TRANSACTION_ACCOUNT},
            "DAA": {"id": f"DAA_{derived_id(f'{self.merchant_id}:DAA', 16)}", "name": DATA_ACCOUNT},
            "DIA": {"id": f"DIA_{derived_id(f'{self.merchant_id}:DIA', 16)}", "name": DISPUTE_ACCOUNT},
        }
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.RLock()
        self._http = None
        self._rng = random.Random(f"gp:{seed}")
        self._tokens = {}
        self._tokens_issued = 0
        self._ids = set()
        self._transactions = {}
        self._history = {}
        self._batches = {}
        self._open = {}
        self._deposits = {}
        self._keys = {}
        self._flagged = set(decline_tokens)
        self._notifications = []
        self._events = Counter()
        self._batch_seq = 845_000 + self._rng.randrange(100_000)
        self._shuffles = 0

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
        return [
            *super().routes(),
            Route("/_gp/fund", self._control(self._fund_route), methods=["POST"]),
            Route("/_gp/seed", self._control(self._seed_route), methods=["POST"]),
            Route("/_gp/notify", self._control(self._notify_route), methods=["POST"]),
            Route("/_gp/notify/out-of-order", self._control(self._out_of_order_route), methods=["POST"]),
            Route("/_gp/expire-tokens", self._control(self._expire_route), methods=["POST"]),
        ]

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
            return public(record)

    def open_batch(self, currency: str = "USD") -> str:
        """The id of the batch new captures of ``currency`` join (opened now if none is open)."""
        with self._lock:
            batch_id = self._open.get(currency)
            if batch_id is None:
                batch_id = self._open[currency] = self._new_batch(currency, self.now())
            return batch_id

    def transaction(self, transaction_id: str) -> dict[str, Any]:
        """A transaction as ``GET /ucp/transactions/{id}`` shows it."""
        with self._lock:
            return public(self._find(transaction_id))

    def new_batch(self, currency: str = "USD", *, at: datetime | None = None) -> str:
        """Open another batch of ``currency`` (as a second terminal would); captures join it only when they name it."""
        with self._lock:
            return self._new_batch(self._currency(currency), at or self.now())

    def seed_day(self, day: date, *, transactions: int = 100, refunds: int = 0, batches: int = 1,
                 currency: str = "USD", close: bool = True, fund: bool = False, fee_rate: Decimal | str = "0.025",
                 deposit_date: date | None = None, amount_range: tuple[int, int] = (150, 25_000)) -> dict[str, Any]:
        """A business day of card-present sales (and partial refunds) spread over ``batches`` batches.

        Times fall between 08:00 and 22:00 UTC of ``day``; batches close at 23:00 (``close``) and are funded
        the next day (``fund``). Amounts come from a RNG seeded by the simulator's seed and the day.
        Returns the ids made: ``transaction_ids``, ``batch_ids``, ``deposit_ids``.
        """
        with self._lock:
            return gateway.seed_day(self, day, transactions=transactions, refunds=refunds, batches=batches,
                                    currency=currency, close=close, fund=fund, fee_rate=fee_rate,
                                    deposit_date=deposit_date, amount_range=amount_range)

    # Sandbox control routes --------------------------------------------------------------------------------

    async def _fund_route(self, request: Request) -> Response:
        body = await self._json(request)
        if not body.get("batch_id"):
            raise GpError("MANDATORY_DATA_MISSING", "Request expects the following fields batch_id")
        rate = body.get("fee_rate", "0")
        day = body.get("deposit_date")
        return JSONResponse(self.fund(str(body["batch_id"]), str(rate), iso_day(day, "deposit_date") if day else None,
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
            transactions = {k: clone(v) for k, v in self._transactions.items()}
            return {
                "name": self.name,
                "merchant_id": self.merchant_id,
                "accounts": clone(self.accounts),
                "transactions": transactions,
                "history": clone(self._history),
                "batches": clone(self._batches),
                "open_batches": dict(self._open),
                "deposits": {k: clone(v) for k, v in self._deposits.items()},
                "idempotency_keys": clone(self._keys),
                "flagged_tokens": sorted(self._flagged),
                "notifications": clone(self._notifications),
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
            self.accounts = clone(state.get("accounts", self.accounts))
            self._transactions = clone(state.get("transactions", {}))
            self._history = clone(state.get("history", {}))
            for transaction_id, record in self._transactions.items():
                self._history.setdefault(transaction_id, [public(record)])
            self._batches = clone(state.get("batches", {}))
            self._open = dict(state.get("open_batches", {}))
            self._deposits = clone(state.get("deposits", {}))
            self._keys = clone(state.get("idempotency_keys", {}))
            self._flagged = set(state.get("flagged_tokens", []))
            self._notifications = clone(state.get("notifications", []))
            sequence = state.get("sequence", {})
            self._batch_seq = int(sequence.get("batch", self._batch_seq))
            self._shuffles = int(sequence.get("shuffles", 0))
            counts = state.get("counts", {})
            self._tokens_issued = int(counts.get("tokens_issued", 0))
            self._events = Counter({k: int(counts.get(k, 0)) for k in ("duplicates_refused", "card_data_refused",
                                                                          "cards_tokenised")})
            self._ids = set(self._transactions) | set(self._deposits)
            self._tokens.clear()
