"""The Python-side API tests and the demo seed an F&O environment with: journal names, customer groups and bank
accounts, master data rows, exchange rates, stock and sales orders, each through the same validation as OData."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.fo.store import Store


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
