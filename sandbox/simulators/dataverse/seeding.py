"""A small CRM drawn from the seed: accounts of the kind a retailer sells to, and contacts, most of them linked
to an account. The same seed gives the same ids, names and timestamps, so a test or a demo can name them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.simulators.dataverse.schema import ACCOUNTS, CONTACTS
from sandbox.simulators.dataverse.store import Store, iso

COMPANIES = ("Fourth Coffee", "Adventure Works Cycles", "Alpine Ski House", "Blue Yonder Airlines",
             "City Power & Light", "Coho Winery", "Contoso Pharmaceuticals", "Fabrikam Residences", "Litware, Inc.",
             "Lucerne Publishing", "Margie's Travel", "Northwind Traders", "Proseware, Inc.", "Tailspin Toys",
             "Wide World Importers")
FIRST = ("Ava", "Liam", "Maria", "Noah", "Sofia", "James", "Chen", "Priya", "Olivia", "Mateo", "Aisha", "Lucas",
         "Emma", "Diego", "Hannah", "Kenji", "Grace", "Omar", "Zoe", "Ethan")
LAST = ("Johnson", "Garcia", "Nguyen", "Smith", "Patel", "Kim", "Brown", "Martinez", "Okafor", "Rossi", "Muller",
        "Silva", "Cohen", "Walker", "Tanaka", "Lopez")
PLACES = (("Chicago", "IL", "60601"), ("Dallas", "TX", "75201"), ("Seattle", "WA", "98101"),
          ("Denver", "CO", "80202"), ("Atlanta", "GA", "30303"), ("Boston", "MA", "02108"))
STREETS = ("Main St", "Oak Ave", "Pine St", "Maple Dr", "Cedar Ln", "Elm St", "Lake Shore Dr")
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _address(rng: random.Random) -> dict[str, Any]:
    city, state, postal = rng.choice(PLACES)
    return {"address1_line1": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}", "address1_city": city,
            "address1_stateorprovince": state, "address1_postalcode": postal, "address1_country": "United States"}


def _phone(rng: random.Random) -> str:
    return f"+1 {rng.randint(201, 989)}-555-{rng.randint(100, 199):04d}"


def seed(store: Store, *, seed: int, accounts: int, contacts: int) -> None:
    """``accounts`` accounts and ``contacts`` contacts; about four contacts in five belong to an account."""
    rng = random.Random(f"dataverse-data:{seed}")
    moment = EPOCH
    account_ids = []
    with store.lock:
        for n in range(accounts):
            moment += timedelta(minutes=rng.randint(5, 600))
            name = COMPANIES[n % len(COMPANIES)] + ("" if n < len(COMPANIES) else f" {n // len(COMPANIES) + 1}")
            domain = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
            row = store.create(ACCOUNTS, {"name": name, "accountnumber": f"ACC-{1000 + n}", "telephone1": _phone(rng),
                                          "emailaddress1": f"info@{domain}.example.com", **_address(rng)},
                               created=iso(moment))
            account_ids.append(row["accountid"])
        for _ in range(contacts):
            moment += timedelta(minutes=rng.randint(5, 600))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            values: dict[str, Any] = {"firstname": first, "lastname": last,
                                      "emailaddress1": f"{first}.{last}{rng.randint(1, 99)}@example.com".lower(),
                                      "telephone1": _phone(rng), "mobilephone": _phone(rng), **_address(rng)}
            if account_ids and rng.random() < 0.8:
                values["_parentcustomerid_value"] = rng.choice(account_ids)
                values["_parent_set"] = "accounts"
            store.create(CONTACTS, values, created=iso(moment))
