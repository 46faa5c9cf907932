"""The ``OrderSource`` adapters of F&O and Business Central: sales orders as U4 reads them from the ERP,
validated before any card is charged, and the payment result written back where the ERP has a place for it.

Events and notifications carry no order data (reference §1.12, §2.7), so every order is read again
here: header, lines and customer. Every rule that fails raises ``FatalError`` with a reason a person can
act on; nothing is charged for such an order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.canonical.money import Money
from shared.canonical.orders import Erp, Order, OrderItem
from shared.dynamics.bc import BusinessCentralClient
from shared.dynamics.fo import FinanceOperationsClient
from shared.dynamics.fo import literal as fo_literal
from shared.errors import FatalError, PermanentApiError

FO_HEADERS = "SalesOrderHeadersV2"
FO_LINES = "SalesOrderLines"
FO_STATUS_FIELD = "HL365PaymentStatus"
"""An extension field on ``SalesOrderHeaderV2Entity`` (F&O has no standard place for a gateway result;
ISVs extend the data entity with one). Deploy the extension before enabling U4 on F&O."""
FO_STATUS_LENGTH = 100
BC_COLLECTION = "salesOrders"
FO_NOT_ON_HOLD = frozenset({"", "No", "Never"})
BC_NOT_BLOCKED = frozenset({"", " "})
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def decimal(value: Any, what: str) -> Decimal:
    """An ERP amount as Decimal; a float would mean precision was already lost, so it is refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise FatalError("InvalidAmount", f"{what} is {value!r}, not an exact decimal")
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise FatalError("InvalidAmount", f"{what} is {value!r}, not a number") from None


def order_money(total: Decimal, currency: str, what: str) -> Money:
    """The order total as Money: a currency Money accepts, positive, and exact at the currency's precision."""
    try:
        money = Money.of(total, currency)
    except ValueError as exc:
        raise FatalError("InvalidCurrency", f"{what}: currency {currency!r} cannot be charged: {exc}") from None
    if money.amount != total:
        raise FatalError("InvalidTotal", f"{what}: total {total} has more decimals than {money.currency} allows")
    if money.amount <= 0:
        raise FatalError("InvalidTotal", f"{what}: total {money} is not positive; there is nothing to charge")
    return money


class FoOrders:
    """F&O: ``SalesOrderHeadersV2``, ``SalesOrderLines`` (amount = sum of ``LineAmount``) and ``CustomersV3``
    of the client's legal entity; three reads per order."""

    erp: Erp = "fo"

    def __init__(self, client: FinanceOperationsClient) -> None:
        self._client = client

    @property
    def company(self) -> str:
        return self._client.legal_entity

    def read(self, reference: str) -> Order | None:
        what = f"F&O sales order {reference} ({self.company})"
        if not reference or "*" in reference:
            raise FatalError("InvalidOrderNumber", f"{what}: not a sales order number")
        match = f"SalesOrderNumber eq {fo_literal(reference)}"
        header = next(self._client.iter(FO_HEADERS, match), None)
        if header is None:
            return None
        number = str(header["SalesOrderNumber"])
        account = str(header.get("InvoiceCustomerAccountNumber") or header.get("OrderingCustomerAccountNumber") or "")
        if not account:
            raise FatalError("CustomerNotFound", f"{what} names no customer account")
        customer = self._client.get_customer(account)
        if customer is None:
            raise FatalError("CustomerNotFound", f"{what}: customer {account} does not exist in {self.company}")
        hold = str(customer.get("OnHoldStatus") or "")
        if hold not in FO_NOT_ON_HOLD:
            raise FatalError("CustomerOnHold", f"{what}: customer {account} is on hold ({hold})")
        lines = list(self._client.iter(FO_LINES, match, select=["LineAmount", "CurrencyCode", "ItemNumber",
                                                                "OrderedSalesQuantity", "ShippingSiteId",
                                                                "ShippingWarehouseId"]))
        if not lines:
            raise FatalError("NoLines", f"{what} has no lines")
        currency = str(header.get("CurrencyCode") or "").upper()
        if not currency:
            raise FatalError("InvalidCurrency", f"{what} has no currency")
        customer_currency = str(customer.get("SalesCurrencyCode") or "").upper()
        if customer_currency and customer_currency != currency:
            raise FatalError("InvalidCurrency", f"{what} is in {currency}, customer {account} buys in "
                             f"{customer_currency}")
        others = sorted({str(line.get("CurrencyCode") or currency).upper() for line in lines} - {currency})
        if others:
            raise FatalError("InvalidCurrency", f"{what} is in {currency} but has lines in {', '.join(others)}")
        total = sum((decimal(line.get("LineAmount"), f"{what} LineAmount") for line in lines), Decimal(0))
        return Order(erp="fo", company=self.company, number=number, customer=account,
                     amount=order_money(total, currency, what), lines=len(lines), items=_fo_items(lines, what))

    def write_result(self, order: Order, text: str) -> bool:
        """One PATCH of the extension field; nothing else on the order changes here (the payment post step
        aligns ``SalesOrderStatus``)."""
        self._client.patch(FO_HEADERS, {"SalesOrderNumber": order.number}, {FO_STATUS_FIELD: text[:FO_STATUS_LENGTH]})
        return True

    def changed(self, odata_filter: str) -> Iterator[tuple[str, str]]:
        """F&O raises one business event per order: there is no collection to read again."""
        raise FatalError("InvalidMessage", f"only Business Central collections are re-queried ({odata_filter!r})")


class BcOrders:
    """Business Central: ``salesOrders`` with ``salesOrderLines`` (amount = ``totalAmountIncludingTax``) and
    the order's customer; two reads per order. A blank currency is the local currency (``base_currency``)."""

    erp: Erp = "bc"

    def __init__(self, client: BusinessCentralClient, base_currency: str) -> None:
        self._client = client
        self._base_currency = base_currency.upper()

    @property
    def company(self) -> str:
        return self._client.company_id.lower()

    def read(self, reference: str) -> Order | None:
        what = f"Business Central sales order {reference}"
        if not GUID.match(reference):
            raise FatalError("InvalidOrderId", f"{what}: not a sales order id")
        try:
            order = self._client.get_sales_order(reference)
        except PermanentApiError as error:
            if error.status == 404:
                return None
            raise
        number = str(order.get("number") or "")
        what = f"Business Central sales order {number or reference}"
        customer_id = str(order.get("customerId") or "")
        customer = None
        if GUID.match(customer_id):
            try:
                customer = self._client.get("customers", customer_id)
            except PermanentApiError as error:
                if error.status != 404:
                    raise
        if customer is None:
            raise FatalError("CustomerNotFound", f"{what}: customer {order.get('customerNumber')!r} does not exist")
        account = str(customer.get("number") or order.get("customerNumber") or "")
        blocked = str(customer.get("blocked") or "")
        if blocked not in BC_NOT_BLOCKED:
            raise FatalError("CustomerOnHold", f"{what}: customer {account} is blocked ({blocked})")
        lines = order.get("salesOrderLines") or []
        if not lines:
            raise FatalError("NoLines", f"{what} has no lines")
        currency = str(order.get("currencyCode") or self._base_currency).upper()
        customer_currency = str(customer.get("currencyCode") or self._base_currency).upper()
        if customer_currency != currency:
            raise FatalError("InvalidCurrency", f"{what} is in {currency}, customer {account} buys in "
                             f"{customer_currency}")
        total = decimal(order.get("totalAmountIncludingTax"), f"{what} totalAmountIncludingTax")
        return Order(erp="bc", company=self.company, number=number, customer=account,
                     amount=order_money(total, currency, what), lines=len(lines), entity_id=reference.lower(),
                     items=_bc_items(lines, what))

    def write_result(self, order: Order, text: str) -> bool:  # noqa: ARG002
        """API v2.0 sales orders have no field a gateway result could go in, and a custom API page is not
        assumed: the result stays in hl365's ``CrossReference`` table, the audit trail and the alert."""
        return False

    def changed(self, odata_filter: str) -> Iterator[tuple[str, str]]:
        for row in self._client.iter(BC_COLLECTION, odata_filter, select=["id", "number", "lastModifiedDateTime"]):
            yield str(row["id"]).lower(), str(row.get("lastModifiedDateTime") or "")


def _fo_items(lines: list[dict[str, Any]], what: str) -> tuple[OrderItem, ...]:
    items = []
    for line in lines:
        item, quantity = str(line.get("ItemNumber") or ""), line.get("OrderedSalesQuantity")
        if item and quantity is not None and decimal(quantity, f"{what} OrderedSalesQuantity") > 0:
            site, warehouse = str(line.get("ShippingSiteId") or ""), str(line.get("ShippingWarehouseId") or "")
            items.append(OrderItem(item_number=item, quantity=decimal(quantity, f"{what} OrderedSalesQuantity"),
                                   warehouse=f"{site}/{warehouse}" if warehouse else None))
    return tuple(items)


def _bc_items(lines: list[dict[str, Any]], what: str) -> tuple[OrderItem, ...]:
    """Item lines only (``lineType`` Item); API v2.0 lines carry a ``locationId``, not its code, and one inventory
    figure per item is all the API gives, so the warehouse is left to the mapping's one Business Central
    location."""
    return tuple(OrderItem(item_number=str(line["lineObjectNumber"]), quantity=decimal(line.get("quantity"),
                                                                                       f"{what} quantity"))
                 for line in lines if line.get("lineType") == "Item" and line.get("lineObjectNumber")
                 and decimal(line.get("quantity") or 0, f"{what} quantity") > 0)


__all__ = ["BC_COLLECTION", "FO_STATUS_FIELD", "BcOrders", "FoOrders", "decimal", "order_money"]
