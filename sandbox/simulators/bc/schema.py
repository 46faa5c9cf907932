"""The entity model the Business Central simulator serves, and the ``$metadata`` EDMX rendered from it.

One declaration per entity set drives request validation, ``$filter`` typing, ordering, paging tokens
and the EDMX, so the metadata a client reads is exactly what the simulator enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

NAMESPACE = "Microsoft.NAV"

GUID = "Edm.Guid"
STRING = "Edm.String"
DECIMAL = "Edm.Decimal"
INT32 = "Edm.Int32"
INT64 = "Edm.Int64"
BOOLEAN = "Edm.Boolean"
DATE = "Edm.Date"
DATETIME = "Edm.DateTimeOffset"

ACCOUNT_TYPES = ("G/L Account", "Customer", "Vendor", "Bank Account", "Fixed Asset", "IC Partner", "Employee")
BALANCE_ACCOUNT_TYPES = ("G/L Account", "Customer", "Vendor", "Bank Account", "Fixed Asset", "IC Partner", "Employee")
EMPLOYEE_STATUSES = ("Active", "Inactive", "Terminated")
SALES_LINE_TYPES = ("Comment", "Account", "Item", "Resource", "Fixed Asset", "Charge")


@dataclass(frozen=True)
class Prop:
    """One property: its EDM type and the AL field rules BC applies when a client writes it."""

    name: str
    edm: str
    max_length: int | None = None
    code: bool = False
    """An AL ``Code`` field: stored upper-case, and filter literals compared against it are upper-cased."""
    read_only: bool = False
    options: tuple[str, ...] | None = None
    nullable: bool = True


@dataclass(frozen=True)
class Nav:
    """A navigation property: a contained collection (``fk`` on the child names the parent) or a reference
    (``ref`` on this entity holds the target's id)."""

    name: str
    target: str
    collection: bool
    fk: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class EntitySet:
    type_name: str
    name: str
    props: tuple[Prop, ...]
    order: tuple[str, ...]
    """The table's primary key as BC sorts it; it is also what ``$skiptoken`` encodes."""
    methods: frozenset[str] = frozenset({"GET", "POST", "PATCH", "DELETE"})
    navs: tuple[Nav, ...] = ()
    actions: tuple[str, ...] = ()
    key: str = "id"
    webhooks: bool = False
    parent: str | None = None
    parent_fk: str | None = None
    by_name: dict[str, Prop] = field(default_factory=dict, compare=False, repr=False)
    types: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Property → Edm type, as ``$filter`` checks them."""
    codes: set[str] = field(default_factory=set, compare=False, repr=False)
    """The AL ``Code`` properties: stored upper-case."""

    def __post_init__(self) -> None:
        self.by_name.update({p.name: p for p in self.props})
        self.types.update({p.name: p.edm for p in self.props})
        self.codes.update(p.name for p in self.props if p.code)

    def prop(self, name: str) -> Prop | None:
        return self.by_name.get(name)

    def nav(self, name: str) -> Nav | None:
        return next((n for n in self.navs if n.name == name), None)


def _p(name: str, edm: str = STRING, max_length: int | None = None, **kw: object) -> Prop:
    return Prop(name, edm, max_length, **kw)  # type: ignore[arg-type]


def _ro(name: str, edm: str = STRING, max_length: int | None = None, **kw: object) -> Prop:
    return Prop(name, edm, max_length, read_only=True, **kw)  # type: ignore[arg-type]


ID = Prop("id", GUID, read_only=True, nullable=False)
MODIFIED = Prop("lastModifiedDateTime", DATETIME, read_only=True)
READ = frozenset({"GET"})

SETS: dict[str, EntitySet] = {}


def _register(entity_set: EntitySet) -> EntitySet:
    SETS[entity_set.name] = entity_set
    return entity_set


_register(EntitySet("company", "companies", (
    ID, _ro("systemVersion"), _ro("timestamp", INT64), _ro("name", max_length=30), _ro("displayName", max_length=250),
    _ro("businessProfileId", max_length=250), _ro("systemCreatedAt", DATETIME), _ro("systemCreatedBy", GUID),
    _ro("systemModifiedAt", DATETIME), _ro("systemModifiedBy", GUID)), ("name",), READ))

_register(EntitySet("account", "accounts", (
    ID, _ro("number", max_length=20, code=True), _ro("displayName", max_length=100), _ro("category", max_length=30),
    _ro("subCategory", max_length=80), _ro("blocked", BOOLEAN), _ro("accountType", max_length=30),
    _ro("directPosting", BOOLEAN), _ro("netChange", DECIMAL), MODIFIED), ("number",), READ, webhooks=True))

_register(EntitySet("bankAccount", "bankAccounts", (
    ID, _ro("number", max_length=20, code=True), _ro("displayName", max_length=100),
    _ro("bankAccountNumber", max_length=30), _ro("blocked", BOOLEAN), _ro("currencyCode", max_length=10, code=True),
    _ro("iban", max_length=50), MODIFIED), ("number",), READ))

_register(EntitySet("customer", "customers", (
    ID, _p("number", max_length=20, code=True), _p("displayName", max_length=100),
    _p("type", options=("Company", "Person")), _p("addressLine1", max_length=100), _p("addressLine2", max_length=50),
    _p("city", max_length=30), _p("state", max_length=30), _p("country", max_length=10, code=True),
    _p("postalCode", max_length=20, code=True), _p("phoneNumber", max_length=30), _p("email", max_length=80),
    _p("website", max_length=80), _p("salespersonCode", max_length=20, code=True), _ro("balanceDue", DECIMAL),
    _p("creditLimit", DECIMAL), _p("taxLiable", BOOLEAN), _p("taxAreaId", GUID), _p("taxAreaDisplayName"),
    _p("taxRegistrationNumber", max_length=20), _p("currencyId", GUID), _p("currencyCode", max_length=10, code=True),
    _p("paymentTermsId", GUID), _p("shipmentMethodId", GUID), _p("paymentMethodId", GUID),
    _p("blocked", options=(" ", "Ship", "Invoice", "All")), MODIFIED), ("number",), webhooks=True))

_register(EntitySet("item", "items", (
    ID, _p("number", max_length=20, code=True), _p("displayName", max_length=100), _p("displayName2", max_length=50),
    _p("type", options=("Inventory", "Service", "Non-Inventory")), _p("itemCategoryId", GUID),
    _p("itemCategoryCode", max_length=20, code=True), _p("blocked", BOOLEAN), _p("gtin", max_length=14, code=True),
    _ro("inventory", DECIMAL), _p("unitPrice", DECIMAL), _p("priceIncludesTax", BOOLEAN), _p("unitCost", DECIMAL),
    _p("taxGroupId", GUID), _p("taxGroupCode", max_length=20, code=True), _p("baseUnitOfMeasureId", GUID),
    _p("baseUnitOfMeasureCode", max_length=10, code=True),
    _p("generalProductPostingGroupCode", max_length=20, code=True),
    _p("inventoryPostingGroupCode", max_length=20, code=True), MODIFIED), ("number",), webhooks=True))

EMPLOYEES = _register(EntitySet("employee", "employees", (
    ID, _p("number", max_length=20, code=True), _ro("displayName"), _p("givenName", max_length=30),
    _p("middleName", max_length=30), _p("surname", max_length=30), _p("jobTitle", max_length=30),
    _p("addressLine1", max_length=100), _p("addressLine2", max_length=50), _p("city", max_length=30),
    _p("state", max_length=30), _p("country", max_length=10, code=True), _p("postalCode", max_length=20, code=True),
    _p("phoneNumber", max_length=30), _p("mobilePhone", max_length=30), _p("email", max_length=80),
    _p("personalEmail", max_length=80), _p("employmentDate", DATE), _p("terminationDate", DATE),
    _p("status", options=EMPLOYEE_STATUSES), _p("birthDate", DATE), _p("statisticsGroupCode", max_length=10, code=True),
    MODIFIED), ("number",), READ, webhooks=True))
"""API v2.0 ``employees`` (page 30017 "APIV2 - Employees" on table 5200 Employee). Verified: every property name and
type (MicrosoftDocs/dynamics365smb-devitpro-pb ``dev-itpro/api-reference/v2.0/resources/dynamics_employee.md``), the
page's mapping (``displayName`` = "First Name Last Name", read-only; ``email`` = Company E-Mail, ``personalEmail`` =
E-Mail; ``state`` = County) and the lengths of the table's fields (BCApps base application, table 5200), the status
values (enum 5200 "Employee Status") and webhook support. Not in the API: the table's "Social Security No." (so
nothing here carries an SSN), its department dimensions. The simulator's choice: the set is served read-only
(GET; BC's page also takes POST, PATCH and DELETE), and HR changes come through the Python-side API
(``BusinessCentral.add_employee``, ``update_employee``, ``terminate_employee``)."""

_register(EntitySet("paymentMethod", "paymentMethods", (
    ID, _p("code", max_length=10, code=True), _p("displayName", max_length=100), MODIFIED), ("code",), webhooks=True))

_JOURNAL_PROPS = (
    ID, _p("code", max_length=10, code=True), _p("displayName", max_length=100), MODIFIED,
    _p("balancingAccountId", GUID), _ro("balancingAccountNumber", max_length=20, code=True))

_register(EntitySet("journal", "journals", (*_JOURNAL_PROPS, _ro("templateDisplayName", max_length=10)), ("code",),
                    navs=(Nav("journalLines", "journalLines", True, fk="journalId"),), actions=("post",),
                    webhooks=True))

_register(EntitySet("journalLine", "journalLines", (
    ID, _p("journalId", GUID), _ro("journalDisplayName", max_length=10), _p("lineNumber", INT32),
    _p("accountType", options=ACCOUNT_TYPES), _p("accountId", GUID), _p("accountNumber", max_length=20, code=True),
    _p("postingDate", DATE), _p("documentNumber", max_length=20, code=True),
    _p("externalDocumentNumber", max_length=35, code=True), _p("amount", DECIMAL), _p("description", max_length=100),
    _p("comment", max_length=250), _p("taxCode", max_length=20, code=True),
    _p("balanceAccountType", options=BALANCE_ACCOUNT_TYPES), _p("balancingAccountId", GUID),
    _p("balancingAccountNumber", max_length=20, code=True), MODIFIED), ("journalDisplayName", "lineNumber"),
    parent="journals", parent_fk="journalId"))

_register(EntitySet("customerPaymentJournal", "customerPaymentJournals", _JOURNAL_PROPS, ("code",),
                    navs=(Nav("customerPayments", "customerPayments", True, fk="journalId"),), webhooks=True))

_register(EntitySet("customerPayment", "customerPayments", (
    ID, _p("journalId", GUID), _ro("journalDisplayName", max_length=10), _p("lineNumber", INT32),
    _p("customerId", GUID), _p("customerNumber", max_length=20, code=True), _p("contactId", max_length=250),
    _p("postingDate", DATE), _p("documentNumber", max_length=20, code=True),
    _p("externalDocumentNumber", max_length=35, code=True), _p("amount", DECIMAL), _p("appliesToInvoiceId", GUID),
    _p("appliesToInvoiceNumber", max_length=20, code=True), _p("description", max_length=100),
    _p("comment", max_length=250), MODIFIED), ("journalDisplayName", "lineNumber"),
    parent="customerPaymentJournals", parent_fk="journalId"))

_SALES_LINE_PROPS = (
    ID, _p("documentId", GUID), _p("sequence", INT32), _p("itemId", GUID), _p("accountId", GUID),
    _p("lineType", options=SALES_LINE_TYPES), _p("lineObjectNumber", max_length=20, code=True),
    _p("description", max_length=100), _p("unitOfMeasureCode", max_length=10, code=True), _p("quantity", DECIMAL),
    _p("unitPrice", DECIMAL), _p("discountAmount", DECIMAL), _p("discountPercent", DECIMAL), _p("taxCode"),
    _p("taxPercent", DECIMAL), _ro("amountExcludingTax", DECIMAL), _ro("totalTaxAmount", DECIMAL),
    _ro("amountIncludingTax", DECIMAL), _ro("netAmount", DECIMAL))

_SALES_HEADER_PROPS = (
    ID, _p("number", max_length=20, code=True), _p("externalDocumentNumber", max_length=35, code=True),
    _p("customerId", GUID), _p("customerNumber", max_length=20, code=True), _ro("customerName", max_length=100),
    _p("currencyCode", max_length=10, code=True), _p("pricesIncludeTax", BOOLEAN), _p("paymentTermsId", GUID),
    _p("shortcutDimension1Code", max_length=20, code=True), _p("shortcutDimension2Code", max_length=20, code=True),
    _ro("discountAmount", DECIMAL), _ro("totalAmountExcludingTax", DECIMAL), _ro("totalTaxAmount", DECIMAL),
    _ro("totalAmountIncludingTax", DECIMAL), MODIFIED)

_register(EntitySet("salesOrder", "salesOrders", (
    *_SALES_HEADER_PROPS, _p("orderDate", DATE), _p("postingDate", DATE), _ro("fullyShipped", BOOLEAN),
    _ro("status", options=("Draft", "In Review", "Open"))), ("number",),
    navs=(Nav("salesOrderLines", "salesOrderLines", True, fk="documentId"),
          Nav("customer", "customers", False, ref="customerId")),
    actions=("shipAndInvoice",), webhooks=True))

_register(EntitySet("salesOrderLine", "salesOrderLines", (
    *_SALES_LINE_PROPS, _ro("shippedQuantity", DECIMAL), _ro("invoicedQuantity", DECIMAL)), ("documentId", "sequence"),
    navs=(Nav("item", "items", False, ref="itemId"),), parent="salesOrders", parent_fk="documentId"))

_register(EntitySet("salesInvoice", "salesInvoices", (
    *_SALES_HEADER_PROPS, _p("invoiceDate", DATE), _p("postingDate", DATE), _p("dueDate", DATE),
    _ro("orderId", GUID), _ro("orderNumber", max_length=20), _ro("remainingAmount", DECIMAL),
    _ro("status", options=(" ", "Draft", "In Review", "Open", "Paid", "Canceled", "Corrective"))), ("number",),
    navs=(Nav("salesInvoiceLines", "salesInvoiceLines", True, fk="documentId"),
          Nav("customer", "customers", False, ref="customerId")),
    actions=("post",), webhooks=True))

_register(EntitySet("salesInvoiceLine", "salesInvoiceLines", _SALES_LINE_PROPS, ("documentId", "sequence"),
                    navs=(Nav("item", "items", False, ref="itemId"),), parent="salesInvoices",
                    parent_fk="documentId"))

_register(EntitySet("generalLedgerEntry", "generalLedgerEntries", (
    ID, _ro("entryNumber", INT32), _ro("postingDate", DATE), _ro("documentNumber", max_length=20),
    _ro("documentType", max_length=30), _ro("accountId", GUID), _ro("accountNumber", max_length=20),
    _ro("description", max_length=100), _ro("debitAmount", DECIMAL), _ro("creditAmount", DECIMAL),
    _ro("additionalCurrencyDebitAmount", DECIMAL), _ro("additionalCurrencyCreditAmount", DECIMAL), MODIFIED),
    ("entryNumber",), READ, webhooks=True))

SUBSCRIPTIONS = EntitySet("subscriptions", "subscriptions", (
    Prop("subscriptionId", STRING, 150, read_only=True, nullable=False), _p("notificationUrl", max_length=2048),
    _p("resource", max_length=2048), _ro("timestamp", INT64), _ro("userId", GUID),
    _ro("lastModifiedDateTime", DATETIME),
    _p("clientState", max_length=2048), _ro("expirationDateTime", DATETIME), _ro("systemCreatedAt", DATETIME),
    _ro("systemCreatedBy", GUID), _ro("systemModifiedAt", DATETIME), _ro("systemModifiedBy", GUID)),
    ("subscriptionId",), key="subscriptionId")

COMPANY_SETS = tuple(name for name in SETS if name != "companies")


def edmx() -> bytes:
    """The ``$metadata`` document: entity types with keys and property types, contained sets, bound actions."""
    edmx_ns, edm_ns = "http://docs.oasis-open.org/odata/ns/edmx", "http://docs.oasis-open.org/odata/ns/edm"
    root = ET.Element("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": edmx_ns})
    services = ET.SubElement(root, "edmx:DataServices")
    schema = ET.SubElement(services, "Schema", {"Namespace": NAMESPACE, "xmlns": edm_ns})
    for entity_set in (*SETS.values(), SUBSCRIPTIONS):
        entity = ET.SubElement(schema, "EntityType", {"Name": entity_set.type_name})
        key = ET.SubElement(entity, "Key")
        ET.SubElement(key, "PropertyRef", {"Name": entity_set.key})
        for prop in entity_set.props:
            attributes = {"Name": prop.name, "Type": prop.edm}
            if not prop.nullable:
                attributes["Nullable"] = "false"
            if prop.max_length is not None:
                attributes["MaxLength"] = str(prop.max_length)
            if prop.edm == DECIMAL:
                attributes["Scale"] = "Variable"
            ET.SubElement(entity, "Property", attributes)
        navs = list(entity_set.navs)
        if entity_set.name == "companies":
            navs = [Nav(name, name, True) for name in COMPANY_SETS]
        for nav in navs:
            target = SETS[nav.target].type_name
            attributes = {"Name": nav.name, "Type": f"Collection({NAMESPACE}.{target})" if nav.collection
                          else f"{NAMESPACE}.{target}"}
            if nav.collection:
                attributes["ContainsTarget"] = "true"
            ET.SubElement(entity, "NavigationProperty", attributes)
    for entity_set in SETS.values():
        for action in entity_set.actions:
            element = ET.SubElement(schema, "Action", {"Name": action, "IsBound": "true"})
            binding = f"{NAMESPACE}.{entity_set.type_name}"
            ET.SubElement(element, "Parameter", {"Name": "bindingParameter", "Type": binding})
    container = ET.SubElement(schema, "EntityContainer", {"Name": "NAV"})
    ET.SubElement(container, "EntitySet", {"Name": "companies", "EntityType": f"{NAMESPACE}.company"})
    ET.SubElement(container, "EntitySet", {"Name": "subscriptions", "EntityType": f"{NAMESPACE}.subscriptions"})
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)
