"""Card-number (PAN) and SSN detection and masking: PCI DSS keeps PANs, and payroll keeps SSNs, out of storage,
logs, queues and audit.

An SSN is recognised where it is written as one, ``123-45-6789`` or ``123 45 6789`` (nine bare digits are as
often a ZIP+4, a routing number or an id), or as nine digits under a key whose words name it (``ssn``,
``employeeSSN``, ``socialSecurityNumber``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Runs of 13 to 19 digits that may be grouped by single spaces or dashes ("4111 1111-1111 1111").
_CANDIDATE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![ -]?\d)")
_RUN = re.compile(r"\d[\d -]{11,}\d")
"""Where a candidate can be: a run of at least 13 digits, spaces and dashes, found far faster than the
candidates themselves in text full of short numbers (dates, amounts, ids)."""
_EXPONENT = re.compile(r"\d[eE][+-]?\d")


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


def find_pans(text: str) -> Iterator[tuple[int, int, str]]:
    """Start, end and digits of each Luhn-valid card-number run in ``text``."""
    for run in _RUN.finditer(text):
        for match in _CANDIDATE.finditer(text, run.start(), run.end()):
            digits = match.group().replace(" ", "").replace("-", "")
            if luhn_valid(digits):
                yield match.start(), match.end(), digits


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
    if "\\u" not in text and not _EXPONENT.search(text) and next(find_pans(text), None) is None:
        return []
    return scan(payload)


def scan(payload: Any, path: str = "$") -> list[PanFinding]:
    """Every card number inside any key, string or number of a parsed JSON payload, at any depth."""
    findings: list[PanFinding] = []
    stack: list[tuple[str, Any]] = [(path, payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{where}.{redact(str(key))}"
                findings.extend(PanFinding(child, mask_pan(d)) for _, _, d in find_pans(str(key)))
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            findings.extend(PanFinding(where, mask_pan(d)) for _, _, d in find_pans(value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = format(value, "f") if isinstance(value, float) else str(value)
            findings.extend(PanFinding(where, mask_pan(d)) for _, _, d in find_pans(text))
    findings.sort(key=lambda f: f.path)
    return findings
