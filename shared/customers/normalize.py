"""Customer records in one spelling, so that matching compares people, not typing habits.

Every source writes the same customer differently: ``Bob`` and ``Robert``, ``(312) 555-0182`` and
``+13125550182``, ``123 North Main Street`` and ``123 N Main St``, ZIP+4 and a ZIP that lost its leading
zero in a spreadsheet, ``J.Smith+promo@gmail.com`` and ``jsmith@gmail.com``, ``Acme, Inc.`` and ``ACME``.
Each field is parsed by the library that knows its rules (usaddress for US addresses, phonenumbers for
telephone numbers, nameparser for names, the nicknames table for given names); this module only chooses
what of their output identifies a customer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
import usaddress
from nameparser import HumanName
from nameparser.config import CONSTANTS
from nicknames import NickNamer

from shared.customers.rules import FIELDS, SOURCES

__all__ = ["FIELDS", "SOURCES", "Normalized", "record"]

GENERATIONS = {"jr": "jr", "junior": "jr", "sr": "sr", "senior": "sr", "ii": "ii", "2nd": "ii", "iii": "iii",
               "3rd": "iii", "iv": "iv", "4th": "iv"}
"""A generation suffix tells father from son when everything else is shared."""

_IGNORES_DOTS_AND_TAGS = {"gmail.com", "googlemail.com"}
_IGNORES_TAGS = {"outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com", "fastmail.com", "proton.me",
                 "protonmail.com"}
"""Providers that deliver ``a.b+x@`` to ``ab@`` (Gmail) or ``a+x@`` to ``a@``; others may not, so their
addresses are compared as written."""

_COMPANY_SUFFIXES = {
    "inc", "incorporated", "llc", "l l c", "ltd", "limited", "co", "company", "corp", "corporation", "lp", "llp",
    "pllc", "pc", "pa", "plc", "gmbh", "the",
}
"""Legal forms a company's name is written with or without; they never tell two businesses apart."""

# USPS Publication 28: street suffixes (C1), directionals (B) and secondary unit designators (C2) most
# often met; usaddress names the parts, this table spells them the way the Postal Service does.
_STREET_TYPES = {
    "alley": "aly", "avenue": "ave", "av": "ave", "boulevard": "blvd", "circle": "cir", "court": "ct",
    "cove": "cv", "crossing": "xing", "drive": "dr", "expressway": "expy", "freeway": "fwy", "highway": "hwy",
    "lane": "ln", "parkway": "pkwy", "place": "pl", "plaza": "plz", "road": "rd", "square": "sq",
    "street": "st", "str": "st", "terrace": "ter", "trail": "trl", "way": "way", "point": "pt", "ridge": "rdg",
    "run": "run", "loop": "loop", "pike": "pike", "turnpike": "tpke",
}
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
               "southeast": "se", "southwest": "sw"}
_UNITS = {"apartment": "apt", "suite": "ste", "unit": "unit", "room": "rm", "floor": "fl", "building": "bldg",
          "#": "#"}
_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca", "colorado": "co",
    "connecticut": "ct", "delaware": "de", "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id",
    "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "new hampshire": "nh", "new jersey": "nj", "new mexico": "nm", "new york": "ny", "north carolina": "nc",
    "north dakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhode island": "ri", "south carolina": "sc", "south dakota": "sd", "tennessee": "tn", "texas": "tx",
    "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa", "west virginia": "wv",
    "wisconsin": "wi", "wyoming": "wy", "district of columbia": "dc",
}
_COUNTRIES = {"us": "US", "usa": "US", "united states": "US", "united states of america": "US", "ca": "CA",
              "canada": "CA", "mx": "MX", "mexico": "MX"}
_NON_WORD = re.compile(r"[^0-9a-z#]+")
_NICKNAMES = NickNamer()
_TITLES = frozenset(t.lower() for t in CONSTANTS.titles)


@dataclass(frozen=True, slots=True)
class Normalized:
    """What matching compares. Empty strings mean unknown; they neither agree nor disagree."""

    id: str
    source: str
    first: str
    first_variants: tuple[str, ...]
    last_variants: tuple[str, ...]
    """The last name read as a given name, for the clerk who typed the names the wrong way round."""
    middle_initial: str
    last: str
    generation: str
    company: str
    email: str
    phone: str
    house_number: str
    street: str
    unit: str
    city: str
    state: str
    zip5: str
    country: str
    id_was_number: bool = False


def _plain(value: object) -> str:
    """Lower case ASCII without accents; ``None`` and non-strings are read as text or nothing."""
    if value is None:
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return text.lower()


def _words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text).split())


def email(value: object) -> str:
    text = _plain(value).replace(" ", "")
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        return ""
    if domain in _IGNORES_DOTS_AND_TAGS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    elif domain in _IGNORES_TAGS:
        local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local else ""


@lru_cache(maxsize=65_536)
def phone(value: str, country: str = "US") -> str:
    """E.164, or nothing for what is not a possible number (a too-short or made-up string)."""
    if not value or not any(c.isdigit() for c in value):
        return ""
    try:
        number = phonenumbers.parse(value, country or "US")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def postal_code(value: object, country: str) -> str:
    """ZIP5 from ZIP+4, and from a ZIP whose leading zeros a spreadsheet dropped (``2134`` is ``02134``)."""
    text = _plain(value).replace(" ", "")
    if country not in ("", "US"):
        return text.upper()
    digits = text.split("-", 1)[0]
    if not digits.isdigit():
        return ""
    if len(digits) == 9:
        digits = digits[:5]
    return digits.zfill(5) if 3 <= len(digits) <= 5 else ""


@lru_cache(maxsize=131_072)
def address(line: str) -> tuple[str, str, str]:
    """(house number, street, unit) of a US address line, spelled as USPS Publication 28 abbreviates."""
    text = _plain(line)
    if not text:
        return "", "", ""
    try:
        parts, _kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError as exc:
        parts = {}
        for token, label in exc.parsed_string:
            parts.setdefault(label, token)
    number = _words(parts.get("AddressNumber", "")).replace(" ", "")
    street: list[str] = []
    for label in ("StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
                  "StreetNamePostDirectional", "USPSBoxType", "USPSBoxID"):
        for word in _words(parts.get(label, "")).split():
            if label.endswith("Directional"):
                word = _DIRECTIONS.get(word, word)
            elif label.endswith("Type") and not label.startswith("USPS"):
                word = _STREET_TYPES.get(word, word)
            street.append(word)
    unit_type = _words(parts.get("OccupancyType", ""))
    unit_id = _words(parts.get("OccupancyIdentifier", "")).replace("#", "").replace(" ", "")
    unit = unit_id if unit_id else ""
    if not street:
        street = _words(text).split()
        if street and street[0].isdigit() and not number:
            number, street = street[0], street[1:]
    del unit_type  # "Apt 4" and "# 4" and "Suite 4" name the same door; the identifier is what counts
    return number, " ".join(street), unit


def company(value: object) -> str:
    words = _words(_plain(value).replace("&", " and ").replace("'", "")).replace("#", " ").split()
    while words and words[-1] in _COMPANY_SUFFIXES:
        words.pop()
    while words and words[0] == "the":
        words.pop(0)
    return " ".join(words)


@lru_cache(maxsize=131_072)
def _given(first: str) -> tuple[str, tuple[str, ...]]:
    if not first:
        return "", ()
    variants = {first}
    variants |= _NICKNAMES.canonicals_of(first)  # not its nicknames: Lisa is short for Elizabeth and Melissa
    return first, tuple(sorted(variants))


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_WORD.sub(" ", text.replace("'", "").replace(".", " ")).split() if t != "#"]


@lru_cache(maxsize=131_072)
def person(first_name: str, last_name: str) -> tuple[str, str, str, str]:
    """(first, middle initial, last, generation) from fields as clerks fill them: ``John Q.`` + ``Smith Jr``,
    ``Smith, John Q. Jr.`` in one field, ``Dr. Mary`` + ``Van der Berg``, or the two fields swapped.
    nameparser splits a whole name written in one field and knows the titles to drop."""
    if bool(first_name) != bool(last_name) and (" " in first_name + last_name or "," in first_name + last_name):
        name = HumanName(first_name or last_name)
        first_name, last_name = f"{name.first} {name.middle}", f"{name.last} {name.suffix}"
    generation = middle = ""
    parts: list[list[str]] = []
    for text in (first_name, last_name):
        kept = []
        for token in _tokens(text):
            if token in GENERATIONS:
                generation = generation or GENERATIONS[token]
            else:
                kept.append(token)
        parts.append(kept)
    if len(parts[0]) > 1 and parts[0][0] in _TITLES:  # "Dr. Mary", but a first name "Major" stays
        parts[0].pop(0)
    first_words, last_words = parts
    for words in (first_words, last_words):  # an initial after a name is a middle initial, wherever it landed
        while len(words) > 1 and len(words[-1]) == 1:
            middle = middle or words.pop()
    first = first_words[0] if first_words else ""
    if len(first_words) > 1 and not middle:
        middle = first_words[1][:1]
    return first, middle, "".join(last_words), generation


def record(raw: dict[str, Any]) -> Normalized:
    country = _COUNTRIES.get(_plain(raw.get("country")), _plain(raw.get("country")).upper()) or "US"
    first, middle, last, generation = person(_plain(raw.get("first_name")), _plain(raw.get("last_name")))
    given, variants = _given(first)
    number, street, unit = address(_plain(raw.get("address_line1")))
    state = _plain(raw.get("state"))
    return Normalized(
        id=str(raw["id"]), source=_plain(raw.get("source")), first=given, first_variants=variants,
        last_variants=_given(last)[1],
        middle_initial=middle, last=last, generation=generation, company=company(raw.get("company")),
        email=email(raw.get("email")), phone=phone(_plain(raw.get("phone")), country),
        house_number=number, street=street, unit=unit, city=_words(_plain(raw.get("city"))),
        state=_STATES.get(state, state), zip5=postal_code(raw.get("postal_code"), country), country=country,
        id_was_number=isinstance(raw["id"], int),
    )
