"""What the GP simulator tests share: a signed-in client, the calls it makes and how an error reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY, GpSimulator

VERSION = {"X-GP-Version": "2021-03-22"}
DAY = date(2025, 3, 1)
DATA_ACCOUNT = {"account_name": "Settlement Reporting"}


@dataclass
class Gp:
    sim: GpSimulator
    app: SimulatorApp
    http: httpx.Client


def secret(nonce: str, key: str = DEFAULT_APP_KEY) -> str:
    return hashlib.sha512(f"{nonce}{key}".encode()).hexdigest()


def sign_in(http: httpx.Client, *, key: str = DEFAULT_APP_KEY, **extra: Any) -> httpx.Response:
    nonce = datetime.now(UTC).isoformat()
    return http.post("/ucp/accesstoken", json={"app_id": DEFAULT_APP_ID, "nonce": nonce, "secret": secret(nonce, key),
                                               "grant_type": "client_credentials", **extra})


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error_code", "detailed_error_code", "detailed_error_description"}
    return response.status_code, body["error_code"], body["detailed_error_code"]


def sale(http: httpx.Client, amount: str = "1400", *, key: str | None = None, capture_mode: str = "AUTO",
         reference: str = "ORD-1", stored: str = "PMT_test", **extra: Any) -> httpx.Response:
    body = {"account_name": "Transaction_Processing", "type": "SALE", "channel": "CNP", "capture_mode": capture_mode,
            "amount": amount, "currency": "USD", "reference": reference, "country": "US",
            "payment_method": {"id": stored, "entry_mode": "ECOM"}, **extra}
    return http.post("/ucp/transactions", json=body, headers={"x-gp-idempotency": key} if key else {})


@dataclass
class Receiver:
    url: str = ""
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
