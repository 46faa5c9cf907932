"""A labelled corpus for the card-number detector: payloads that hide a PAN in every form the detector must see
through, and look-alikes it must leave alone, in JSON, XML, free text, URLs and logs; and its scoring."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.security.pan import find_pans, luhn_valid, scan

_BRANDS: tuple[tuple[str, int], ...] = (
    ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
    ("6011", 16), ("644", 16), ("65", 19), ("3528", 16), ("3589", 17), ("300", 14), ("36", 14), ("38", 16),
    ("62", 16), ("62", 19))


@dataclass(frozen=True)
class Payload:
    text: str
    has_pan: bool
    form: str


def _complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _luhn_invalid(prefix: str, length: int, rng: random.Random) -> str:
    pan = _complete(prefix, length, rng)
    return pan[:-1] + str((int(pan[-1]) + rng.randint(1, 9)) % 10)


def _group(pan: str, sep: str) -> str:
    n = len(pan)
    sizes = {15: (4, 6, 5), 14: (4, 6, 4), 13: (4, 4, 5)}.get(n) or (4,) * (n // 4) + ((n % 4,) if n % 4 else ())
    out, i = [], 0
    for size in sizes:
        out.append(pan[i:i + size])
        i += size
    return sep.join(out)


def _pan(rng: random.Random) -> str:
    prefix, length = rng.choice(_BRANDS)
    return _complete(prefix, length, rng)


def _valid_lookalike(prefix: str, length: int, rng: random.Random) -> str:
    """Luhn-valid and brand-prefixed: only context can tell it from a card number."""
    return _complete(prefix, length, rng)


def _b64(rng: random.Random) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randint(30, 90)))).decode()


def _hiding(rng: random.Random) -> dict[str, Callable[[str], str]]:
    return {
        "bare": lambda p: p,
        "free text": lambda p: f"Customer said: please charge {p} for the order, thanks",
        "grouped spaces": lambda p: f"card {_group(p, ' ')} exp 12/28",
        "grouped dashes": lambda p: f"number: {_group(p, '-')}",
        "json string": lambda p: json.dumps({"order": "SO-1001", "note": p}),
        "json number": lambda p: json.dumps({"order": "SO-1002", "value": int(p)}),
        "json grouped": lambda p: json.dumps({"payment": {"memo": _group(p, " ")}}),
        "xml": lambda p: f"<Order><Id>SO-77</Id><Memo>{p}</Memo></Order>",
        "url plain": lambda p: f"https://shop.example/pay?order=SO-9&card={p}&cvv=123",
        "url %20": lambda p: f"https://shop.example/pay?memo=card%3A%20{_group(p, '%20')}&x=1",
        "url +": lambda p: f"/checkout?memo=card+{_group(p, '+')}+exp+12%2F28",
        "glued to letters": lambda p: f"REF{p}X",
        "track 1": lambda p: f"%B{p}^DOE/JOHN^{rng.randint(2501, 3012)}1010000000000000?",
        "track 2": lambda p: f";{p}={rng.randint(2501, 3012)}10100000000000?",
        "json in string": lambda p: json.dumps({"body": json.dumps({"card": {"number": p}})}),
        "xml in string": lambda p: json.dumps({"body": f"<pay><pan>{p}</pan></pay>"}),
        "next to base64": lambda p: f"attachment={_b64(rng)} card {p} sig={_b64(rng)}",
        "log line": lambda p: f"2026-11-27T10:00:00.123Z INFO payment.capture amount=5410 pan={p} status=ok",
        "pan with cvv": lambda p: f"{_group(p, ' ')} 123",
        "csv": lambda p: f"SO-1,2026-11-27,5410,{p},USD",
    }


def _lookalikes(rng: random.Random) -> dict[str, Callable[[], str]]:
    def ms() -> int:
        return rng.randint(1_000_000_000_000, 2_200_000_000_000)

    return {
        "luhn-invalid": lambda: f"card {_luhn_invalid(*rng.choice(_BRANDS), rng)}",
        "masked": lambda: rng.choice([f"{p[:6]}{'*' * (len(p) - 10)}{p[-4:]}", f"XXXXXXXXXXXX{p[-4:]}",
                                      f"{p[:4]} **** **** {p[-4:]}"]) if (p := _pan(rng)) else "",
        "ms timestamp": lambda: json.dumps({"createdAt": ms(), "event": "order.paid"}),
        "us timestamp": lambda: f"ts={ms() * 1000 + rng.randint(0, 999)} event=capture",
        "ns timestamp": lambda: f'{{"time_unix_nano": {ms() * 1_000_000 + rng.randint(0, 999_999)}}}',
        "/Date()/": lambda: json.dumps({"ModifiedDateTime": f"/Date({_valid_lookalike('4', 13, rng)})/",
                                        "Created": f"/Date({ms()})/"}),
        "long order number": lambda: json.dumps({"orderNumber": _complete("4", rng.choice((20, 21, 24)), rng)}),
        "routing and account": lambda: json.dumps({"routingNumber": "021000021",
                                                   "accountNumber": _valid_lookalike("4", 16, rng)}),
        "bank account text": lambda: f"ACH to routing 021000021 account {_valid_lookalike('5', 16, rng)}",
        "ARN": lambda: f"ARN {_complete('7', 23, rng)} for the dispute",
        "barcode": lambda: json.dumps({"sku": "A-1", "barcode": _valid_lookalike("4", 13, rng)}),
        "gtin xml": lambda: f"<item><gtin>{_valid_lookalike('36', 14, rng)}</gtin></item>",
        "tracking number": lambda: json.dumps({"carrier": "FedEx", "trackingNumber": _valid_lookalike("65", 16, rng)}),
        "phone number": lambda: rng.choice([f"call +{_valid_lookalike('4', 13, rng)}",
                                            json.dumps({"phone": _valid_lookalike("4", 13, rng)}),
                                            f"tel:+{rng.randint(10, 99)}-555-{rng.randint(100, 999)}-4567",
                                            "+1 (206) 555-0142"]),
        "uuid": lambda: json.dumps({"id": str(uuid.UUID(int=rng.getrandbits(128))),
                                    "user": "00000000-0000-0000-0000-000000000000",
                                    "digits": "-".join(_valid_lookalike("4", 32, rng)[i:j] for i, j in
                                                       ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))}),
        "gateway id": lambda: json.dumps({"transaction_id": f"TRN_{''.join(rng.choices('ABCDEFabcdef0123', k=16))}",
                                          "psp": _complete("88", 16, rng), "gatewayTxnId": rng.randint(10**9, 10**10),
                                          "object_id": "".join(rng.choices("0123456789abcdef", k=24))}),
        "hex digest": lambda: f"sha256={_valid_lookalike('4', 16, rng)}{''.join(rng.choices('abcdef0123', k=48))}",
        "dates": lambda: f"from 2026-11-27 to 2026-12-31, 20261127 20261231, {rng.randint(1, 28)}/11/2026 10:00",
        "minor-unit amount": lambda: json.dumps({"amount": rng.randint(1, 10**7), "currency": "USD",
                                                 "lines": [rng.randint(100, 99999) for _ in range(5)]}),
        "ssn": lambda: f"worker 987-65-{rng.randint(1000, 9999)}",
    }


def corpus(seed: int = 7) -> list[Payload]:
    """At least 300 payloads, each labelled with whether it holds a PAN and the form it takes."""
    rng = random.Random(seed)
    payloads: list[Payload] = []
    for _ in range(9):
        for form, hide in _hiding(rng).items():
            payloads.append(Payload(hide(_pan(rng)), True, form))
        for form, make in _lookalikes(rng).items():
            payloads.append(Payload(make(), False, form))
    return payloads


def detects(text: str) -> bool:
    """What the detector says: a walk of the parsed document for JSON, the text otherwise."""
    try:
        payload: Any = json.loads(text)
    except ValueError:
        return next(find_pans(text), None) is not None
    if isinstance(payload, dict | list):
        return bool(scan(payload))
    return next(find_pans(text), None) is not None


def evaluate(payloads: list[Payload]) -> dict[str, Any]:
    """Recall (payloads with a PAN found), false-alarm rate (clean payloads flagged / clean payloads), and per
    form the count and how many were answered rightly."""
    per_form: dict[str, dict[str, int]] = defaultdict(lambda: {"total": 0, "right": 0})
    found = alarms = with_pan = clean = 0
    for p in payloads:
        flagged = detects(p.text)
        per_form[p.form]["total"] += 1
        per_form[p.form]["right"] += flagged == p.has_pan
        if p.has_pan:
            with_pan += 1
            found += flagged
        else:
            clean += 1
            alarms += flagged
    return {"payloads": len(payloads), "with_pan": with_pan, "clean": clean,
            "recall": found / with_pan if with_pan else 1.0,
            "false_alarm_rate": alarms / clean if clean else 0.0, "per_form": dict(per_form)}
