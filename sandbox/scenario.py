"""A seeded business day of GP API transaction notifications, with its own ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson

from shared.security.signatures import gp_signature

BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER")
TEST_PAN = "4111 1111 1111 1111"
_ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class Delivery:
    """One POST the gateway makes: the raw body, its headers, and what the sender expects back."""

    body: bytes
    headers: dict[str, str]
    expect: int
    transaction_id: str | None = None
    duplicate: bool = False


@dataclass
class Day:
    """The deliveries of a day, in sending order, and the truth they were generated from."""

    deliveries: list[Delivery] = field(default_factory=list)
    transactions: dict[str, dict[str, object]] = field(default_factory=dict)


def gp_id(rng: random.Random, prefix: str) -> str:
    """An id shaped like the gateway's (``TRN_BHZ1whvNJnMv``): letters and digits, never a long digit run."""
    return prefix + "".join(rng.choice(_ID_CHARS) for _ in range(12))


def transaction(rng: random.Random, day: date, number: int, merchant: str) -> dict[str, object]:
    at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
    return {
        "id": gp_id(rng, "TRN_"),
        "time_created": at.isoformat().replace("+00:00", "Z"),
        "type": "SALE",
        "status": "CAPTURED",
        "channel": "CP",
        "capture_mode": "AUTO",
        "amount": str(rng.randrange(150, 25_000)),
        "currency": "USD",
        "country": "US",
        "merchant_id": merchant,
        "account_name": "Transaction_Processing",
        "reference": f"HR-TICKET-{number:06d}",
        "batch_id": f"BAT_{day:%Y%m%d}",
        "payment_method": {
            "result": "00",
            "message": "APPROVAL",
            "entry_mode": "CHIP",
            "card": {"brand": rng.choice(BRANDS), "masked_number_last4": f"XXXXXXXXXXXX{rng.randrange(10_000):04d}",
                     "authcode": f"{rng.randrange(1_000_000):06d}"},
        },
    }


def generate(*, day: date, transactions: int, duplicates: float, app_key: str, seed: int = 7,
             merchant: str = "MER_demo") -> Day:
    """``transactions`` captured sales, ``duplicates`` of them re-delivered, plus one of each bad delivery."""
    rng = random.Random(seed)
    result = Day()

    def signed(body: bytes) -> dict[str, str]:
        return {"content-type": "application/json", "x-gp-signature": gp_signature(body, app_key)}

    for number in range(1, transactions + 1):
        payload = transaction(rng, day, number, merchant)
        body = orjson.dumps(payload)
        result.transactions[str(payload["id"])] = payload
        result.deliveries.append(Delivery(body, signed(body), 202, str(payload["id"])))
        if rng.random() < duplicates:
            result.deliveries.append(Delivery(body, signed(body), 202, str(payload["id"]), duplicate=True))
    carded = transaction(rng, day, transactions + 1, merchant)
    carded["payment_method"]["card"]["number"] = TEST_PAN  # type: ignore[index]
    body = orjson.dumps(carded)
    result.deliveries.append(Delivery(body, signed(body), 422))
    forged = orjson.dumps(transaction(rng, day, transactions + 2, merchant))
    result.deliveries.append(Delivery(forged, {"content-type": "application/json", "x-gp-signature": "0" * 128}, 401))
    broken = b'{"id": "TRN_broken", '
    result.deliveries.append(Delivery(broken, signed(broken), 400))
    rng.shuffle(result.deliveries)
    return result
