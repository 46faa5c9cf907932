"""The gateway's ledger: transactions and their history, the batches captures join, idempotency keys, and the
rules a new transaction follows (declines, capture mode, batch membership) and a reversal; the capture and
refund endpoints (``api.py``) add theirs on top."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.wire import BIN, BRANDS, iso, public
from sandbox.simulators.ids import random_id
from shared.canonical.money import Money


class Ledger:
    """What the gateway holds and the rules that change it; ``GpSimulator`` builds the state in ``__init__``."""

    seed: int
    app_id: str
    app_name: str
    merchant_id: str
    merchant_name: str
    country: str
    decline_suffixes: tuple[str, ...]
    device_reference: str
    accounts: dict[str, dict[str, str]]
    _clock: Callable[[], float]
    _offset: float
    _lock: threading.RLock
    _rng: random.Random
    _ids: set[str]
    _transactions: dict[str, dict[str, Any]]
    _history: dict[str, list[dict[str, Any]]]
    _batches: dict[str, dict[str, Any]]
    _open: dict[str, str]
    _deposits: dict[str, dict[str, Any]]
    _keys: dict[str, dict[str, Any]]
    _flagged: set[str]
    _events: Counter[str]
    _batch_seq: int

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock() + self._offset, UTC)

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (tokens expire; new transactions are stamped later)."""
        with self._lock:
            self._offset += seconds

    def flag_token(self, token: str) -> None:
        """Make SALEs on this payment-method token decline from now on."""
        with self._lock:
            self._flagged.add(token)

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
            self._keys[key] = {"resource_id": resource_id, "action": action, "time_created": iso(self.now()),
                               "replays": 0}

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
            candidate = random_id(self._rng, prefix, n)
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _random_id(self, prefix: str, n: int) -> str:
        """An id nothing is looked up by (actions, brand references): drawn, never registered."""
        return random_id(self._rng, prefix, n)

    def _action(self, kind: str, at: datetime, result: str = "SUCCESS") -> dict[str, Any]:
        return {"id": self._random_id("ACT_", 10), "type": kind, "time_created": iso(at), "result_code": result,
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
            "time_created": iso(at),
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
            "_first6": BIN[card["brand"]],
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
        self._history[record["id"]].append(public(record))

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
        self._batches[batch_id] = {"id": batch_id, "status": "OPEN", "currency": currency, "time_created": iso(at),
                                   "time_closed": None, "transaction_ids": [], "deposit_id": None,
                                   "device_reference": self.device_reference}
        return batch_id

    def _find(self, transaction_id: str) -> dict[str, Any]:
        record = self._transactions.get(transaction_id)
        if record is None:
            raise GpError("RESOURCE_NOT_FOUND", f"Transaction {transaction_id} not found at this location.")
        return record

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
        return public(record)
