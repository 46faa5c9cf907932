"""The payment anomaly detector: eight patterns, each flag telling its evidence in words and numbers.

Rows are read in time order (``detect`` sorts them) by one ``Detector`` that keeps, per card, location and
cashier, only what its windows need. The patterns, by their stable names:

* ``card_testing``: a burst of small or declined attempts on one card, or small declines from many cards at
  one location, within minutes (card-not-present ones: keyed, online or of unknown entry mode, since a tester of
  many stolen numbers holds no card). A decline retried at the same amount is one attempt however often it is
  retried: a customer repeats the amount, a tester walks through amounts or cards.
* ``duplicate_charge``: the same card charged the same amount at the same location twice, both approved,
  within minutes and no void between; the second and later charges are flagged.
* ``refund_without_sale``: a refund above what the approved sales it could refund have left (the sales of its
  ``reference`` when that is known, else the card's sales at that location over a look-back).
* ``refund_to_new_card``: a refund to a card never used for an approved sale at that location.
* ``off_hours_refund``: a large refund outside the location's opening hours, read on the store's own clock.
* ``void_spike``: one cashier's voids within an hour, many and far above the location's void rate (the rate of
  its other cashiers' rows, so a spike does not raise its own bar, and taken as a typical retailer's until the
  location has history).
* ``amount_outlier``: a sale far above the location's usual amounts (median and MAD of log amounts over its
  recent approved sales, once there is enough history) and well above its own largest usual sales (a multiple of
  its 1-in-1,000 sale): real amounts are heavy-tailed, and a store that takes big baskets (catering, bulk orders)
  shows it in that quantile, so its big baskets are not flagged where a coffee bar's would be.
* ``impossible_travel``: one card in two places farther apart than a plausible speed covers in the time
  between; an online location is no place.

Reasons name cards only by their masked number or fingerprint.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np

from shared.anomalies.rows import Row

K = TypeVar("K", str, tuple[str, str])

PATTERNS = ("card_testing", "duplicate_charge", "refund_without_sale", "refund_to_new_card", "off_hours_refund",
            "void_spike", "amount_outlier", "impossible_travel")
SALES = frozenset({"SALE", "AUTH", "PREAUTH"})
"""Types that ask for money; ``REFUND`` gives it back and ``VOID`` cancels a sale."""
CARD_PRESENT = frozenset({"CHIP", "EMV", "CONTACTLESS", "NFC", "TAP", "SWIPE", "MAGSTRIPE"})
"""Entry modes that read a physical card: a tester of many stolen numbers has none, so these declines are not
counted across cards (a busy café declines many small chip payments an hour for ordinary reasons)."""
ONLINE_CODES = frozenset({"ECOM", "ONLINE", "WEB"})
"""Location codes taken as online when the locations file does not say."""

METROS: dict[str, tuple[float, float]] = {
    "ATL": (33.749, -84.388), "AUS": (30.267, -97.743), "BNA": (36.163, -86.782), "BOS": (42.360, -71.059),
    "CHI": (41.878, -87.630), "CLT": (35.227, -80.843), "DAL": (32.777, -96.797), "DEN": (39.739, -104.990),
    "DTW": (42.331, -83.046), "HOU": (29.760, -95.370), "LAS": (36.170, -115.140), "LAX": (34.052, -118.244),
    "MCO": (28.538, -81.379), "MIA": (25.762, -80.192), "MSP": (44.978, -93.265), "NYC": (40.713, -74.006),
    "PDX": (45.515, -122.678), "PHL": (39.953, -75.165), "PHX": (33.448, -112.074), "SAN": (32.716, -117.161),
    "SEA": (47.606, -122.332), "SFO": (37.775, -122.419), "SLC": (40.761, -111.891), "STL": (38.627, -90.199),
    "WAS": (38.907, -77.037),
}
"""Latitude and longitude of US metros by code; a location may give its own ``lat``/``lon`` instead."""


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of the detector, with the defaults a retailer's card stream is judged by."""

    small_amount: Decimal = Decimal("10.00")
    """An attempt at or below this is a probe, as card testers send them."""
    testing_window_s: int = 600
    """Card testing: the burst's window."""
    testing_per_card: int = 5
    """Card testing: small or declined attempts on one card within the window, a decline retried at the same
    amount counted once."""
    testing_cards: int = 6
    """Card testing: distinct cards declined on small amounts at one location within the window."""
    duplicate_window_s: int = 900
    """Duplicate charge: how close the same charge must follow the first."""
    refund_lookback_days: int = 90
    """Refunds without a known reference are covered by the card's sales at that location this far back."""
    judge_unknown_refunds: bool = True
    """Judge a refund whose reference names no sale among the rows, by its card's sales: right for a file that
    holds the look-back. The live watch reads one day and knows a card only by brand and last four digits, so it
    judges a refund only against the sale it names (a return of last month's purchase is not evidence, and another
    card with the same last four is not its sale)."""
    off_hours_refund: Decimal = Decimal("200.00")
    """Off-hours refund: the amount from which a refund is large."""
    off_hours_grace_min: int = 10
    """Off-hours refund: minutes around opening and closing still counted as open (tills are closed out)."""
    void_window_s: int = 3600
    """Void spike: the window of one cashier's voids."""
    void_min: int = 6
    """Void spike: voids by one cashier within the window before it can be a spike (a trainee's few are not)."""
    void_factor: float = 4.0
    """Void spike: how many times the voids the location's own void rate predicts for the cashier's work."""
    void_prior_rate: float = 0.01
    """Void spike: the void rate a location is taken to have before its rows say otherwise (a retailer's usual)."""
    void_prior_rows: int = 500
    """Void spike: how many rows that prior weighs, so a location's first hours are judged by it."""
    outlier_z: float = 5.0
    """Amount outlier: robust z (log amount minus median, over 1.4826 MAD) from which a sale is flagged."""
    outlier_history: int = 200
    """Amount outlier: approved sales a location needs before its amounts are judged."""
    outlier_window: int = 5000
    """Amount outlier: the location's most recent approved sales its statistics are taken over."""
    outlier_refresh: int = 250
    """Amount outlier: the median and MAD are taken again after this many new sales."""
    outlier_quantile: float = 0.999
    """Amount outlier: the quantile of the location's recent sales that stands for its largest usual sale."""
    outlier_tail_factor: float = 3.0
    """Amount outlier: how many times that largest usual sale a sale must also be."""
    travel_kmh: float = 800.0
    """Impossible travel: the fastest a card holder can move between metros (an airliner, door to door)."""
    travel_min_km: float = 150.0
    """Impossible travel: places closer than this are one area."""


@dataclass(frozen=True)
class Location:
    """What the detector knows of a location: its metro, its opening hours on its own clock, whether it is
    online, and optionally its coordinates."""

    metro: str | None = None
    opens: time | None = None
    closes: time | None = None
    online: bool = False
    lat: float | None = None
    lon: float | None = None

    @property
    def place(self) -> tuple[float, float] | None:
        """Coordinates for travel, or ``None`` when online or unknown."""
        if self.online:
            return None
        if self.lat is not None and self.lon is not None:
            return (self.lat, self.lon)
        return METROS.get(self.metro or "")


class LocationsError(ValueError):
    """The locations file cannot be used; the message names the file and the location."""


def _clock(value: Any, where: str) -> time | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
        return time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 21:00 as the base-60 number 1260
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise LocationsError(f"{where}: {value!r} is not a time of day as HH:MM") from None


def load_locations(path: Path) -> dict[str, Location]:
    """The locations of a JSON file ``{"CODE": {"metro", "opens", "closes", "online", "lat", "lon"}}``.

    Raises:
        LocationsError: the file cannot be read, is not that JSON, or a value is wrong.
    """
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise LocationsError(f"{path}: cannot be read ({exc.strerror})") from None
    except msgspec.DecodeError as exc:
        raise LocationsError(f"{path}: not JSON ({exc})") from None
    return locations_from(raw, str(path))


def locations_from(raw: object, source: str) -> dict[str, Location]:
    """Locations from parsed JSON or YAML of the ``load_locations`` shape; ``source`` names it in messages.

    Raises:
        LocationsError: a value is wrong.
    """
    if not isinstance(raw, Mapping):
        raise LocationsError(f"{source}: expected an object of locations by code")
    out: dict[str, Location] = {}
    for code, entry in raw.items():
        where = f"{source}: {code}"
        if not isinstance(entry, Mapping):
            raise LocationsError(f"{where}: expected an object like {{\"metro\": \"CHI\", \"opens\": \"08:00\", "
                                 "\"closes\": \"21:00\"}")
        unknown = set(entry) - {"metro", "opens", "closes", "online", "lat", "lon", "name"}
        if unknown:
            raise LocationsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        opens, closes = _clock(entry.get("opens"), where), _clock(entry.get("closes"), where)
        if (opens is None) != (closes is None):
            raise LocationsError(f"{where}: give both opens and closes, or neither")
        lat, lon = entry.get("lat"), entry.get("lon")
        if (lat is None) != (lon is None) or any(v is not None and not isinstance(v, int | float)
                                                 for v in (lat, lon)):
            raise LocationsError(f"{where}: lat and lon must both be numbers, or both absent")
        metro = entry.get("metro")
        if metro is not None and not isinstance(metro, str):
            raise LocationsError(f"{where}: metro must be a code like \"CHI\"")
        out[str(code)] = Location(metro=metro, opens=opens, closes=closes, online=bool(entry.get("online", False)),
                                  lat=None if lat is None else float(lat), lon=None if lon is None else float(lon))
    return out


class Flag(msgspec.Struct, frozen=True):
    """One flagged row under one pattern; ``score`` in (0, 1], higher is stronger evidence."""

    id: str
    pattern: str
    score: float
    reason: str


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _ramp(value: float, at: float, full: float) -> float:
    """0.5 at the threshold ``at``, rising to 1.0 at ``full``: the score of evidence past its threshold."""
    if full <= at:
        return 1.0
    return round(min(1.0, max(0.05, 0.5 + 0.5 * (value - at) / (full - at))), 3)


def _ids(rows: Iterable[Row], most: int = 6) -> str:
    names = [r.id for r in rows]
    shown = ", ".join(names[:most])
    return f"ids {shown}" + (f" and {len(names) - most} more" if len(names) > most else "")


def _span(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds < 600 and seconds % 60 else "")
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _attempts(burst: Iterable[tuple[float, Row]]) -> int:
    """The attempts of a card's burst, a decline retried at the same amount counted once."""
    declined: set[Decimal] = set()
    approved = 0
    for _, r in burst:
        if r.result == "DECLINED":
            declined.add(r.amount)
        else:
            approved += 1
    return approved + len(declined)


class _Outliers:
    """One location's recent approved sale amounts (logs) and their median and scale."""

    __slots__ = ("added", "due", "median", "ring", "scale", "top")

    def __init__(self) -> None:
        self.ring: list[float] = []
        self.added = 0
        self.due = 0
        """Sales to add before the median and scale are taken again."""
        self.median = 0.0
        self.scale = 0.0
        self.top = 0.0
        """The log of the location's largest usual sale (its ``outlier_quantile``)."""


class _Sales:
    """What the approved sales of one reference, or of one card at one location, have left to refund."""

    __slots__ = ("card", "entries", "first")

    def __init__(self, first: Row) -> None:
        self.first = first
        self.card = first.card
        self.entries: list[list[Any]] = []  # [time, amount left, row]

    def left(self, since: float) -> Decimal:
        self.entries = [e for e in self.entries if e[0] >= since]
        return sum((e[1] for e in self.entries), Decimal(0))

    def take(self, amount: Decimal) -> None:
        for entry in reversed(self.entries):
            used = min(entry[1], amount)
            entry[1] -= used
            amount -= used
            if not amount:
                return

    def cancel(self, amount: Decimal) -> None:
        """A void: the latest sale of that amount is no longer there to refund."""
        for i in range(len(self.entries) - 1, -1, -1):
            if self.entries[i][1] == amount:
                del self.entries[i]
                return


def _slid(windows: dict[K, deque[tuple[float, Row]]], key: K, ts: float, row: Row,
          since: float) -> deque[tuple[float, Row]]:
    """``key``'s window with ``row`` added and the rows older than ``since`` dropped."""
    window = windows.get(key)
    if window is None:
        window = windows[key] = deque()
    window.append((ts, row))
    while window[0][0] < since:
        window.popleft()
    return window


class Detector:
    """Reads rows in time order and flags them; state is kept per card, location and cashier only as long as
    a window needs it (the refund and outlier look-backs excepted).

    ``refund_refs`` and ``refund_cards`` narrow the sales kept for refunds to the references and
    (card, location) pairs that some refund names, when the rows are known in advance (``detect``); a stream
    leaves them ``None`` and keeps them all.
    """

    def __init__(self, locations: Mapping[str, Location], settings: Thresholds = Thresholds(), *,
                 refund_refs: set[str] | None = None,
                 refund_cards: set[tuple[str, str]] | None = None) -> None:
        self.locations = locations
        self.settings = settings
        self._refund_refs = refund_refs
        self._refund_cards = refund_cards
        self._seen: set[tuple[str, str]] = set()
        self._flags: list[tuple[float, str, str, Flag]] = []
        self._new: list[Flag] = []
        self._card_bursts: dict[str, deque[tuple[float, Row]]] = {}
        self._location_small: dict[str, deque[tuple[float, Row]]] = {}
        self._bursts: dict[str, tuple[float, set[Decimal], float, str]] = {}
        self._charges: dict[tuple[str, str, Decimal, str], list[tuple[float, Row]]] = {}
        self._refs: dict[str, _Sales] = {}
        self._cards: dict[tuple[str, str], _Sales] = {}
        self._sold: set[tuple[str, str]] = set()
        self._voids: dict[tuple[str, str], deque[tuple[float, Row]]] = {}
        self._work: dict[tuple[str, str], deque[float]] = {}
        self._rates: dict[str, list[int]] = {}  # location -> [voids, rows with a cashier]
        self._amounts: dict[str, _Outliers] = {}
        self._last_place: dict[str, tuple[float, tuple[float, float], Row]] = {}
        self._places: dict[tuple[str, str], tuple[float, float] | None] = {}
        self._hours: dict[str, tuple[int, int] | None] = {}
        self._next_sweep = -math.inf
        self._next_travel_sweep = -math.inf

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _flag(self, row: Row, ts: float, pattern: str, score: float, reason: str) -> None:
        key = (row.id, pattern)
        if key in self._seen:
            return
        self._seen.add(key)
        flag = Flag(row.id, pattern, score, reason)
        self._flags.append((ts, row.id, pattern, flag))
        self._new.append(flag)

    def flags(self) -> list[Flag]:
        """Every flag so far, in the time order of the rows, then by pattern."""
        self._flags.sort(key=lambda f: (f[0], f[1], PATTERNS.index(f[2])))
        return [f[3] for f in self._flags]

    def _place(self, row: Row) -> tuple[float, float] | None:
        key = (row.location, row.entry_mode)
        if key not in self._places:
            location = self.locations.get(row.location)
            if row.entry_mode == "ECOM" or (location is None and row.location.upper() in ONLINE_CODES):
                self._places[key] = None
            else:
                self._places[key] = location.place if location is not None else None
        return self._places[key]

    def _open_hours(self, code: str) -> tuple[int, int] | None:
        if code not in self._hours:
            location = self.locations.get(code)
            if location is None or location.online or location.opens is None or location.closes is None:
                self._hours[code] = None
            else:
                self._hours[code] = (location.opens.hour * 60 + location.opens.minute,
                                     location.closes.hour * 60 + location.closes.minute)
        return self._hours[code]

    def _sweep(self, now: float) -> None:
        """Drops what no window can use any more, so memory follows the windows, not the stream."""
        s = self.settings
        self._charges = {k: v for k, v in self._charges.items() if v and v[-1][0] >= now - s.duplicate_window_s}
        self._card_bursts = {k: v for k, v in self._card_bursts.items() if v and v[-1][0] >= now - s.testing_window_s}
        self._voids = {k: v for k, v in self._voids.items() if v and v[-1][0] >= now - s.void_window_s}
        self._work = {k: v for k, v in self._work.items() if v and v[-1] >= now - s.void_window_s}
        if now >= self._next_travel_sweep:
            horizon = 20_000 / s.travel_kmh * 3600  # no two places on Earth are farther apart than 20,000 km
            self._last_place = {k: v for k, v in self._last_place.items() if v[0] >= now - horizon}
            self._next_travel_sweep = now + horizon
        self._next_sweep = now + 3600

    # -- the patterns --------------------------------------------------------------------------------------

    def feed(self, row: Row) -> list[Flag]:
        """Reads one row (rows in time order) and answers the flags it raised, earlier rows' included."""
        return self._feed(row, row.time.timestamp())

    def _feed(self, row: Row, ts: float) -> list[Flag]:
        self._new = []
        if ts >= self._next_sweep:
            self._sweep(ts)
        kind = row.type
        approved = row.result == "APPROVED"
        fp = row.card_fingerprint
        if kind in SALES:
            if row.amount <= self.settings.small_amount or not approved:
                self._card_testing(row, ts, fp, approved)
            if approved:
                self._duplicate(row, ts, fp)
                self._remember_sale(row, ts, fp)
            self._outlier(row, approved)
        elif kind == "REFUND":
            if approved:
                self._refund(row, ts, fp)
        elif kind == "VOID":
            self._void(row, fp)
        if row.cashier:
            self._count_work(row, ts, kind == "VOID")
        if fp:
            self._travel(row, ts, fp)
        return self._new

    def _card_testing(self, row: Row, ts: float, fp: str, approved: bool) -> None:
        s = self.settings
        since = ts - s.testing_window_s
        if fp:
            burst = _slid(self._card_bursts, fp, ts, row, since)
            if len(burst) >= s.testing_per_card and _attempts(burst) >= s.testing_per_card:
                entries = [r for _, r in burst]
                declined = sum(r.result == "DECLINED" for r in entries)
                low = min(r.amount for r in entries)
                high = max(r.amount for r in entries)
                reason = (f"{len(entries)} small or declined attempts on {row.card} within "
                          f"{_span(ts - burst[0][0])} at {row.location} ({declined} declined, amounts "
                          f"{_money(low, row.currency)} to {_money(high, row.currency)}; {_ids(entries)})")
                score = _ramp(_attempts(burst), s.testing_per_card, 3 * s.testing_per_card)
                for when, r in burst:
                    self._flag(r, when, "card_testing", score, reason)
        if row.amount > s.small_amount or row.entry_mode in CARD_PRESENT:
            return
        small = _slid(self._location_small, row.location, ts, row, since)
        if approved:
            active = self._bursts.get(row.location)
            if active is not None and ts <= active[0] and row.amount in active[1]:
                self._flag(row, ts, "card_testing", active[2], active[3])
            return
        refused = [r for _, r in small if r.result == "DECLINED"]
        cards = {r.card_fingerprint or r.id for r in refused}
        if len(cards) < s.testing_cards:
            return
        probes = {r.amount for r in refused}
        burst_rows = [(w, r) for w, r in small if r.result == "DECLINED" or r.amount in probes]
        reason = (f"{len(refused)} small declined attempts from {len(cards)} different cards at {row.location} "
                  f"within {_span(ts - burst_rows[0][0])} ({len(burst_rows) - len(refused)} approved at the same "
                  f"probe amounts; {_ids(r for _, r in burst_rows)})")
        score = _ramp(len(cards), s.testing_cards, 4 * s.testing_cards)
        for when, r in burst_rows:
            self._flag(r, when, "card_testing", score, reason)
        self._bursts[row.location] = (ts + s.testing_window_s, probes, score,
                                      reason + "; this approved probe followed within the window")

    def _duplicate(self, row: Row, ts: float, fp: str) -> None:
        if not fp:
            return
        key = (fp, row.location, row.amount, row.currency)
        earlier = self._charges.get(key)
        if earlier is None:
            self._charges[key] = [(ts, row)]
            return
        since = ts - self.settings.duplicate_window_s
        earlier[:] = [e for e in earlier if e[0] >= since]
        if earlier:
            n = len(earlier) + 1
            rows = [r for _, r in earlier] + [row]
            reason = (f"{_nth(n)} approved charge of {_money(row.amount, row.currency)} on {row.card} at "
                      f"{row.location} within {_span(ts - earlier[0][0])}, no void between ({_ids(rows)})")
            gap = ts - earlier[-1][0]
            score = _ramp(self.settings.duplicate_window_s - gap, 0, self.settings.duplicate_window_s)
            self._flag(row, ts, "duplicate_charge", min(1.0, score + 0.1 * (n - 2)), reason)
        earlier.append((ts, row))

    def _remember_sale(self, row: Row, ts: float, fp: str) -> None:
        ref = row.reference
        if ref and (self._refund_refs is None or ref in self._refund_refs):
            sales = self._refs.get(ref)
            if sales is None:
                sales = self._refs[ref] = _Sales(row)
            sales.entries.append([ts, row.amount, row])
        if fp:
            key = (fp, row.location)
            if self._refund_cards is None or key in self._refund_cards:
                self._sold.add(key)
                sales = self._cards.get(key)
                if sales is None:
                    sales = self._cards[key] = _Sales(row)
                sales.entries.append([ts, row.amount, row])

    def _void(self, row: Row, fp: str) -> None:
        if fp:
            earlier = self._charges.get((fp, row.location, row.amount, row.currency))
            if earlier:
                earlier.pop()
        if row.result != "APPROVED":
            return
        if row.reference in self._refs:
            self._refs[row.reference].cancel(row.amount)
        if (fp, row.location) in self._cards:
            self._cards[(fp, row.location)].cancel(row.amount)

    def _refund(self, row: Row, ts: float, fp: str) -> None:
        s = self.settings
        amount, cur, where = row.amount, row.currency, row.location
        since = ts - s.refund_lookback_days * 86400
        by_ref = self._refs.get(row.reference) if row.reference else None
        by_card = self._cards.get((fp, where)) if fp else None
        if by_ref is None and not s.judge_unknown_refunds:
            if amount >= s.off_hours_refund:
                self._off_hours(row, ts)
            return
        if by_ref is not None:
            left = by_ref.left(-math.inf)
            if amount > left:
                sales = [e[2] for e in by_ref.entries]
                self._flag(row, ts, "refund_without_sale", _ramp(float(amount - left), 0, float(amount)),
                           f"refund of {_money(amount, cur)} at {where} is more than the {_money(left, cur)} left of "
                           f"the approved sales of reference {row.reference}"
                           + (f" ({_ids(sales)})" if sales else " (all refunded or voided)"))
            by_ref.take(amount)
            if by_card is not None:
                by_card.take(amount)
        elif fp:
            left = by_card.left(since) if by_card is not None else Decimal(0)
            if amount > left:
                sales = [e[2] for e in by_card.entries] if by_card is not None else []
                ref = f"reference {row.reference} matches no sale" if row.reference else "no reference"
                self._flag(row, ts, "refund_without_sale", _ramp(float(amount - left), 0, float(amount)),
                           f"refund of {_money(amount, cur)} to {row.card} at {where} ({ref}) is more than the "
                           f"{_money(left, cur)} its approved sales there in the last {s.refund_lookback_days} days "
                           "have left" + (f" ({_ids(sales)})" if sales else ""))
            if by_card is not None:
                by_card.take(amount)
        if fp and (fp, where) not in self._sold:
            paid = f"; reference {row.reference} was paid with {by_ref.card}" if by_ref is not None else ""
            self._flag(row, ts, "refund_to_new_card", _ramp(float(amount), 0, 200.0),
                       f"refund of {_money(amount, cur)} to {row.card}, a card never used for a sale at {where}{paid}")
        if amount >= s.off_hours_refund:
            self._off_hours(row, ts)

    def _off_hours(self, row: Row, ts: float) -> None:
        hours = self._open_hours(row.location)
        if hours is None:
            return
        opens, closes = hours
        grace = self.settings.off_hours_grace_min
        minute = row.time.hour * 60 + row.time.minute
        start, end = (opens - grace) % 1440, (closes + grace) % 1440
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if inside:
            return
        away = min((opens - minute) % 1440, (minute - closes) % 1440)
        clock = f"{row.time.hour:02d}:{row.time.minute:02d}"
        span = f"{opens // 60:02d}:{opens % 60:02d} to {closes // 60:02d}:{closes % 60:02d}"
        self._flag(row, ts, "off_hours_refund",
                   _ramp(float(row.amount / self.settings.off_hours_refund) + away / 120, 1, 4),
                   f"refund of {_money(row.amount, row.currency)} to {row.card} at {row.location} at {clock} local "
                   f"time, {_span(away * 60)} outside its opening hours {span} (large from "
                   f"{_money(self.settings.off_hours_refund, row.currency)})")

    def _count_work(self, row: Row, ts: float, is_void: bool) -> None:
        s = self.settings
        key = (row.location, row.cashier)
        since = ts - s.void_window_s
        work = self._work.get(key)
        if work is None:
            work = self._work[key] = deque()
        work.append(ts)
        while work[0] < since:
            work.popleft()
        rate = self._rates.get(row.location)
        if rate is None:
            rate = self._rates[row.location] = [0, 0]
        rate[1] += 1
        if not is_void:
            return
        rate[0] += 1
        voids = _slid(self._voids, key, ts, row, since)
        n = len(voids)
        if n < s.void_min:
            return
        others_voids, others_rows = max(0, rate[0] - n), max(0, rate[1] - len(work))
        location_rate = (others_voids + s.void_prior_rate * s.void_prior_rows) / (others_rows + s.void_prior_rows)
        expected = location_rate * len(work)
        if n < s.void_factor * max(expected, 1.0):
            return
        reason = (f"{n} voids by cashier {row.cashier} at {row.location} within {_span(ts - voids[0][0])} "
                  f"({_ids(r for _, r in voids)}); the location's other rows are {location_rate:.1%} voids, "
                  f"{expected:.1f} expected of this cashier's {len(work)}")
        score = _ramp(n / max(expected, 1.0), s.void_factor, 4 * s.void_factor)
        for when, r in voids:
            self._flag(r, when, "void_spike", score, reason)

    def _outlier(self, row: Row, approved: bool) -> None:
        if row.amount <= 0:
            return
        s = self.settings
        stats = self._amounts.get(row.location)
        if stats is None:
            stats = self._amounts[row.location] = _Outliers()
        x = math.log(float(row.amount))
        if stats.added >= s.outlier_history:
            if stats.due <= 0:
                values = np.asarray(stats.ring)
                stats.median = float(np.median(values))
                stats.scale = max(1.4826 * float(np.median(np.abs(values - stats.median))), 0.05)
                stats.top = float(np.quantile(values, s.outlier_quantile))
                stats.due = s.outlier_refresh
            z = (x - stats.median) / stats.scale
            if z >= s.outlier_z and x - stats.top >= math.log(s.outlier_tail_factor):
                median = Decimal(math.exp(stats.median)).quantize(Decimal("0.01"))
                self._flag(row, row.time.timestamp(), "amount_outlier", _ramp(z, s.outlier_z, 2 * s.outlier_z),
                           f"{'sale' if approved else 'declined sale'} of {_money(row.amount, row.currency)} at "
                           f"{row.location} is {math.exp(x - stats.median):,.0f} times its median sale of "
                           f"{_money(median, row.currency)} (robust z {z:.1f} over its last {len(stats.ring):,} "
                           f"approved sales, flagged from {s.outlier_z:g}) and {math.exp(x - stats.top):,.1f} times "
                           f"its 1-in-{1 / (1 - s.outlier_quantile):,.0f} sale of "
                           f"{_money(Decimal(math.exp(stats.top)).quantize(Decimal('0.01')), row.currency)} "
                           f"(flagged from {s.outlier_tail_factor:g} times)")
        if approved:
            if len(stats.ring) < s.outlier_window:
                stats.ring.append(x)
            else:
                stats.ring[stats.added % s.outlier_window] = x
            stats.added += 1
            stats.due -= 1

    def _travel(self, row: Row, ts: float, fp: str) -> None:
        place = self._place(row)
        if place is None:
            return
        last = self._last_place.get(fp)
        self._last_place[fp] = (ts, place, row)
        if last is None or last[1] == place:
            return
        then, there, before = last
        s = self.settings
        a = self.locations.get(row.location)
        b = self.locations.get(before.location)
        if a is not None and b is not None and a.metro and a.metro == b.metro:
            return
        km = _km(there, place)
        if km < s.travel_min_km:
            return
        hours = max(ts - then, 60.0) / 3600
        speed = km / hours
        if speed <= s.travel_kmh:
            return
        self._flag(row, ts, "impossible_travel", _ramp(speed, s.travel_kmh, 4 * s.travel_kmh),
                   f"{row.card} at {row.location} ({a.metro if a and a.metro else 'its place'}) "
                   f"{_span(ts - then)} after {before.location} "
                   f"({b.metro if b and b.metro else 'its place'}), {km:,.0f} km away: {speed:,.0f} km/h, above "
                   f"the {s.travel_kmh:,.0f} km/h travel allows ({_ids([before, row])})")


def detect(rows: Iterable[Row], locations: Mapping[str, Location], *,
           settings: Thresholds = Thresholds()) -> list[Flag]:
    """Flags of ``rows`` (any order), one per row and pattern, in the rows' time order.

    Deterministic: rows are read by time, then id, so the same rows in any order give the same flags.
    """
    ordered = sorted((r.time.timestamp(), r.id, i, r) for i, r in enumerate(rows))
    refunds = [r for *_, r in ordered if r.type == "REFUND"]
    detector = Detector(locations, settings, refund_refs={r.reference for r in refunds if r.reference},
                        refund_cards={(r.card_fingerprint, r.location) for r in refunds if r.card_fingerprint})
    feed = detector._feed
    for ts, _, _, row in ordered:
        feed(row, ts)
    return detector.flags()
