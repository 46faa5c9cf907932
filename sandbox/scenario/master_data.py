"""The demo day's master data: customers in every system, items, prices and stock in the ERP.

Customers come from the customer generator (planted duplicates across the POS, the ERP and the CRM, and every
look-alike), each written into the system its record says, as that system stores it. The ERP gets new items, a
price change and stock movements, and the next day's trading at the store. Then the customer sync and the
catalogue sync run as the timers would (that evening, and twice the morning after, when the POS's sales are
booked into the ERP's stock): the first links and pushes, the second must find nothing to do. The truth of who
is who grades the profiles.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.scenario.customers import Generator, errors, pairwise
from sandbox.scenario.pos import Line
from sandbox.simulators.base import SimulatorApp
from shared.errors import IntegrationError
from shared.flows.catalog import run_catalog_sync
from shared.flows.customers import run_customer_sync
from shared.ports import Ports

COUNTRY_CODES = {"US": "US", "USA": "US", "United States": "US"}


def _clean(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return str(value).strip() or None if value is not None else None


def _getter(record: dict[str, Any]) -> Callable[[str], str | None]:
    return lambda name: _clean(record, name)


def plant_customers(erp: str, apps: dict[str, SimulatorApp], count: int, seed: int,
                    truth_cards: set[str]) -> dict[tuple[str, str], str]:
    """``count`` generated records written into the Retail, ERP and Dataverse simulators (loyalty members are
    Retail customers), and loyalty cards under the phones of some customers (their entities into
    ``truth_cards``); returns (source, id there) → the real customer."""
    gen = Generator(seed)
    cards = random.Random(f"{seed}:cards")
    truth: dict[tuple[str, str], str] = {}
    retail: Any = apps["retail"].simulated
    crm: Any = apps["dataverse"].simulated
    books: Any = apps[erp].simulated
    serial = 0
    portico: Any = apps["portico"].simulated
    aliases: set[str] = set()
    for who in gen.identities(count):
        if who.phone and who.phone not in aliases and cards.random() < 0.3:  # a member, her card under her phone
            aliases.add(who.phone)
            portico.issue_card(balance=Decimal(cards.randrange(0, 20_000)) / 100, points=cards.randrange(0, 900),
                               aliases=[who.phone])
            truth_cards.add(who.entity)
        for record in gen.records(who):
            serial += 1
            get = _getter(record)
            if record["source"] in ("pos", "loyalty"):
                # Retail wants a name: a business without a contact goes in under its company name
                last = get("last_name") or ("" if get("first_name") else get("company") or "")
                if not (last or get("first_name")):
                    continue  # nameless: the till would not have saved it
                row = retail.add_customer(get("first_name") or "", last, email=get("email"), phone=get("phone"),
                                          custom={"company": get("company")} if get("company") else None)
                truth[("pos", str(row["id"]))] = who.entity
            elif record["source"] == "erp":
                number = f"HL-{seed % 1000:03d}-{serial:05d}"
                _erp_customer(erp, books, number, get)
                truth[("erp", number)] = who.entity
            else:
                crm_id = f"{seed % 65536:04x}0000-0000-4000-8000-{serial:012d}"
                if get("first_name") or get("last_name"):
                    crm.plant("contacts", [{"contactid": crm_id, "firstname": get("first_name"),
                                            "lastname": get("last_name"), "emailaddress1": get("email"),
                                            "telephone1": get("phone"), **_crm_address(get)}])
                else:
                    crm.plant("accounts", [{"accountid": crm_id, "name": get("company"), "emailaddress1": get("email"),
                                            "telephone1": get("phone"), **_crm_address(get)}])
                truth[("crm", crm_id)] = who.entity
    return truth


def _crm_address(get: Callable[[str], str | None]) -> dict[str, str | None]:
    return {"address1_line1": get("address_line1"), "address1_city": get("city"),
            "address1_stateorprovince": get("state"), "address1_postalcode": get("postal_code"),
            "address1_country": get("country")}


def _erp_customer(erp: str, books: Any, number: str, get: Callable[[str], str | None]) -> None:
    person = bool(get("first_name") or get("last_name"))
    country = COUNTRY_CODES.get(get("country") or "", None)
    if erp == "fo":
        fields = {"PartyType": "Person" if person else "Organization", "PersonFirstName": get("first_name"),
                  "PersonLastName": get("last_name"), "PrimaryContactEmail": get("email"),
                  "PrimaryContactPhone": get("phone"), "AddressStreet": get("address_line1"),
                  "AddressCity": get("city"), "AddressState": get("state"), "AddressZipCode": get("postal_code"),
                  "AddressCountryRegionId": country}
        books.add_customer(number, "" if person else (get("company") or number),
                           **{k: v for k, v in fields.items() if v is not None})
        return
    name = " ".join(filter(None, (get("first_name"), get("last_name")))) if person else get("company")
    fields = {"type": "Person" if person else "Company", "email": get("email"), "phoneNumber": get("phone"),
              "addressLine1": get("address_line1"), "city": get("city"), "state": get("state"),
              "postalCode": get("postal_code"), "country": country}
    books.add_customer(number, name or number, **{k: v for k, v in fields.items() if v is not None})


def move_catalog(erp: str, app: SimulatorApp, seed: int) -> dict[str, int]:
    """The ERP's day: new items, a price change, goods received and counted."""
    rng = random.Random(f"{seed}:catalog")
    sim: Any = app.simulated
    new = 2 + rng.randrange(3)
    if erp == "fo":
        for n in range(new):
            number = f"N{seed % 1000:03d}{n:02d}"
            sim.add_product(number, f"New item {number}", price=Decimal(rng.randrange(500, 9000)) / 100,
                            cost=Decimal(rng.randrange(200, 4000)) / 100, company="usmf")
            sim.set_on_hand(number, "11", Decimal(rng.randrange(5, 60)), site="1", company="usmf")
        first = sorted(r["ItemNumber"] for r in sim.rows("ReleasedProductsV2") if r["dataAreaId"] == "usmf")[0]
        old = next(r for r in sim.rows("ReleasedProductsV2") if r["ItemNumber"] == first)["SalesPrice"]
        sim.update_product(first, company="usmf", SalesPrice=Decimal(old) + Decimal("1.50"))
        sim.set_on_hand(first, "11", Decimal(rng.randrange(10, 80)), site="1", company="usmf")
    else:
        for n in range(new):
            number = f"N{seed % 1000:03d}{n:02d}"
            sim.add_item(number, f"New item {number}", unit_price=Decimal(rng.randrange(500, 9000)) / 100,
                         inventory=Decimal(rng.randrange(5, 60)), unitCost=Decimal(rng.randrange(200, 4000)) / 100)
        item = sorted(sim.records("items"), key=lambda r: r["number"])[0]
        sim.update("items", item["id"], {"unitPrice": Decimal(str(item["unitPrice"])) + Decimal("1.50")})
        sim.set_inventory(item["number"], Decimal(rng.randrange(10, 80)))
    return {"new_items": new, "price_changes": 1}


def trade(apps: dict[str, SimulatorApp], day: date, timezone: str, seed: int, erp_items: set[str]) -> dict[str, int]:
    """A day at the store mapped to the ERP (``MAIN``): a few tickets selling ERP items the catalogue sync made,
    one with a return; item number → net quantity sold."""
    rng = random.Random(f"{seed}:trade")
    retail: Any = apps["retail"].simulated
    location = next(loc["id"] for loc in retail.records("locations") if loc.get("public_id") == "MAIN")
    held = {row["item_id"] for row in retail.records("inventory")
            if row["location_id"] == location and row["qty_on_hand"] > 10}
    synced = [i for i in retail.records("items") if i.get("public_id") in erp_items and i["id"] in held and i["active"]]
    chosen = rng.sample(synced, min(len(synced), 3))
    sold: dict[str, int] = {}
    for n in range(3 + rng.randrange(4)):
        item = rng.choice(chosen)
        qty = -1 if n == 0 and sold else 1 + rng.randrange(3)
        if qty < 0 and sold.get(item["public_id"], 0) < 1:
            qty = 1
        moment = datetime.combine(day, time(10 + n), ZoneInfo(timezone))
        retail.add_ticket(location_id=location, completed_at=moment, lines=[Line(item_id=item["id"], qty=qty)])
        sold[item["public_id"]] = sold.get(item["public_id"], 0) + qty
    return {number: qty for number, qty in sold.items() if qty}


def run(erp: str, apps: dict[str, SimulatorApp], ports: Ports, *, customers: int, seed: int, day: date
        ) -> dict[str, Any]:
    """Plant, sync twice, grade; the report's parts and their invariants. A sync that fails (a target still
    refusing after every retry) fails the invariant with its reason instead of ending the day."""
    try:
        return _run(erp, apps, ports, customers=customers, seed=seed, day=day)
    except IntegrationError as error:
        return {"master_data_ok": False, "master_data_error": f"{type(error).__name__}: {error}"}


def _run(erp: str, apps: dict[str, SimulatorApp], ports: Ports, *, customers: int, seed: int, day: date
         ) -> dict[str, Any]:
    """The runs stand at the morning after the demo day, that evening, and the morning after: the POS's sales of
    the next day are traded between, so the evening run must leave them alone and the last runs book them."""
    zone = ZoneInfo(ports.settings.merchant_timezone)
    next_day = day + timedelta(days=1)
    morning, evening = (datetime.combine(next_day, time(h), zone) for h in (6, 20))
    after = datetime.combine(next_day + timedelta(days=1), time(6), zone)
    carded: set[str] = set()
    truth = plant_customers(erp, apps, customers, seed, carded)
    run_catalog_sync(ports, erp, now=morning)  # the morning: the POS in step with the ERP, as the last run left it
    moved = move_catalog(erp, apps[erp], seed)
    products = list(ports.catalog(erp).products())
    counted = min(p.item_number for p in products)  # move_catalog's first: the ERP just counted it
    # It is not sold, so the shelves of the items sold show the sales alone.
    sold = trade(apps, next_day, ports.settings.merchant_timezone, seed,
                 {p.item_number for p in products if p.stocked and p.item_number != counted})
    retail: Any = apps["retail"].simulated
    shelf = {i["public_id"]: i["id"] for i in retail.records("items") if i.get("public_id") in sold}
    location = next(loc["id"] for loc in retail.records("locations") if loc.get("public_id") == "MAIN")
    traded = {number: retail.on_hand(item_id, location) for number, item_id in shelf.items()}
    first = run_customer_sync(ports, erp)
    again = run_customer_sync(ports, erp)
    book = ports.customers
    found = {f"{s}:{i}": book.profile_of(s, i) or f"{s}:{i}" for s, i in truth}
    entities = {f"{s}:{i}": entity for (s, i), entity in truth.items()}
    score = pairwise(found, entities)
    mistakes = [[kind, a["id"], b["id"]] for kind, a, b in errors(found, entities, [{"id": k} for k in entities], 10)]
    catalog = run_catalog_sync(ports, erp, now=evening).summary()
    kept = {number: retail.on_hand(item_id, location) for number, item_id in shelf.items()}
    booking = run_catalog_sync(ports, erp, now=after).summary()
    next_sales = [b for b in booking["pos_sales"] if b["date"] == next_day.isoformat() and b["location"] == "MAIN"]
    booked = {n: int(Decimal(q)) for b in next_sales for n, q in b["booked_now"].items()}
    to_book = {n: int(Decimal(q)) for b in next_sales if b["reason"] for n, q in b["sold"].items()}
    if erp == "bc":  # the ERP's people book the listed quantities, as the report asks them to
        books: Any = apps[erp].simulated
        for number, quantity in to_book.items():
            item = books.records("items", number=number)[0]
            books.set_inventory(number, Decimal(str(item["inventory"])) - quantity)
    catalog_again = run_catalog_sync(ports, erp, now=after).summary()
    part = {
        "customers": {**first.row(), "planted": len(truth), "precision": round(score.precision, 4),
                      "recall": round(score.recall, 4), "f1": round(score.f1, 4),
                      "loyalty_cards_planted": len(carded), "loyalty_cards_found": first.loyalty_cards,
                      "loyalty_pushed_to_erp": first.loyalty_pushed, "mistakes": mistakes,
                      "second_sync_linked": again.linked + again.created + len(again.merges)},
        "items_synced": catalog["items_created"] + catalog["items_updated"],
        "prices_synced": catalog["prices_changed"],
        "stock_mismatches": len(catalog["stock_mismatches"]),
        "catalog_planted": moved,
        "pos_sales": {"date": next_day.isoformat(), "sold": sold, "booked": booked, "to_book_by_hand": to_book,
                      "journals": [b["journal"] for b in booking["pos_sales"] if b["journal"]],
                      "kept_on_the_shelf_before_booking": kept == traded},
        "catalog_second_run": {"items_written": catalog_again["items_created"] + catalog_again["items_updated"],
                               "adjustment_sets": len(catalog_again["adjustment_sets"]),
                               "stock_mismatches": len(catalog_again["stock_mismatches"]),
                               "pos_sales_booked": sum(bool(b["journal"]) for b in catalog_again["pos_sales"])},
    }
    sales_ok = kept == traded and (booked == sold if erp == "fo" else to_book == sold and not booked)
    part["master_data_ok"] = (score.f1 >= 0.9 and part["customers"]["second_sync_linked"] == 0
                              and first.loyalty_cards >= 0.9 * len(carded)
                              and part["prices_synced"] >= moved["price_changes"]
                              and part["items_synced"] >= moved["new_items"]
                              and sales_ok
                              and part["catalog_second_run"] == {"items_written": 0, "adjustment_sets": 0,
                                                                 "stock_mismatches": 0, "pos_sales_booked": 0})
    return part
