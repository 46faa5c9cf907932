"""A labelled month of card payments for the anomaly detector: every pattern planted, every look-alike beside it.

Stores in several metros trade within their opening hours on their own clocks (with the month's daylight-saving
change where it falls), an online store trades around the clock, and cashiers ring sales, declines, voids and
refunds of earlier sales as a chain's stores do. Into that month go the frauds ``shared.anomalies`` must find,
each several times, and the legitimate events that look like them, each several times, which it must leave alone.

What is labelled, and so what counts as a true positive:

* ``card_testing``: every attempt of the burst (all of one card's probes; all of the many cards' probes).
* ``duplicate_charge``: the second and later charges; the first is a real sale.
* ``refund_without_sale``, ``refund_to_new_card``, ``off_hours_refund``: the refund.
* ``void_spike``: every void of the spike (the sales rung before them are ordinary).
* ``amount_outlier``: the sale.
* ``impossible_travel``: the second sighting, in the other metro.

A look-alike's rows are labelled pattern ``none`` with their kind, so a flag on one is a false alarm of that
kind. A flag counts as a true positive only when its row is planted with the flag's pattern; any other flag is a
false positive of its pattern, and a planted row without its pattern's flag is a false negative.

``python -m sandbox.scenario.payments_month --month 2026-11 --seed 7 --out DIR`` writes ``rows.jsonl``,
``truth.jsonl`` and ``locations.json``, runs the detector and prints the figures.
"""

from __future__ import annotations

import argparse
import math
import random
import string
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from shared.anomalies.detector import PATTERNS, Flag, detect, load_locations
from shared.anomalies.rows import Reader

LOOK_ALIKES = ("decline_retry", "second_purchase", "recharge_after_void", "two_stores_one_metro",
               "store_and_online", "small_refund_after_close", "trainee_voids", "big_basket", "traveller")


@dataclass(frozen=True)
class Store:
    code: str
    metro: str | None
    zone: str
    opens: str | None
    closes: str | None
    median: float
    """Median sale amount: a coffee bar's differs from an electronics store's."""
    weight: float
    online: bool = False

    def location(self) -> dict[str, Any]:
        if self.online:
            return {"online": True}
        return {"metro": self.metro, "opens": self.opens, "closes": self.closes}


STORES = (
    Store("CHI01", "CHI", "America/Chicago", "08:00", "21:00", 45.0, 1.2),
    Store("CHI02", "CHI", "America/Chicago", "07:00", "22:00", 12.0, 1.0),
    Store("NYC01", "NYC", "America/New_York", "09:00", "21:00", 80.0, 1.0),
    Store("NYC02", "NYC", "America/New_York", "10:00", "20:00", 150.0, 0.6),
    Store("DAL01", "DAL", "America/Chicago", "08:00", "22:00", 40.0, 0.9),
    Store("LAX01", "LAX", "America/Los_Angeles", "09:00", "21:00", 60.0, 0.9),
    Store("ECOM", None, "America/Chicago", None, None, 70.0, 1.0, online=True),
)
SIGMA = 0.6
"""Spread of log sale amounts around a store's median, cut at three of it: real baskets vary this much."""
DECLINE_RATE, VOID_RATE, REFUND_RATE = 0.03, 0.012, 0.02
ENTRY_MODES = (("CHIP", 0.6), ("CONTACTLESS", 0.3), ("SWIPE", 0.08), ("MANUAL", 0.02))
BRANDS = (("VISA", "4"), ("MC", "5"), ("AMEX", "3"), ("DISCOVER", "6"))
_FP_ALPHABET = string.ascii_lowercase + "23456789"


@dataclass(frozen=True)
class Label:
    """What a planted row is: a pattern, or ``none`` with the look-alike it is."""

    pattern: str
    look_alike: str = ""


@dataclass(frozen=True)
class Card:
    fingerprint: str
    masked: str
    brand: str


@dataclass
class _Month:
    rng: random.Random
    first: date
    days: int
    stores: Sequence[Store]
    rows_per_day: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Label] = field(default_factory=dict)
    seq: int = 0
    voids: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        metros = sorted({s.metro for s in self.stores if s.metro})
        total = sum(s.weight for s in self.stores)
        self.share = {s.code: self.rows_per_day * s.weight / total for s in self.stores}
        size = max(300, self.rows_per_day * self.days // (4 * max(1, len(metros))))
        self.pools = {m: [self.card() for _ in range(size)] for m in metros}
        self.cashiers = {s.code: [f"{s.code}-C{i + 1}" for i in range(max(4, round(self.share[s.code] / 150)))]
                         for s in self.stores if not s.online}
        self.trainee = {s.code: f"{s.code}-T1" for s in self.stores if not s.online}
        self.by_code = {s.code: s for s in self.stores}
        self.zones = {s.code: ZoneInfo(s.zone) for s in self.stores}

    # -- building blocks ---------------------------------------------------------------------------------

    def card(self) -> Card:
        brand, head = self.rng.choice(BRANDS)
        fingerprint = "fp_" + "".join(self.rng.choices(_FP_ALPHABET, k=14))
        bin_ = head + "".join(self.rng.choices(string.digits, k=5))
        return Card(fingerprint, f"{bin_}******{self.rng.randrange(10_000):04d}", brand)

    def regular(self, store: Store) -> Card:
        """A card of the store's metro, regulars drawn more often; online, a card of any metro."""
        metro = store.metro if store.metro in self.pools else self.rng.choice(sorted(self.pools))
        pool = self.pools[metro]
        return pool[int(len(pool) * self.rng.random() ** 2)]

    def amount(self, store: Store, low: float = -3.0, high: float = 3.0) -> Decimal:
        z = min(high, max(low, self.rng.gauss(0, 1)))
        return Decimal(f"{max(0.5, store.median * math.exp(SIGMA * z)):.2f}")

    def local(self, store: Store, day: int, minute: float) -> datetime:
        """The store's local time ``minute`` minutes after midnight of the month's ``day`` (may run past it)."""
        naive = datetime(self.first.year, self.first.month, self.first.day) + timedelta(days=day, minutes=minute)
        return naive.replace(tzinfo=self.zones[store.code])

    def hours(self, store: Store) -> tuple[int, int]:
        if store.online or not store.opens or not store.closes:
            return 6 * 60, 24 * 60
        o, c = (int(x[:2]) * 60 + int(x[3:]) for x in (store.opens, store.closes))
        return o, c

    def open_minute(self, store: Store, margin: int = 20) -> float:
        opens, closes = self.hours(store)
        return self.rng.uniform(opens + margin, closes - margin)

    def cashier(self, store: Store) -> str:
        if store.online:
            return ""
        if self.rng.random() < 0.05:
            return self.trainee[store.code]
        return self.rng.choice(self.cashiers[store.code])

    def emit(self, store: Store, when: datetime, kind: str, amount: Decimal, card: Card, *, result: str = "APPROVED",
             cashier: str | None = None, reference: str | None = None, label: Label | None = None,
             entry_mode: str | None = None) -> dict[str, Any]:
        self.seq += 1
        if entry_mode is None:
            entry_mode = "ECOM" if store.online else self._mode()
        row = {
            "id": f"p{self.seq:08d}", "time": when.isoformat(timespec="seconds"), "location": store.code,
            "cashier": self.cashier(store) if cashier is None else cashier, "type": kind, "amount": str(amount),
            "currency": "USD", "brand": card.brand, "masked_card": card.masked, "card_fingerprint": card.fingerprint,
            "entry_mode": entry_mode, "result": result,
            "reference": f"{store.code}-{self.seq:08d}" if reference is None else reference,
        }
        self.rows.append(row)
        if label is not None:
            self.truth[row["id"]] = label
        return row

    def _mode(self) -> str:
        r = self.rng.random()
        for mode, p in ENTRY_MODES:
            if r < p:
                return mode
            r -= p
        return "CHIP"

    def later(self, row: dict[str, Any], seconds: float) -> datetime:
        return datetime.fromisoformat(row["time"]) + timedelta(seconds=seconds)

    # -- the ordinary month ------------------------------------------------------------------------------

    def background(self) -> None:
        for day in range(self.days):
            for store in self.stores:
                count = round(self.share[store.code] * self.rng.uniform(0.9, 1.1))
                opens, closes = self.hours(store)
                for _ in range(count):
                    self.ordinary(store, day, self.rng.uniform(opens, closes))

    def ordinary(self, store: Store, day: int, minute: float) -> None:
        card = self.regular(store)
        cashier = self.cashier(store)
        when = self.local(store, day, minute)
        amount = self.amount(store)
        r = self.rng.random()
        if r < DECLINE_RATE:
            self.emit(store, when, "SALE", amount, card, result="DECLINED", cashier=cashier)
            return
        sale = self.emit(store, when, "SALE", amount, card, cashier=cashier)
        r = self.rng.random()
        if r < VOID_RATE:
            void = self.emit(store, self.later(sale, self.rng.uniform(15, 120)), "VOID", amount, card,
                             cashier=cashier, reference=sale["reference"])
            self.voids.setdefault(cashier, []).append(void)
        elif r < VOID_RATE + REFUND_RATE:
            back = day + self.rng.randint(1, 6)
            if back < self.days:
                part = amount if self.rng.random() < 0.6 else \
                    Decimal(f"{float(amount) * self.rng.uniform(0.2, 0.9):.2f}")
                self.emit(store, self.local(store, back, self.open_minute(store)), "REFUND", part, card,
                          reference=sale["reference"])

    # -- the frauds --------------------------------------------------------------------------------------

    def pick(self, *, online: bool | None = None, first_day: int = 0,
             stores: Iterable[Store] | None = None) -> tuple[Store, int]:
        choices = [s for s in (stores or self.stores) if online is None or s.online == online]
        return self.rng.choice(choices), self.rng.randrange(first_day, self.days)

    def card_testing_one_card(self) -> None:
        store, day = self.pick()
        card, start = self.card(), self.local(store, day, self.open_minute(store))
        spread = self.rng.uniform(120, 480)
        for i in range(self.rng.randint(5, 9)):
            when = start + timedelta(seconds=spread * i / 8 + self.rng.uniform(0, 10))
            self.emit(store, when, "SALE", Decimal(f"{self.rng.uniform(0.5, 5):.2f}"), card,
                      result="DECLINED" if self.rng.random() < 0.7 else "APPROVED",
                      entry_mode="ECOM" if store.online else "MANUAL", label=Label("card_testing"))

    def card_testing_many_cards(self) -> None:
        store = next(s for s in self.stores if s.online)
        day = self.rng.randrange(self.days)
        start = self.local(store, day, self.rng.uniform(0, 1380))
        probe = self.rng.choice((Decimal("0.50"), Decimal("1.00"), Decimal("1.01"), Decimal("2.00")))
        n = self.rng.randint(8, 16)
        declined = set(self.rng.sample(range(n), k=max(7, round(n * 0.8))))
        spread = self.rng.uniform(150, 480)
        for i in range(n):
            self.emit(store, start + timedelta(seconds=spread * i / n), "SALE", probe, self.card(),
                      result="DECLINED" if i in declined else "APPROVED", label=Label("card_testing"))

    def duplicate_charge(self) -> None:
        store, day = self.pick()
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", self.amount(store), card)
        gap = 0.0
        for _ in range(self.rng.choice((1, 1, 2))):
            gap += self.rng.uniform(4, 150)
            self.emit(store, self.later(first, gap), "SALE", Decimal(first["amount"]), card,
                      cashier=first["cashier"], label=Label("duplicate_charge"))

    def refund_without_sale(self) -> None:
        store, day = self.pick(stores=[s for s in self.stores if not s.online], first_day=0)
        card = self.card()  # a card seen once: a regular's many sales would cover the refund
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE",
                         Decimal(f"{self.rng.uniform(5, 40):.2f}"), card)
        amount = Decimal(f"{self.rng.uniform(120, 195):.2f}")
        when = self.local(store, min(self.days - 1, day + self.rng.randint(0, 3)), self.open_minute(store))
        if when <= datetime.fromisoformat(sale["time"]):
            when = self.later(sale, 3600)
        reference = sale["reference"] if self.rng.random() < 0.5 else ""
        self.emit(store, when, "REFUND", amount, card, reference=reference, label=Label("refund_without_sale"))

    def refund_to_new_card(self) -> None:
        store, day = self.pick()
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE",
                         self.amount(store, 0, 2), self.regular(store))
        when = self.later(sale, self.rng.uniform(600, 5400))
        self.emit(store, when, "REFUND", Decimal(sale["amount"]), self.card(), reference=sale["reference"],
                  label=Label("refund_to_new_card"))

    def off_hours_refund(self) -> None:
        store, day = self.pick(stores=[s for s in self.stores if not s.online and s.median >= 60],
                               first_day=0)
        card = self.regular(store)
        big = Decimal(f"{max(220.0, store.median * self.rng.uniform(3, 6)):.2f}")
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", big, card)
        opens, closes = self.hours(store)
        after = self.rng.random() < 0.6
        minute = closes + self.rng.uniform(40, 150) if after else opens - self.rng.uniform(40, 150)
        back = min(self.days - 1, day + self.rng.randint(1, 3))
        when = self.local(store, back, minute)
        if when <= datetime.fromisoformat(sale["time"]):
            when = self.local(store, day, closes + self.rng.uniform(40, 150))
        self.emit(store, when, "REFUND", big, card, reference=sale["reference"], label=Label("off_hours_refund"))

    def void_spike(self) -> None:
        store, day = self.pick(online=False)
        cashier = self.rng.choice(self.cashiers[store.code])
        start = self.local(store, day, self.open_minute(store, 60))
        n = self.rng.randint(7, 10)
        spread = self.rng.uniform(1200, 3000)
        others = [c for c in self.cashiers[store.code] if c != cashier]
        for void in self.voids.get(cashier, []):  # the spike's voids alone are the cashier's near it
            if abs((datetime.fromisoformat(void["time"]) - start).total_seconds()) < 3 * 3600:
                void["cashier"] = self.rng.choice(others)
        for i in range(n):
            card = self.regular(store)
            sale = self.emit(store, start + timedelta(seconds=spread * i / n), "SALE", self.amount(store), card,
                             cashier=cashier)
            self.emit(store, self.later(sale, self.rng.uniform(20, 90)), "VOID", Decimal(sale["amount"]), card,
                      cashier=cashier, reference=sale["reference"], label=Label("void_spike"))

    def amount_outlier(self) -> None:
        store, day = self.pick(first_day=min(1, self.days - 1))
        amount = Decimal(f"{store.median * self.rng.uniform(40, 120):.2f}")
        self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, self.regular(store),
                  label=Label("amount_outlier"))

    def _two_metros(self) -> tuple[Store, Store]:
        physical = [s for s in self.stores if not s.online and s.metro]
        while True:
            a, b = self.rng.sample(physical, 2)
            if a.metro != b.metro:
                return a, b

    def impossible_travel(self) -> None:
        a, b = self._two_metros()
        day = self.rng.randrange(self.days)
        card = self.card()
        first = self.emit(a, self.local(a, day, self.rng.uniform(11 * 60, 15 * 60)), "SALE", self.amount(a), card)
        then = self.later(first, self.rng.uniform(10, 60) * 60).astimezone(self.zones[b.code])
        self.emit(b, then, "SALE", self.amount(b), card, label=Label("impossible_travel"))

    # -- the look-alikes ---------------------------------------------------------------------------------

    def decline_retry(self) -> None:
        store, day = self.pick()
        card, amount = self.regular(store), self.amount(store)
        row = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, card,
                        result="DECLINED", label=Label("none", "decline_retry"))
        for _ in range(self.rng.randint(1, 2)):
            row = self.emit(store, self.later(row, self.rng.uniform(20, 90)), "SALE", amount, card,
                            result="APPROVED" if self.rng.random() < 0.5 else "DECLINED",
                            cashier=row["cashier"], label=Label("none", "decline_retry"))
            if row["result"] == "APPROVED":
                return

    def second_purchase(self) -> None:
        store, day = self.pick()
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", self.amount(store), card)
        amount = self.amount(store)
        while amount == Decimal(first["amount"]):
            amount = self.amount(store)
        self.emit(store, self.later(first, self.rng.uniform(120, 600)), "SALE", amount, card,
                  label=Label("none", "second_purchase"))

    def recharge_after_void(self) -> None:
        store, day = self.pick(online=False)
        card, amount = self.regular(store), self.amount(store)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, card)
        void = self.emit(store, self.later(sale, self.rng.uniform(20, 60)), "VOID", amount, card,
                         cashier=sale["cashier"], reference=sale["reference"])
        self.emit(store, self.later(void, self.rng.uniform(30, 120)), "SALE", amount, card, cashier=sale["cashier"],
                  label=Label("none", "recharge_after_void"))

    def two_stores_one_metro(self) -> None:
        physical = [s for s in self.stores if not s.online and s.metro]
        metros = sorted({s.metro for s in physical if s.metro and sum(t.metro == s.metro for t in physical) > 1})
        if not metros:
            return
        metro = self.rng.choice(metros)
        a, b = self.rng.sample([s for s in physical if s.metro == metro], 2)
        day, card = self.rng.randrange(self.days), self.regular(a)
        first = self.emit(a, self.local(a, day, self.rng.uniform(11 * 60, 17 * 60)), "SALE", self.amount(a), card)
        self.emit(b, self.later(first, self.rng.uniform(8, 40) * 60).astimezone(self.zones[b.code]), "SALE",
                  self.amount(b), card, label=Label("none", "two_stores_one_metro"))

    def store_and_online(self) -> None:
        store, day = self.pick(online=False)
        online = next(s for s in self.stores if s.online)
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", self.amount(store), card)
        self.emit(online, self.later(first, self.rng.uniform(3, 30) * 60).astimezone(self.zones[online.code]),
                  "SALE", self.amount(online), card, label=Label("none", "store_and_online"))

    def small_refund_after_close(self) -> None:
        store, day = self.pick(online=False)
        card = self.regular(store)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE",
                         Decimal(f"{self.rng.uniform(8, 90):.2f}"), card)
        _, closes = self.hours(store)
        self.emit(store, self.local(store, day, closes + self.rng.uniform(15, 90)), "REFUND", Decimal(sale["amount"]),
                  card, reference=sale["reference"], label=Label("none", "small_refund_after_close"))

    def trainee_voids(self, day: int) -> None:
        store = self.rng.choice([s for s in self.stores if not s.online])
        cashier = self.trainee[store.code]
        start = self.local(store, day, self.open_minute(store, 60))
        for _ in range(self.rng.randint(3, 4)):
            card = self.regular(store)
            start += timedelta(seconds=self.rng.uniform(300, 900))
            sale = self.emit(store, start, "SALE", self.amount(store), card, cashier=cashier)
            self.emit(store, self.later(sale, self.rng.uniform(20, 90)), "VOID", Decimal(sale["amount"]), card,
                      cashier=cashier, reference=sale["reference"], label=Label("none", "trainee_voids"))

    def big_basket(self) -> None:
        store, day = self.pick(first_day=min(1, self.days - 1))
        amount = Decimal(f"{store.median * self.rng.uniform(4, 7):.2f}")
        self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, self.regular(store),
                  label=Label("none", "big_basket"))

    def traveller(self) -> None:
        a, b = self._two_metros()
        day, card = self.rng.randrange(self.days), self.card()
        first = self.emit(a, self.local(a, day, self.rng.uniform(9 * 60, 10 * 60)), "SALE", self.amount(a), card)
        hours = self.rng.uniform(6, 8)
        self.emit(b, self.later(first, hours * 3600).astimezone(self.zones[b.code]), "SALE", self.amount(b), card,
                  label=Label("none", "traveller"))


def generate(month: date, seed: int, *, stores: Sequence[Store] = STORES, rows_per_day: int = 4000,
             days: int | None = None, plants: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Label]]:
    """The rows of ``month`` (its first ``days`` days if given) in no particular order, and the planted truth.

    Each pattern and each look-alike is planted ``plants`` times (default: one every two or three days).
    """
    first = month.replace(day=1)
    length = ((first + timedelta(days=32)).replace(day=1) - first).days
    span = length if days is None else min(days, length)
    m = _Month(random.Random(seed), first, span, stores, rows_per_day)
    m.background()
    times = plants if plants is not None else max(4, span // 2)
    frauds = (m.card_testing_one_card, m.card_testing_many_cards, m.duplicate_charge, m.refund_without_sale,
              m.refund_to_new_card, m.off_hours_refund, m.void_spike, m.amount_outlier, m.impossible_travel)
    alikes = (m.decline_retry, m.second_purchase, m.recharge_after_void, m.two_stores_one_metro, m.store_and_online,
              m.small_refund_after_close, m.big_basket, m.traveller)
    for _ in range(times):
        for plant in (*frauds, *alikes):
            plant()
    for day in m.rng.sample(range(span), k=min(span, times)):
        m.trainee_voids(day)
    m.rng.shuffle(m.rows)
    return m.rows, m.truth


def locations(stores: Sequence[Store] = STORES) -> dict[str, dict[str, Any]]:
    """The ``--locations`` file of the month's stores."""
    return {s.code: s.location() for s in stores}


def write(rows: Iterable[dict[str, Any]], truth: dict[str, Label], rows_path: Path, truth_path: Path) -> None:
    """Rows as ``hl365 anomalies`` reads them; truth one ``{"id", "pattern", "look_alike"}`` a line."""
    encode = msgspec.json.encode
    with rows_path.open("wb") as sink:
        for row in rows:
            sink.write(encode(row) + b"\n")
    with truth_path.open("wb") as sink:
        for row_id, label in sorted(truth.items()):
            sink.write(encode({"id": row_id, "pattern": label.pattern, "look_alike": label.look_alike}) + b"\n")


def read_truth(path: Path) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            raw = msgspec.json.decode(line)
            out[raw["id"]] = Label(raw["pattern"], raw.get("look_alike", ""))
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Figures:
    overall: Score
    patterns: dict[str, Score]
    look_alikes: dict[str, tuple[int, int]]
    """Per look-alike kind: (rows of that kind, those flagged under any pattern)."""
    wrong: list[tuple[str, str, str]]
    """(id, flagged pattern, what the row really is) of each false positive, for a person tuning thresholds."""
    missed: list[tuple[str, str]]
    """(id, pattern) of each planted row its pattern did not flag."""


def evaluate(flags: Iterable[Flag], truth: dict[str, Label]) -> Figures:
    """Precision, recall and F1 of ``flags`` against the planted truth, overall and per pattern (the rules are
    the module's), and the false alarms on each kind of look-alike."""
    patterns = {p: Score() for p in PATTERNS}
    found: set[tuple[str, str]] = set()
    flagged_ids: set[str] = set()
    wrong: list[tuple[str, str, str]] = []
    for flag in flags:
        found.add((flag.id, flag.pattern))
        flagged_ids.add(flag.id)
        label = truth.get(flag.id)
        score = patterns.setdefault(flag.pattern, Score())
        if label is not None and label.pattern == flag.pattern:
            score.tp += 1
        else:
            score.fp += 1
            wrong.append((flag.id, flag.pattern, "ordinary" if label is None else label.look_alike or label.pattern))
    kinds: dict[str, list[int]] = {k: [0, 0] for k in LOOK_ALIKES}
    missed: list[tuple[str, str]] = []
    for row_id, label in truth.items():
        if label.pattern == "none":
            counts = kinds.setdefault(label.look_alike, [0, 0])
            counts[0] += 1
            counts[1] += row_id in flagged_ids
        elif (row_id, label.pattern) not in found:
            patterns.setdefault(label.pattern, Score()).fn += 1
            missed.append((row_id, label.pattern))
    overall = Score(sum(s.tp for s in patterns.values()), sum(s.fp for s in patterns.values()),
                    sum(s.fn for s in patterns.values()))
    return Figures(overall, patterns, {k: (v[0], v[1]) for k, v in kinds.items()}, wrong, sorted(missed))


def table(figures: Figures) -> str:
    """The figures as a plain-text table."""
    lines = [f"{'pattern':<22}{'planted':>8}{'flagged':>8}{'TP':>6}{'FP':>6}{'FN':>6}"
             f"{'precision':>11}{'recall':>8}{'F1':>8}"]
    for name, s in [*figures.patterns.items(), ("overall", figures.overall)]:
        if name == "overall":
            lines.append("-" * len(lines[0]))
        lines.append(f"{name:<22}{s.tp + s.fn:>8}{s.tp + s.fp:>8}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
                     f"{s.precision:>11.3f}{s.recall:>8.3f}{s.f1:>8.3f}")
    lines.append("")
    lines.append(f"{'look-alike':<26}{'rows':>6}{'flagged':>9}")
    for kind, (rows, flagged) in figures.look_alikes.items():
        lines.append(f"{kind:<26}{rows:>6}{flagged:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--month", default="2026-11", help="YYYY-MM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=4000)
    parser.add_argument("--days", type=int, default=None, help="only the month's first N days")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    month = date.fromisoformat(f"{args.month}-01")
    args.out.mkdir(parents=True, exist_ok=True)
    rows, truth = generate(month, args.seed, rows_per_day=args.rows_per_day, days=args.days)
    rows_path, truth_path = args.out / "rows.jsonl", args.out / "truth.jsonl"
    write(rows, truth, rows_path, truth_path)
    (args.out / "locations.json").write_bytes(msgspec.json.encode(locations()))
    started = time.perf_counter()
    reader = Reader(str(rows_path))
    flags = detect(reader.read(rows_path), load_locations(args.out / "locations.json"))
    seconds = time.perf_counter() - started
    (args.out / "flags.jsonl").write_bytes(b"".join(msgspec.json.encode(f) + b"\n" for f in flags))
    figures = evaluate(flags, truth)
    print(f"{args.month}, seed {args.seed}: {len(rows):,} rows, {len(flags):,} flags in {seconds:.1f} s "
          f"(read and detect); {reader.malformed} malformed")
    print(table(figures))
    for row_id, pattern, really in figures.wrong[:20]:
        print(f"false positive: {row_id} flagged {pattern}, really {really}", file=sys.stderr)
    for row_id, pattern in figures.missed[:20]:
        print(f"missed: {row_id} planted {pattern}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
