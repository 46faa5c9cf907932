"""The simulated F&O data entities: sets, keys, property types, enums and the ``$metadata`` they make.

Names, keys and fields follow ``reference/dynamics.md`` §1.8 (CDM and a client generated from a real
``$metadata``). Beyond §1.8, for the catalogue: ``ReleasedProductsV2.IsPOSRegistrationBlocked`` (a real field of
the entity: SAP Cloud SDK client generated from F&O ``$metadata``, dual-write map of released products; it is
what stops a product being sold at a till), ``ReleasedProductsV2.ProductName`` (unverified on this entity: the
CDS released distinct products entity and ``WarehousesOnHandV2`` carry it; here it is the product's display
name), and ``ProductNumberIdentifiedBarcodes`` (EcoResProductNumberIdentifiedBarcodeEntity; keys and fields from
the same generated client), where F&O keeps a product's barcodes. One entity extension as an ISV would add
it: ``SalesOrderHeadersV2.HL365PaymentStatus``,
where hl365 writes the result of charging the order (``APPROVED TRN_…``, ``DECLINED 51 …``). Keys the
reference marks unverified (ExchangeRates, MainAccounts, CustomerPaymentJournalHeaders) use its best guess.
Two navigation properties are the simulator's own (documented in ``sandbox/simulators/fo/__init__.py``):
``JournalLines`` from a journal header to its lines and ``JournalHeader`` back, so a ``$batch`` changeset
can create lines under a header whose number the number sequence has not assigned yet
(``POST $1/JournalLines``).

The HR entities (``WORKER_SETS``), shared across legal entities as F&O's workers are (no ``dataAreaId``):

* ``Workers`` (HcmWorkerEntity, key ``PersonnelNumber``), ``EmployeesV2`` (HcmEmployeeV2Entity, key
  ``PersonnelNumber``, ``EmploymentLegalEntityId``, ``EmploymentId``: one row per employment, so a worker employed
  by two legal entities, or rehired, has two) and ``PersonIdentificationNumbers``
  (HcmPersonIdentificationNumberEntity, key ``PartyNumber``, ``IdentificationTypeId``, ``IdentificationNumber``):
  set names, keys, every property declared here and its EDM type, and the ``HcmWorkerStatus`` and
  ``HcmWorkerRelationType`` members are **verified** against the SAP Cloud SDK client generated from a real F&O
  ``$metadata`` (``ntrtd/d365-agent: asset/client/src/{Workers,EmployeesV2,PersonIdentificationNumbers}Api.ts``,
  ``HcmWorkerStatus.ts``) and the Human Resources entity pages (MicrosoftDocs/dynamics-365-unified-operations-public:
  ``articles/human-resources/PayIntV1WorkerEntity.md``, ``PayIntV1HcmPersonIdentificationNumberEntity.md``).
  Each set declares only the subset of the real properties hl365 and the tests use.
* A national ID (the US Social Security number) is a ``PersonIdentificationNumbers`` row of the worker's party
  with ``IdentificationTypeId`` = ``SSN``, as F&O keeps it (Human resources > Workers > Identification numbers);
  the type id ``SSN`` is the simulator's (each environment names its own identification types).
* None of the three carries a modification time (verified: no such property in the generated client); a reader
  that wants changes reads everything and compares.
* The simulator's choices: ``EmploymentId`` values (``000001``…, from a number sequence), ``EmploymentEndDate`` =
  ``2154-12-31T23:59:59Z`` while an employment is open, ``WorkerStatus`` derived from the worker's employments as
  F&O derives it (Employed while one is current, Pending before the first starts, else Terminated), but only when
  the seeding API changes the worker: a future end date passing on the clock does not move it (read the
  employment dates, as ``shared.dynamics.workers`` does). ``Workers``
  and ``EmployeesV2`` repeat one worker's person fields, so they are served read-only here (405 on a write, unlike
  F&O) and change only through the Python-side seeding API (``add_employee``, ``update_employee``,
  ``terminate_employee``), which keeps them in step; ``PersonIdentificationNumbers`` is writable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from sandbox.simulators.odata import Action, EntitySet, NavigationProperty, edmx

NAMESPACE = "Microsoft.Dynamics.DataEntities"
EMPTY_DATE = "1900-01-01T12:00:00Z"
WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
POST_ACTION = "Post"

ENUMS: dict[str, dict[str, int]] = {
    "NoYes": {"No": 0, "Yes": 1},
    # LedgerJournalACType keeps the AX enum values (4 is unused in the base enum).
    "LedgerJournalACType": {"Ledger": 0, "Cust": 1, "Vend": 2, "Project": 3, "FixedAssets": 5, "Bank": 6},
    "CurrentOperationsTax": {"Current": 0, "Operations": 1, "Tax": 2},
    "SalesStatus": {"None": 0, "Backorder": 1, "Delivered": 2, "Invoiced": 3, "Canceled": 4},
    "CustVendorBlocked": {"No": 0, "Invoice": 1, "All": 2, "Payment": 3, "Requisition": 4, "Never": 5},
    "ExchangeRateDisplayFactor": {"One": 0, "Ten": 1, "Hundred": 2, "Thousand": 3, "TenThousand": 4,
                                  "HundredThousand": 5},
    # Worker enums with their values as the generated ``$metadata`` client declares them (see WORKER_SETS).
    "HcmWorkerStatus": {"Pending": 0, "Employed": 1, "Terminated": 2},
    "HcmWorkerRelationType": {"Both": 0, "Employee": 1, "Contractor": 2},
}
DISPLAY_FACTORS = {"One": Decimal(1), "Ten": Decimal(10), "Hundred": Decimal(100), "Thousand": Decimal(1000),
                   "TenThousand": Decimal(10_000), "HundredThousand": Decimal(100_000)}

_CODES = {"S": "Edm.String", "D": "Edm.Decimal", "T": "Edm.DateTimeOffset", "I": "Edm.Int32", "L": "Edm.Int64"}


def _properties(spec: str) -> dict[str, str]:
    """``"Name:S Amount:D IsPosted:NoYes"`` → ``{"Name": "Edm.String", …, "IsPosted": "<ns>.NoYes"}``."""
    result = {}
    for item in spec.split():
        name, _, code = item.partition(":")
        code = code or "S"
        result[name] = _CODES.get(code) or f"{NAMESPACE}.{code}"
    return result


@dataclass(frozen=True)
class EntitySpec:
    """One entity set as the simulator serves it.

    Attributes:
        entity: the AOT data entity, named in "Write failed for table row of type '…'".
        table: the backing table's label and name, named in "Cannot create a record in …".
        company: the set is per legal entity (has ``dataAreaId``) rather than shared.
        read_only: properties the service computes; values sent for them are ignored, as OData allows.
        sequence: the key property a number sequence fills when it is left blank.
        writable: False for read-only entities (on-hand inventory).
        blank_keys: key properties that may be empty (product dimensions a product does not use).
    """

    name: str
    entity_type: str
    entity: str
    table: str
    keys: tuple[str, ...]
    properties: dict[str, str]
    company: bool = True
    read_only: frozenset[str] = frozenset()
    sequence: str | None = None
    writable: bool = True
    navigation: tuple[NavigationProperty, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    blank_keys: frozenset[str] = frozenset()

    def default(self, name: str) -> Any:
        return self.initial_row[name]

    def members(self, name: str) -> tuple[str, ...]:
        return self.enum_members[name]

    @cached_property
    def initial_row(self) -> dict[str, Any]:
        """InitValue of every property, once per set; a created row starts as a copy (never write to this one)."""
        return {name: self._initial(name) for name in self.properties}

    @cached_property
    def enum_members(self) -> dict[str, tuple[str, ...]]:
        """Property → its enum's member names (empty if not an enum), once per set, not once per value."""
        return {name: tuple(ENUMS[edm.rsplit(".", 1)[1]]) if edm.startswith(NAMESPACE + ".") else ()
                for name, edm in self.properties.items()}

    def _initial(self, name: str) -> Any:
        if name in self.defaults:
            return self.defaults[name]
        edm = self.properties[name]
        if edm == "Edm.Decimal":
            return Decimal(0)
        if edm in ("Edm.Int32", "Edm.Int64"):
            return 0
        if edm == "Edm.DateTimeOffset":
            return EMPTY_DATE
        if edm.startswith(NAMESPACE + "."):
            members = ENUMS[edm.rsplit(".", 1)[1]]
            return min(members, key=members.__getitem__)
        return ""

    def to_edm(self) -> EntitySet:
        return EntitySet(self.name, self.entity_type, self.keys, self.properties, self.navigation)


def _journal_navigation(header: str, line: str) -> tuple[NavigationProperty, NavigationProperty]:
    constraint = (("dataAreaId", "dataAreaId"), ("JournalBatchNumber", "JournalBatchNumber"))
    return (NavigationProperty("JournalLines", line, True, partner="JournalHeader"),
            NavigationProperty("JournalHeader", header, False, partner="JournalLines", constraints=constraint))


NEVER = "2154-12-31T23:59:59Z"
"""F&O's date-effective "no end" (DateTimeUtil::maxValue): an employment that has not ended ends then."""
_PERSON_CONTACT = ("AddressStreet AddressCity AddressState AddressZipCode AddressCountryRegionId PrimaryContactEmail "
                   "PrimaryContactPhone TitleId OfficeLocation OfficeLocationId")
"""The person and contact fields ``Workers`` and ``EmployeesV2`` both carry (one worker, the same values)."""
WORKER_SETS = ("Workers", "EmployeesV2", "PersonIdentificationNumbers")
"""The HR entities (see the module docstring)."""

_LEDGER_NAV = _journal_navigation("LedgerJournalHeader", "LedgerJournalLine")
_PAYMENT_NAV = _journal_navigation("CustomerPaymentJournalHeader", "CustomerPaymentJournalLine")

SPECS: dict[str, EntitySpec] = {spec.name: spec for spec in (
    EntitySpec(
        "LedgerJournalHeaders", "LedgerJournalHeader", "LedgerJournalHeaderEntity",
        "Journal table (LedgerJournalTable)", ("dataAreaId", "JournalBatchNumber"),
        _properties("dataAreaId JournalBatchNumber JournalName Description PostingLayer:CurrentOperationsTax "
                    "IsPosted:NoYes JournalTotalDebit:D JournalTotalCredit:D AccountingCurrency IntegrationKey"),
        read_only=frozenset({"IsPosted", "JournalTotalDebit", "JournalTotalCredit", "AccountingCurrency"}),
        sequence="JournalBatchNumber", navigation=(_LEDGER_NAV[0],)),
    EntitySpec(
        "LedgerJournalLines", "LedgerJournalLine", "LedgerJournalLineEntity", "Journal lines (LedgerJournalTrans)",
        ("dataAreaId", "JournalBatchNumber", "LineNumber"),
        _properties("dataAreaId JournalBatchNumber LineNumber:D TransDate:T AccountType:LedgerJournalACType "
                    "AccountDisplayValue OffsetAccountType:LedgerJournalACType OffsetAccountDisplayValue "
                    "DebitAmount:D CreditAmount:D CurrencyCode Text OffsetText Voucher DefaultDimensionDisplayValue "
                    "OffsetDefaultDimensionDisplayValue Company OffsetCompany ExchRate:D Document DocumentDate:T "
                    "PaymentReference PaymentMethod PostingProfile Invoice DueDate:T SalesTaxGroup "
                    "ItemSalesTaxGroup Quantity:D ReverseEntry:NoYes ReverseDate:T"),
        navigation=(_LEDGER_NAV[1],)),
    EntitySpec(
        "CustomerPaymentJournalHeaders", "CustomerPaymentJournalHeader", "CustomerPaymentJournalHeaderEntity",
        "Journal table (LedgerJournalTable)", ("dataAreaId", "JournalBatchNumber"),
        _properties("dataAreaId JournalBatchNumber JournalName Description IsPosted:NoYes"),
        read_only=frozenset({"IsPosted"}), sequence="JournalBatchNumber", navigation=(_PAYMENT_NAV[0],)),
    EntitySpec(
        "CustomerPaymentJournalLines", "CustomerPaymentJournalLine", "CustomerPaymentJournalLineEntity",
        "Journal lines (LedgerJournalTrans)", ("dataAreaId", "JournalBatchNumber", "LineNumber"),
        _properties("dataAreaId JournalBatchNumber LineNumber:D TransactionDate:T AccountType:LedgerJournalACType "
                    "AccountDisplayValue CreditAmount:D DebitAmount:D CurrencyCode PaymentMethodName "
                    "PaymentReference PaymentId DocumentNumber TransactionText OffsetAccountType:LedgerJournalACType "
                    "OffsetAccountDisplayValue OffsetTransactionText PostingProfile IsPrepayment:NoYes "
                    "MarkedInvoice MarkedInvoiceCompany SettleVoucher Voucher "
                    "DefaultDimensionsForAccountDisplayValue DefaultDimensionsForOffsetAccountDisplayValue "
                    "ExchangeRate:D CustomerName"),
        read_only=frozenset({"CustomerName"}), navigation=(_PAYMENT_NAV[1],), defaults={"AccountType": "Cust"}),
    EntitySpec(
        "CustomersV3", "CustomerV3", "CustCustomerV3Entity", "Customers (CustTable)", ("dataAreaId", "CustomerAccount"),
        _properties("dataAreaId CustomerAccount OrganizationName PartyType PersonFirstName PersonLastName "
                    "CustomerGroupId SalesCurrencyCode PaymentTerms PaymentMethod CreditLimit:D InvoiceAccount "
                    "SalesTaxGroup OnHoldStatus:CustVendorBlocked AddressStreet AddressCity AddressState "
                    "AddressZipCode AddressCountryRegionId PrimaryContactEmail PrimaryContactPhone PartyNumber "
                    "KnownAs HL365GiftBalance:D HL365LoyaltyPoints:D"),
        sequence="CustomerAccount", read_only=frozenset({"PartyNumber"}), defaults={"PartyType": "Organization"}),
    EntitySpec(
        "SalesOrderHeadersV2", "SalesOrderHeaderV2", "SalesOrderHeaderV2Entity", "Sales orders (SalesTable)",
        ("dataAreaId", "SalesOrderNumber"),
        _properties("dataAreaId SalesOrderNumber OrderingCustomerAccountNumber InvoiceCustomerAccountNumber "
                    "CurrencyCode SalesOrderStatus:SalesStatus SalesOrderProcessingStatus CustomersOrderReference "
                    "CustomerRequisitionNumber CustomerPaymentMethodName PaymentTermsName DefaultShippingSiteId "
                    "DefaultShippingWarehouseId RequestedShippingDate:T DeliveryModeCode SalesOrderOriginCode "
                    "SalesOrderPoolId HL365PaymentStatus"),
        sequence="SalesOrderNumber", defaults={"SalesOrderStatus": "Backorder", "SalesOrderProcessingStatus": "None"}),
    EntitySpec(
        "SalesOrderLines", "SalesOrderLine", "SalesOrderLineV2Entity", "Order lines (SalesLine)",
        ("dataAreaId", "InventoryLotId"),
        _properties("dataAreaId InventoryLotId SalesOrderNumber ItemNumber OrderedSalesQuantity:D SalesUnitSymbol "
                    "SalesPrice:D SalesPriceQuantity:D LineAmount:D LineDiscountAmount:D LineDescription "
                    "ShippingSiteId ShippingWarehouseId SalesOrderLineStatus:SalesStatus CurrencyCode "
                    "RequestedShippingDate:T ProductColorId ProductSizeId ProductStyleId ProductConfigurationId"),
        sequence="InventoryLotId", defaults={"SalesOrderLineStatus": "Backorder", "SalesPriceQuantity": Decimal(1)}),
    EntitySpec(
        "ReleasedProductsV2", "ReleasedProductV2", "EcoResReleasedProductV2Entity", "Items (InventTable)",
        ("dataAreaId", "ItemNumber"),
        _properties("dataAreaId ItemNumber ProductNumber ProductName SearchName ProductSearchName ProductType "
                    "ProductSubType ProductGroupId ItemModelGroupId StorageDimensionGroupName "
                    "TrackingDimensionGroupName InventoryUnitSymbol SalesUnitSymbol PurchaseUnitSymbol SalesPrice:D "
                    "UnitCost:D IsPOSRegistrationBlocked:NoYes"),
        defaults={"ProductType": "Item", "ProductSubType": "Product"}),
    EntitySpec(
        "ProductNumberIdentifiedBarcodes", "ProductNumberIdentifiedBarcode",
        "EcoResProductNumberIdentifiedBarcodeEntity", "Bar codes (InventItemBarcode)",
        ("dataAreaId", "ProductNumber", "ProductQuantityUnitSymbol", "BarcodeSetupId", "Barcode"),
        _properties("dataAreaId ProductNumber ProductQuantityUnitSymbol BarcodeSetupId Barcode ProductQuantity:D "
                    "IsDefaultScannedBarcode:NoYes IsDefaultPrintedBarcode:NoYes IsDefaultDisplayedBarcode:NoYes "
                    "ProductDescription"),
        defaults={"ProductQuantity": Decimal(1)}),
    EntitySpec(
        "WarehousesOnHandV2", "WarehouseOnHandV2", "InventWarehouseOnHandV2Entity", "On-hand inventory (InventSum)",
        ("dataAreaId", "ItemNumber", "ProductColorId", "ProductConfigurationId", "ProductSizeId", "ProductStyleId",
         "ProductVersionId", "InventorySiteId", "InventoryWarehouseId"),
        _properties("dataAreaId ItemNumber ProductColorId ProductConfigurationId ProductSizeId ProductStyleId "
                    "ProductVersionId InventorySiteId InventoryWarehouseId OnHandQuantity:D "
                    "AvailableOnHandQuantity:D ReservedOnHandQuantity:D OrderedQuantity:D AvailableOrderedQuantity:D "
                    "ReservedOrderedQuantity:D OnOrderQuantity:D TotalAvailableQuantity:D ProductName "
                    "AreWarehouseManagementProcessesUsed:NoYes"),
        writable=False, blank_keys=frozenset({"ProductColorId", "ProductConfigurationId", "ProductSizeId",
                                              "ProductStyleId", "ProductVersionId"})),
    EntitySpec(
        "InventoryMovementJournalHeaders", "InventoryMovementJournalHeader",
        "InventInventoryMovementJournalHeaderEntity",
        "Journal table (InventJournalTable)", ("dataAreaId", "JournalNumber"),
        _properties("dataAreaId JournalNumber JournalNameId Description IsPosted:NoYes PostedDateTime:T "
                    "PostedUserId DefaultInventorySiteId DefaultWarehouseId"),
        read_only=frozenset({"IsPosted", "PostedDateTime", "PostedUserId"}), sequence="JournalNumber"),
    EntitySpec(
        "InventoryMovementJournalEntries", "InventoryMovementJournalEntry", "InventInventoryMovementJournalEntryEntity",
        "Journal lines, inventory (InventJournalTrans)",
        ("dataAreaId", "JournalNumber", "ItemNumber", "ProductConfigurationId", "ProductColorId", "ProductSizeId",
         "ProductStyleId", "InventorySiteId", "InventoryWarehouseId", "ItemBatchNumber", "ItemSerialNumber",
         "WarehouseLocationId", "LicensePlateNumber", "InventoryStatusId"),
        _properties("dataAreaId JournalNumber ItemNumber ProductConfigurationId ProductColorId ProductSizeId "
                    "ProductStyleId InventorySiteId InventoryWarehouseId ItemBatchNumber ItemSerialNumber "
                    "WarehouseLocationId LicensePlateNumber InventoryStatusId LineNumber:D InventoryQuantity:D "
                    "UnitCost:D UnitCostQuantity:D CostAmount:D FixedCostCharges:D CatchWeightQuantity:D "
                    "TransactionDate:T OffsetMainAccountIdDisplayValue DefaultLedgerDimensionDisplayValue "
                    "JournalNameId"),
        read_only=frozenset({"JournalNameId"}), defaults={"UnitCostQuantity": Decimal(1)},
        blank_keys=frozenset({"ProductConfigurationId", "ProductColorId", "ProductSizeId", "ProductStyleId",
                              "ItemBatchNumber", "ItemSerialNumber", "WarehouseLocationId", "LicensePlateNumber",
                              "InventoryStatusId"})),
    EntitySpec(
        "ExchangeRates", "ExchangeRate", "ExchangeRateEntity", "Exchange rates (ExchangeRate)",
        ("RateTypeName", "FromCurrency", "ToCurrency", "StartDate"),
        _properties("RateTypeName RateTypeDescription FromCurrency ToCurrency StartDate:T EndDate:T Rate:D "
                    "ConversionFactor:ExchangeRateDisplayFactor"),
        company=False, defaults={"RateTypeName": "Default"}),
    EntitySpec(
        "CustomerPaymentMethods", "CustomerPaymentMethod", "CustomerPaymentMethodEntity",
        "Methods of payment - customers (CustPaymModeTable)", ("dataAreaId", "Name"),
        _properties("dataAreaId Name Description AccountType:LedgerJournalACType PaymentAccount "
                    "PaymentAccountDisplayValue PaymentJournalName PaymentStatus PaymentType BankTransactionType"),
        defaults={"AccountType": "Bank"}),
    EntitySpec(
        "MainAccounts", "MainAccount", "MainAccountEntity", "Main accounts (MainAccount)",
        ("ChartOfAccounts", "MainAccountId"),
        _properties("ChartOfAccounts MainAccountId Name MainAccountType MainAccountCategory PostingType "
                    "DefaultCurrency DoNotAllowManualEntry:NoYes IsSuspended:NoYes ActiveFrom:T ActiveTo:T"),
        company=False, defaults={"MainAccountType": "BalanceSheet"}),
    EntitySpec(
        "Workers", "Worker", "HcmWorkerEntity", "Workers (HcmWorker)", ("PersonnelNumber",),
        _properties(f"PersonnelNumber PartyNumber Name FirstName MiddleName LastName KnownAs "
                    f"WorkerStatus:HcmWorkerStatus WorkerType:HcmWorkerRelationType OriginalHireDateTime:T "
                    f"SeniorityDate:T BirthDate:T {_PERSON_CONTACT}"),
        company=False, writable=False, sequence="PersonnelNumber",
        read_only=frozenset({"PartyNumber", "Name", "WorkerStatus"}), defaults={"WorkerType": "Employee"}),
    EntitySpec(
        "EmployeesV2", "EmployeeV2", "HcmEmployeeV2Entity", "Employments (HcmEmployment)",
        ("PersonnelNumber", "EmploymentLegalEntityId", "EmploymentId"),
        _properties(f"PersonnelNumber EmploymentLegalEntityId EmploymentId EmploymentStartDate:T EmploymentEndDate:T "
                    f"TerminationDate:T LastDateWorked:T TerminationReasonCodeId OriginalHireDateTime:T "
                    f"SeniorityDate:T PartyNumber Name FirstName MiddleName LastName KnownAs BirthDate:T "
                    f"{_PERSON_CONTACT} DimensionDisplayValue"),
        company=False, writable=False, read_only=frozenset({"PartyNumber", "Name"}),
        defaults={"EmploymentEndDate": NEVER}),
    EntitySpec(
        "PersonIdentificationNumbers", "PersonIdentificationNumber", "HcmPersonIdentificationNumberEntity",
        "Identification numbers (HcmPersonIdentificationNumber)", ("PartyNumber", "IdentificationTypeId",
                                                                    "IdentificationNumber"),
        _properties("PartyNumber IdentificationTypeId IdentificationNumber Description IsPrimary:NoYes IssuedDate:T "
                    "ExpirationDate:T IssuingAgencyId EntryType"),
        company=False),
)}

HEADER_SETS = {"LedgerJournalHeaders": "LedgerJournalLines",
               "CustomerPaymentJournalHeaders": "CustomerPaymentJournalLines"}
LINE_SETS = {line: header for header, line in HEADER_SETS.items()}
JOURNAL_TYPES = {"LedgerJournalHeaders": "Daily", "CustomerPaymentJournalHeaders": "CustPayment"}
INVENTORY_HEADERS, INVENTORY_LINES = "InventoryMovementJournalHeaders", "InventoryMovementJournalEntries"
"""Inventory movement journals: keyed on ``JournalNumber`` (``InventJournalTable``), apart from the ledger ones."""
MOVEMENT = "Movement"
"""The journal-name type of inventory movement journals."""


def metadata() -> str:
    """The ``$metadata`` EDMX of every simulated set, with the enums and the bound ``Post`` actions."""
    actions = [Action(POST_ACTION, binding=SPECS[name].entity_type) for name in (*HEADER_SETS, INVENTORY_HEADERS)]
    return edmx(NAMESPACE, [spec.to_edm() for spec in SPECS.values()], enums=ENUMS, actions=actions,
                container="Resources")
