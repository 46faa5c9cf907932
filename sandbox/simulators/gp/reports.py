"""The GP API's list and report endpoints: ``/transactions``, ``/settlement/transactions`` (cards as first
six and last four only) and ``/settlement/deposits``, with GP's filters, date ranges, ordering and paging
envelope."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.settlement import Settlement
from sandbox.simulators.gp.wire import PAN_LENGTH, SETTLED, iso_day, minor, nested, public


def given(request: Request) -> dict[str, str]:
    """The query parameters a client gave: GP ignores one sent empty (``?from_time_created=``), as SDKs send them."""
    return {k: v for k, v in request.query_params.items() if v != ""}


class Reports(Settlement):
    """The reporting endpoints, mixed into the HTTP API."""

    default_page_size: int
    max_page_size: int

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
                wanted = str(minor(params[name], name, allow_zero=True)) if name.endswith("amount") else params[name]
                rows = [r for r in rows if str(getter(r) if getter(r) is not None else "") == wanted]
        for name, getter in dates.items():
            for bound in ("from", "to"):
                field = f"{bound}_{name}"
                if field in params:
                    day = iso_day(params[field], field)
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
        "entry_mode": lambda r: nested(r, "payment_method", "entry_mode"),
        "brand": lambda r: nested(r, "payment_method", "card", "brand"),
        "brand_reference": lambda r: nested(r, "payment_method", "card", "brand_reference"),
        "authcode": lambda r: nested(r, "payment_method", "card", "authcode"),
        "number_last4": lambda r: str(nested(r, "payment_method", "card", "masked_number_last4") or "")[-4:],
        "number_first6": lambda r: r.get("_first6"),
        "payment_method": lambda r: nested(r, "payment_method", "id"),
    }

    _ORDER_BY: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
        "TIME_CREATED": lambda r: r["time_created"],
        "STATUS": lambda r: r.get("status"),
        "TYPE": lambda r: r.get("type"),
        "ID": lambda r: r["id"],
        "DEPOSIT_ID": lambda r: r.get("deposit_id"),
    }

    async def _list_transactions(self, request: Request) -> Response:
        params = given(request)
        with self._lock:
            envelope = self._page(params, list(self._transactions.values()), list_key="transactions",
                                  action="TRANSACTION_LIST", filters=self._TRANSACTION_FILTERS,
                                  dates={"time_created": lambda r: r["time_created"]}, order_by=self._ORDER_BY)
            envelope["transactions"] = [public(r) for r in envelope["transactions"]]
        return JSONResponse(envelope)

    def _settlement_row(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A settled transaction as ``/settlement/transactions`` shows it: the card as first 6 / last 4 only."""
        row = public(record)
        batch = self._batches[record["batch_id"]]
        deposit = self._deposits.get(batch["deposit_id"] or "")
        card = row["payment_method"]["card"]
        last4 = str(card.pop("masked_number_last4", ""))[-4:]
        length = PAN_LENGTH.get(card["brand"], 16)
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

    async def _list_settlement(self, request: Request) -> Response:
        params = given(request)
        self._check_account(params, "DAA")
        filters = {**{k: v for k, v in self._TRANSACTION_FILTERS.items() if k not in ("account_name", "account_id")},
                   "deposit_id": lambda r: r["deposit_id"], "deposit_status": lambda r: r["deposit_status"],
                   "arn": lambda r: nested(r, "payment_method", "card", "arn"),
                   "number_last4": lambda r: str(nested(r, "payment_method", "card", "masked_number_first6last4")
                                                 or "")[-4:],
                   "number_first6": lambda r: str(nested(r, "payment_method", "card", "masked_number_first6last4")
                                                  or "")[:6],
                   "system.mid": lambda r: nested(r, "system", "mid"),
                   "system.hierarchy": lambda r: nested(r, "system", "hierarchy")}
        with self._lock:
            rows = [self._settlement_row(r) for r in self._transactions.values() if r["status"] in SETTLED]
            envelope = self._page(params, rows, list_key="transactions", action="TRANSACTION_LIST", filters=filters,
                                  dates={"time_created": lambda r: r["time_created"],
                                         "deposit_time_created": lambda r: r["deposit_time_created"],
                                         "batch_time_created": lambda r: r["batch_time_created"]},
                                  order_by=self._ORDER_BY)
        return JSONResponse(envelope)

    async def _list_deposits(self, request: Request) -> Response:
        params = given(request)
        self._check_account(params, "DAA")
        filters: Mapping[str, Callable[[Mapping[str, Any]], Any]] = {
            "id": lambda r: r["id"], "status": lambda r: r["status"], "amount": lambda r: r["amount"],
            "currency": lambda r: r["currency"],
            "masked_account_number_last4": lambda r: nested(r, "bank_transfer", "masked_account_number_last4"),
            "system.mid": lambda r: nested(r, "system", "mid"),
            "system.hierarchy": lambda r: nested(r, "system", "hierarchy")}
        with self._lock:
            envelope = self._page(params, list(self._deposits.values()), list_key="deposits", action="DEPOSIT_LIST",
                                  filters=filters, dates={"time_created": lambda r: r["time_created"]},
                                  order_by={**self._ORDER_BY, "DEPOSIT_ID": lambda r: r["id"]})
            envelope["deposits"] = [public(d) for d in envelope["deposits"]]
        return JSONResponse(envelope)

    async def _get_deposit(self, request: Request) -> Response:
        self._check_account(given(request), "DAA")
        deposit_id = request.path_params["id"]
        with self._lock:
            deposit = self._deposits.get(deposit_id)
            if deposit is None:
                raise GpError("RESOURCE_NOT_FOUND", f"Deposit {deposit_id} not found at this location.")
            answer = self._deposit_view(deposit)
        return JSONResponse(answer)
