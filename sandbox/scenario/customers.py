"""Customer records as four systems hold them, with the truth of who is who.

Every real customer (an *entity*) is written one to four times across the POS, the ERP, the CRM and the
loyalty programme, each time as a person at a counter or in a back office would type it: nicknames, typos,
names swapped, a middle initial, phones in every format, USPS abbreviations or none, ZIP+4, ZIPs that
lost their leading zero, Gmail dots and ``+tags``, fields left empty. Around them stand the look-alikes a
matcher must keep apart: households sharing an address, a home phone and sometimes a family e-mail;
father and son of one name at one address; the commonest names in different cities; franchises of one
brand; and near-named businesses (Northside and Southside Dental) in one town.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any

from shared.customers.normalize import SOURCES

CITIES = [  # city, state, full state name, ZIP prefix, area code
    ("Boston", "MA", "Massachusetts", "021", "617"), ("Cambridge", "MA", "Massachusetts", "021", "617"),
    ("Hartford", "CT", "Connecticut", "061", "860"), ("Newark", "NJ", "New Jersey", "071", "973"),
    ("Providence", "RI", "Rhode Island", "029", "401"), ("Portland", "ME", "Maine", "041", "207"),
    ("Chicago", "IL", "Illinois", "606", "312"), ("Evanston", "IL", "Illinois", "602", "847"),
    ("Dallas", "TX", "Texas", "752", "214"), ("Austin", "TX", "Texas", "787", "512"),
    ("Houston", "TX", "Texas", "770", "713"), ("Denver", "CO", "Colorado", "802", "303"),
    ("Phoenix", "AZ", "Arizona", "850", "602"), ("Seattle", "WA", "Washington", "981", "206"),
    ("Portland", "OR", "Oregon", "972", "503"), ("Atlanta", "GA", "Georgia", "303", "404"),
    ("Miami", "FL", "Florida", "331", "305"), ("Orlando", "FL", "Florida", "328", "407"),
    ("Nashville", "TN", "Tennessee", "372", "615"), ("Columbus", "OH", "Ohio", "432", "614"),
    ("Detroit", "MI", "Michigan", "482", "313"), ("Minneapolis", "MN", "Minnesota", "554", "612"),
    ("Kansas City", "MO", "Missouri", "641", "816"), ("St. Louis", "MO", "Missouri", "631", "314"),
    ("San Diego", "CA", "California", "921", "619"), ("Los Angeles", "CA", "California", "900", "213"),
    ("Sacramento", "CA", "California", "958", "916"), ("Salt Lake City", "UT", "Utah", "841", "801"),
    ("Raleigh", "NC", "North Carolina", "276", "919"), ("Richmond", "VA", "Virginia", "232", "804"),
]
FIRST_NAMES = [
    "James", "Robert", "John", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
    "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
    "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Benjamin",
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
    "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
    "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen",
    "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria",
    "Heather", "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren",
    "Priya", "Wei", "Hiroshi", "Aaliyah", "Mateo", "Santiago", "Fatima", "Omar", "Ngozi", "Siobhan",
]
NICKNAMES = {
    "Robert": ["Bob", "Rob", "Bobby"], "William": ["Bill", "Will", "Billy"], "Richard": ["Rick", "Dick"],
    "James": ["Jim", "Jimmy"], "Michael": ["Mike", "Mikey"], "Joseph": ["Joe", "Joey"], "Thomas": ["Tom", "Tommy"],
    "Christopher": ["Chris"], "Daniel": ["Dan", "Danny"], "Matthew": ["Matt"], "Anthony": ["Tony"],
    "Steven": ["Steve"], "Andrew": ["Andy", "Drew"], "Kenneth": ["Ken", "Kenny"], "Timothy": ["Tim"],
    "Edward": ["Ed", "Eddie", "Ted"], "Nicholas": ["Nick"], "Jonathan": ["Jon"], "Benjamin": ["Ben"],
    "Elizabeth": ["Liz", "Beth", "Betsy"], "Margaret": ["Maggie", "Peggy", "Meg"], "Katherine": ["Kate", "Kathy"],
    "Patricia": ["Pat", "Patty", "Trish"], "Jennifer": ["Jen", "Jenny"], "Susan": ["Sue", "Susie"],
    "Deborah": ["Deb", "Debbie"], "Rebecca": ["Becky"], "Samantha": ["Sam"], "Kimberly": ["Kim"],
    "Victoria": ["Vicky", "Tori"], "Catherine": ["Cathy"], "Pamela": ["Pam"], "Christine": ["Chris"],
    "Dorothy": ["Dot", "Dottie"], "Stephanie": ["Steph"], "Cynthia": ["Cindy"], "Donald": ["Don"],
}
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "O'Brien", "McDonald", "Van der Berg", "Kowalczyk", "Okafor", "Nakamura", "Patel", "Schmidt", "Dubois",
    "Lindqvist", "Fitzgerald", "Abernathy", "Castellanos", "Whitfield", "Prendergast", "Yamamoto", "Achebe",
    "Haugen", "Moreau", "Castillo", "Delacroix", "Ferreira", "Gallagher", "Hoffman", "Iverson", "Jablonski",
]
COMMON = [("John", "Smith"), ("Maria", "Garcia"), ("James", "Johnson"), ("Michael", "Brown"), ("Mary", "Jones"),
          ("David", "Miller"), ("Jennifer", "Davis"), ("Robert", "Williams")]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Walnut",
           "Lincoln", "Jackson", "Sunset", "Highland", "Church", "Spring", "Ridge", "Franklin", "Jefferson",
           "Madison", "Chestnut", "Willow", "Meadow", "River", "Forest", "1st", "2nd", "3rd", "5th", "12th",
           "Mill", "Union", "Prospect", "Center", "Adams", "Harbor", "Vine", "Woodland", "Broad"]
STREET_TYPES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"),
                ("Boulevard", "Blvd"), ("Court", "Ct"), ("Place", "Pl"), ("Parkway", "Pkwy"), ("Terrace", "Ter")]
DIRECTIONS = [("North", "N"), ("South", "S"), ("East", "E"), ("West", "W")]
UNITS = [("Apartment", "Apt"), ("Suite", "Ste"), ("Unit", "Unit")]
PROVIDERS = ["gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "comcast.net", "hotmail.com"]
BUSINESS_KINDS = ["Dental", "Pizza", "Hardware", "Auto Repair", "Bakery", "Florist", "Pharmacy", "Fitness",
                  "Coffee", "Veterinary Clinic", "Dry Cleaners", "Pet Supply", "Books", "Tailors", "Optical"]
BUSINESS_PREFIXES = ["Northside", "Southside", "Eastside", "Westside", "Downtown", "Uptown", "Lakeview",
                     "Riverside", "Hillcrest", "Parkway", "Golden", "Summit", "Harbor", "Oakwood", "Maple Leaf"]
FRANCHISES = ["Pizza Palace", "Quick Lube Express", "Sunrise Bagels", "Ace Home Center", "Happy Paws Grooming"]
LEGAL_FORMS = ["", "", " Inc", " Inc.", " LLC", ", LLC", " Co.", " Corp", " Corporation", " L.L.C."]


@dataclass
class Identity:
    """What is true of one real customer; the records are what systems made of it."""

    entity: str
    first: str = ""
    last: str = ""
    middle: str = ""
    generation: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""
    number: str = ""
    direction: tuple[str, str] | None = None
    street: str = ""
    street_type: tuple[str, str] = ("Street", "St")
    unit: tuple[str, str, str] | None = None
    city: tuple[str, str, str, str, str] = CITIES[0]
    zip5: str = ""
    records: int = 1
    case: str = ""
    """The look-alike kind this customer stands in (household, father_son, common_name, near_named, franchise)."""
    group: str = ""
    """The customers it must be kept apart from share it."""


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._serial = 0
        self._used_emails: set[str] = set()

    def _id(self) -> str:
        self._serial += 1
        return f"E{self._serial:07d}"

    def _zip(self, city: tuple[str, str, str, str, str]) -> str:
        return f"{city[3]}{self.rng.randrange(0, 100):02d}"

    def _phone(self, city: tuple[str, str, str, str, str]) -> str:
        return f"{city[4]}{self.rng.randrange(200, 1000)}{self.rng.randrange(0, 10_000):04d}"

    def _email(self, local: str, domain: str | None = None) -> str:
        domain = domain or self.rng.choice(PROVIDERS)
        local = "".join(c for c in local.lower() if c.isalnum() or c in "._")
        candidate = f"{local}@{domain}"
        while candidate in self._used_emails:
            candidate = f"{local}{self.rng.randrange(1, 999)}@{domain}"
        self._used_emails.add(candidate)
        return candidate

    def _address(self, who: Identity, city: tuple[str, str, str, str, str] | None = None) -> None:
        rng = self.rng
        who.city = city or rng.choice(CITIES)
        who.zip5 = self._zip(who.city)
        who.number = str(rng.randrange(1, 9_999))
        who.direction = rng.choice(DIRECTIONS) if rng.random() < 0.3 else None
        who.street = rng.choice(STREETS)
        who.street_type = rng.choice(STREET_TYPES)
        who.unit = (*rng.choice(UNITS), str(rng.randrange(1, 40)) + rng.choice(["", "", "A", "B"])) \
            if rng.random() < 0.2 else None

    def person(self, *, first: str = "", last: str = "", common: bool = False) -> Identity:
        rng = self.rng
        if common:
            first, last = rng.choice(COMMON)
        who = Identity(self._id(), first=first or rng.choice(FIRST_NAMES), last=last or rng.choice(LAST_NAMES))
        if common:
            who.case, who.group = "common_name", f"{first} {last}"  # every John Smith looks like every other
        who.middle = rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.4 else ""
        self._address(who)
        who.phone = self._phone(who.city)
        style = rng.random()
        local = (f"{who.first}.{who.last}" if style < 0.4 else f"{who.first[0]}{who.last}" if style < 0.7
                 else f"{who.first}{who.last[:3]}{rng.randrange(10, 99)}")
        who.email = self._email(local.replace(" ", "").replace("'", ""))
        who.records = rng.choices([1, 2, 3, 4], weights=[45, 32, 16, 7])[0]
        return who

    def business(self, name: str, city: tuple[str, str, str, str, str] | None = None,
                 domain: str | None = None) -> Identity:
        rng = self.rng
        who = Identity(self._id(), company=name)
        self._address(who, city)
        who.phone = self._phone(who.city)
        slug = "".join(c for c in name.lower() if c.isalnum())
        who.email = self._email(rng.choice(["info", "office", "hello", "billing"]) + (
            who.city[0].lower().replace(" ", "").replace(".", "") if domain else ""), domain or f"{slug}.com")
        if rng.random() < 0.5:
            who.first, who.last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        who.records = rng.choices([1, 2, 3], weights=[45, 40, 15])[0]
        return who

    def identities(self, count: int) -> Iterator[Identity]:
        """Real customers until their records reach ``count``, hard cases woven in."""
        rng, made = self.rng, 0
        while made < count:
            roll = rng.random()
            group: list[Identity]
            if roll < 0.10:
                group = self._household()
            elif roll < 0.14:
                group = self._father_and_son()
            elif roll < 0.20:
                group = self._near_named_businesses()
            elif roll < 0.23:
                group = self._franchise()
            elif roll < 0.30:
                group = [self.business(f"{rng.choice(BUSINESS_PREFIXES)} {rng.choice(BUSINESS_KINDS)}")]
            else:
                group = [self.person(common=rng.random() < 0.12)]
            for who in group:
                who.group = who.group or (group[0].entity if who.case else "")
            for who in group:
                who.records = min(who.records, count - made)
                if who.records > 0:
                    made += who.records
                    yield who

    def _household(self) -> list[Identity]:
        rng = self.rng
        head = self.person()
        head.case = "household"
        family_email = self._email(f"{head.last}family".replace(" ", "").replace("'", "")) \
            if rng.random() < 0.4 else ""
        members = [head]
        for _ in range(rng.randrange(1, 4)):
            first = rng.choice([n for n in FIRST_NAMES if n not in {m.first for m in members}])
            member = self.person(first=first, last=head.last if rng.random() < 0.85 else "")
            for attr in ("city", "zip5", "number", "direction", "street", "street_type", "unit"):
                setattr(member, attr, getattr(head, attr))
            if rng.random() < 0.7:
                member.phone = head.phone
            member.case = "household"
            members.append(member)
        if family_email:
            for member in members:
                if rng.random() < 0.7:
                    member.email = family_email
        return members

    def _father_and_son(self) -> list[Identity]:
        father = self.person(first=self.rng.choice(FIRST_NAMES[:40]))
        son = self.person(first=father.first, last=father.last)
        for attr in ("city", "zip5", "number", "direction", "street", "street_type", "unit"):
            setattr(son, attr, getattr(father, attr))
        if self.rng.random() < 0.5:
            son.phone = father.phone
        son.generation = "Jr"
        father.generation = "Sr"
        father.case = "father_son"
        son.case = "father_son"
        return [father, son]

    def _near_named_businesses(self) -> list[Identity]:
        rng = self.rng
        kind, city = rng.choice(BUSINESS_KINDS), rng.choice(CITIES)
        prefixes = rng.sample(BUSINESS_PREFIXES[:4] if rng.random() < 0.6 else BUSINESS_PREFIXES, 2)
        group = [self.business(f"{prefix} {kind}", city) for prefix in prefixes]
        if rng.random() < 0.5:  # on one street, a few doors apart
            group[1].street, group[1].street_type = group[0].street, group[0].street_type
            group[1].direction, group[1].zip5 = group[0].direction, group[0].zip5
        for who in group:
            who.case = "near_named"
        return group

    def _franchise(self) -> list[Identity]:
        rng = self.rng
        brand = rng.choice(FRANCHISES)
        domain = "".join(c for c in brand.lower() if c.isalnum()) + ".com"
        cities = rng.sample(CITIES, 3)
        group = [self.business(brand, city, domain) for city in cities]
        group.append(self.business(brand, cities[0], domain))  # a second store in one town
        for who in group:
            who.case = "franchise"
        return group

    def records(self, who: Identity) -> list[dict[str, Any]]:
        """The records systems hold of ``who``: the first as entered carefully, the rest as they come."""
        sources = self.rng.sample(SOURCES, min(who.records, len(SOURCES)))
        out = [self._record(who, sources[0], careful=True)]
        out += [self._record(who, source, careful=False) for source in sources[1:]]
        return out

    def _typo(self, word: str) -> str:
        rng = self.rng
        if len(word) < 4:
            return word
        i = rng.randrange(1, len(word) - 1)
        kind = rng.random()
        if kind < 0.3:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if kind < 0.6:
            return word[:i] + word[i + 1:]
        if kind < 0.8:
            return word[:i] + rng.choice("aeiounrst") + word[i + 1:]
        return word[:i] + word[i] + word[i:]

    def _record(self, who: Identity, source: str, *, careful: bool) -> dict[str, Any]:
        rng = self.rng
        first, last = who.first, who.last
        if first and not careful:
            if first in NICKNAMES and rng.random() < 0.3:
                first = rng.choice(NICKNAMES[first])
            elif rng.random() < 0.08:
                first = self._typo(first)
        if last and not careful and rng.random() < 0.08:
            last = self._typo(last)
        if who.middle and rng.random() < 0.4:
            first = f"{first} {who.middle}" + ("." if rng.random() < 0.5 else "")
        if who.generation and (who.generation == "Jr" or rng.random() < 0.5):
            last = f"{last} {rng.choice([who.generation, who.generation + '.', ', ' + who.generation + '.'])}"\
                .replace(" ,", ",")
        if not careful and first and last and rng.random() < 0.04:
            first, last = last, first
        if not careful and rng.random() < 0.1:
            first, last = first.upper(), last.upper()
        company = who.company
        if company:
            company += rng.choice(LEGAL_FORMS)
            if not careful and rng.random() < 0.1:
                company = self._typo(company)
            if not careful and rng.random() < 0.15:
                company = company.upper()
            if rng.random() < 0.3:
                company = company.replace(" and ", " & ")
        email = who.email
        if email and not careful:
            local, domain = email.split("@")
            if domain == "gmail.com" and rng.random() < 0.4:
                local = rng.choice([local.replace(".", ""), local + "+" + rng.choice(["shop", "promo", "pos"])])
            email = (local + "@" + domain)
            if rng.random() < 0.15:
                email = email.upper() if rng.random() < 0.3 else email.capitalize()
        phone = self._format_phone(who.phone) if who.phone else ""
        line1 = self._format_address(who, careful)
        city, state, state_name, _prefix, _area = who.city
        postal = who.zip5
        if not careful:
            roll = rng.random()
            if roll < 0.15:
                postal = f"{postal}-{rng.randrange(1, 10_000):04d}"
            elif roll < 0.25:
                postal = postal.lstrip("0")
        record: dict[str, Any] = {
                  "id": "", "source": source, "first_name": first, "last_name": last, "company": company,
                  "email": email, "phone": phone, "address_line1": line1, "city": city,
                  "state": state_name if rng.random() < 0.15 else state, "postal_code": postal,
                  "country": rng.choice(["US", "US", "USA", "United States", ""])}
        # What each system tends to leave out; the first record keeps enough to find the customer again.
        drop = {"pos": {"address_line1": 0.5, "email": 0.4, "postal_code": 0.3, "company": 0.5},
                "loyalty": {"address_line1": 0.7, "postal_code": 0.4, "company": 0.8},
                "erp": {"email": 0.2, "phone": 0.2}, "crm": {"phone": 0.3, "address_line1": 0.2}}[source]
        for name, chance in drop.items():
            if rng.random() < chance * (0.4 if careful else 1):
                record[name] = rng.choice(["", None])
        keys = [k for k in ("email", "phone", "address_line1") if record[k]]
        if not keys:
            record["phone"] = phone or self._format_phone(who.phone)
        return record

    def _format_phone(self, digits: str) -> str:
        a, b, c = digits[:3], digits[3:6], digits[6:]
        return self.rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", digits,
                                f"1{digits}", f"+1{digits}", f"{a} {b} {c}"])

    def _format_address(self, who: Identity, careful: bool) -> str:
        rng = self.rng
        short = rng.random() < (0.5 if careful else 0.6)
        parts = [who.number]
        if who.direction:
            parts.append(who.direction[1] + ("." if short and rng.random() < 0.3 else "") if short
                         else who.direction[0])
        parts.append(who.street)
        parts.append(who.street_type[1] + ("." if rng.random() < 0.2 else "") if short else who.street_type[0])
        line = " ".join(parts)
        if who.unit:
            long_unit, short_unit, number = who.unit
            line += rng.choice([f" {long_unit} {number}", f" {short_unit} {number}", f" #{number}",
                                f", {short_unit}. {number}"])
        if not careful and rng.random() < 0.1:
            line = line.upper()
        return line


@dataclass(frozen=True)
class Truth:
    entity: str
    case: str
    group: str

    def row(self, record_id: str) -> dict[str, str]:
        return {"id": record_id, "entity": self.entity, "case": self.case, "group": self.group}


def generate(count: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Truth]]:
    """``count`` records in shuffled order, and who each one really is."""
    gen = Generator(seed)
    rows: list[dict[str, Any]] = []
    truth: dict[str, Truth] = {}
    for who in gen.identities(count):
        for record in gen.records(who):
            record["id"] = f"{record['source'].upper()}-{len(rows) + 1:07d}"
            rows.append(record)
            truth[record["id"]] = Truth(who.entity, who.case, who.group)
    gen.rng.shuffle(rows)
    return rows, truth


@dataclass(frozen=True)
class PairwiseScore:
    true_pairs: int
    found_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def pairwise(clusters: dict[str, str], truth: dict[str, str]) -> PairwiseScore:
    """``truth`` maps a record id to its real customer."""
    missing = truth.keys() - clusters.keys()
    if missing:
        raise ValueError(f"{len(missing)} records have no cluster, e.g. {sorted(missing)[:3]}")
    both = Counter((clusters[i], truth[i]) for i in truth)
    return PairwiseScore(
        true_pairs=sum(comb(n, 2) for n in Counter(truth.values()).values()),
        found_pairs=sum(comb(n, 2) for n in Counter(clusters[i] for i in truth).values()),
        correct_pairs=sum(comb(n, 2) for n in both.values()),
    )


def lookalikes(clusters: dict[str, str], truth: dict[str, Truth]) -> dict[str, tuple[int, int]]:
    """Per look-alike kind: (pairs of different customers of one look-alike group, those put together)."""
    members: dict[str, list[str]] = {}
    for record_id, who in truth.items():
        if who.group:
            members.setdefault(who.group, []).append(record_id)
    out: dict[str, list[int]] = {}
    for ids in members.values():
        for a, b in combinations(ids, 2):
            if truth[a].entity != truth[b].entity:
                counts = out.setdefault(truth[a].case, [0, 0])
                counts[0] += 1
                counts[1] += clusters[a] == clusters[b]
    return {case: (pairs, merged) for case, (pairs, merged) in sorted(out.items())}


def errors(clusters: dict[str, str], truth: dict[str, str], rows: Iterable[dict[str, Any]],
           limit: int = 20) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Pairs the matcher got wrong, for a person tuning it: ``("merged", a, b)`` or ``("missed", a, b)``."""
    by_id = {r["id"]: r for r in rows}
    out: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    groups: dict[str, list[str]] = {}
    for i in truth:
        groups.setdefault(clusters[i], []).append(i)
        groups.setdefault("T:" + truth[i], []).append(i)
    for key, ids in groups.items():
        for a, b in combinations(ids, 2):
            if key.startswith("T:") and clusters[a] != clusters[b]:
                out.append(("missed", by_id[a], by_id[b]))
            elif not key.startswith("T:") and truth[a] != truth[b]:
                out.append(("merged", by_id[a], by_id[b]))
            if len(out) >= limit:
                return out
    return out
