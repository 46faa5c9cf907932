"""The F&O simulator's Contoso-like master data, so a fresh environment can take a settlement journal or a payment
at once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.simulators.fo.service import FinanceOperations

MAIN_ACCOUNTS = [
    ("110110", "Bank account - operating", "BalanceSheet"),
    ("110180", "Cash clearing", "BalanceSheet"),
    ("130100", "Accounts receivable - domestic", "BalanceSheet"),
    ("130500", "Credit card clearing", "BalanceSheet"),
    ("140200", "Inventory", "BalanceSheet"),
    ("200110", "Accounts payable - domestic", "BalanceSheet"),
    ("222100", "Sales tax payable", "BalanceSheet"),
    ("231100", "Gift card liability", "BalanceSheet"),
    ("232100", "Tips payable", "BalanceSheet"),
    ("240100", "Accrued payroll", "BalanceSheet"),
    ("401100", "Sales - retail", "Revenue"),
    ("403100", "Sales discounts", "Revenue"),
    ("403200", "Sales returns and allowances", "Revenue"),
    ("601100", "Salaries and wages", "Expense"),
    ("601300", "Payroll taxes - employer", "Expense"),
    ("601500", "Employee benefits", "Expense"),
    ("618160", "Credit card processing fees", "Expense"),
]
CUSTOMERS = [
    ("US-001", "Contoso Retail San Diego", "30"),
    ("US-002", "Contoso Retail Los Angeles", "30"),
    ("US-003", "Forest Wholesales", "10"),
    ("US-004", "Cave Wholesales", "10"),
    ("US-005", "Contoso Retail Seattle", "30"),
]
PRODUCTS = [("T0001", "Speaker cable 10", "20.00", "8.50", "042100005264"),  # UPC-A barcodes: 12 digits, never
            ("T0002", "Projector television", "1100.00", "640.00", "070847811169"),  # mistaken for a card number
            ("D0001", "MidRangeSpeaker", "450.00", "212.00", None)]
EMPLOYEES = [  # SSNs from 987-65-4320…4329, the range the SSA reserves for examples (never issued)
    ("Jodi", "Christiansen", date(2006, 2, 1), date(1972, 3, 6), "987-65-4320",
     {"AddressStreet": "3219 Oak St", "AddressCity": "Bellevue", "AddressState": "WA", "AddressZipCode": "98004",
      "AddressCountryRegionId": "USA", "PrimaryContactEmail": "jodi@contoso.com", "TitleId": "Store manager"}),
    ("Charlie", "Carson", date(2019, 5, 13), date(1988, 11, 21), "987-65-4321",
     {"AddressStreet": "125 Pine Ave", "AddressCity": "Seattle", "AddressState": "WA", "AddressZipCode": "98101",
      "AddressCountryRegionId": "USA", "PrimaryContactPhone": "206-555-0142", "TitleId": "Cashier"}),
    ("Ana", "Ruiz", date(2023, 9, 4), date(1996, 7, 30), "987-65-4322",
     {"AddressStreet": "80 Harbor Way", "AddressCity": "San Diego", "AddressState": "CA", "AddressZipCode": "92101",
      "AddressCountryRegionId": "USA", "PrimaryContactEmail": "ana.ruiz@contoso.com", "TitleId": "Sales associate"}),
]
RATES = [("EUR", "USD", "1.0850", "One"), ("GBP", "USD", "1.2650", "One"), ("CAD", "USD", "0.7400", "One"),
         ("MXN", "USD", "5.8000", "Hundred")]


def setup_company(sim: FinanceOperations, company: str) -> None:
    """What every legal entity has before any data: journal names, customer groups, an operating bank account."""
    sim.add_journal_name("GenJrn", "Daily", voucher_series="GNJL", company=company)
    sim.add_journal_name("CustPay", "CustPayment", voucher_series="ARPM", company=company)
    sim.add_journal_name("IMov", "Movement", voucher_series="IMOV", company=company)
    for group in ("10", "20", "30", "40", "80", "90"):
        sim.add_customer_group(group, company=company)
    sim.add_bank_account(f"{company.upper()} OPER", company=company)


def seed(sim: FinanceOperations) -> None:
    """Main accounts, customers, products, payment methods, exchange rates and workers (employed by the default
    company) of a Contoso-like environment."""
    company = sim.store.default_company
    for account, name, kind in MAIN_ACCOUNTS:
        sim.add_main_account(account, name, account_type=kind)
    for account, name, group in CUSTOMERS:
        sim.add_customer(account, name, company=company, group=group)
    for item, name, price, cost, barcode in PRODUCTS:
        sim.add_product(item, name, company=company, price=Decimal(price), cost=Decimal(cost), barcode=barcode)
        sim.add_on_hand(item, "11", Decimal(100), company=company)
    bank = f"{company.upper()} OPER"
    sim.add_payment_method("CHECK", company=company, account=bank, description="Check")
    sim.add_payment_method("ELECTRONIC", company=company, account=bank, description="Electronic payment")
    sim.add_payment_method("CARD", company=company, account_type="Ledger", account="130500",
                           description="Card payment (Heartland)")
    for source, target, rate, factor in RATES:
        sim.add_exchange_rate(source, target, Decimal(rate), date(2025, 1, 1), factor=factor)
    for first, last, hired, born, ssn, fields in EMPLOYEES:  # last: their party numbers follow the customers'
        sim.add_employee(first, last, hired=hired, company=company, birth_date=born, ssn=ssn, **fields)
