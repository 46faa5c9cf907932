"""The business rules F&O runs when a row is written (validateField, validateWrite, the number and voucher
defaults), one function per entity set: each checks and completes ``row`` (``old`` is the row before an
update, None on insert) and raises ``FoFailure`` with the Infolog when F&O would refuse the write."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from sandbox.simulators.fo.errors import write_failure
from sandbox.simulators.fo.model import (
    INVENTORY_HEADERS,
    INVENTORY_LINES,
    JOURNAL_TYPES,
    LINE_SETS,
    MOVEMENT,
    SPECS,
    EntitySpec,
)

if TYPE_CHECKING:
    from sandbox.simulators.fo.store import Row, Store

SHARED_CHART = "Shared"
ACCOUNT_STRUCTURE = ("MainAccount", "BusinessUnit", "Department", "CostCenter")


def split_segments(value: str) -> list[str]:
    """A display value's segments: ``-`` separates them, ``\\-`` is a hyphen inside one (``US\\-027``)."""
    if "\\" not in value:
        return value.split("-")  # no escapes: what the walk below returns, for each account of every line
    segments, current, index = [], [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current.append(value[index + 1])
            index += 2
            continue
        if char == "-":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    return segments


def posted_text(header: Row) -> str:
    """The Infolog line of any write to a posted journal or to one of its lines."""
    return f"Error: Journal batch number {header['JournalBatchNumber']} is posted and cannot be changed"


def journal_header(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    if old is not None and old["IsPosted"] == "Yes":
        raise write_failure(spec, [posted_text(old)], op="UpdateEntity")
    company = store.companies[row["dataAreaId"]]
    name = str(row.get("JournalName") or "")
    if not name:
        raise write_failure(spec, ["Warning: Field 'Name' must be filled in",
                                   f"Warning: validateWrite failed on data source '{spec.entity}'"])
    found = company.journal_names.get(name.casefold())
    if found is None or found[1] != JOURNAL_TYPES[set_name]:
        raise write_failure(spec, [f"Warning: The value '{name}' in field 'Name' is not found in the related "
                                   "table 'Journal names'",
                                   f"Warning: validateField failed on field '{spec.entity}.JournalName'"])
    row["JournalName"] = found[0]
    if "AccountingCurrency" in row:
        row["AccountingCurrency"] = company.currency
    if old is None and not row.get("Description"):
        row["Description"] = found[0]
    if old is None:
        row.setdefault("_voucher", "")


def journal_line(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    payment = set_name == "CustomerPaymentJournalLines"
    spec = SPECS[set_name]
    op = "CreateEntity" if old is None else "UpdateEntity"
    header = store.header_of(set_name, row)
    if header is None:
        raise write_failure(spec, [f"Warning: The value '{row.get('JournalBatchNumber')}' in field 'Journal batch "
                                   "number' is not found in the related table 'Journal table'",
                                   f"Warning: validateField failed on field '{spec.entity}.JournalBatchNumber'"],
                            op=op)
    if header["IsPosted"] == "Yes":
        raise write_failure(spec, [posted_text(header)], op=op)
    row["JournalBatchNumber"] = header["JournalBatchNumber"]
    company = row["dataAreaId"]
    if not row.get("LineNumber"):
        existing = store.lines_of(LINE_SETS[set_name], company, header["JournalBatchNumber"])
        row["LineNumber"] = max((r["LineNumber"] for r in existing), default=Decimal(0)) + 1
    date_field = "TransactionDate" if payment else "TransDate"
    if row[date_field] == spec.default(date_field):
        row[date_field] = store.today().strftime("%Y-%m-%dT12:00:00Z")
    problems: list[str] = []
    if row["DebitAmount"] and row["CreditAmount"]:
        problems.append(f"Error: Line {row['LineNumber']} has both a debit amount and a credit amount; enter the "
                        "amount on one side only")
    if payment:
        _payment_defaults(store, row, problems)
    problems += _resolve(store, company if not row.get("Company") else str(row["Company"]).lower(),
                              row["AccountType"], str(row["AccountDisplayValue"]), "Account", spec)
    if str(row["OffsetAccountDisplayValue"]).strip():
        offset_company = str(row.get("OffsetCompany") or company).lower()
        problems += _resolve(store, offset_company, row["OffsetAccountType"], str(row["OffsetAccountDisplayValue"]),
                                  "Offset account", spec)
    if not row["CurrencyCode"]:
        row["CurrencyCode"] = store.companies[company].currency
    if str(row["CurrencyCode"]).upper() not in store.currencies:
        problems.append(f"Warning: The value '{row['CurrencyCode']}' in field 'Currency' is not found in the "
                        "related table 'Currencies'")
    else:
        row["CurrencyCode"] = str(row["CurrencyCode"]).upper()
    if problems:
        raise write_failure(spec, problems, op=op)
    if not row["Voucher"]:
        row["Voucher"] = store.voucher(LINE_SETS[set_name], header, per_line=payment)


def _payment_defaults(store: Store, row: Row, problems: list[str]) -> None:
    company = row["dataAreaId"]
    method_name = str(row.get("PaymentMethodName") or "")
    if method_name:
        method = store.get("CustomerPaymentMethods", {"dataAreaId": company, "Name": method_name})
        if method is None:
            problems.append(f"Warning: The value '{method_name}' in field 'Method of payment' is not found in the "
                            "related table 'Methods of payment - customers'")
        elif not str(row["OffsetAccountDisplayValue"]).strip():
            row["OffsetAccountType"] = method["AccountType"]
            row["OffsetAccountDisplayValue"] = method["PaymentAccountDisplayValue"]
    if row["AccountType"] == "Cust":
        customer = store.get("CustomersV3", {"dataAreaId": company,
                                            "CustomerAccount": split_segments(str(row["AccountDisplayValue"]))[0]})
        if customer is not None:
            row["CustomerName"] = customer["OrganizationName"] or " ".join(
                p for p in (customer["PersonFirstName"], customer["PersonLastName"]) if p)
            if not row["CurrencyCode"]:
                row["CurrencyCode"] = customer["SalesCurrencyCode"]


def _resolve(store: Store, company: str, account_type: str, value: str, label: str, spec: EntitySpec) -> list[str]:
    """Check a display value as F&O's DimensionDynamicAccount does; returns Infolog lines, empty if valid."""
    field_name = "AccountDisplayValue" if label == "Account" else "OffsetAccountDisplayValue"
    invalid = f"Warning: validateField failed on field '{spec.entity}.{field_name}'"
    if not value.strip():
        return [f"Warning: Field '{label}' must be filled in", invalid]
    if company not in store.companies:
        return [f"Error: Company '{company}' does not exist"]
    segments = split_segments(value)
    if account_type == "Ledger":
        main = segments[0]
        if len(segments) > len(ACCOUNT_STRUCTURE):
            return [f"Error: The number of segments in '{value}' exceeds the account structure "
                    f"{'-'.join(ACCOUNT_STRUCTURE)}", invalid]
        account = store.get("MainAccounts", {"ChartOfAccounts": SHARED_CHART, "MainAccountId": main})
        if account is None:
            return [f"Warning: Value '{main}' for dimension 'MainAccount' does not exist", invalid]
        if account["IsSuspended"] == "Yes":
            return [f"Error: Main account {main} is suspended", invalid]
        if account["DoNotAllowManualEntry"] == "Yes":
            return [f"Error: Main account {main} does not allow manual entry", invalid]
        return []
    if account_type in ("Cust", "Bank") and len(segments) > 1:
        return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                f"'{'Customers' if account_type == 'Cust' else 'Bank accounts'}' (the display value '{value}' has "
                f"{len(segments)} segments; a hyphen inside an account number is written '\\-')", invalid]
    if account_type == "Cust":
        if store.get("CustomersV3", {"dataAreaId": company, "CustomerAccount": segments[0]}) is None:
            return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                    "'Customers'", invalid]
    elif account_type == "Bank" and segments[0].casefold() not in {
            b.casefold() for b in store.companies[company].bank_accounts}:
        return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                "'Bank accounts'", invalid]
    return []


def customer_account(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    company = store.companies[row["dataAreaId"]]
    group = str(row.get("CustomerGroupId") or "")
    problems = []
    if not group:
        problems.append("Warning: Field 'Customer group' must be filled in")
    elif group.casefold() not in {g.casefold() for g in company.customer_groups}:
        problems += [f"Warning: The value '{group}' in field 'Customer group' is not found in the related table "
                     "'Customer groups'", f"Warning: validateField failed on field '{spec.entity}.CustomerGroupId'"]
    if not row["SalesCurrencyCode"]:
        row["SalesCurrencyCode"] = company.currency
    if str(row["SalesCurrencyCode"]).upper() not in store.currencies:
        problems.append(f"Warning: The value '{row['SalesCurrencyCode']}' in field 'Currency' is not found in the "
                        "related table 'Currencies'")
    if problems:
        raise write_failure(spec, problems, op="CreateEntity" if old is None else "UpdateEntity")
    if old is None and not row["PartyNumber"]:
        store.sequences["PartyNumber"] = store.sequences.get("PartyNumber", 0) + 1
        row["PartyNumber"] = f"{store.sequences['PartyNumber']:09d}"


def sales_order(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    account = str(row.get("OrderingCustomerAccountNumber") or "")
    customer = store.get("CustomersV3", {"dataAreaId": row["dataAreaId"], "CustomerAccount": account})
    if customer is None:
        raise write_failure(spec, [f"Warning: The value '{account}' in field 'Customer account' is not found in "
                                   "the related table 'Customers'",
                                   f"Warning: validateField failed on field '{spec.entity}."
                                   "OrderingCustomerAccountNumber'"],
                            op="CreateEntity" if old is None else "UpdateEntity")
    row["OrderingCustomerAccountNumber"] = customer["CustomerAccount"]
    row["InvoiceCustomerAccountNumber"] = row["InvoiceCustomerAccountNumber"] or customer["CustomerAccount"]
    row["CurrencyCode"] = row["CurrencyCode"] or customer["SalesCurrencyCode"]
    row["CustomerPaymentMethodName"] = row["CustomerPaymentMethodName"] or customer["PaymentMethod"]


def sales_order_line(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    op = "CreateEntity" if old is None else "UpdateEntity"
    order = store.get("SalesOrderHeadersV2", row)
    if order is None:
        raise write_failure(spec, [f"Warning: The value '{row.get('SalesOrderNumber')}' in field 'Sales order' "
                                   "is not found in the related table 'Sales orders'"], op=op)
    product = store.get("ReleasedProductsV2", row)
    if product is None:
        raise write_failure(spec, [f"Warning: The value '{row.get('ItemNumber')}' in field 'Item number' is not "
                                   "found in the related table 'Items'"], op=op)
    row["CurrencyCode"] = order["CurrencyCode"]
    row["SalesOrderNumber"] = order["SalesOrderNumber"]
    if not row["SalesPrice"]:
        row["SalesPrice"] = product["SalesPrice"]
    row["SalesUnitSymbol"] = row["SalesUnitSymbol"] or product["SalesUnitSymbol"]
    row["LineDescription"] = row["LineDescription"] or product["SearchName"]
    if not row["LineAmount"]:
        per = row["SalesPriceQuantity"] or Decimal(1)
        row["LineAmount"] = row["OrderedSalesQuantity"] * row["SalesPrice"] / per - row["LineDiscountAmount"]


def exchange_rate(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    problems = [f"Warning: The value '{row[name]}' in field '{name}' is not found in the related table 'Currencies'"
                for name in ("FromCurrency", "ToCurrency") if str(row[name]).upper() not in store.currencies]
    if row["Rate"] <= 0:
        problems.append("Error: The exchange rate must be greater than zero")
    if problems:
        raise write_failure(spec, problems, op="CreateEntity" if old is None else "UpdateEntity")
    row["FromCurrency"], row["ToCurrency"] = str(row["FromCurrency"]).upper(), str(row["ToCurrency"]).upper()


def inventory_posted_text(header: Row) -> str:
    return f"Error: Journal {header['JournalNumber']} is posted and cannot be changed"


def movement_header(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    spec = SPECS[set_name]
    if old is not None and old["IsPosted"] == "Yes":
        raise write_failure(spec, [inventory_posted_text(old)], op="UpdateEntity")
    name = str(row.get("JournalNameId") or "")
    found = store.companies[row["dataAreaId"]].journal_names.get(name.casefold())
    if found is None or found[1] != MOVEMENT:
        raise write_failure(spec, [f"Warning: The value '{name}' in field 'Name' is not found in the related table "
                                   "'Inventory journal names'",
                                   f"Warning: validateField failed on field '{spec.entity}.JournalNameId'"])
    row["JournalNameId"] = found[0]
    if old is None and not row.get("Description"):
        row["Description"] = found[0]


def movement_line(store: Store, set_name: str, row: Row, old: Row | None) -> None:
    """A line needs its journal (not posted), a released product, a site and warehouse and a non-zero quantity."""
    spec = SPECS[set_name]
    op = "CreateEntity" if old is None else "UpdateEntity"
    company = row["dataAreaId"]
    header = store.get(INVENTORY_HEADERS, {"dataAreaId": company, "JournalNumber": row.get("JournalNumber")})
    if header is None:
        raise write_failure(spec, [f"Warning: The value '{row.get('JournalNumber')}' in field 'Journal number' is not "
                                   "found in the related table 'Journal table'"], op=op)
    if header["IsPosted"] == "Yes":
        raise write_failure(spec, [inventory_posted_text(header)], op=op)
    row["JournalNameId"] = header["JournalNameId"]
    problems: list[str] = []
    if store.get("ReleasedProductsV2", {"dataAreaId": company, "ItemNumber": row["ItemNumber"]}) is None:
        problems.append(f"Warning: The value '{row['ItemNumber']}' in field 'Item number' is not found in the "
                        "related table 'Items'")
    for name, label in (("InventorySiteId", "Site"), ("InventoryWarehouseId", "Warehouse")):
        if not str(row.get(name) or "").strip():
            problems.append(f"Warning: Field '{label}' must be filled in")
    if not row["InventoryQuantity"]:
        problems.append("Warning: Quantity must be filled in")
    if problems:
        raise write_failure(spec, problems, op=op)
    if not row.get("LineNumber"):
        existing = store.movement_lines(company, header["JournalNumber"])
        row["LineNumber"] = max((r["LineNumber"] for r in existing), default=Decimal(0)) + 1
    if row["TransactionDate"] == spec.default("TransactionDate"):
        row["TransactionDate"] = store.today().strftime("%Y-%m-%dT12:00:00Z")


RULES: dict[str, Callable[[Store, str, Row, Row | None], None]] = {
    "LedgerJournalHeaders": journal_header, "CustomerPaymentJournalHeaders": journal_header,
    "LedgerJournalLines": journal_line, "CustomerPaymentJournalLines": journal_line,
    "CustomersV3": customer_account, "SalesOrderHeadersV2": sales_order,
    "SalesOrderLines": sales_order_line, "ExchangeRates": exchange_rate,
    INVENTORY_HEADERS: movement_header, INVENTORY_LINES: movement_line,
}
"""Entity set → the rules a write to it must pass."""
