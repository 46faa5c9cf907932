"""The input row of ``hl365 anomalies`` and the live payment stream, decoded with msgspec for speed.

One JSON object a line. A line that cannot be a row is reported as ``FILE:LINE: reason``, counted and
skipped: one bad line of a month's export must not hide the other million. A line that carries a full card
number anywhere is refused the same way, and its reason shows the number masked, never its digits; such
a line is never decoded further, so its number reaches neither the detector nor its reasons.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shared.security.pan import find_pans, mask_pan

MAX_PROBLEMS = 50
"""Problems kept word for word; the rest are only counted."""
MAX_SHOWN_DIGITS = 10
"""The first six and last four: the most of a card number PCI DSS allows to be shown."""
MAX_INTEGER_DIGITS = 12
"""An amount has at most this many digits before the point (under a trillion): beyond is no payment but a
broken or hostile row, whose printing alone could fill a disk (``1e50000000`` has fifty million digits)."""
MAX_DECIMALS = 4
"""An amount has at most this many decimals, trailing zeros aside (minor units of any currency, and a rate's)."""

_RUN = re.compile(rb"\d[\d +%_-]{11,}")
"""Where a card number could be (13 or more digits and separators): most lines have none, so the full
check runs on few of them."""
_DIGITS = re.compile(r"\d")


class Row(msgspec.Struct, gc=False):
    """One payment event as a store or the gateway reported it; unknown keys are ignored.

    ``time`` carries the store's UTC offset, so its clock reading is the store's local time.
    ``amount`` is the positive amount of the event whatever its ``type``.
    """

    id: str
    time: Annotated[datetime, msgspec.Meta(tz=True)]
    location: str
    type: str
    amount: Decimal
    result: Literal["APPROVED", "DECLINED"]
    cashier: str = ""
    currency: str = "USD"
    brand: str = ""
    masked_card: str = ""
    card_fingerprint: str = ""
    entry_mode: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id is empty")
        if not self.location:
            raise ValueError("location is empty")
        if not self.amount.is_finite() or self.amount < 0:
            raise ValueError(f"amount {_shown(self.amount)} is not a positive amount (a refund is type REFUND with "
                             "its amount positive)")
        _, digits, exponent = self.amount.as_tuple()
        if not isinstance(exponent, int):  # only NaN and infinity have a letter here, refused above
            raise ValueError(f"amount {_shown(self.amount)} is not a number")
        significant = len(bytes(digits).rstrip(b"\0"))  # a zero amount has none
        decimals = max(0, -exponent - (len(digits) - significant)) if significant else 0
        whole = max(0, len(digits) + exponent) if significant else 0
        if whole > MAX_INTEGER_DIGITS or decimals > MAX_DECIMALS:
            raise ValueError(f"amount {_shown(self.amount)} has {whole:,} digit(s) before the point and "
                             f"{decimals:,} decimal(s); an amount has at most {MAX_INTEGER_DIGITS} and "
                             f"{MAX_DECIMALS}")
        shown = len(_DIGITS.findall(self.masked_card))
        if shown > MAX_SHOWN_DIGITS:
            raise ValueError(f"masked_card shows {shown} digits ({mask_pan(self.masked_card)}); at most the first "
                             "six and the last four may be shown")
        intern = sys.intern
        self.type = intern(self.type.upper())
        self.location = intern(self.location)
        self.cashier = intern(self.cashier)
        self.currency = intern(self.currency)
        self.brand = intern(self.brand)
        self.entry_mode = intern(self.entry_mode.upper())

    @property
    def card(self) -> str:
        """The card as an analyst may read it: its last four digits, else the start of its fingerprint."""
        digits = "".join(_DIGITS.findall(self.masked_card))
        if len(digits) >= 4:
            return f"card …{digits[-4:]}"
        if self.card_fingerprint:
            return f"card {self.card_fingerprint[:10]}"
        return "no card"


def _shown(amount: Decimal) -> str:
    """An amount as a message may show it: its text, cut short when long."""
    text = str(amount)
    return text if len(text) <= 24 else f"{text[:20]}…({len(text):,} characters)"


_DECODER = msgspec.json.Decoder(Row)


class Reader:
    """Decodes lines into rows, keeping count of what it refused and why."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.malformed = 0
        self.problems: list[str] = []

    def _refuse(self, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{self.source}:{number}: {reason}")

    def rows(self, lines: Iterable[bytes]) -> Iterator[Row]:
        """Each good row of ``lines`` in order; blank lines are skipped silently."""
        decode = _DECODER.decode
        run = _RUN.search
        for number, line in enumerate(lines, 1):
            if run(line) is not None:
                text = line.decode("utf-8", errors="replace")
                found = [mask_pan(digits) for _, _, digits in find_pans(text)]
                if found:
                    self._refuse(number, f"refused: a full card number ({', '.join(found)}) in the row; only "
                                         "masked_card and card_fingerprint may name the card")
                    continue
            try:
                yield decode(line)
            except msgspec.ValidationError as exc:
                self._refuse(number, str(exc))
            except msgspec.DecodeError as exc:
                if not line.strip():
                    continue
                self._refuse(number, f"not a JSON object ({exc})")

    def read(self, path: Path) -> list[Row]:
        """Every good row of the file at ``path``; ``OSError`` if it cannot be read."""
        with path.open("rb") as lines:
            return list(self.rows(lines))

    @property
    def summary(self) -> str:
        """One line for the end of a run."""
        more = self.malformed - len(self.problems)
        return (f"{self.source}: {self.malformed:,} malformed row(s) skipped"
                + (f" ({more:,} not listed)" if more > 0 else ""))
