"""The gift and loyalty issuer behind the simulated gateway: cards, their aliases, balances in dollars and in
points, and every transaction with what it moved, so a void can take back exactly that.

The issuer holds card numbers and PINs (it is the issuer); nothing here logs them, and an answer carries a card
number only where Portico's does: ``GiftCardAlias`` ``CREATE``, which issues the card.

Issuer response codes come from the legacy Heartland SDKs' gift mapping (``HpsIssuerResponseValidation``:
``3``/``8`` invalid card data, ``5``/``12`` declined, ``9`` invalid amount, ``13`` partial approval, ``14``
invalid PIN) and ``0`` for success (the Python SDK normalises ``0`` to ``00``). The codes' meanings are
verified in that SDK code; the ``RspText`` strings and which code the issuer picks for each case below are
**not** (no gift-response sample was found): they are this simulator's choice, kept in ``CODES``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from sandbox.simulators.ids import derived_id
from sandbox.simulators.portico.wire import Fields, dollars, points

Currency = Literal["USD", "POINTS"]
CardKey = Literal["CardNbr", "TrackData", "TokenValue", "Alias"]
CARD_KEYS: tuple[CardKey, ...] = ("CardNbr", "TrackData", "TokenValue", "Alias")
BIN = "502244"
"""The prefix of Heartland's published test gift cards (``5022440000000000098``); every simulated number is a
Luhn-valid 19-digit number on it, so the project's PAN scanner treats it as the card number it is."""

CODES: dict[str, tuple[str, str]] = {
    "approved": ("0", "Success"),
    "invalid_card": ("3", "INVALID CARD DATA"),
    "declined": ("5", "DECLINED"),
    "insufficient": ("5", "INSUFFICIENT FUNDS"),
    "already_active": ("5", "CARD ALREADY ACTIVE"),
    "invalid_amount": ("9", "INVALID AMOUNT"),
    "alias_in_use": ("6", "ALIAS ALREADY ASSIGNED"),
    "inactive": ("12", "CARD NOT ACTIVE"),
    "partial": ("13", "PARTIAL APPROVAL"),
    "invalid_pin": ("14", "INVALID PIN"),
}
"""Case → (``RspCode``, ``RspText``). Codes from the SDKs' gift mapping; texts and the choice per case unverified."""

_TRACK_PAN = re.compile(r"\d{13,19}")


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body + digit`` pass the mod-10 check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


@dataclass
class Outcome:
    """The issuer's answer to one service call: ``RspCode``/``RspText`` and the fields after them."""

    case: str
    fields: list[tuple[str, Any]] = field(default_factory=list)
    txn_id: str | None = None
    """The ``GatewayTxnId`` of the transaction recorded (None when nothing moved: the gateway gives one anyway)."""

    @property
    def code(self) -> str:
        return CODES[self.case][0]

    @property
    def approved(self) -> bool:
        return self.case in ("approved", "partial")

    def wire(self) -> Fields:
        code, message = CODES[self.case]
        return [("RspCode", code), ("RspText", message), *self.fields]


class GatewayRefusal(Exception):
    """A request the gateway itself refuses (``GatewayRspCode`` other than 0); no issuer answer is sent."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def amount_of(raw: str | None, currency: Currency) -> Decimal | None:
    """``Amt`` as Decimal; None when it is not a positive amount the currency can hold (cents or points)."""
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0:
        return None
    if currency == "USD" and value != value.quantize(Decimal("0.01")):
        return None
    return value


class GiftIssuer:
    """Cards, aliases and the gift transactions applied to them.

    Args:
        seed: makes numbers, PINs, tokens and seeded balances reproducible.
        points_per_dollar: what ``GiftCardReward`` in ``USD`` earns: points per whole dollar spent. A real
            program's earning rule is set per merchant; this default is the simulator's assumption.
    """

    def __init__(self, seed: int = 0, *, points_per_dollar: Decimal = Decimal(1)) -> None:
        self.seed = seed
        self.points_per_dollar = points_per_dollar
        self.cards: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(f"portico:{seed}")
        self._issued = 0
        self._next_txn = 1_000_000_000 + self._rng.randrange(100_000_000)

    # Cards ---------------------------------------------------------------------------------------------------

    def issue(self, *, balance: Decimal | str = "0", points_balance: Decimal | str = "0",
              aliases: tuple[str, ...] | list[str] = (), active: bool = True, pin: str | None = None,
              number: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """A new card (numbered by the seed unless ``number`` is given), carrying ``aliases``.

        Raises:
            ValueError: an alias already on another card, a number already issued, a negative balance.
        """
        balance, points_balance = Decimal(balance), Decimal(points_balance)
        if balance < 0 or points_balance < 0:
            raise ValueError("balances cannot be negative")
        for alias in aliases:
            if alias in self.aliases:
                raise ValueError("an alias is already on another card")
        self._issued += 1
        if number is None:
            body = BIN + "".join(str(self._rng.randrange(10)) for _ in range(18 - len(BIN)))
            number = body + luhn_digit(body)
        if any(card["number"] == number for card in self.cards.values()):
            raise ValueError("that card number is already issued")
        card_id = derived_id(f"{self.seed}:card:{self._issued}:{number}", 12, "GC_")
        card = {
            "id": card_id,
            "number": number,
            "pin": pin if pin is not None else f"{self._rng.randrange(10_000):04d}",
            "token": derived_id(f"{self.seed}:token:{number}", 20),
            "aliases": list(aliases),
            "balance": dollars(balance),
            "points": points(points_balance),
            "active": active,
            "issued_at": at.isoformat() if at else None,
        }
        self.cards[card_id] = card
        for alias in aliases:
            self.aliases[alias] = card_id
        return card

    def find(self, key: CardKey, value: str) -> dict[str, Any] | None:
        """The card a ``CardData`` names by number, track data, token or alias; None when none is issued."""
        if key == "Alias":
            card_id = self.aliases.get(value)
            return self.cards.get(card_id) if card_id else None
        if key == "TrackData":
            match = _TRACK_PAN.search(value)
            if match is None:
                return None
            value, key = match.group(), "CardNbr"
        field_name = "number" if key == "CardNbr" else "token"
        return next((card for card in self.cards.values() if card[field_name] == value), None)

    # Services ------------------------------------------------------------------------------------------------

    def balance(self, card: dict[str, Any]) -> Outcome:
        if not card["active"]:
            return Outcome("inactive")
        return Outcome("approved", self._balances(card))

    def activate(self, card: dict[str, Any], amount: Decimal, currency: Currency, at: datetime) -> Outcome:
        if card["active"]:
            return Outcome("already_active")
        card["active"] = True
        txn = self._record("GiftCardActivate", card, currency, amount, at, activated=True)
        self._move(card, txn, amount if currency == "USD" else Decimal(0), amount if currency == "POINTS" else 0)
        return Outcome("approved", [("AuthCode", txn["auth_code"]), *self._balances(card)], txn["id"])

    def add_value(self, card: dict[str, Any], amount: Decimal, currency: Currency, at: datetime) -> Outcome:
        if not card["active"]:
            return Outcome("inactive")
        txn = self._record("GiftCardAddValue", card, currency, amount, at)
        self._move(card, txn, amount if currency == "USD" else Decimal(0), amount if currency == "POINTS" else 0)
        return Outcome("approved", [("AuthCode", txn["auth_code"]), *self._balances(card)], txn["id"])

    def sale(self, card: dict[str, Any], amount: Decimal, currency: Currency, at: datetime) -> Outcome:
        """Spend dollars (a partial approval takes what is left and says what is still due) or points."""
        if not card["active"]:
            return Outcome("inactive")
        if currency == "POINTS":
            if Decimal(card["points"]) < amount:
                return Outcome("insufficient", self._balances(card))
            txn = self._record("GiftCardSale", card, currency, amount, at)
            self._move(card, txn, Decimal(0), -amount)
            return Outcome("approved", [("AuthCode", txn["auth_code"]), *self._balances(card)], txn["id"])
        available = Decimal(card["balance"])
        if available <= 0:
            return Outcome("insufficient", self._balances(card))
        taken = min(available, amount)
        txn = self._record("GiftCardSale", card, currency, amount, at)
        self._move(card, txn, -taken, Decimal(0))
        if taken == amount:
            return Outcome("approved", [("AuthCode", txn["auth_code"]), *self._balances(card)], txn["id"])
        txn["rsp_code"] = CODES["partial"][0]
        return Outcome("partial", [("AuthCode", txn["auth_code"]), *self._balances(card),
                                   ("SplitTenderCardAmt", dollars(taken)),
                                   ("SplitTenderBalanceDueAmt", dollars(amount - taken))], txn["id"])

    def reward(self, card: dict[str, Any], amount: Decimal, currency: Currency, at: datetime) -> Outcome:
        """Loyalty earned on a purchase: ``USD`` earns ``points_per_dollar`` per whole dollar, ``POINTS`` adds
        the points given."""
        if not card["active"]:
            return Outcome("inactive")
        earned = amount if currency == "POINTS" else (amount * self.points_per_dollar).quantize(
            Decimal(1), rounding=ROUND_DOWN)
        txn = self._record("GiftCardReward", card, currency, amount, at)
        self._move(card, txn, Decimal(0), earned)
        return Outcome("approved", self._balances(card), txn["id"])

    def alias(self, action: str, alias: str, card: dict[str, Any] | None, at: datetime) -> Outcome:
        """``ADD`` and ``DELETE`` an alias on the card named; ``CREATE`` issues a new active card for it and
        answers its ``CardData`` (number and PIN), the one answer that carries a card number."""
        owner = self.aliases.get(alias)
        if action == "CREATE":
            if owner is not None:
                return Outcome("alias_in_use")
            new = self.issue(aliases=[alias], at=at)
            txn = self._record("GiftCardAlias", new, "USD", Decimal(0), at)
            return Outcome("approved", [("CardData", [("CardNbr", new["number"]), ("Alias", alias),
                                                      ("PIN", new["pin"])])], txn["id"])
        if card is None:
            return Outcome("invalid_card")
        if action == "ADD":
            if owner is not None and owner != card["id"]:
                return Outcome("alias_in_use")
            if owner is None:
                card["aliases"].append(alias)
                self.aliases[alias] = card["id"]
            return Outcome("approved", txn_id=self._record("GiftCardAlias", card, "USD", Decimal(0), at)["id"])
        if owner != card["id"]:
            return Outcome("invalid_card")
        card["aliases"].remove(alias)
        del self.aliases[alias]
        return Outcome("approved", txn_id=self._record("GiftCardAlias", card, "USD", Decimal(0), at)["id"])

    def void(self, gateway_txn_id: str, at: datetime) -> Outcome:
        """Take back exactly what an earlier value-moving transaction moved.

        Raises:
            GatewayRefusal: code 3, the original is unknown, already voided or not voidable (Portico answers an
                invalid original transaction at the gateway level; the message text is unverified).
        """
        original = self.transactions.get(gateway_txn_id)
        if original is None or original["voided"] or original["service"] == "GiftCardAlias":
            raise GatewayRefusal("3", "Transaction rejected because the referenced original transaction is invalid.")
        card = self.cards[original["card_id"]]
        balance = Decimal(card["balance"]) - Decimal(original["balance_delta"])
        points_balance = Decimal(card["points"]) - Decimal(original["points_delta"])
        if balance < 0 or points_balance < 0:
            return Outcome("declined", self._balances(card))
        card["balance"], card["points"] = dollars(balance), points(points_balance)
        if original.get("activated"):
            card["active"] = False
        original["voided"] = True
        original["voided_at"] = at.isoformat()
        return Outcome("approved", self._balances(card))

    # Internals -----------------------------------------------------------------------------------------------

    def _balances(self, card: dict[str, Any]) -> list[tuple[str, Any]]:
        return [("BalanceAmt", card["balance"]), ("PointsBalanceAmt", card["points"])]

    def _record(self, service: str, card: dict[str, Any], currency: Currency, amount: Decimal, at: datetime,
                *, activated: bool = False) -> dict[str, Any]:
        txn_id = str(self._next_txn)
        self._next_txn += 1
        txn = {"id": txn_id, "service": service, "card_id": card["id"], "currency": currency,
               "amount": f"{amount:f}", "balance_delta": "0.00", "points_delta": "0", "voided": False,
               "at": at.isoformat(), "rsp_code": CODES["approved"][0],
               "auth_code": derived_id(f"{self.seed}:auth:{txn_id}", 6).upper()}
        if activated:
            txn["activated"] = True
        self.transactions[txn_id] = txn
        return txn

    def reserve_txn_id(self) -> str:
        """A ``GatewayTxnId`` for a request that moved nothing (a balance inquiry, a decline, a refusal)."""
        txn_id = str(self._next_txn)
        self._next_txn += 1
        return txn_id

    def _move(self, card: dict[str, Any], txn: dict[str, Any], balance: Decimal, points_delta: Decimal | int) -> None:
        card["balance"] = dollars(Decimal(card["balance"]) + balance)
        card["points"] = points(Decimal(card["points"]) + Decimal(points_delta))
        txn["balance_delta"] = dollars(balance)
        txn["points_delta"] = points(Decimal(points_delta))

    # Ground truth --------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"cards": {k: {**v, "aliases": list(v["aliases"])} for k, v in self.cards.items()},
                "aliases": dict(self.aliases),
                "transactions": {k: dict(v) for k, v in self.transactions.items()},
                "sequence": {"issued": self._issued, "next_txn": self._next_txn}}

    def restore(self, state: dict[str, Any]) -> None:
        self.cards = {k: {**v, "aliases": list(v["aliases"])} for k, v in state.get("cards", {}).items()}
        self.aliases = {alias: card_id for card_id, card in self.cards.items() for alias in card["aliases"]}
        self.transactions = {k: dict(v) for k, v in state.get("transactions", {}).items()}
        sequence = state.get("sequence", {})
        self._issued = int(sequence.get("issued", len(self.cards)))
        self._next_txn = int(sequence.get("next_txn", self._next_txn))
