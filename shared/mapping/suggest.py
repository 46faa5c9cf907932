"""Mapping suggestions a person accepts or rejects: which target field each field of a source record fills, and
which existing entry an unmapped value (a payment type, a tax component, an earning code) should copy.

Field suggestions weigh the evidence a person would: the names, once split into words and read through the
synonyms and abbreviations of retail, payments, ERP and payroll (``zip`` = postal code, ``upc`` = GTIN, ``Emp #``
= employee number); the types; what the sample's values look like (dates, ISO currency codes, e-mails, amounts in
minor units); and the target's description. A field with no counterpart gets no entry at 0.5 or above: a source's
own system ids and audit times, and any target the ERP fills itself (system ids, read-only totals, numbers it
assigns) are never proposed, because a wrong mapping costs more than a missing one. Nor is a field whose key a
source path cannot write (``ship.zip``, ``bill[to]``): its path would name another field.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.numbers import list_currencies
from rapidfuzz.distance import JaroWinkler

from shared.errors import IntegrationError
from shared.mapping.fields import is_path_key

ENTRIES_PER_FIELD = 3
THRESHOLD = 0.5
"""At and above this a suggestion is one; below, the field is left for a person (abstention)."""
FLOOR = 0.3
"""Weaker candidates are not listed at all."""

# -- words of the trade ----------------------------------------------------------------------------------------

CONCEPTS: dict[str, tuple[str, ...]] = {
    # addresses and contact
    "postal_code": ("zip", "zip code", "zipcode", "zip 5", "zip4", "postcode", "post code", "postal code", "postal",
                    "postalcode"),
    "street": ("street", "street address", "address street", "address line 1", "address 1", "addr 1", "line 1",
               "street 1", "address1", "addr1", "street line 1"),
    "street2": ("address line 2", "address 2", "addr 2", "line 2", "street 2", "address2", "addr2", "apt", "suite"),
    "address": ("addr", "adr", "address"),
    "city": ("city", "town", "locality", "municipality"),
    "state": ("state", "province", "state or province", "stateorprovince", "state code", "region", "st prov", "st"),
    "country": ("country", "country code", "country region", "country region id", "ctry", "cntry", "nation",
                "countryregion"),
    "phone": ("ph", "phone", "tel", "telephone", "phone number", "phone no", "telephone number", "tel no",
              "phonenumber", "phone 1", "telephone 1"),
    "mobile": ("mobile", "cell", "cellphone", "cell phone", "mobile phone", "mobile number", "mobilephone"),
    "email": ("email", "e mail", "mail", "email address", "emailaddress", "e mail address", "email addr",
              "emailaddr"),
    "website": ("website", "web site", "url", "homepage", "home page"),
    # people
    "first_name": ("first name", "fname", "first nm", "given name", "givenname", "forename", "firstname"),
    "last_name": ("last name", "lname", "last nm", "surname", "family name", "lastname"),
    "middle_name": ("middle name", "mname", "middle initial", "middlename", "mi"),
    "full_name": ("full name", "fullname", "display name", "displayname"),
    "known_as": ("known as", "nickname", "preferred name", "alias"),
    "birth_date": ("dob", "birth date", "date of birth", "birthdate", "birthday", "birth"),
    "national_id": ("ssn", "social security number", "social security no", "social security", "national id",
                    "national identification number", "identification number", "sin", "nin", "tax id number"),
    "employee": ("emp", "empl", "employee", "ee", "staff", "worker", "personnel", "associate"),
    "hire_date": ("hire date", "date of hire", "doh", "hired", "employment date", "employment start date",
                  "employment start", "start of employment"),
    "termination_date": ("termination date", "term date", "date terminated", "terminated", "separation date",
                         "termination"),
    "job_title": ("job title", "position", "job", "position title", "jobtitle"),
    "gender": ("gender", "sex"),
    "marital": ("marital status", "marital"),
    # organisation
    "company": ("co", "company", "company name", "organization", "organisation", "organization name", "org",
                "business name", "legal name"),
    "department": ("dept", "dpt", "department", "dep"),
    "location": ("loc", "location", "store", "site", "outlet", "branch", "shop"),
    "warehouse": ("warehouse", "whse", "wrhs", "inventory location"),
    "vendor": ("vendor", "supplier", "vend"),
    "merchant": ("merchant", "mid"),
    # parties and documents
    "customer": ("cust", "customer", "cus", "customers", "buyer", "shopper"),
    "member": ("member", "membership", "loyalty member"),
    "order": ("order", "ord", "sales order", "so"),
    "invoice": ("inv", "invoice", "billing", "bill", "bill to", "billed"),
    "shipping": ("ship", "shipping", "delivery", "deliver", "ship to", "shipment"),
    "line": ("ln", "line", "lines", "line item", "line items", "detail", "details"),
    "item": ("item", "items", "product", "products", "prod", "article", "merchandise", "variant", "released product"),
    "item_number": ("sku", "item number", "item no", "item code", "product number", "product code", "product no",
                    "part number", "part no", "article number", "stock number", "stock code"),
    "gtin": ("upc", "upc code", "ean", "ean code", "gtin", "barcode", "bar code", "isbn"),
    "journal": ("journal", "jrnl", "jnl"),
    "batch": ("batch", "btch"),
    "run": ("run", "payroll run"),
    "external_ref": ("external id", "external reference", "external ref", "integration key", "external key",
                     "external document number", "external document no", "external number", "source id",
                     "source reference", "foreign key"),
    "reference": ("ref", "reference", "ref no", "reference number", "ref number", "ref num"),
    "transaction": ("txn", "trx", "trans", "tran", "transaction"),
    "account": ("acct", "acc", "account", "acnt"),
    # money
    "amount": ("amt", "amount", "amnt", "sum", "value amount"),
    "price": ("price", "unit price", "sales price", "selling price", "retail price", "list price", "prc"),
    "cost": ("cost", "unit cost", "cost price", "standard cost"),
    "discount": ("disc", "discount", "markdown", "dscnt", "discounts"),
    "tax": ("tax", "vat", "gst", "sales tax", "taxes"),
    "taxable": ("taxable", "tax liable", "subject to tax", "is taxable"),
    "tip": ("tip", "tips", "gratuity", "grat"),
    "fee": ("fee", "fees"),
    "currency": ("ccy", "cur", "curr", "currency", "currency code", "iso currency", "currency iso code",
                 "currencycode"),
    "payment": ("pmt", "pymt", "payment", "paymt"),
    "payment_method": ("payment type", "payment method", "tender", "tender type", "method of payment", "pay method",
                       "payment mode", "payment method name", "mode of payment"),
    "brand": ("brand", "card brand", "card type", "scheme", "network"),
    "authorization": ("auth", "authorization", "authorisation", "auth code", "authcode", "approval code",
                      "approval"),
    "credit_limit": ("credit limit", "creditlimit", "credit line"),
    "balance": ("bal", "balance"),
    "points": ("points", "pts", "loyalty points", "point balance", "points balance", "reward points"),
    "gift": ("gift", "gift card", "giftcard", "gc"),
    "deposit": ("deposit", "funding"),
    "gross": ("gross", "gross pay", "gross wages"),
    "net": ("net", "net pay"),
    "withholding": ("wh", "withholding", "withheld", "wthld", "tax withheld", "withholding tax", "w h"),
    "federal": ("fed", "federal"),
    "check_date": ("check date", "chk date", "cheque date", "pay date", "paydate", "check dt", "chk dt"),
    "period": ("period", "pay period", "prd"),
    "start": ("start", "begin", "beg", "from", "starting", "begins"),
    "end": ("end", "thru", "through", "ending", "ends"),
    "hours": ("hrs", "hours", "hour", "hr", "hours worked"),
    "earning": ("earning", "earnings", "earn", "pay item", "pay code", "wage type"),
    "quantity": ("qty", "quantity", "qnty", "quantities", "ordered quantity", "units ordered"),
    "uom": ("uom", "unit of measure", "unit", "units of measure", "unit symbol"),
    "group": ("grp", "group", "category", "class", "categories"),
    "description": ("desc", "descr", "description", "descriptions"),
    "long_description": ("long description", "long desc", "extended description", "full description"),
    "note": ("note", "notes", "comment", "comments", "memo", "remarks", "remark"),
    "status": ("status", "stat"),
    "active": ("active", "enabled", "is active"),
    "blocked": ("blocked", "on hold", "hold", "disabled"),
    "title": ("title",),
    "name": ("nm", "name"),
    "number": ("no", "num", "nbr", "number", "nr", "numb", "public id", "public code"),
    "code": ("cd", "code"),
    "id": ("id", "identifier", "ident", "uuid", "guid"),
    "date": ("dt", "date", "day"),
    "time": ("time", "datetime", "date time", "timestamp"),
    "created": ("created", "creation", "created at", "created on", "time created", "date created", "creation date",
                "created date", "placed at", "ordered at"),
    "updated": ("updated", "modified", "updated at", "modified at", "modified on", "last modified", "changed",
                "last updated", "changed at", "time last updated"),
    "completed": ("completed", "completed at", "closed at", "finalized"),
    "total": ("total", "tot", "ttl", "grand total", "subtotal", "sub total"),
    "count": ("count", "cnt"),
}
"""Concept → the ways the trade writes it. Longer phrases win over their words (``unit price`` is a price)."""

RELATED: dict[frozenset[str], float] = {frozenset(pair): weight for pair, weight in (
    (("description", "name"), 0.6), (("title", "description"), 0.6), (("title", "name"), 0.6),
    (("title", "job_title"), 0.7), (("long_description", "description"), 0.7), (("full_name", "name"), 0.7),
    (("number", "code"), 0.7), (("number", "reference"), 0.6), (("number", "account"), 0.5),
    (("phone", "mobile"), 0.6), (("price", "amount"), 0.5), (("cost", "amount"), 0.4),
    (("date", "time"), 0.6), (("created", "date"), 0.5), (("completed", "date"), 0.5), (("created", "time"), 0.5),
    (("gross", "amount"), 0.5), (("batch", "run"), 0.6), (("location", "warehouse"), 0.5),
    (("company", "name"), 0.4), (("customer", "member"), 0.6), (("points", "balance"), 0.5),
    (("gift", "balance"), 0.3), (("check_date", "date"), 0.6), (("hire_date", "date"), 0.5),
    (("birth_date", "date"), 0.5), (("termination_date", "date"), 0.5), (("payment", "payment_method"), 0.5),
    (("reference", "external_ref"), 0.6), (("invoice", "customer"), 0.2), (("earning", "code"), 0.4),
    (("item_number", "number"), 0.6), (("item_number", "code"), 0.5), (("street", "address"), 0.6),
    (("street2", "address"), 0.4), (("note", "description"), 0.5), (("group", "department"), 0.4),
    (("status", "active"), 0.3), (("company", "client"), 0.6), (("brand", "payment_method"), 0.7),
    (("total", "amount"), 0.6), (("credit_limit", "credit"), 0.8),
)}
"""Concepts that are not the same but near: partial credit."""

WEIGHT: dict[str, float] = {
    "id": 0.45, "number": 0.55, "code": 0.55, "name": 0.6, "date": 0.55, "time": 0.45, "amount": 0.75,
    "type": 0.45, "value": 0.3, "text": 0.4, "primary": 0.25, "default": 0.25, "display": 0.3, "is": 0.1,
    "has": 0.1, "at": 0.1, "on": 0.1, "of": 0.05, "the": 0.05, "for": 0.05, "and": 0.05, "to": 0.1, "by": 0.1,
    "in": 0.05, "total": 0.7, "person": 0.35, "contact": 0.45, "address": 0.55, "original": 0.3, "main": 0.3,
    "data": 0.2, "area": 0.3, "v1": 0.05, "v2": 0.05, "v3": 0.05, "line": 0.6, "item": 0.7, "order": 0.75,
    "customer": 0.8, "employee": 0.8, "sales": 0.45, "search": 0.4, "symbol": 0.3, "info": 0.2, "details": 0.3,
    "customers": 0.8, "sale": 0.45, "requested": 0.5, "ordered": 0.5, "status": 0.6, "period": 0.7,
}
"""How much a word says about a field; unknown words weigh 1. ``id``, ``number``, ``date`` say little alone."""

STOPWORDS = frozenset({"of", "the", "for", "and", "a", "an", "in", "on", "at", "by", "to", "is", "be", "this",
                       "that", "which", "with", "or", "as", "its", "it", "are", "from", "when", "where", "e", "g",
                       "eg", "ie", "i", "used", "uses", "use", "field", "value", "record", "entity", "set"})

SYSTEM_NAMES = frozenset(name.casefold() for name in (
    "id", "SystemId", "@odata.etag", "@odata.context", "@odata.id", "@odata.editLink", "etag", "RecId", "RecVersion",
    "dataAreaId", "Partition", "lastModifiedDateTime", "systemCreatedAt", "systemCreatedBy", "systemModifiedAt",
    "systemModifiedBy", "systemVersion", "timestamp", "createdon", "modifiedon", "createdby", "modifiedby",
    "versionnumber", "rowversion", "uuid", "guid", "ModifiedDateTime", "CreatedDateTime", "ModifiedBy", "CreatedBy",
    "created_at", "updated_at", "deleted_at", "createdAt", "updatedAt", "modified_at", "_etag", "_rid", "_ts",
))
"""Fields a system fills about its own records: never a source of a mapping, never a target of one."""

READ_ONLY_WORDS = re.compile(r"\b(read[- ]?only|computed|calculated|derived|assigned by|set by the system|"
                             r"system[- ]generated|maintained by the system|number sequence|number series|"
                             r"auto[- ]?number(ed)?|cannot be (set|written))\b", re.I)
EXTERNAL_REF = "external_ref"

_VOCABULARY_EXTRA = ("first", "last", "middle", "name", "email", "address", "postal", "code", "mobile", "phone",
                     "telephone", "state", "province", "country", "city", "line", "parent", "customer", "account",
                     "number", "status", "version", "created", "modified", "on", "by", "id", "or", "of", "date",
                     "time", "birth", "job", "title", "given", "family", "display", "full", "known", "as", "web",
                     "site", "home", "page", "tax", "group", "item", "unit", "price", "cost", "sales", "order",
                     "total", "amount", "zip", "external", "document", "reference", "contact", "primary", "gift",
                     "card", "balance", "loyalty", "points", "member", "company", "organization", "type", "currency")

ISO_CURRENCIES = frozenset(list_currencies())


# -- the shapes ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetField:
    """One field of the target entity. ``read_only``: the target fills it (never proposed); ``key``: part of the
    entity's key."""

    name: str
    type: str = "string"
    description: str = ""
    read_only: bool = False
    key: bool = False


@dataclass(frozen=True)
class Suggestion:
    source_field: str
    target_field: str
    target_entity: str
    confidence: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EntrySuggestion:
    """A proposed mapping entry for an unmapped value: ``entry`` is None when the suggester abstains, and then
    ``needs`` names what a person must fill in."""

    section: str
    key: str
    entry: Any
    confidence: float
    like: str | None
    reason: str
    needs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        found = {"section": self.section, "key": self.key, "entry": self.entry, "confidence": self.confidence,
                 "like": self.like, "reason": self.reason}
        if self.needs:
            found["needs"] = list(self.needs)
        return found


class SuggestInputError(ValueError):
    """INPUT.json is not what ``suggest-mapping`` reads; the message says what is wrong."""


# -- words ---------------------------------------------------------------------------------------------------

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _raw_words(name: str) -> list[str]:
    name = name.replace("#", " number ").replace("&", " and ").replace("@", " ")
    found: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        found.extend(word.lower() for word in _CAMEL.findall(part))
    return found


@lru_cache(maxsize=1)
def _phrases() -> tuple[dict[tuple[str, ...], str], frozenset[str], int]:
    table: dict[tuple[str, ...], str] = {}
    for concept, spellings in CONCEPTS.items():
        for spelling in spellings:
            table.setdefault(tuple(_raw_words(spelling)), concept)
    vocabulary = frozenset(w for phrase in table for w in phrase if len(w) > 1) | frozenset(_VOCABULARY_EXTRA)
    return table, vocabulary, max(len(p) for p in table)


def _segment(word: str, vocabulary: frozenset[str]) -> list[str]:
    """``emailaddress`` → ``email address``: a run-together word split into the fewest known words, else kept."""
    if len(word) < 6 or word in vocabulary or not word.isalpha():
        return [word]
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 14), end - 1):
            piece, before = word[start:end], best[start]
            if before is not None and piece in vocabulary:
                candidate = [*before, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[-1] or [word]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def concepts(name: str) -> tuple[str, ...]:
    """The concepts a field name says, in order: ``Emp #`` → ``employee number``, ``shipZip`` → ``shipping
    postal_code``, ``address1_postalcode`` → ``street postal_code``."""
    table, vocabulary, longest = _phrases()
    words: list[str] = []
    for word in _raw_words(name):
        words.extend(_segment(word, vocabulary))
    if len(words) > 2 and words[0] in ("address", "addr") and words[1].isdigit():
        words = ["address", *words[2:]]  # Dataverse's address1_city: the first address's city, not a street
    found: list[str] = []
    index = 0
    while index < len(words):
        for size in range(min(longest, len(words) - index), 0, -1):
            phrase = tuple(words[index:index + size])
            concept = table.get(phrase)
            if concept is None and size == 1:
                concept = table.get((_singular(phrase[0]),))
            if concept is not None:
                found.append(concept)
                index += size
                break
        else:
            word = words[index]
            if not word.isdigit() or not found:
                found.append(_singular(word))
            index += 1
    return tuple(dict.fromkeys(found))


def _weight(concept: str) -> float:
    return WEIGHT.get(concept, 0.2 if concept.isdigit() else 1.0)


def _abbreviates(short: str, long: str) -> bool:
    """``amt`` abbreviates ``amount``: same first letter, its letters in order, at least three of them."""
    if len(short) < 3 or len(short) >= len(long) or short[0] != long[0] or not short.isalpha():
        return False
    position = 0
    for letter in short:
        position = long.find(letter, position) + 1
        if position == 0:
            return False
    return True


def _likeness(a: str, b: str) -> float:
    if a == b:
        return 1.0
    related = RELATED.get(frozenset((a, b)))
    if related is not None:
        return related
    if "_" in a or "_" in b:
        return 0.0
    vocabulary = _phrases()[1]
    if (a not in vocabulary and _abbreviates(a, b)) or (b not in vocabulary and _abbreviates(b, a)):
        return 0.75
    if min(len(a), len(b)) >= 5 and JaroWinkler.similarity(a, b) >= 0.93:
        return 0.8
    return 0.0


def _overlap(source: Sequence[str], target: Sequence[str], source_weight: Mapping[str, float],
             target_weight: Mapping[str, float]) -> float:
    """How much of each side the other says, each word taking its best counterpart: half coverage of the source,
    half Dice over both."""
    if not source or not target:
        return 0.0
    matched_source = 0.0
    matched_target: dict[str, float] = {}
    for word in source:
        best, partner = 0.0, ""
        for other in target:
            likeness = _likeness(word, other)
            if likeness > best:
                best, partner = likeness, other
        if best:
            share = best * min(source_weight[word], target_weight[partner])
            matched_source += share
            matched_target[partner] = max(matched_target.get(partner, 0.0), share)
    total_source = sum(source_weight[w] for w in source)
    total_target = sum(target_weight[w] for w in target)
    coverage = matched_source / total_source
    dice = (matched_source + sum(matched_target.values())) / (total_source + total_target)
    return 0.5 * coverage + 0.5 * dice


# -- values --------------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_URL = re.compile(r"^https?://\S+$", re.I)
_GUID = re.compile(r"^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$", re.I)
_PHONE = re.compile(r"^\+?[\d\s().\-]{7,20}$")
_DECIMAL = re.compile(r"^[-+]?\$?\(?\d{1,3}(,?\d{3})*(\.\d+)?\)?$")
_INTEGER = re.compile(r"^[-+]?\d+$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_OPAQUE_ID = re.compile(r"^[A-Z]{2,5}_[A-Za-z0-9]{4,}$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "y", "n"})


def _valid_gtin(digits: str) -> bool:
    if len(digits) not in (8, 12, 13, 14) or not digits.isdigit():
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def value_kind(value: Any) -> str | None:
    """What one sample value looks like: ``bool``, ``int``, ``decimal``, ``date``, ``datetime``, ``guid``,
    ``email``, ``url``, ``currency``, ``zip``, ``gtin``, ``phone``, ``opaque_id``, ``code``, ``text``; None for
    nothing (null, empty, a container)."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | Decimal):
        return "decimal"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    text = str(value).strip()
    if not text:
        return None
    checks: tuple[tuple[str, Callable[[str], bool]], ...] = (
        ("bool", lambda t: t.lower() in _BOOLEAN_WORDS),
        ("datetime", lambda t: bool(_DATETIME.match(t))),
        ("date", lambda t: bool(_DATE.match(t))),
        ("guid", lambda t: bool(_GUID.match(t))),
        ("email", lambda t: bool(_EMAIL.match(t))),
        ("url", lambda t: bool(_URL.match(t))),
        ("currency", lambda t: t in ISO_CURRENCIES and t.isupper()),
        ("gtin", _valid_gtin),
        ("zip", lambda t: bool(_ZIP.match(t))),
        ("int", lambda t: bool(_INTEGER.match(t)) and len(t.lstrip("+-")) < 10),
        ("decimal", lambda t: bool(_DECIMAL.match(t))),
        ("phone", lambda t: bool(_PHONE.match(t)) and sum(c.isdigit() for c in t) >= 7),
        ("opaque_id", lambda t: bool(_OPAQUE_ID.match(t))),
        ("code", lambda t: len(t) <= 12 and " " not in t),
    )
    for kind, check in checks:
        if check(text):
            return kind
    return "text"


def _kind_of(values: Sequence[Any]) -> str | None:
    """The kind most values share (a ZIP written as a number is still an integer here: the name decides)."""
    kinds = [k for k in (value_kind(v) for v in values) if k is not None]
    if not kinds:
        return None
    best = max(set(kinds), key=kinds.count)
    if best == "int" and any(k == "decimal" for k in kinds):
        return "decimal"
    return best


KIND_CONCEPT = {"email": "email", "url": "website", "currency": "currency", "gtin": "gtin", "phone": "phone",
                "zip": "postal_code"}
"""Value kinds that say what a field is, whatever its name."""
KIND_WORDS = {"email": "e-mail addresses", "url": "web addresses", "currency": "ISO 4217 currency codes",
              "gtin": "GTIN barcodes (check digit valid)", "phone": "phone numbers", "zip": "US ZIP codes",
              "date": "dates", "datetime": "date-times", "guid": "GUIDs", "bool": "yes/no values",
              "minor": "amounts in minor units", "decimal": "decimal amounts", "int": "whole numbers"}
STRONG_CONCEPTS = frozenset({"email", "website", "currency", "gtin", "phone", "mobile", "postal_code", "country",
                             "birth_date", "national_id"})


def _target_kind(edm: str) -> str:
    """``Edm.Decimal`` → ``decimal``; enum types → ``enum`` (``…NoYes`` → ``bool``); INPUT.json's simple names."""
    name = edm.rsplit(".", 1)[-1].lower() if edm.startswith("Edm.") else edm.lower()
    simple = {"string": "string", "str": "string", "text": "string", "decimal": "decimal", "double": "decimal",
              "single": "decimal", "number": "decimal", "money": "decimal", "float": "decimal", "int": "int",
              "int16": "int", "int32": "int", "int64": "int", "integer": "int", "byte": "int", "long": "int",
              "boolean": "bool", "bool": "bool", "date": "date", "datetimeoffset": "datetime", "datetime": "datetime",
              "timestamp": "datetime", "guid": "guid", "uuid": "guid", "timeofday": "time"}
    if name in simple:
        return simple[name]
    if "noyes" in name or "yesno" in name:
        return "bool"
    return "enum"


_TYPE_FIT: dict[str, dict[str, float]] = {
    "string": {"text": 1.0, "code": 1.0, "email": 1.0, "url": 1.0, "phone": 1.0, "zip": 1.0, "currency": 1.0,
               "gtin": 1.0, "opaque_id": 1.0, "guid": 0.8, "int": 0.9, "decimal": 0.7, "minor": 0.5, "date": 0.6,
               "datetime": 0.6, "bool": 0.4},
    "decimal": {"decimal": 1.0, "int": 0.95, "minor": 0.9},
    "int": {"int": 1.0, "decimal": 0.5, "minor": 0.8},
    "date": {"date": 1.0, "datetime": 0.9},
    "datetime": {"datetime": 1.0, "date": 0.9},
    "bool": {"bool": 1.0, "int": 0.4},
    "guid": {"guid": 1.0},
    "enum": {"code": 0.9, "text": 0.8, "bool": 0.7, "int": 0.5, "currency": 0.8},
    "time": {"text": 0.5},
}


def _type_fit(kind: str | None, target: str) -> float:
    if kind is None:
        return 0.8
    return _TYPE_FIT.get(target, {}).get(kind, 0.1)


# -- fields of a sample ----------------------------------------------------------------------------------------

def source_fields(sample: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """Every leaf of ``sample`` with the values seen there, paths dotted from the root, arrays written ``[]``
    (``lines[].sku``, ``tags[]``), keys verbatim (``Emp #``). An empty object or array is a leaf without values."""
    return [(path, values) for path, (values, _) in _leaves(sample).items()]


def unwritable_fields(sample: Mapping[str, Any]) -> dict[str, str]:
    """The fields of ``sample`` (as :func:`source_fields` writes them) no source path can name, each with why: a
    key on the way holds ``.``, ``[`` or ``]`` or is blank, so its path would read as another field (the key
    ``ship.zip`` as ``ship`` → ``zip``). The suggester abstains on them."""
    return {path: f"its key {key!r} cannot be written as a path (a path reads '.' as a step into an object and "
                  "'[]' as an array), so no mapping could read it"
            for path, (_, key) in _leaves(sample).items() if key is not None}


def _leaves(sample: Mapping[str, Any]) -> dict[str, tuple[list[Any], str | None]]:
    """Path → the values seen there and the first key on the way a path cannot write (None: every key can)."""
    found: dict[str, list[Any]] = {}
    unwritable: dict[str, str] = {}

    def leaf(path: str, bad: str | None) -> list[Any]:
        if bad is not None:
            unwritable.setdefault(path, bad)
        return found.setdefault(path, [])

    def walk(value: Any, path: str, bad: str | None) -> None:
        if isinstance(value, Mapping):
            if not value and path:
                leaf(path, bad)
            for key, inner in value.items():
                name = str(key)
                walk(inner, f"{path}.{name}" if path else name, bad if bad is not None or is_path_key(name) else name)
        elif isinstance(value, list):
            here = f"{path}[]"
            if not value:
                leaf(here, bad)
            for inner in value:
                walk(inner, here, bad)
        else:
            leaf(path, bad).append(value)

    walk(sample, "", None)
    return {path: (values, unwritable.get(path)) for path, values in found.items()}


def _segments(path: str) -> list[str]:
    return [part.removesuffix("[]").rstrip("[]") for part in path.split(".")]


# -- the suggester -----------------------------------------------------------------------------------------------

@dataclass
class _Source:
    path: str
    values: list[Any]
    words: tuple[str, ...]
    context: tuple[str, ...]
    kind: str | None
    array: str | None
    """The array the field sits in (``lines[]``), None at the top level."""
    system: bool
    foreign_id: bool
    own_id: bool
    """Another name of the record's own id (``batch_id`` beside ``id`` with the same value)."""
    business_key: bool


@dataclass
class _Target:
    spec: TargetField
    words: tuple[str, ...]
    described: tuple[str, ...]
    kind: str
    system: bool
    external_ref: bool
    business_key: bool
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Setting:
    """What the whole sample and the whole target say about each pair."""

    entity_words: frozenset[str]
    line_entity: bool
    line_array: str | None
    """The array whose records the target's records are (for a line entity), or None."""
    has_arrays: bool
    only_date_source: str | None
    only_date_target: str | None


PARTIES = frozenset({"customer", "employee", "item", "vendor", "order", "invoice", "account", "journal", "member",
                     "company", "merchant", "location", "warehouse", "batch", "transaction", "payment", "document"})
"""Words naming a record of its own: ``customerNumber`` is another record's number, not this one's."""
GENERIC = frozenset({"number", "code", "id", "name", "reference", "date", "time", "amount", "total", "type",
                     "status", "value"})
DATE_KINDS = frozenset({"date", "datetime"})


def _is_system_name(name: str) -> bool:
    return name.casefold() in SYSTEM_NAMES or (name.startswith(("@odata.", "_")) and name.endswith(("_value", "etag")))


def _describe_source(path: str, values: list[Any], root_id: list[Any]) -> _Source:
    parts = _segments(path)
    last = parts[-1]
    words = concepts(last)
    context = tuple(w for part in parts[:-1] for w in concepts(part) if w not in words)
    kind = _kind_of(values)
    if kind in ("int", "decimal") and {"amount", "total"} & set(words) and _minor_units(values):
        kind = "minor"
    raw = _raw_words(last)
    looks_like_id = bool(raw) and raw[-1] in ("id", "uuid", "guid") and "public" not in raw
    system = _is_system_name(last) or "updated" in words or words == ("id",)
    own_id = looks_like_id and not system and "." not in path and bool(values) and values == root_id
    foreign_id = looks_like_id and not system and not own_id and kind in (None, "int", "guid", "opaque_id", "code")
    if kind in ("guid", "opaque_id") and not system and not own_id and not {"number", "code", "reference"} & set(
            words):
        foreign_id = True
    business_key = bool(set(words) & {"number", "code", "item_number"}) and not foreign_id and not system
    array = path.rsplit("[]", 1)[0] + "[]" if "[]" in path else None
    return _Source(path, values, words, context, kind, array, system, foreign_id, own_id, business_key)


def _minor_units(values: Sequence[Any]) -> bool:
    """Amounts written as whole numbers of cents (``"5410"`` for 54.10), as card gateways send them."""
    texts = [str(v) for v in values if v is not None and not isinstance(v, bool)]
    return bool(texts) and all(_INTEGER.match(t) for t in texts) and any(len(t.lstrip("-")) >= 3 for t in texts)


def _describe_target(spec: TargetField, entity_words: frozenset[str]) -> _Target:
    words = concepts(spec.name)
    described = tuple(w for w in _description_concepts(spec.description) if w not in STOPWORDS)
    system = spec.read_only or _is_system_name(spec.name) or bool(READ_ONLY_WORDS.search(spec.description))
    kind = _target_kind(spec.type)
    if kind == "guid" and words and words[-1] == "id":
        system = True
    weights = {w: _weight(w) * (0.4 if w in entity_words and len(words) > 1 else 1.0) for w in words}
    business_key = spec.key and not system
    return _Target(spec, words, described, kind, system, EXTERNAL_REF in words, business_key, weights)


@lru_cache(maxsize=2048)
def _description_concepts(text: str) -> tuple[str, ...]:
    return concepts(text) if text else ()


def _entity_words(entity: str) -> frozenset[str]:
    return frozenset(concepts(re.sub(r"V\d+$", "", entity)))


def _is_line_entity(entity: str) -> bool:
    return bool({"line", "detail"} & set(concepts(entity)) or re.search(r"(Lines?|Entries|Entry|Details?)(V\d+)?$",
                                                                          entity))


def _setting(entity: str, sources: Sequence[_Source], targets: Sequence[_Target]) -> _Setting:
    entity_words = _entity_words(entity)
    line_entity = _is_line_entity(entity)
    arrays = sorted({s.array for s in sources if s.array is not None})
    line_array = None
    if line_entity and arrays:
        def linelike(array: str) -> tuple[int, int]:
            named = set(concepts(array.split(".")[-1].removesuffix("[]")))
            return (len(named & {"line", "item", "detail"}), sum(s.array == array for s in sources))
        line_array = max(arrays, key=linelike)
    dated = [s.path for s in sources if s.kind in DATE_KINDS and not s.system]
    dated_targets = [t.spec.name for t in targets if t.kind in DATE_KINDS and not t.system]
    return _Setting(entity_words, line_entity, line_array, bool(arrays) and any(s.array is None for s in sources),
                    dated[0] if len(dated) == 1 else None, dated_targets[0] if len(dated_targets) == 1 else None)


def _name_score(source: _Source, target: _Target) -> tuple[float, float]:
    """The names' likeness with the source's parents taken into account (``shipping_address.zip`` is a delivery
    ZIP), and without."""
    weights = {w: _weight(w) for w in source.words}
    plain = _overlap(source.words, target.words, weights, target.weights)
    if not source.context:
        return plain, plain
    with_context = tuple(dict.fromkeys(source.words + source.context))
    weights = {**{w: 0.5 * _weight(w) for w in source.context}, **weights}
    return 0.5 * plain + 0.5 * _overlap(with_context, target.words, weights, target.weights), plain


def _score(source: _Source, target: _Target, setting: _Setting) -> tuple[float, str]:
    """The confidence that ``source`` fills ``target`` and the evidence, in words."""
    if target.system:
        return 0.0, "filled by the target itself"
    if source.system:
        return 0.0, "a system field of the source"
    reasons: list[str] = []
    name, plain = _name_score(source, target)
    if plain >= 0.999:
        reasons.append("same name" if _raw_words(source.path.split(".")[-1]) == _raw_words(target.spec.name)
                       else "synonym")
    elif name >= 0.3:
        reasons.append("similar name" if source.context == () or plain >= name else "similar name and parent")
    described = 0.0
    if target.described:
        weights = {w: _weight(w) for w in source.words}
        covered = sum(max((_likeness(w, d) for d in target.described), default=0.0) * weights[w]
                      for w in source.words) / max(sum(weights.values()), 1e-9)
        described = covered if covered >= 0.6 else 0.0
        if described:
            reasons.append("description")
    pattern = 0.0
    implied = KIND_CONCEPT.get(source.kind or "")
    if implied and implied in set(target.words) | set(target.described):
        pattern = 1.0
        reasons.append(f"values are {KIND_WORDS[source.kind or '']}")
    conflict = bool(implied) and bool(STRONG_CONCEPTS & set(target.words)) and implied not in target.words and not (
        implied == "phone" and "mobile" in target.words)
    key = 0.0
    if source.business_key and target.business_key:
        key = 0.6
        reasons.append("both are the record's number")
    elif source.business_key and target.external_ref and not set(source.words) - GENERIC - {"item_number"}:
        key = 0.6
        reasons.append("the source's own number, kept as the external reference")
    only_date = 0.0
    if setting.only_date_source == source.path and setting.only_date_target == target.spec.name:
        only_date = 0.5
        reasons.append("the only date on either side")
    evidence = 1 - (1 - name) * (1 - 0.75 * pattern) * (1 - 0.55 * described) * (1 - key) * (1 - only_date)
    fit = _type_fit(source.kind, target.kind)
    if source.kind == "minor" and target.kind in ("decimal", "int"):
        reasons.append("amounts in minor units (divide by 100)")
    elif fit >= 0.9 and source.kind is not None and evidence > 0:
        reasons.append("type")
    elif fit <= 0.5:
        reasons.append(f"type does not fit ({KIND_WORDS.get(source.kind or '', source.kind)} into {target.kind})")
    confidence = evidence * fit
    if conflict:
        confidence *= 0.3
        reasons.append(f"values are {KIND_WORDS[source.kind or '']}, the target is not")
    foreign_party = (set(target.words) & PARTIES) - setting.entity_words - set(source.words) - set(source.context)
    if foreign_party and not set(source.words) - GENERIC:
        confidence *= 0.6
        reasons.append(f"the target is the {' '.join(sorted(foreign_party))}'s, not this record's")
    if source.own_id and target.external_ref:
        confidence = max(confidence, 0.7 * fit)
        reasons.append("the record's id in the source, kept as the external reference")
    elif source.foreign_id:
        confidence = min(confidence, THRESHOLD - 0.05)
    elif target.external_ref and not (source.business_key or {"reference", "number"} & set(source.words)):
        confidence *= 0.7
    if setting.has_arrays:
        if setting.line_entity and source.array != setting.line_array:
            confidence *= 0.7
        elif not setting.line_entity and source.array is not None:
            confidence *= 0.6
    return confidence, ", ".join(dict.fromkeys(reasons)) or "weak"


def suggest(sample: Mapping[str, Any], target_entity: str, target_fields: Sequence[TargetField], *,
            alternatives: int = ENTRIES_PER_FIELD, floor: float = FLOOR) -> list[Suggestion]:
    """Up to ``alternatives`` ranked suggestions per source field (none for a field with no counterpart, nor for
    one whose key a source path cannot write: :func:`unwritable_fields`).

    A target is given to the source that fits it best; another source whose best was that target keeps it only as
    a weaker alternative, so the suggestions read as one consistent mapping.
    """
    entity_words = _entity_words(target_entity)
    root_id = [sample.get("id")] if sample.get("id") is not None else []
    sources = [_describe_source(path, values, root_id) for path, values in source_fields(sample)]
    targets = [_describe_target(spec, entity_words) for spec in target_fields]
    setting = _setting(target_entity, sources, targets)
    unwritable = unwritable_fields(sample)
    scores: dict[str, list[tuple[float, str, str]]] = {}
    for source in sources:
        found = []
        if source.path in unwritable:
            scores[source.path] = []
            continue
        for target in targets:
            confidence, reason = _score(source, target, setting)
            if confidence > 0:
                found.append((confidence, target.spec.name, reason))
        scores[source.path] = sorted(found, key=lambda x: (-x[0], x[1]))
    _settle_contests(scores)
    result: list[Suggestion] = []
    for source in sources:
        ranked = [s for s in scores[source.path] if round(s[0], 2) >= floor][:alternatives]
        result.extend(Suggestion(source.path, name, target_entity, round(min(conf, 1.0), 2), reason)
                      for conf, name, reason in ranked)
    return result


def _settle_contests(scores: dict[str, list[tuple[float, str, str]]]) -> None:
    """Greedy one-to-one over the best pairs: the loser of a contested target keeps it as a weaker alternative."""
    pairs = sorted(((c, path, name) for path, found in scores.items() for c, name, _ in found if c >= FLOOR),
                   key=lambda x: -x[0])
    taken: dict[str, tuple[str, float]] = {}
    placed: set[str] = set()
    for confidence, path, name in pairs:
        if path in placed or name in taken:
            continue
        taken[name] = (path, confidence)
        placed.add(path)
    for path, found in scores.items():
        revised = []
        for confidence, name, reason in found:
            winner = taken.get(name)
            if winner is not None and winner[0] != path:
                confidence = min(confidence * 0.75, max(winner[1] - 0.05, 0.0), THRESHOLD - 0.01)
                reason = f"{reason}; {winner[0]} fits {name} better"
            revised.append((confidence, name, reason))
        scores[path] = sorted(revised, key=lambda x: (-x[0], x[1]))


# -- $metadata -----------------------------------------------------------------------------------------------

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_CORE_READ_ONLY = ("Org.OData.Core.V1.Computed", "Org.OData.Core.V1.Immutable", "Core.Computed", "Core.Immutable")


def fields_from_metadata(csdl_xml: str, entity: str) -> list[TargetField]:
    """The fields of ``entity`` (an entity set, a contained navigation such as Business Central's ``customers``,
    or an entity type name) from an OData CSDL ``$metadata`` document; keys flagged, computed and immutable
    properties and the known system fields read-only.

    Raises:
        SuggestInputError: not a CSDL document, or no such entity in it.
    """
    try:
        root = ET.fromstring(csdl_xml)  # noqa: S314 - the ERP's own $metadata, no DTDs or entities are resolved
    except ET.ParseError as exc:
        raise SuggestInputError(f"$metadata is not XML: {exc}") from None
    types: dict[str, ET.Element] = {}
    sets: dict[str, str] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        namespace = schema.get("Namespace", "")
        alias = schema.get("Alias")
        for element in schema.findall(f"{_EDM}EntityType"):
            name = element.get("Name", "")
            for qualified in (name, f"{namespace}.{name}", f"{alias}.{name}" if alias else None):
                if qualified:
                    types[qualified] = element
        for container in schema.findall(f"{_EDM}EntityContainer"):
            for entity_set in container.findall(f"{_EDM}EntitySet"):
                sets[entity_set.get("Name", "")] = entity_set.get("EntityType", "")
        for element in schema.findall(f"{_EDM}EntityType"):
            for navigation in element.findall(f"{_EDM}NavigationProperty"):
                kind = navigation.get("Type", "")
                if kind.startswith("Collection(") and navigation.get("ContainsTarget") == "true":
                    sets.setdefault(navigation.get("Name", ""), kind[len("Collection("):-1])
    chosen = types.get(sets.get(entity, "")) or types.get(entity)
    if chosen is None:
        folded = entity.casefold()
        matched = next((n for n in (*sets, *types) if n.casefold() == folded), "")
        chosen = types.get(sets.get(matched, "")) or types.get(matched)
    if chosen is None:
        known = ", ".join(sorted(sets)[:30])
        raise SuggestInputError(f"no entity {entity!r} in $metadata; entity sets: {known}")
    keys = {ref.get("Name") for ref in chosen.iter(f"{_EDM}PropertyRef")}
    found = []
    for prop in chosen.findall(f"{_EDM}Property"):
        name = prop.get("Name", "")
        annotations = {a.get("Term", "") for a in prop.findall(f"{_EDM}Annotation")
                       if a.get("Bool", "true").lower() == "true"}
        description = next((a.get("String", "") for a in prop.findall(f"{_EDM}Annotation")
                            if a.get("Term", "").endswith(("Core.V1.Description", "Core.Description"))), "")
        read_only = bool(annotations & set(_CORE_READ_ONLY)) or _is_system_name(name)
        found.append(TargetField(name, prop.get("Type", "Edm.String"), description, read_only, name in keys))
    return found


# -- INPUT.json and the command ----------------------------------------------------------------------------------

def read_input(document: Any) -> tuple[dict[str, Any], str, list[TargetField] | None]:
    """``{"source_sample", "target_entity", "target_fields"}`` checked; ``target_fields`` may be absent when the
    target entity's fields come from ``$metadata``.

    Raises:
        SuggestInputError: naming what is missing or malformed.
    """
    if not isinstance(document, dict):
        raise SuggestInputError("INPUT.json must be an object with source_sample, target_entity, target_fields")
    sample = document.get("source_sample")
    if not isinstance(sample, dict) or not sample:
        raise SuggestInputError("source_sample must be a non-empty object: one real record of the source")
    entity = document.get("target_entity")
    if not isinstance(entity, str) or not entity.strip():
        raise SuggestInputError("target_entity must name the target entity (e.g. CustomersV3)")
    raw = document.get("target_fields")
    if raw is None:
        return sample, entity.strip(), None
    if not isinstance(raw, list) or not raw:
        raise SuggestInputError("target_fields must be a non-empty list of {name, type, description}")
    fields = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise SuggestInputError(f"target_fields[{index}] must be an object with a non-empty name")
        for flag in ("read_only", "key"):
            if not isinstance(item.get(flag, False), bool):
                raise SuggestInputError(f"target_fields[{index}].{flag} must be true or false")
        fields.append(TargetField(item["name"].strip(), str(item.get("type") or "string"),
                                  str(item.get("description") or ""), item.get("read_only", False),
                                  item.get("key", False)))
    return sample, entity.strip(), fields


def main_suggest(input_path: Path, out_path: Path | None, entity: str | None,
                 metadata: Callable[[str], str] | None) -> int:
    """``hl365 suggest-mapping INPUT.json [--out FILE] [--entity NAME]``: 0 written, 2 unusable input, an ERP
    whose ``$metadata`` cannot be read, or an ``--out`` that cannot be written.

    ``metadata(entity)`` returns the ERP's ``$metadata`` text; it is asked only with ``--entity``, and may raise
    :class:`shared.errors.IntegrationError` (the ERP not configured, refusing or unreachable).
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console, errors = Console(), Console(stderr=True)
    try:
        document = json.loads(Path(input_path).read_text(encoding="utf-8"))
    except OSError as exc:
        errors.print(escape(f"cannot read {input_path}: {exc.strerror}"))
        return 2
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        errors.print(escape(f"{input_path} is not JSON: {exc}"))
        return 2
    try:
        sample, target_entity, fields = read_input(document)
        if entity is not None:
            if metadata is None:
                raise SuggestInputError("--entity needs the ERP's $metadata, and none is configured")
            target_entity = entity
            fields = fields_from_metadata(metadata(entity), entity)
        if fields is None:
            raise SuggestInputError("target_fields is missing: list the target's fields or give --entity NAME")
    except SuggestInputError as exc:
        errors.print(escape(f"{input_path}: {exc}"))
        return 2
    except IntegrationError as exc:
        errors.print(escape(f"cannot read the $metadata of {entity}: {exc}"))
        return 2
    suggestions = suggest(sample, target_entity, fields)
    payload = json.dumps([s.as_dict() for s in suggestions], indent=2, ensure_ascii=False)
    if out_path is not None:
        try:
            Path(out_path).write_text(payload + "\n", encoding="utf-8")
        except OSError as exc:
            errors.print(escape(f"cannot write {out_path}: {exc.strerror or exc}"))
            return 2
    by_source: dict[str, list[Suggestion]] = {}
    for item in suggestions:
        by_source.setdefault(item.source_field, []).append(item)
    unwritable = unwritable_fields(sample)
    table = Table(title=escape(f"Suggested mapping into {target_entity}"), show_lines=False)
    for column in ("source field", "target field", "confidence", "evidence"):
        table.add_column(column)
    for path, _ in source_fields(sample):
        entries = by_source.get(path, [])
        strong = [e for e in entries if e.confidence >= THRESHOLD]
        if path in unwritable:
            table.add_row(escape(path), "[dim]no path[/dim]", "", escape(unwritable[path]))
            continue
        if not strong:
            weak = f" (closest: {entries[0].target_field} {entries[0].confidence:.2f})" if entries else ""
            table.add_row(escape(path), "[dim]no counterpart[/dim]", "",
                          escape(f"nothing at {THRESHOLD} or above{weak}"))
            continue
        for rank, entry in enumerate(strong):
            table.add_row(escape(path) if rank == 0 else "", escape(entry.target_field), f"{entry.confidence:.2f}",
                          escape(entry.reason))
    console.print(table)
    if out_path is None:
        console.print_json(payload)
    else:
        console.print(escape(f"{len(suggestions)} suggestions written to {out_path}"))
    return 0


# -- entries for unmapped values ---------------------------------------------------------------------------------

SECTION_NEEDS: dict[str, tuple[str, ...]] = {
    "payment_types": ("method", "clearing_account"),
    "tax_components": ("tax_code", "account"),
    "departments": ("revenue_account", "dimensions"),
    "locations": ("dimensions",),
    "status_alignment": ("the sales order status",),
    "payroll.codes.earning": ("the GL account",),
    "payroll.codes.withholding": ("the GL account",),
    "payroll.codes.deduction_pre_tax": ("the GL account",),
    "payroll.codes.deduction_post_tax": ("the GL account",),
    "payroll.codes.employer_tax": ("expense", "liability"),
    "payroll.codes.employer_contribution": ("expense", "liability"),
    "payroll.departments": ("the financial dimensions",),
    "payroll.locations": ("the financial dimensions",),
    "catalog.inventory.locations": ("fo_site", "fo_warehouse", "bc_location"),
}

VALUE_SYNONYMS: tuple[frozenset[str], ...] = tuple(frozenset(group) for group in (
    {"ot", "overtime", "ot1", "ot2", "doubletime", "double time", "dt", "time and a half", "ot15", "ot20"},
    {"reg", "regular", "regular pay", "base", "straight time", "st"},
    {"hol", "holiday", "holiday pay", "stat holiday"},
    {"pto", "vacation", "vac", "paid time off", "sick", "sick pay", "personal"},
    {"bonus", "bon", "incentive", "commission", "comm", "spiff"},
    {"tips", "tip", "gratuity", "cash tips", "charged tips", "tips charged", "tips cash"},
    {"mastercard", "mc", "master card", "maestro"},
    {"amex", "american express", "amx"},
    {"discover", "disc"},
    {"gift card", "gift", "giftcard", "gc", "stored value"},
    {"cash", "currency"},
    {"fit", "federal income tax", "fed wh", "federal withholding", "fwt", "fed"},
    {"sit", "state income tax", "state wh", "state withholding", "swt"},
    {"fica ss", "social security", "oasdi", "ss", "fica"},
    {"fica med", "medicare", "med", "fica medicare"},
    {"state", "st"}, {"county", "cnty", "co"}, {"city", "municipal", "local", "cty"},
    {"captured", "settled", "completed"}, {"reversed", "voided", "void", "cancelled", "canceled"},
    {"foh", "front of house", "server", "servers"}, {"boh", "kitchen", "back of house", "cook"},
))
"""Names of the same family as the trade writes them: an overtime code is an overtime code. A brand of its own
(JCB, Diners Club) is no family of another, though one network may carry both: its method in the ERP differs."""

SPELLING_ONLY = THRESHOLD - 0.05
"""The most a likeness of spelling alone earns (``Bakery`` and ``BAR``, ``STORE4`` and ``STORE1``): short codes
look alike by chance, and an entry names accounts."""


def _value_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.casefold().replace("&", " and ")) if w]


def _numbered(name: str, base: str) -> bool:
    """``OT2`` is a numbered ``OT``: the base spelt out, then only digits (``STORE10`` is no numbered ``STORE1``)."""
    return len(name) > len(base) >= 2 and base[-1].isalpha() and name.startswith(base) and name[len(base):].isdigit()


def _name_likeness(unmapped: str, known: str) -> tuple[float, str]:
    """How alike two value names are, and why. Only a relation of meaning reaches 0.5: the same family of the
    trade (``HOL`` and ``HOLIDAY``, ``OT2`` and ``OT``), a kind of the known (``AMEX_CORPORATE``, ``VISA_DEBIT``),
    a numbered one; a likeness of spelling (a shared prefix, Jaro-Winkler) stays below."""
    a, b = _value_words(unmapped), _value_words(known)
    if not a or not b:
        return 0.0, ""
    joined_a, joined_b = " ".join(a), " ".join(b)
    if joined_a == joined_b:
        return 1.0, "the same name"
    squeezed_a, squeezed_b = "".join(a), "".join(b)
    for group in VALUE_SYNONYMS:
        if joined_b not in group:
            continue
        if joined_a in group:
            return 0.85, f"{known} is of the same family ({unmapped} ≈ {known})"
        if any(w in group for w in a) or any(_numbered(squeezed_a, g.replace(" ", "")) for g in group):
            return 0.8, f"{known} is of the same family ({unmapped} ≈ {known})"
    if set(b) <= set(a):
        extra = [w for w in a if w not in b]
        return 0.82 - 0.04 * max(0, len(extra) - 1), f"{unmapped} is a kind of {known}"
    if a[0] == b[0] and len(b[0]) >= 3:
        extra = [w for w in a if w not in b]
        return 0.82 - 0.04 * max(0, len(extra) - 1), f"{unmapped} is a kind of {a[0].upper()}, as {known} is"
    if _numbered(squeezed_a, squeezed_b):
        return 0.75, f"{unmapped} is a numbered {known}"
    if len(squeezed_b) >= 2 and squeezed_b in a:
        return 0.72, f"{unmapped} names {known}"
    if min(len(squeezed_a), len(squeezed_b)) >= 2 and (squeezed_a.startswith(squeezed_b)
                                                      or squeezed_b.startswith(squeezed_a)):
        return SPELLING_ONLY, f"{unmapped} only starts like {known}: a likeness of spelling, not of meaning"
    similarity = JaroWinkler.similarity(squeezed_a, squeezed_b)
    if similarity >= 0.85:
        return min(SPELLING_ONLY, 0.3 + (similarity - 0.85)), (
            f"{unmapped} is only spelt like {known}: a likeness of spelling, not of meaning")
    return similarity * 0.3, f"{unmapped} only resembles {known}"


def _section(document: Mapping[str, Any], section: str) -> Any:
    here: Any = document
    for part in section.split("."):
        if not isinstance(here, Mapping) or part not in here:
            return None
        here = here[part]
    return here


def suggest_entry(document: Mapping[str, Any], section: str, name: str) -> EntrySuggestion:
    """The entry for ``name``, unmapped in ``section`` (dotted, e.g. ``payroll.codes.earning``), copied from the
    most alike key already there (AMEX_CORPORATE like AMEX, OT2 like OT); below 0.5 nothing is copied and the
    suggestion says what the entry needs instead. Names only spelt alike (Bakery and BAR) stay below 0.5; and
    ``hl365 mapping apply`` writes an entry only once a person marks it ``"accepted": true``."""
    entries = _section(document, section)
    needs = SECTION_NEEDS.get(section, ())
    if not isinstance(entries, Mapping) or not entries:
        return EntrySuggestion(section, name, None, 0.0, None, f"{section} has no entries to take after; a person "
                               f"must write {name}'s entry" + (f" ({', '.join(needs)})" if needs else ""), needs)
    if name in entries:
        return EntrySuggestion(section, name, entries[name], 1.0, name, f"{name} is already in {section}", needs)
    scored = sorted(((*_name_likeness(name, str(key)), str(key)) for key in entries), key=lambda x: -x[0])
    best, why, like = scored[0]
    if best >= THRESHOLD and len(scored) > 1 and scored[1][0] >= best - 0.02 and entries[scored[1][2]] != entries[like]:
        best = min(best, THRESHOLD - 0.01)
        why = f"{name} is as much like {like} as like {scored[1][2]}, whose entries differ"
    confidence = round(max(0.0, min(best, 1.0)), 2)
    if confidence < THRESHOLD:
        what = ", ".join(needs) if needs else "its entry"
        return EntrySuggestion(section, name, None, confidence, None,
                               f"no entry in {section} is like {name} ({why}); a person must give {what}", needs)
    return EntrySuggestion(section, name, plain(entries[like]), confidence, like,
                           f"{why}: copies {like}'s entry", ())


def plain(value: Any) -> Any:
    """``value`` as plain JSON-able data: mappings as dicts with string keys, lists, and the YAML loader's string
    types (ruamel's quoted scalars) as ``str``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def suggestions_of(items: Iterable[Suggestion | EntrySuggestion]) -> list[dict[str, Any]]:
    """The suggestions file's content (``hl365 mapping apply`` reads it)."""
    return [item.as_dict() for item in items]
