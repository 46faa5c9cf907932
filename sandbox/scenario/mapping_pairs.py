"""Source → target pairs, written by hand, to measure the mapping suggester: real records of Heartland Retail,
the GP API, a payroll export, an HR export, a web shop and a loyalty programme against the fields of the
Dynamics 365 entities they would land in (names and types as the simulators serve them and
``reference/dynamics.md`` gives them; a field beyond the simulators is a real field of the entity).

Each pair carries its truth, ``{source field: target field or None}``, and its traps: fields renamed between the
two (``zip`` → ``AddressZipCode``, ``Emp #`` → ``PersonnelNumber``), system ids on both sides with the same name
(``id``, ``customer_id`` against ``customerId``), and totals the ERP computes. ``held_out`` pairs were written after
the suggester was finished and are reported apart.

``python -m sandbox.scenario.mapping_pairs`` prints top-1 accuracy and correct abstention per pair and overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.mapping.suggest import THRESHOLD, Suggestion, TargetField, source_fields, suggest


@dataclass(frozen=True)
class Pair:
    name: str
    sample: dict[str, Any]
    target_entity: str
    target_fields: tuple[TargetField, ...]
    truth: dict[str, str | None]
    held_out: bool = False


def _t(name: str, type_: str = "Edm.String", description: str = "", *, ro: bool = False,
       key: bool = False) -> TargetField:
    return TargetField(name, type_, description, ro, key)


S, D, T, DT, I32, B, G = "Edm.String", "Edm.Decimal", "Edm.DateTimeOffset", "Edm.Date", "Edm.Int32", "Edm.Boolean", \
    "Edm.Guid"
NOYES = "Microsoft.Dynamics.DataEntities.NoYes"
_LE = _t("dataAreaId", S, "Legal entity", key=True)
_BC_ID = _t("id", G, "The record's unique id", ro=True, key=True)
_BC_MODIFIED = _t("lastModifiedDateTime", T, "When the record was last changed", ro=True)

RETAIL_CUSTOMER = {
    "id": 5012, "public_id": "C-5012", "first_name": "Ana", "last_name": "Ruiz", "email": "ana.ruiz@example.com",
    "phone": "(512) 555-0142", "active": True, "created_at": "2025-03-01T15:02:11-06:00",
    "updated_at": "2026-05-14T09:30:02-05:00", "custom": {"loyalty_tier": "gold"},
    "address": {"address_1": "1200 Congress Ave", "address_2": "Apt 4B", "city": "Austin", "state": "TX",
                "zip": "78701", "country": "US"},
}

RETAIL_ITEM = {
    "id": 1234, "public_id": "SKU-1234", "description": "Stoneware Mug 12oz",
    "long_description": "Hand-glazed stoneware mug, dishwasher safe", "price": "14.00", "cost": "5.25",
    "active": True, "taxable": True, "department": "HOUSEWARES", "grid_id": None, "primary_vendor_id": 77,
    "custom": {"upc": "012345678905", "color": "Blue"}, "created_at": "2025-01-10T12:00:00-06:00",
    "updated_at": "2026-04-02T08:15:40-05:00",
}

RETAIL_TICKET = {
    "id": 88121, "public_id": "10045", "status": "complete", "customer_id": 5012, "location_id": 3, "station_id": 7,
    "subtotal": "50.00", "discount_total": "2.00", "tax_total": "3.96", "tip_total": "0.00", "total": "51.96",
    "created_at": "2026-06-01T15:02:11-06:00", "updated_at": "2026-06-01T15:04:40-06:00",
    "completed_at": "2026-06-01T15:04:40-06:00",
    "lines": [{"id": 1, "item_id": 1234, "item": {"public_id": "SKU-1234"}, "description": "Stoneware Mug 12oz",
               "qty": 2, "unit_price": "14.00", "discount_total": "2.00", "extended_price": "26.00",
               "tax_total": "2.06", "department": "HOUSEWARES"}],
    "payments": [{"id": 501, "payment_type_id": 9, "amount": "51.96"}],
}

GP_TRANSACTION = {
    "id": "TRN_BHZ1whvNJnMv", "time_created": "2026-06-01T15:02:05.235Z", "type": "SALE", "status": "CAPTURED",
    "channel": "CNP", "amount": "5410", "currency": "USD", "country": "US", "merchant_id": "MER_c4c0df11",
    "account_id": "TRA_6716058969", "reference": "S-ORD000123", "batch_id": "BAT_845591",
    "payment_method": {"result": "00", "message": "APPROVAL", "entry_mode": "ECOM",
                       "card": {"brand": "VISA", "masked_number_last4": "XXXXXXXXXXXX5262", "authcode": "12345"}},
    "action": {"id": "ACT_BHZ1whvN", "type": "TRANSACTION_SINGLE", "result_code": "SUCCESS"},
}

SHOP_ORDER = {
    "id": 5432109876543, "admin_graphql_api_id": "gid://shopify/Order/5432109876543", "name": "#1001",
    "order_number": 1001, "email": "jon.park@example.com", "created_at": "2026-06-02T10:15:00-04:00",
    "updated_at": "2026-06-02T10:16:12-04:00", "currency": "USD", "financial_status": "paid",
    "total_price": "59.95", "subtotal_price": "54.00", "total_tax": "5.95", "note": "Leave at the door",
    "customer": {"id": 7712001, "email": "jon.park@example.com", "first_name": "Jon", "last_name": "Park"},
    "shipping_address": {"address1": "350 5th Ave", "city": "New York", "province_code": "NY", "zip": "10118",
                         "country_code": "US"},
    "line_items": [{"id": 13001, "sku": "SKU-1234", "title": "Stoneware Mug 12oz", "quantity": 3, "price": "18.00",
                    "total_discount": "0.00"}],
}

_CUSTOMERS_V3 = (
    _LE, _t("CustomerAccount", S, "Customer account: the customer's number", key=True),
    _t("OrganizationName", S, "Name of the organization, for a customer that is a company"),
    _t("PersonFirstName", S, "First name, for a customer that is a person"),
    _t("PersonLastName", S, "Last name, for a customer that is a person"),
    _t("PrimaryContactEmail", S, "Primary e-mail address"), _t("PrimaryContactPhone", S, "Primary phone number"),
    _t("AddressStreet", S, "Street of the primary address"), _t("AddressCity", S, "City"),
    _t("AddressState", S, "State"), _t("AddressZipCode", S, "ZIP/postal code"),
    _t("AddressCountryRegionId", S, "Country/region"), _t("CustomerGroupId", S, "Customer group"),
    _t("SalesCurrencyCode", S, "Currency of sales to the customer"), _t("CreditLimit", D, "Credit limit"),
    _t("PartyNumber", S, "Global address book party", ro=True), _t("KnownAs", S, "Known as"),
    _t("HL365LoyaltyPoints", D, "Loyalty points balance"),
)

_BC_CUSTOMER = (
    _BC_ID, _t("number", S, "The customer's number"),
    _t("displayName", S, "The customer's name as displayed: the company's or the person's full name"),
    _t("type", "Microsoft.NAV.contactType", "Company or Person"), _t("addressLine1", S, "First address line"),
    _t("addressLine2", S, "Second address line"), _t("city", S), _t("state", S), _t("country", S, "Country code"),
    _t("postalCode", S), _t("phoneNumber", S), _t("email", S), _t("website", S),
    _t("creditLimit", D), _t("currencyCode", S), _t("balanceDue", D, "Amount the customer owes", ro=True),
    _BC_MODIFIED,
)

PAIRS: tuple[Pair, ...] = (
    Pair("Retail customer → F&O CustomersV3", RETAIL_CUSTOMER, "CustomersV3", _CUSTOMERS_V3, {
        "id": None, "public_id": "CustomerAccount", "first_name": "PersonFirstName", "last_name": "PersonLastName",
        "email": "PrimaryContactEmail", "phone": "PrimaryContactPhone", "active": None, "created_at": None,
        "updated_at": None, "custom.loyalty_tier": None, "address.address_1": "AddressStreet",
        "address.address_2": None, "address.city": "AddressCity", "address.state": "AddressState",
        "address.zip": "AddressZipCode", "address.country": "AddressCountryRegionId"}),
    Pair("Retail customer (company) → BC customers",
         {**RETAIL_CUSTOMER, "company_name": "Ruiz Catering LLC"}, "customers", _BC_CUSTOMER, {
             "id": None, "public_id": "number", "company_name": "displayName", "first_name": None,
             "last_name": None, "email": "email", "phone": "phoneNumber", "active": None, "created_at": None,
             "updated_at": None, "custom.loyalty_tier": None, "address.address_1": "addressLine1",
             "address.address_2": "addressLine2", "address.city": "city", "address.state": "state",
             "address.zip": "postalCode", "address.country": "country"}),
    Pair("Retail item → F&O ReleasedProductsV2", RETAIL_ITEM, "ReleasedProductsV2", (
        _LE, _t("ItemNumber", S, "Item number", key=True), _t("ProductNumber", S, "Product number",
                                                                ro=True),
        _t("ProductName", S, "Product name"), _t("SearchName", S, "Search name"),
        _t("ProductGroupId", S, "Item group"), _t("SalesPrice", D, "Base sales price"),
        _t("UnitCost", D, "Base cost price"), _t("InventoryUnitSymbol", S, "Inventory unit"),
        _t("IsPOSRegistrationBlocked", NOYES, "Stops the product being sold at a till"),
        _t("ProductType", "Microsoft.Dynamics.DataEntities.EcoResProductType", "Item or Service")), {
        "id": None, "public_id": "ItemNumber", "description": "ProductName", "long_description": None,
        "price": "SalesPrice", "cost": "UnitCost", "active": None, "taxable": None, "department": None,
        "grid_id": None, "primary_vendor_id": None, "custom.upc": None, "custom.color": None, "created_at": None,
        "updated_at": None}),
    Pair("Retail item → BC items", RETAIL_ITEM, "items", (
        _BC_ID, _t("number", S, "The item's number"), _t("displayName", S, "Item description"),
        _t("displayName2", S, "Additional description"),
        _t("type", "Microsoft.NAV.itemType", "Inventory, Service or Non-Inventory"),
        _t("itemCategoryCode", S, "Item category"), _t("blocked", B, "Blocked from sales and purchases"),
        _t("gtin", S, "Global Trade Item Number"), _t("inventory", D, "Quantity in stock", ro=True),
        _t("unitPrice", D, "Unit price"), _t("unitCost", D, "Unit cost"),
        _t("priceIncludesTax", B), _t("baseUnitOfMeasureCode", S), _t("taxGroupCode", S), _BC_MODIFIED), {
        "id": None, "public_id": "number", "description": "displayName", "long_description": None,
        "price": "unitPrice", "cost": "unitCost", "active": None, "taxable": None, "department": None,
        "grid_id": None, "primary_vendor_id": None, "custom.upc": "gtin", "custom.color": None, "created_at": None,
        "updated_at": None}),
    Pair("GP transaction → F&O CustomerPaymentJournalLines", GP_TRANSACTION, "CustomerPaymentJournalLines", (
        _LE, _t("JournalBatchNumber", S, "Journal batch number, from the number sequence", key=True),
        _t("LineNumber", D, "Line number", key=True), _t("TransactionDate", T, "Date of the payment"),
        _t("AccountDisplayValue", S, "Customer account"), _t("CreditAmount", D, "Amount paid by the customer"),
        _t("CurrencyCode", S), _t("PaymentMethodName", S, "Method of payment"),
        _t("PaymentReference", S, "Payment reference"),
        _t("DocumentNumber", S, "Document number, such as the invoice or order paid"),
        _t("TransactionText", S, "Transaction text"), _t("OffsetAccountDisplayValue", S, "Offset account"),
        _t("CustomerName", S, "Customer name", ro=True)), {
        "id": None, "time_created": "TransactionDate", "type": None, "status": None, "channel": None,
        "amount": "CreditAmount", "currency": "CurrencyCode", "country": None, "merchant_id": None,
        "account_id": None, "reference": "PaymentReference", "batch_id": None, "payment_method.result": None,
        "payment_method.message": None, "payment_method.entry_mode": None,
        "payment_method.card.brand": "PaymentMethodName", "payment_method.card.masked_number_last4": None,
        "payment_method.card.authcode": None, "action.id": None, "action.type": None, "action.result_code": None}),
    Pair("Retail ticket → BC salesOrders", RETAIL_TICKET, "salesOrders", (
        _BC_ID, _t("number", S, "Order number, assigned by the number series", ro=True),
        _t("externalDocumentNumber", S, "The document's number in the system it came from"),
        _t("customerId", G, "The customer's id"), _t("customerNumber", S, "The customer's number"),
        _t("customerName", S, ro=True), _t("orderDate", DT, "The date of the order"),
        _t("currencyCode", S), _t("pricesIncludeTax", B),
        _t("discountAmount", D, "Invoice discount", ro=True), _t("totalAmountExcludingTax", D, ro=True),
        _t("totalTaxAmount", D, ro=True), _t("totalAmountIncludingTax", D, ro=True),
        _t("status", "Microsoft.NAV.salesOrderStatus", "Draft, In Review or Open", ro=True), _BC_MODIFIED), {
        "id": None, "public_id": "externalDocumentNumber", "status": None, "customer_id": None, "location_id": None,
        "station_id": None, "subtotal": None, "discount_total": None, "tax_total": None, "tip_total": None,
        "total": None, "created_at": None, "updated_at": None, "completed_at": "orderDate", "lines[].id": None,
        "lines[].item_id": None, "lines[].item.public_id": None, "lines[].description": None, "lines[].qty": None,
        "lines[].unit_price": None, "lines[].discount_total": None, "lines[].extended_price": None,
        "lines[].tax_total": None, "lines[].department": None, "payments[].id": None,
        "payments[].payment_type_id": None, "payments[].amount": None}),
    Pair("Retail ticket lines → BC salesOrderLines", RETAIL_TICKET, "salesOrderLines", (
        _BC_ID, _t("documentId", G, "The order's id"), _t("sequence", I32, "Line number"),
        _t("itemId", G, "The item's id"), _t("lineType", "Microsoft.NAV.salesLineType", "Item, Account, Comment"),
        _t("lineObjectNumber", S, "Number of the item or account the line sells"), _t("description", S),
        _t("unitOfMeasureCode", S), _t("quantity", D), _t("unitPrice", D), _t("discountAmount", D),
        _t("discountPercent", D), _t("taxCode", S), _t("amountExcludingTax", D, ro=True),
        _t("totalTaxAmount", D, ro=True), _t("amountIncludingTax", D, ro=True), _t("netAmount", D, ro=True)), {
        "id": None, "public_id": None, "status": None, "customer_id": None, "location_id": None,
        "station_id": None, "subtotal": None, "discount_total": None, "tax_total": None, "tip_total": None,
        "total": None, "created_at": None, "updated_at": None, "completed_at": None, "lines[].id": None,
        "lines[].item_id": None, "lines[].item.public_id": "lineObjectNumber", "lines[].description": "description",
        "lines[].qty": "quantity", "lines[].unit_price": "unitPrice", "lines[].discount_total": "discountAmount",
        "lines[].extended_price": None, "lines[].tax_total": None, "lines[].department": None,
        "payments[].id": None, "payments[].payment_type_id": None, "payments[].amount": None}),
    Pair("Payroll export row → payroll register columns", {
        "Co Code": "HLD001", "Pay Group": "BIWEEKLY", "Period Beg": "06/01/2026", "Period End": "06/14/2026",
        "Chk Date": "06/19/2026", "Batch #": "20260619-1", "Emp #": "E1001", "Emp Name": "Ruiz, Ana",
        "SSN": "XXX-XX-6789", "Dept": "KITCHEN", "Loc": "STORE1", "Job": "COOK", "Earn Code": "REG", "Hrs": "80.00",
        "Gross Amt": "1520.00", "Fed WH": "152.00", "Net Pay": "1180.35"}, "payroll register", (
        _t("client_code", "string", "The Heartland Payroll client (company) code"),
        _t("pay_group", "string", "Pay group of the run"), _t("period_start", "date", "First day of the pay period"),
        _t("period_end", "date", "Last day of the pay period"), _t("check_date", "date", "Date of the checks"),
        _t("run_id", "string", "The payroll run or batch id"),
        _t("employee_number", "string", "The employee's number"), _t("department", "string"),
        _t("location", "string", "Work location"), _t("labor_field", "string", "Job or labor field"),
        _t("type", "string", "Family of the line: earning, withholding, deduction, employer tax, net pay"),
        _t("code", "string", "The earning, withholding or deduction code"), _t("hours", "decimal"),
        _t("amount", "decimal", "Amount of the line")), {
        "Co Code": "client_code", "Pay Group": "pay_group", "Period Beg": "period_start", "Period End": "period_end",
        "Chk Date": "check_date", "Batch #": "run_id", "Emp #": "employee_number", "Emp Name": None, "SSN": None,
        "Dept": "department", "Loc": "location", "Job": "labor_field", "Earn Code": "code", "Hrs": "hours",
        "Gross Amt": "amount", "Fed WH": None, "Net Pay": None}),
    Pair("Web-shop order → F&O SalesOrderHeadersV2", SHOP_ORDER, "SalesOrderHeadersV2", (
        _LE, _t("SalesOrderNumber", S, "Sales order, from the number sequence", ro=True, key=True),
        _t("OrderingCustomerAccountNumber", S, "Customer account"),
        _t("InvoiceCustomerAccountNumber", S, "Invoice account"), _t("CurrencyCode", S),
        _t("SalesOrderStatus", "Microsoft.Dynamics.DataEntities.SalesStatus", "Order status", ro=True),
        _t("CustomersOrderReference", S, "Customer reference"),
        _t("CustomerRequisitionNumber", S, "Customer requisition"),
        _t("CustomerPaymentMethodName", S, "Method of payment"), _t("DeliveryModeCode", S, "Mode of delivery"),
        _t("RequestedShippingDate", T, "Requested ship date"), _t("DeliveryAddressStreet", S),
        _t("DeliveryAddressCity", S), _t("DeliveryAddressStateId", S), _t("DeliveryAddressZipCode", S),
        _t("DeliveryAddressCountryRegionId", S)), {
        "id": None, "admin_graphql_api_id": None, "name": None, "order_number": "CustomersOrderReference",
        "email": None, "created_at": None, "updated_at": None, "currency": "CurrencyCode", "financial_status": None,
        "total_price": None, "subtotal_price": None, "total_tax": None, "note": None, "customer.id": None,
        "customer.email": None, "customer.first_name": None, "customer.last_name": None,
        "shipping_address.address1": "DeliveryAddressStreet", "shipping_address.city": "DeliveryAddressCity",
        "shipping_address.province_code": "DeliveryAddressStateId",
        "shipping_address.zip": "DeliveryAddressZipCode",
        "shipping_address.country_code": "DeliveryAddressCountryRegionId", "line_items[].id": None,
        "line_items[].sku": None, "line_items[].title": None, "line_items[].quantity": None,
        "line_items[].price": None, "line_items[].total_discount": None}),
    Pair("Web-shop order lines → F&O SalesOrderLines", SHOP_ORDER, "SalesOrderLines", (
        _LE, _t("InventoryLotId", S, "Lot id, from the number sequence", ro=True, key=True),
        _t("SalesOrderNumber", S, "Sales order"), _t("ItemNumber", S, "Item number"),
        _t("OrderedSalesQuantity", D, "Quantity"), _t("SalesUnitSymbol", S, "Unit"),
        _t("SalesPrice", D, "Unit price"), _t("LineAmount", D, "Net amount, calculated from quantity, price and "
                                                               "discount", ro=True),
        _t("LineDiscountAmount", D, "Discount"), _t("LineDescription", S, "Text of the line"),
        _t("CurrencyCode", S), _t("ShippingWarehouseId", S, "Warehouse"),
        _t("RequestedShippingDate", T, "Requested ship date")), {
        "id": None, "admin_graphql_api_id": None, "name": None, "order_number": None, "email": None,
        "created_at": None, "updated_at": None, "currency": "CurrencyCode", "financial_status": None,
        "total_price": None, "subtotal_price": None, "total_tax": None, "note": None, "customer.id": None,
        "customer.email": None, "customer.first_name": None, "customer.last_name": None,
        "shipping_address.address1": None, "shipping_address.city": None, "shipping_address.province_code": None,
        "shipping_address.zip": None, "shipping_address.country_code": None, "line_items[].id": None,
        "line_items[].sku": "ItemNumber", "line_items[].title": "LineDescription",
        "line_items[].quantity": "OrderedSalesQuantity", "line_items[].price": "SalesPrice",
        "line_items[].total_discount": "LineDiscountAmount"}),
    Pair("Settlement batch → F&O LedgerJournalHeaders", {
        "id": "BAT_845591", "batch_id": "BAT_845591", "status": "CLOSED", "transaction_count": 3, "amount": "16230",
        "device_reference": "DEV01", "sales": {"count": 3, "amount": "16230"}, "refunds": {"count": 0, "amount": "0"},
        "brand_breakdown": [{"brand": "VISA", "count": 2, "amount": "10820"}]}, "LedgerJournalHeaders", (
        _LE, _t("JournalBatchNumber", S, "Journal batch number, from the number sequence", ro=True, key=True),
        _t("JournalName", S, "Journal name: the setup the journal takes its defaults from"),
        _t("Description", S, "Description of the journal"),
        _t("IntegrationKey", S, "The integration's own key for the journal, to find it again"),
        _t("PostingLayer", "Microsoft.Dynamics.DataEntities.CurrentOperationsTax", "Posting layer"),
        _t("IsPosted", NOYES, "Posted", ro=True), _t("JournalTotalDebit", D, "Total debit", ro=True),
        _t("JournalTotalCredit", D, "Total credit", ro=True), _t("AccountingCurrency", S, ro=True)), {
        "id": None, "batch_id": "IntegrationKey", "status": None, "transaction_count": None, "amount": None,
        "device_reference": None, "sales.count": None, "sales.amount": None, "refunds.count": None,
        "refunds.amount": None, "brand_breakdown[].brand": None, "brand_breakdown[].count": None,
        "brand_breakdown[].amount": None}),
    Pair("HR export → F&O EmployeesV2", {
        "Emp #": "E1001", "First Name": "Ana", "MI": "J", "Last Name": "Ruiz", "Hire Date": "03/15/2021",
        "Term Date": "", "DOB": "1990-04-02", "SSN": "XXX-XX-6789", "Street Address": "1200 Congress Ave",
        "City": "Austin", "ST": "TX", "Zip": "78701", "Email": "ana.ruiz@example.com", "Cell Phone": "512-555-0142",
        "Dept": "KITCHEN", "Job Title": "Cook", "Pay Rate": "18.50", "Status": "Active"}, "EmployeesV2", (
        _t("PersonnelNumber", S, "Personnel number", key=True),
        _t("EmploymentLegalEntityId", S, "Legal entity of the employment", key=True),
        _t("EmploymentId", S, "Employment, from the number sequence", ro=True, key=True),
        _t("EmploymentStartDate", T, "Employment start"), _t("EmploymentEndDate", T, "Employment end"),
        _t("TerminationDate", T, "Termination date"), _t("FirstName", S), _t("MiddleName", S), _t("LastName", S),
        _t("KnownAs", S, "Known as"), _t("BirthDate", T, "Birth date"), _t("AddressStreet", S),
        _t("AddressCity", S), _t("AddressState", S), _t("AddressZipCode", S), _t("AddressCountryRegionId", S),
        _t("PrimaryContactEmail", S), _t("PrimaryContactPhone", S), _t("Name", S, "Full name", ro=True),
        _t("PartyNumber", S, "Party", ro=True),
        _t("DimensionDisplayValue", S, "Financial dimensions of the employment")), {
        "Emp #": "PersonnelNumber", "First Name": "FirstName", "MI": "MiddleName", "Last Name": "LastName",
        "Hire Date": "EmploymentStartDate", "Term Date": "TerminationDate", "DOB": "BirthDate", "SSN": None,
        "Street Address": "AddressStreet", "City": "AddressCity", "ST": "AddressState", "Zip": "AddressZipCode",
        "Email": "PrimaryContactEmail", "Cell Phone": "PrimaryContactPhone", "Dept": None, "Job Title": None,
        "Pay Rate": None, "Status": None}),
    Pair("Loyalty member → Dataverse contacts", {
        "MemberID": 88123, "FirstName": "Ana", "LastName": "Ruiz", "Email": "ana.ruiz@example.com",
        "Mobile": "+1 512 555 0199", "Birthday": "1990-04-02", "Zip": "78701", "Points": 1250, "Tier": "Gold",
        "Enrolled": "2024-01-05", "OptInSMS": True}, "contacts", (
        _t("contactid", G, "Unique identifier of the contact", key=True), _t("firstname", S), _t("lastname", S),
        _t("middlename", S), _t("emailaddress1", S, "Email"), _t("telephone1", S, "Business phone"),
        _t("mobilephone", S, "Mobile phone"), _t("birthdate", DT, "Birthday"),
        _t("address1_postalcode", S, "ZIP/postal code"), _t("address1_city", S, "City"),
        _t("_parentcustomerid_value", G, "Company the contact works for"),
        _t("createdon", T, "Created on", ro=True), _t("modifiedon", T, "Modified on", ro=True),
        _t("statecode", I32, "Status: active or inactive")), {
        "MemberID": None, "FirstName": "firstname", "LastName": "lastname", "Email": "emailaddress1",
        "Mobile": "mobilephone", "Birthday": "birthdate", "Zip": "address1_postalcode", "Points": None,
        "Tier": None, "Enrolled": None, "OptInSMS": None}),
)

HELD_OUT: tuple[Pair, ...] = (
    Pair("Heartland Payroll employee → BC employees", {
        "EmployeeId": 40012, "EmployeeNumber": "E1001", "ClientCode": "HLD001", "FirstName": "Ana",
        "MiddleName": "J", "LastName": "Ruiz", "SSN": "XXX-XX-6789", "Address1": "1200 Congress Ave",
        "City": "Austin", "StateCode": "TX", "ZipCode": "78701", "BirthDate": "04/02/1990",
        "HireDate": "03/15/2021", "EmploymentStatus": "Active", "PayGroupId": 201, "PayTypeCode": "H",
        "HourlyRate": "18.50", "WorkLocationId": 101}, "employees", (
        _BC_ID, _t("number", S, "The employee's number"), _t("displayName", S, "Full name", ro=True),
        _t("givenName", S), _t("middleName", S), _t("surname", S), _t("jobTitle", S),
        _t("addressLine1", S), _t("addressLine2", S), _t("city", S), _t("state", S), _t("country", S),
        _t("postalCode", S), _t("phoneNumber", S), _t("mobilePhone", S), _t("email", S, "Company e-mail"),
        _t("employmentDate", DT, "Date of employment"), _t("terminationDate", DT),
        _t("status", "Microsoft.NAV.employeeStatus", "Active, Inactive or Terminated"), _t("birthDate", DT),
        _BC_MODIFIED), {
        "EmployeeId": None, "EmployeeNumber": "number", "ClientCode": None, "FirstName": "givenName",
        "MiddleName": "middleName", "LastName": "surname", "SSN": None, "Address1": "addressLine1", "City": "city",
        "StateCode": "state", "ZipCode": "postalCode", "BirthDate": "birthDate", "HireDate": "employmentDate",
        "EmploymentStatus": "status", "PayGroupId": None, "PayTypeCode": None, "HourlyRate": None,
        "WorkLocationId": None}, held_out=True),
    Pair("Retail inventory row → F&O InventoryMovementJournalEntries", {
        "item_id": 1234, "location_id": 3, "qty_on_hand": 12, "qty_available": 10, "qty_committed": 2,
        "unit_cost": "7.25", "item": {"id": 1234, "public_id": "SKU-1234", "description": "Mug"},
        "location": {"id": 3, "public_id": "MAIN", "name": "Main Street"}}, "InventoryMovementJournalEntries", (
        _LE, _t("JournalNumber", S, "Journal, from the number sequence", ro=True, key=True),
        _t("ItemNumber", S, "Item number", key=True), _t("InventorySiteId", S, "Site", key=True),
        _t("InventoryWarehouseId", S, "Warehouse", key=True), _t("LineNumber", D, "Line number"),
        _t("InventoryQuantity", D, "Quantity"), _t("UnitCost", D, "Cost price"),
        _t("CostAmount", D, "Cost amount, calculated from quantity and cost price", ro=True),
        _t("TransactionDate", T, "Date of the movement"),
        _t("OffsetMainAccountIdDisplayValue", S, "Offset main account")), {
        "item_id": None, "location_id": None, "qty_on_hand": "InventoryQuantity", "qty_available": None,
        "qty_committed": None, "unit_cost": "UnitCost", "item.id": None, "item.public_id": "ItemNumber",
        "item.description": None, "location.id": None, "location.public_id": "InventoryWarehouseId",
        "location.name": None}, held_out=True),
    Pair("Web-shop customer → Dataverse contacts", {
        "id": 7712001, "email": "jon.park@example.com", "first_name": "Jon", "last_name": "Park",
        "phone": "+12125550123", "created_at": "2025-11-02T09:12:44-05:00", "updated_at": "2026-06-02T10:16:12-04:00",
        "orders_count": 4, "total_spent": "231.80", "currency": "USD", "accepts_marketing": True, "tags": ["vip"],
        "default_address": {"address1": "350 5th Ave", "city": "New York", "province_code": "NY", "zip": "10118",
                            "country_code": "US", "company": "Park Studio"}}, "contacts", (
        _t("contactid", G, "Unique identifier of the contact", key=True), _t("firstname", S), _t("lastname", S),
        _t("middlename", S), _t("emailaddress1", S, "Email"), _t("telephone1", S, "Business phone"),
        _t("mobilephone", S, "Mobile phone"), _t("birthdate", DT, "Birthday"),
        _t("address1_line1", S, "Street 1"), _t("address1_city", S, "City"),
        _t("address1_stateorprovince", S, "State/province"), _t("address1_postalcode", S, "ZIP/postal code"),
        _t("address1_country", S, "Country/region"), _t("createdon", T, "Created on", ro=True),
        _t("modifiedon", T, "Modified on", ro=True), _t("statecode", I32, "Status: active or inactive")), {
        "id": None, "email": "emailaddress1", "first_name": "firstname", "last_name": "lastname",
        "phone": "telephone1", "created_at": None, "updated_at": None, "orders_count": None, "total_spent": None,
        "currency": None, "accepts_marketing": None, "tags[]": None, "default_address.address1": "address1_line1",
        "default_address.city": "address1_city", "default_address.province_code": "address1_stateorprovince",
        "default_address.zip": "address1_postalcode", "default_address.country_code": "address1_country",
        "default_address.company": None}, held_out=True),
)
"""Written after the suggester was finished, and never tuned against: the check that the figures above are not
the corpus's alone."""

ALL_PAIRS = PAIRS + HELD_OUT


@dataclass(frozen=True)
class Figures:
    """One pair's (or all pairs') result. ``top1``: over fields with a counterpart, the share whose first
    suggestion at 0.5 or above is the right target; ``abstention``: over fields without one, the share with no
    suggestion at 0.5 or above."""

    name: str
    mapped: int
    top1_right: int
    unmapped: int
    abstained: int
    misses: tuple[str, ...] = ()

    @property
    def top1(self) -> float:
        return self.top1_right / self.mapped if self.mapped else 1.0

    @property
    def abstention(self) -> float:
        return self.abstained / self.unmapped if self.unmapped else 1.0


def evaluate_pair(pair: Pair) -> Figures:
    suggestions = suggest(pair.sample, pair.target_entity, pair.target_fields)
    best: dict[str, Suggestion] = {}
    for item in suggestions:
        if item.confidence >= THRESHOLD and item.source_field not in best:
            best[item.source_field] = item
    paths = [path for path, _ in source_fields(pair.sample)]
    missing = sorted(set(paths) ^ set(pair.truth))
    if missing:
        raise ValueError(f"{pair.name}: truth and sample disagree on {', '.join(missing)}")
    mapped = right = unmapped = abstained = 0
    misses = []
    for path in paths:
        expected, got = pair.truth[path], best.get(path)
        if expected is None:
            unmapped += 1
            abstained += got is None
            if got is not None:
                misses.append(f"{path}: suggested {got.target_field} {got.confidence:.2f}, expected none")
        else:
            mapped += 1
            right += got is not None and got.target_field == expected
            if got is None or got.target_field != expected:
                found = f"{got.target_field} {got.confidence:.2f}" if got else "nothing"
                misses.append(f"{path}: suggested {found}, expected {expected}")
    return Figures(pair.name, mapped, right, unmapped, abstained, tuple(misses))


def evaluate(pairs: Sequence[Pair]) -> tuple[list[Figures], Figures]:
    """Per pair and overall (fields pooled across pairs)."""
    each = [evaluate_pair(pair) for pair in pairs]
    overall = Figures("overall", sum(f.mapped for f in each), sum(f.top1_right for f in each),
                      sum(f.unmapped for f in each), sum(f.abstained for f in each))
    return each, overall


def main() -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for title, chosen in (("pairs", PAIRS), ("held-out pairs", HELD_OUT)):
        each, overall = evaluate(chosen)
        table = Table(title=f"Mapping suggester, {title}")
        for column in ("pair", "top-1", "abstention"):
            table.add_column(column, justify="left" if column == "pair" else "right")
        for figures in [*each, overall]:
            table.add_row(escape(figures.name), f"{figures.top1:.2f} ({figures.top1_right}/{figures.mapped})",
                          f"{figures.abstention:.2f} ({figures.abstained}/{figures.unmapped})",
                          style="bold" if figures is overall else None)
        console.print(table)
        for figures in each:
            for miss in figures.misses:
                console.print(f"  [dim]{escape(figures.name)}[/dim]: {escape(miss)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
