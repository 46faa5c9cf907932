"""GP API transaction notifications as the gateway sends them, for the tests and the benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sandbox.simulators.ids import random_id

BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER")
"""The card brands the scenarios pay with."""


def transaction(rng: random.Random, day: date, number: int, merchant: str) -> dict[str, object]:
    at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
    return {
        "id": random_id(rng, "TRN_"),
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
