"""The Python-side API tests and the demo seed an F&O environment with: journal names, customer groups and bank
accounts, master data rows, exchange rates, stock, sales orders and workers, each through the same validation as
OData.

Workers stand for what an HR user does in F&O (hire, change, terminate): ``Workers`` and every ``EmployeesV2``
employment of the worker change together, and the worker's SSN is its ``PersonIdentificationNumbers`` row of type
``SSN`` (``sandbox/simulators/fo/model.py`` says which names are verified).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.fo.model import SPECS
from sandbox.simulators.fo.store import Store

SSN_TYPE = "SSN"
"""The identification type an SSN is filed under (each F&O environment names its own; this is the simulator's)."""
_WORKER, _EMPLOYMENT = SPECS["Workers"], SPECS["EmployeesV2"]
PERSON_FIELDS = tuple(name for name in _WORKER.properties if name in _EMPLOYMENT.properties and name not in
                      _WORKER.keys)
"""What ``Workers`` and ``EmployeesV2`` both carry of a worker: one value, repeated on every employment."""
_COMPUTED = frozenset({"PartyNumber", "Name", "WorkerStatus"})
_SETTABLE = frozenset(_WORKER.properties) | frozenset(_EMPLOYMENT.properties)
_SETTABLE -= _COMPUTED | frozenset(_WORKER.keys) | frozenset(_EMPLOYMENT.keys)


class Seeding:
    """Mixed into ``FinanceOperations``, which owns the store."""

    store: Store

    def _company(self, company: str | None) -> str:
        return (company or self.store.default_company).lower()

    def add(self, set_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Insert one row through the same validation as OData (trusted: read-only fields may be set)."""
        row = self.store.create(set_name, _typed(dict(values)), trusted=True)
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def add_journal_name(self, name: str, journal_type: str = "Daily", *, voucher_series: str = "GNJL",
                         company: str | None = None) -> None:
        """A journal name (``Daily`` for general journals, ``CustPayment`` for customer payment journals)."""
        with self.store.lock:
            self.store.companies[self._company(company)].journal_names[name.casefold()] = (
                name, journal_type, voucher_series)

    def add_customer_group(self, group: str, *, company: str | None = None) -> None:
        with self.store.lock:
            self.store.companies[self._company(company)].customer_groups.add(group)

    def add_bank_account(self, account: str, *, company: str | None = None) -> None:
        with self.store.lock:
            self.store.companies[self._company(company)].bank_accounts.add(account)

    def add_main_account(self, main_account_id: str, name: str = "", *, account_type: str = "BalanceSheet",
                         **fields: Any) -> dict[str, Any]:
        """A main account of the shared chart; ``IsSuspended``/``DoNotAllowManualEntry`` = ``"Yes"`` block it."""
        return self.add("MainAccounts", {"ChartOfAccounts": "Shared", "MainAccountId": main_account_id,
                                         "Name": name or main_account_id, "MainAccountType": account_type, **fields})

    def add_customer(self, account: str, name: str = "", *, company: str | None = None, group: str = "30",
                     currency: str | None = None, **fields: Any) -> dict[str, Any]:
        values = {"dataAreaId": self._company(company), "CustomerAccount": account, "OrganizationName": name or account,
                  "CustomerGroupId": group, **fields}
        if currency:
            values["SalesCurrencyCode"] = currency
        return self.add("CustomersV3", values)

    def add_exchange_rate(self, from_currency: str, to_currency: str, rate: Decimal | str, start: date | str, *,
                          end: date | str | None = None, rate_type: str = "Default",
                          factor: str = "One") -> dict[str, Any]:
        """``rate`` units of ``to_currency`` per ``factor`` (One, Ten, Hundred…) units of ``from_currency``."""
        return self.add("ExchangeRates", {
            "RateTypeName": rate_type, "FromCurrency": from_currency, "ToCurrency": to_currency,
            "StartDate": _datetime_text(start), "EndDate": _datetime_text(end) if end else "2154-12-31T12:00:00Z",
            "Rate": Decimal(rate), "ConversionFactor": factor})

    def add_product(self, item_number: str, name: str = "", *, company: str | None = None,
                    price: Decimal | str = Decimal(0), cost: Decimal | str = Decimal(0), barcode: str | None = None,
                    **fields: Any) -> dict[str, Any]:
        """A released product (product number = item number); ``barcode`` adds its default scanned barcode."""
        company = self._company(company)
        with self.store.transaction():
            row = self.add("ReleasedProductsV2", {
                "dataAreaId": company, "ItemNumber": item_number, "ProductNumber": item_number,
                "ProductName": name or item_number, "SearchName": (name or item_number)[:20],
                "ProductSearchName": name or item_number, "SalesPrice": Decimal(price), "UnitCost": Decimal(cost),
                "InventoryUnitSymbol": "ea", "SalesUnitSymbol": "ea", "PurchaseUnitSymbol": "ea", **fields})
            if barcode is not None:
                self.add_barcode(item_number, barcode, company=company)
        return row

    def update_product(self, item_number: str, *, company: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change a released product as a person in F&O would (a new ETag)."""
        row = self.store.update("ReleasedProductsV2", {"dataAreaId": self._company(company), "ItemNumber": item_number},
                                _typed(changes), trusted=True)
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def add_barcode(self, product_number: str, barcode: str, *, company: str | None = None, unit: str = "ea",
                    setup: str = "UPC", default: bool = True) -> dict[str, Any]:
        return self.add("ProductNumberIdentifiedBarcodes", {
            "dataAreaId": self._company(company), "ProductNumber": product_number, "ProductQuantityUnitSymbol": unit,
            "BarcodeSetupId": setup, "Barcode": barcode, "IsDefaultScannedBarcode": "Yes" if default else "No"})

    def set_on_hand(self, item_number: str, warehouse: str, quantity: Decimal | str, *, site: str = "1",
                    company: str | None = None) -> dict[str, Any]:
        """Stock of an item at a warehouse now (what counting or posting an inventory journal leaves behind)."""
        key = {"dataAreaId": self._company(company), "ItemNumber": item_number, "InventorySiteId": site,
               "InventoryWarehouseId": warehouse, "ProductColorId": "", "ProductConfigurationId": "",
               "ProductSizeId": "", "ProductStyleId": "", "ProductVersionId": ""}
        on_hand = Decimal(quantity)
        with self.store.lock:
            existing = self.store.get("WarehousesOnHandV2", key)
            if existing is None:
                return self.add_on_hand(item_number, warehouse, on_hand, site=site, company=company)
            available = on_hand - existing["ReservedOnHandQuantity"]
            row = self.store.update("WarehousesOnHandV2", key, {
                "OnHandQuantity": on_hand, "AvailableOnHandQuantity": available,
                "TotalAvailableQuantity": available + existing["AvailableOrderedQuantity"]}, trusted=True)
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def add_on_hand(self, item_number: str, warehouse: str, quantity: Decimal | str, *, site: str = "1",
                    company: str | None = None, **fields: Any) -> dict[str, Any]:
        on_hand, company = Decimal(quantity), self._company(company)
        product = self.store.get("ReleasedProductsV2", {"dataAreaId": company, "ItemNumber": item_number})
        return self.add("WarehousesOnHandV2", {
            "dataAreaId": company, "ItemNumber": item_number, "InventorySiteId": site,
            "InventoryWarehouseId": warehouse, "OnHandQuantity": on_hand, "AvailableOnHandQuantity": on_hand,
            "TotalAvailableQuantity": on_hand, "ProductName": "" if product is None else product["ProductName"],
            **fields})

    def add_payment_method(self, name: str, *, company: str | None = None, account_type: str = "Bank",
                           account: str = "", description: str = "") -> dict[str, Any]:
        company = self._company(company)
        return self.add("CustomerPaymentMethods", {
            "dataAreaId": company, "Name": name, "Description": description or name, "AccountType": account_type,
            "PaymentAccount": account, "PaymentAccountDisplayValue": account})

    def add_sales_order(self, customer: str, lines: Sequence[Mapping[str, Any]], *, company: str | None = None,
                        confirm: bool = True, **fields: Any) -> dict[str, Any]:
        """A sales order (number from the sequence) with lines ``{"ItemNumber", "OrderedSalesQuantity", …}``.

        ``confirm`` emits ``SalesOrderConfirmedBusinessEvent``, as confirming the order in F&O would.
        """
        company = self._company(company)
        with self.store.transaction():
            header = self.add("SalesOrderHeadersV2", {"dataAreaId": company, "OrderingCustomerAccountNumber": customer,
                                                      **fields})
            created = [self.add("SalesOrderLines", {"dataAreaId": company,
                                                    "SalesOrderNumber": header["SalesOrderNumber"], **line})
                       for line in lines]
            if confirm:
                self.confirm_sales_order(header["SalesOrderNumber"], company=company)
        return {**header, "lines": created}

    def confirm_sales_order(self, number: str, *, company: str | None = None) -> dict[str, Any]:
        company = self._company(company)
        with self.store.transaction():
            order = self.store.get("SalesOrderHeadersV2", {"dataAreaId": company, "SalesOrderNumber": number})
            if order is None:
                raise KeyError(f"no sales order {number} in {company}")
            updated = self.store.update("SalesOrderHeadersV2", order, {"SalesOrderProcessingStatus": "Confirmed"},
                                        trusted=True)
            lines = [r for r in self.store.tables["SalesOrderLines"].values()
                     if r["dataAreaId"] == company and r["SalesOrderNumber"] == number]
            total = sum((r["LineAmount"] for r in lines), Decimal(0))
            self.store.emit("SalesOrderConfirmedBusinessEvent", company, {
                "SalesOrderNumber": number, "OrderingCustomerAccountNumber": order["OrderingCustomerAccountNumber"],
                "CurrencyCode": order["CurrencyCode"], "TotalAmount": total, "LineCount": len(lines)})
        return {k: v for k, v in updated.items() if not k.startswith("_")}

    # -- workers -------------------------------------------------------------------------------------------------
    def add_employee(self, first_name: str, last_name: str, *, hired: date | str, company: str | None = None,
                     personnel_number: str = "", middle_name: str = "", birth_date: date | str | None = None,
                     ssn: str | None = None, **fields: Any) -> dict[str, Any]:
        """Hire a new worker into a legal entity: a ``Workers`` row (personnel number from the number sequence
        unless given, a new party number), its ``EmployeesV2`` employment from ``hired`` and, with ``ssn``, the
        ``PersonIdentificationNumbers`` row holding it.

        Args:
            fields: F&O property names of the person or the employment (``AddressStreet``, ``PrimaryContactEmail``,
                ``TitleId``, ``DimensionDisplayValue``…).

        Returns:
            The employment (``EmployeesV2``) row.
        """
        _check_fields(fields)
        person = {"FirstName": first_name, "MiddleName": middle_name, "LastName": last_name,
                  "Name": _full_name(first_name, middle_name, last_name), "OriginalHireDateTime": hired,
                  "SeniorityDate": hired, **fields}
        if birth_date is not None:
            person["BirthDate"] = birth_date
        with self.store.transaction():
            worker = self.add("Workers", {"PersonnelNumber": personnel_number, "PartyNumber": self._next_party(),
                                          **{k: v for k, v in person.items() if k in _WORKER.properties}})
            employment = self._employ(worker["PersonnelNumber"], self._company(company), hired,
                                      {k: v for k, v in fields.items() if k not in _WORKER.properties})
            if ssn is not None:
                self._file_ssn(worker["PartyNumber"], ssn)
            self._refresh_status(worker["PersonnelNumber"])
        return employment

    def add_employment(self, personnel_number: str, *, hired: date | str, company: str | None = None,
                       **fields: Any) -> dict[str, Any]:
        """Employ an existing worker in (another, or again in the same) legal entity from ``hired``; the person
        fields come from the worker. Returns the new employment row."""
        _check_fields(fields)
        with self.store.transaction():
            employment = self._employ(personnel_number, self._company(company), hired, fields)
            self._refresh_status(personnel_number)
        return employment

    def update_employee(self, personnel_number: str, *, company: str | None = None, ssn: str | None = None,
                        **changes: Any) -> dict[str, Any]:
        """Change a worker as an HR user would: person fields (names, address, contact, ``BirthDate``…) on the
        worker and on every employment of it, employment fields (``TitleId``, ``DimensionDisplayValue``…) on its
        latest employment in ``company``; ``ssn`` replaces its SSN. Returns the ``Workers`` row."""
        _check_fields(changes)
        with self.store.transaction():
            worker = self._worker(personnel_number)
            if {"FirstName", "MiddleName", "LastName"} & set(changes):
                merged = {**worker, **changes}
                changes = {**changes, "Name": _full_name(merged["FirstName"], merged["MiddleName"],
                                                         merged["LastName"])}
            on_worker = {k: v for k, v in changes.items() if k in _WORKER.properties}
            if on_worker:
                worker = self.store.update("Workers", worker, _typed(on_worker), trusted=True)
            person = {k: v for k, v in changes.items() if k in PERSON_FIELDS}
            for employment in self._employments(worker["PersonnelNumber"]) if person else ():
                self.store.update("EmployeesV2", employment, _typed(person), trusted=True)
            own = {k: v for k, v in changes.items() if k not in _WORKER.properties}
            if own:
                self.store.update("EmployeesV2", self._latest_employment(worker["PersonnelNumber"],
                                                                         self._company(company)),
                                  _typed(own), trusted=True)
            if ssn is not None:
                filed = [r for r in self.store.tables["PersonIdentificationNumbers"].values()
                         if _same(r["PartyNumber"], worker["PartyNumber"]) and r["IdentificationTypeId"] == SSN_TYPE]
                for row in filed:
                    self.store.delete("PersonIdentificationNumbers", row)
                self._file_ssn(worker["PartyNumber"], ssn)
        return _public(worker)

    def terminate_employee(self, personnel_number: str, on: date | str, *, company: str | None = None,
                           reason: str = "") -> dict[str, Any]:
        """End the worker's latest employment in ``company`` on ``on`` (its last day), as terminating a worker in
        F&O does: ``EmploymentEndDate``, ``TerminationDate`` and ``LastDateWorked``; the worker's status follows.
        Returns the employment row."""
        day = _datetime_text(on)
        with self.store.transaction():
            employment = self._latest_employment(personnel_number, self._company(company))
            ended = self.store.update("EmployeesV2", employment, {
                "EmploymentEndDate": day, "TerminationDate": day, "LastDateWorked": day,
                "TerminationReasonCodeId": reason}, trusted=True)
            self._refresh_status(personnel_number)
        return _public(ended)

    def _worker(self, personnel_number: str) -> dict[str, Any]:
        worker = self.store.get("Workers", {"PersonnelNumber": personnel_number})
        if worker is None:
            raise KeyError(f"no worker {personnel_number}")
        return worker

    def _employments(self, personnel_number: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.store.tables["EmployeesV2"].values()
                       if _same(r["PersonnelNumber"], personnel_number)), key=lambda r: r["EmploymentStartDate"])

    def _latest_employment(self, personnel_number: str, company: str) -> dict[str, Any]:
        found = [r for r in self._employments(personnel_number) if _same(r["EmploymentLegalEntityId"], company)]
        if not found:
            raise KeyError(f"worker {personnel_number} has no employment in {company}")
        return found[-1]

    def _employ(self, personnel_number: str, company: str, hired: date | str, fields: dict[str, Any]
                ) -> dict[str, Any]:
        if company not in self.store.companies:
            raise KeyError(f"no legal entity {company}")
        worker = self._worker(personnel_number)
        self.store.sequences["EmploymentId"] = self.store.sequences.get("EmploymentId", 0) + 1
        return self.add("EmployeesV2", {
            **{name: worker[name] for name in PERSON_FIELDS}, "PersonnelNumber": worker["PersonnelNumber"],
            "EmploymentLegalEntityId": company.upper(), "EmploymentId": f"{self.store.sequences['EmploymentId']:06d}",
            "EmploymentStartDate": hired, **fields})

    def _next_party(self) -> str:
        """The next party number of the global address book (customers and workers share it, as in F&O)."""
        self.store.sequences["PartyNumber"] = self.store.sequences.get("PartyNumber", 0) + 1
        return f"{self.store.sequences['PartyNumber']:09d}"

    def _file_ssn(self, party: str, ssn: str) -> None:
        self.add("PersonIdentificationNumbers", {"PartyNumber": party, "IdentificationTypeId": SSN_TYPE,
                                                 "IdentificationNumber": ssn, "Description": "Social Security number",
                                                 "IsPrimary": "Yes", "IssuingAgencyId": "SSA"})

    def _refresh_status(self, personnel_number: str) -> None:
        """``WorkerStatus`` as F&O derives it from the employments today: Employed while one is current (its last
        day included), Pending before the first starts, Terminated once all have ended."""
        today = self.store.today().date().isoformat()
        spans = [(str(r["EmploymentStartDate"])[:10], str(r["EmploymentEndDate"])[:10])
                 for r in self._employments(personnel_number)]
        if any(start <= today <= end for start, end in spans):
            status = "Employed"
        elif any(start > today for start, _ in spans):
            status = "Pending"
        else:
            status = "Terminated"
        worker = self._worker(personnel_number)
        if worker["WorkerStatus"] != status:
            self.store.update("Workers", worker, {"WorkerStatus": status}, trusted=True)


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - _SETTABLE)
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a settable property of Workers or EmployeesV2")


def _full_name(first: str, middle: str, last: str) -> str:
    return " ".join(part for part in (first, middle, last) if part)


def _same(left: Any, right: Any) -> bool:
    """Key values compare as F&O's collation does: without regard to case."""
    return str(left).casefold() == str(right).casefold()


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """Python-side values as JSON would carry them (floats refused, dates as text)."""
    result = {}
    for name, value in values.items():
        if isinstance(value, float):
            raise TypeError(f"{name}: use Decimal, not float")
        result[name] = _datetime_text(value) if isinstance(value, date) else value
    return result


def _datetime_text(value: date | str) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return f"{value.isoformat()}T12:00:00Z"
    return value
