"""Card-number (PAN) and SSN detection and masking: PCI DSS keeps PANs, and payroll keeps SSNs, out of storage,
logs, queues and audit.

A PAN is a run of 13 to 19 digits that is not part of a longer digit run, passes Luhn, and starts with the
prefix of a real card brand at a length that brand issues:

* Visa ``4`` (13, 16, 19 digits); Mastercard ``51`` to ``55`` and ``2221`` to ``2720`` (16);
  Amex ``34``, ``37`` (15); Discover ``6011``, ``644`` to ``649``, ``65`` (16 to 19); JCB ``3528`` to ``3589``
  (16 to 19); Diners ``300`` to ``305``, ``36``, ``38``, ``39`` (14 to 19); UnionPay ``62`` (16 to 19).

It is found however it is written: bare, as a JSON number, glued to letters (``x4111…``, track data
``%B4111…^`` and ``;4111…=``), or grouped by single spaces, dashes, ``+`` or ``%20`` (URL-encoded) in a card
grouping (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4, 4-4-5, …); a bare run stands on its own beside other numbers
(``4111111111111111 123``), a grouped one beside groups of another size. A run is left alone where digits
cannot tell but context can: after ``/Date(`` (an OData timestamp), after a leading ``+`` (a phone number),
inside a hex id of 24 or more characters (a digest, an ObjectId), or labelled by the words just before it (or
by its JSON key) as a barcode, tracking, routing, bank-account, IBAN, ARN or phone number, unless those words
also name a card (``cardAccountNumber``, ``primary account number``). Millisecond to nanosecond timestamps of
this century, 23-digit ARNs, 20-digit and longer order numbers, UUIDs and dates fail the length, brand or
grouping rules on their own.

An SSN is recognised where it is written as one, ``123-45-6789`` or ``123 45 6789`` (nine bare digits are as
often a ZIP+4, a routing number or an id), or as nine digits under a key whose words name it (``ssn``,
``employeeSSN``, ``socialSecurityNumber``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_RUN = re.compile(r"\d[\d +%_-]{11,}")
"""Where a candidate can be: a run of at least 13 digits and separators, found far faster than the
candidates themselves in text full of short numbers (dates, amounts, ids)."""
_JOINED = re.compile(r"\d+(?:(?:[ +-]|%__)\d+)*")
"""Digit groups joined by single separators (``%__`` is ``%20`` in the escape-neutral view)."""
_GROUP = re.compile(r"\d+")
_ESCAPE = re.compile(r"%(\d\d)")
_EXPONENT = re.compile(r"\d[eE][+-]?\d")
_LAYOUTS = frozenset({(4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 4, 4), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2),
                      (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 5), (4, 3, 3, 3), (6, 13), (4, 4, 4, 5),
                      (4, 4, 4, 6), (4, 4, 4, 7)})
"""Card groupings of the brands: 4-4-4-4 and its 13 to 19-digit kin, Amex 4-6-5, Diners 4-6-4, Maestro 6-13."""
_HEX_TOKEN = re.compile(r"[0-9A-Za-z]+")
_CARD_WORDS = frozenset({"card", "cards", "pan", "cc", "ccn", "credit", "debit", "primary", "visa", "mastercard",
                         "amex", "discover", "jcb", "diners", "unionpay", "cardnumber", "ccnum"})
_NOT_CARD_WORDS = frozenset({"barcode", "barcodes", "gtin", "upc", "ean", "ean13", "isbn", "sku", "tracking",
                             "routing", "aba", "account", "acct", "iban", "arn", "phone", "tel", "telephone",
                             "mobile", "fax", "msisdn", "cell"})
_LABEL_CUT = re.compile(r"[\n,;&{}|]")


def _brand_length_ok(digits: str) -> bool:
    """A real brand's prefix at a length that brand issues."""
    n = len(digits)
    first = digits[0]
    if first == "4":
        return n in (13, 16, 19)
    if first == "5":
        return n == 16 and "51" <= digits[:2] <= "55"
    if first == "2":
        return n == 16 and "2221" <= digits[:4] <= "2720"
    if first == "3":
        two = digits[:2]
        if two in ("34", "37"):
            return n == 15
        if "3528" <= digits[:4] <= "3589":
            return n >= 16
        return n >= 14 and ("300" <= digits[:3] <= "305" or two in ("36", "38", "39"))
    if first == "6":
        return n >= 16 and (digits[:4] == "6011" or "644" <= digits[:3] <= "649" or digits[:2] in ("65", "62"))
    return False


def luhn_valid(digits: str) -> bool:
    """The mod-10 check every issued card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def mask_pan(digits: str) -> str:
    """First six and last four at most, the most PCI DSS allows to be shown."""
    digits = re.sub(r"\D", "", digits)
    keep_head = min(6, max(0, len(digits) - 4 - 3))
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def _view(text: str) -> str:
    """``text`` with URL escapes of two digits neutralised, position for position: ``%20`` becomes the
    separator ``%__``, any other (``%2C``-like escapes already break a run) ``%~~``, so ``card%3A%204111``
    reads no ``20`` into the number."""
    if "%" not in text:
        return text
    return _ESCAPE.sub(lambda m: "%__" if m.group(1) == "20" else "%~~", text)


def _is_pan(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _brand_length_ok(digits) and luhn_valid(digits)


def _candidates(view: str) -> Iterator[tuple[int, int, str]]:
    """Every span of ``view`` whose digits are a PAN by digits and grouping alone, context aside."""
    for run in _RUN.finditer(view):
        for joined in _JOINED.finditer(view, run.start(), run.end()):
            groups = [(g.start(), g.end()) for g in _GROUP.finditer(view, joined.start(), joined.end())]
            sizes = tuple(e - s for s, e in groups)
            if len(groups) == 1 or (13 <= sum(sizes) <= 19 and sizes in _LAYOUTS):
                digits = "".join(view[s:e] for s, e in groups)
                if _is_pan(digits):
                    yield joined.start(), joined.end(), digits
                    continue
            if len(groups) == 1:
                continue
            yield from _inner(view, groups, sizes)


def _inner(view: str, groups: list[tuple[int, int]], sizes: tuple[int, ...]) -> Iterator[tuple[int, int, str]]:
    """A bare 13 to 19-digit group beside other numbers, or a card grouping beside groups of another size
    (``4111 1111 1111 1111 123``, ``qty 2 4111 1111 1111 1111``): never a window of a longer card-like run."""
    taken = -1
    for i in range(len(groups)):
        if groups[i][0] < taken:
            continue
        if 13 <= sizes[i] <= 19:
            digits = view[groups[i][0]:groups[i][1]]
            if _is_pan(digits):
                taken = groups[i][1]
                yield groups[i][0], groups[i][1], digits
            continue
        for j in range(i + 1, min(len(groups), i + 5)):
            window = sizes[i:j + 1]
            if window not in _LAYOUTS:
                continue
            before = sizes[i - 1] if i else 0
            after = sizes[j + 1] if j + 1 < len(sizes) else 0
            if 4 in (before, after):
                continue
            digits = "".join(view[s:e] for s, e in groups[i:j + 1])
            if _is_pan(digits):
                taken = groups[j][1]
                yield groups[i][0], groups[j][1], digits
                break


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORDS.findall(text)}


def _labelled_not_card(view: str, start: int, label: str) -> bool:
    """The words just before the run (back to a line, field or list boundary), and a JSON key, name a barcode,
    tracking, routing, bank-account, IBAN, ARN or phone number and no card."""
    window = view[max(0, start - 40):start]
    cuts = [m.end() for m in _LABEL_CUT.finditer(window)]
    if cuts:
        window = window[cuts[-1]:]
    words = _words(window) | (_words(label) if label else set())
    return not words & _CARD_WORDS and bool(words & _NOT_CARD_WORDS)


def _in_context_not_a_pan(view: str, start: int, end: int, label: str) -> bool:
    head = view[max(0, start - 7):start]
    if head.endswith(("/Date(", "/Date(-", "Date(")):
        return True
    if start and view[start - 1] == "+" and (start == 1 or not view[start - 2].isalnum()):
        return True
    if (start and view[start - 1] in "0123456789abcdefABCDEF") or (end < len(view) and view[end].isalnum()):
        left = start
        while left and view[left - 1].isalnum():
            left -= 1
        token = _HEX_TOKEN.match(view, left)
        if token is not None and len(token.group()) >= 24 and all(c in "0123456789abcdefABCDEF" for c in
                                                                   token.group()):
            return True
    if head.lower().endswith("tel:"):
        return True
    return _labelled_not_card(view, start, label)


def find_pans(text: str) -> Iterator[tuple[int, int, str]]:
    """Start, end and digits of each card number in ``text`` (the rules are the module's)."""
    return _find(text, "")


def _find(text: str, label: str) -> Iterator[tuple[int, int, str]]:
    """``find_pans`` with the JSON key (or other label) the text sits under."""
    view = _view(text)
    for start, end, digits in _candidates(view):
        if not _in_context_not_a_pan(view, start, end, label):
            yield start, end, digits


_SSN = re.compile(r"(?<![A-Za-z\d-])\d{3}([- ])\d{2}\1(\d{4})(?![\d-])")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_NINE_DIGITS = re.compile(r"\d{3}[- ]?\d{2}[- ]?\d{4}")


def mask_ssns(text: str) -> str:
    """``text`` with every SSN written as one masked to ``***-**-`` and its last four."""
    return _SSN.sub(lambda m: f"***-**-{m.group(2)}", text) if "-" in text or " " in text else text


_SSN_HINT = re.compile(r"ssn|social", re.IGNORECASE)


def find_ssns_json(raw: bytes, payload: Any) -> list[str]:
    """``find_ssns(payload)``, skipped when the raw JSON text shows neither an SSN written as one nor a key that
    could name one: the intake hot path walks no payload for nothing."""
    text = raw.decode("utf-8", errors="replace")
    if "\\u" not in text and not _SSN.search(text) and not _SSN_HINT.search(text):
        return []
    return find_ssns(payload)


def find_ssns(payload: Any, path: str = "$") -> list[str]:
    """Where a parsed JSON payload holds an SSN: a value written as one, or nine digits under a key naming it."""
    found: list[str] = []
    stack: list[tuple[str, str, Any]] = [(path, "", payload)]
    while stack:
        where, key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{mask_ssns(str(k))}", str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", key, v) for i, v in enumerate(value))
        elif isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            if _SSN.search(text) or (_names_ssn(key) and _NINE_DIGITS.fullmatch(text.strip())):
                found.append(where)
    return sorted(found)


def _names_ssn(key: str) -> bool:
    """``ssn``, ``employeeSSN``, ``social_security_number``, ``SocialSecurityNo``: a key whose words name one
    (``businessNumber`` holds "ssN" but no such word; a tax id may be a business's EIN)."""
    words = {word.lower() for word in _WORDS.findall(key)}
    return "ssn" in words or {"social", "security"} <= words


def redact(text: str) -> str:
    """``text`` with every card number and SSN masked; safe to log or store."""
    return mask_ssns(_mask_pans(text))


def _mask_pans(text: str) -> str:
    pieces: list[str] = []
    last = 0
    for start, end, digits in find_pans(text):
        pieces.append(text[last:start])
        pieces.append(mask_pan(digits))
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


@dataclass(frozen=True)
class PanFinding:
    """Where a card number was found (a dotted path into the payload) and its masked form."""

    path: str
    masked: str


def scan_json(raw: bytes, payload: Any) -> list[PanFinding]:
    """``scan(payload)``, skipped when the raw JSON text shows no card number at all.

    Every digit of a JSON document's keys, strings and numbers appears literally in its text unless
    written as a ``\\u`` escape or hidden in a number's exponent, so a clean text without either
    proves a clean payload; that spares the walk on the intake hot path.
    """
    text = raw.decode("utf-8", errors="replace")
    if "\\u" not in text and not _EXPONENT.search(text) and next(_candidates(_view(text)), None) is None:
        return []
    return scan(payload)


def scan(payload: Any, path: str = "$") -> list[PanFinding]:
    """Every card number inside any key, string or number of a parsed JSON payload, at any depth."""
    findings: list[PanFinding] = []
    stack: list[tuple[str, str, Any]] = [(path, "", payload)]
    while stack:
        where, label, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{where}.{redact(str(key))}"
                findings.extend(PanFinding(child, mask_pan(d)) for _, _, d in find_pans(str(key)))
                stack.append((child, str(key), item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", label, item) for i, item in enumerate(value))
        elif isinstance(value, str):
            findings.extend(PanFinding(where, mask_pan(d)) for _, _, d in _find(value, label))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = format(value, "f") if isinstance(value, float) else str(value)
            findings.extend(PanFinding(where, mask_pan(d)) for _, _, d in _find(text, label))
    findings.sort(key=lambda f: f.path)
    return findings
