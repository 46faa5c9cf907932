"""The mapping configuration finance users edit: how Heartland's vocabulary lands in the ledger.

Every name a rule uses (a payment type, a tax component, a department) must be mapped explicitly:
at run time an unmapped name dead-letters the batch with that reason; nothing is guessed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.canonical.money import minor_units
from shared.canonical.products import FIELDS, StockPlace, Warehouse
from shared.canonical.products import Field as ProductField
from shared.customers.rules import CustomerRules
from shared.errors import FatalError
from shared.mapping.fields import is_source_path
from shared.payroll.rules import PayrollRules

Account = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostingMode(StrEnum):
    REVIEW = "review"
    AUTO = "auto"


class JournalRules(_Strict):
    """``name`` is the F&O journal name or the Business Central journal template."""

    name: Code
    description: str = Field("Heartland settlement {merchant} batch {batch} {date}", max_length=200)
    line_limit: int = Field(1000, ge=4, le=10_000)
    posting_mode: PostingMode = PostingMode.REVIEW


class Accounts(_Strict):
    """The ledger accounts the settlement journal always needs."""

    bank: Account
    processing_fees: Account
    tips_payable: Account
    discounts: Account
    refunds: Account
    gift_card_liability: Account
    undeposited: Account = Field(description="card receivable from the processor until it is deposited")
    suspense: Account = Field(description="carries the balance between the parts of a journal split by line limit")


class PaymentTypeRule(_Strict):
    method: Code = Field(description="the ERP payment method code")
    clearing_account: Account


class TaxComponentRule(_Strict):
    tax_code: Code
    account: Account


class DepartmentRule(_Strict):
    revenue_account: Account
    dimensions: dict[Code, Code] = Field(default_factory=dict)


class LocationRule(_Strict):
    dimensions: dict[Code, Code] = Field(default_factory=dict)


class CustomerPaymentRules(_Strict):
    """Real-time card payments (U3) that land in the customer ledger.

    Only a payment whose gateway ``reference`` names a Dynamics sales order posts here: POS card sales are
    booked by the end-of-day settlement journal, and posting them to a customer as well would count them twice.
    """

    journal_name: Code = Field("CustPay", description="F&O payment journal name / BC customer payment journal code")
    order_reference: str = Field(r"^(S-ORD|S-INV)?\d{6}$",
                                 description="regular expression a reference naming a sales order matches")
    posting_mode: PostingMode = PostingMode.REVIEW

    @field_validator("order_reference")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def names_order(self, reference: str | None) -> bool:
        return bool(reference) and re.fullmatch(self.order_reference, reference or "") is not None


class Owner(StrEnum):
    """The side whose value wins a difference: the rule, never whoever wrote last."""

    ERP = "erp"
    POS = "pos"


class FieldOwners(_Strict):
    """Who owns each catalogue field. The owner's value is pushed to the other side; a field the POS owns is
    never overwritten from the ERP (a difference is reported as a conflict for the ERP's people to settle)."""

    description: Owner
    price: Owner
    cost: Owner
    active: Owner
    barcode: Owner


class StockLocationRule(_Strict):
    """Where one POS location's stock is counted in each ERP: an F&O site and warehouse, a Business Central
    location. Business Central API v2.0 gives one ``inventory`` figure per item, over all its locations, so only
    one POS location may name a ``bc_location``: that figure is read as this location's stock."""

    fo_site: Code | None = None
    fo_warehouse: Code | None = None
    bc_location: Code | None = None

    @model_validator(mode="after")
    def _complete(self) -> StockLocationRule:
        if (self.fo_site is None) != (self.fo_warehouse is None):
            raise ValueError("give fo_site and fo_warehouse together (an F&O warehouse belongs to a site)")
        if self.fo_warehouse is None and self.bc_location is None:
            raise ValueError("name the ERP warehouse: fo_site and fo_warehouse, or bc_location, or both")
        return self

    def warehouse(self, erp: str) -> Warehouse | None:
        if erp == "fo":
            return None if self.fo_warehouse is None else Warehouse(self.fo_warehouse, self.fo_site)
        if erp == "bc":
            return None if self.bc_location is None else Warehouse(self.bc_location)
        raise ValueError(f"{erp!r} is neither fo nor bc")


class PosSalesRules(_Strict):
    """The POS's sales booked into the ERP's stock, one movement per store and day (F&O inventory movement
    journals; Business Central API v2.0 has no item journal, so there they are reported for a person to book)."""

    fo_journal_name: Code = Field("IMov", description="F&O inventory movement journal name")
    fo_offset_account: str | None = Field(None, description="main account the issues are offset to (else the "
                                          "journal name's)")
    days_back: int = Field(2, ge=1, le=31, description="complete days each run books again, so a late or voided "
                           "ticket reaches the ERP")


class InventoryRules(_Strict):
    """``master``: ``erp`` brings POS stock to the ERP's figure with one adjustment set per location; ``pos``
    reports the differences and changes nothing (the ERP's stock moves only through its own journals)."""

    master: Owner = Owner.ERP
    pos_sales: PosSalesRules | None = Field(None, description="book the POS's daily sales into the ERP's stock")
    adjustment_reason_id: int | None = Field(None, ge=1, description="Heartland adjustment reason of the sets")
    locations: dict[Code, StockLocationRule] = Field(default_factory=dict,
                                                     description="POS location public_id -> ERP warehouse")

    @model_validator(mode="after")
    def _one_place_each(self) -> InventoryRules:
        bc = [name for name, rule in self.locations.items() if rule.bc_location is not None]
        if len(bc) > 1:
            raise ValueError(f"locations {', '.join(bc)} all name a bc_location; Business Central API v2.0 has one "
                             "inventory figure per item, so only one POS location can stand for it")
        seen: dict[tuple[str, str], str] = {}
        for name, rule in self.locations.items():
            if rule.fo_site is not None and rule.fo_warehouse is not None:
                key = (rule.fo_site.casefold(), rule.fo_warehouse.casefold())
                if key in seen:
                    raise ValueError(f"locations {seen[key]} and {name} both name F&O warehouse "
                                     f"{rule.fo_site}/{rule.fo_warehouse}; its stock would be counted twice")
                seen[key] = name
        return self


class CatalogRules(_Strict):
    """Products, prices and stock kept in step between the ERP and the POS (U6)."""

    owners: FieldOwners
    inventory: InventoryRules = Field(default_factory=InventoryRules)

    def owner(self, field: ProductField) -> Owner:
        result: Owner = getattr(self.owners, field)
        return result

    def fields_owned_by(self, owner: Owner) -> tuple[ProductField, ...]:
        return tuple(f for f in FIELDS if self.owner(f) is owner)

    def place(self, location: str, kind: str) -> StockPlace:
        """POS location ``location`` as ``kind`` (``pos``, ``fo``, ``bc``) names it.

        Raises:
            UnmappedError: the location is not mapped, or not to a warehouse of that ERP.
        """
        rule = self.inventory.locations.get(location)
        if rule is None:
            raise UnmappedError("UnmappedLocation", f"POS location {location!r} is not in catalog.inventory.locations")
        if kind == "pos":
            return StockPlace(location)
        warehouse = rule.warehouse(kind)
        if warehouse is None:
            raise UnmappedError("UnmappedLocation", f"POS location {location!r} names no {kind} warehouse in "
                                "catalog.inventory.locations")
        return StockPlace(location, warehouse)


FieldName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class SuggestedField(_Strict):
    """A field mapping applied from a suggestion: its source path and the suggester's confidence. A person's own
    entry is a plain string; ``hl365 mapping apply`` replaces neither."""

    source: str = Field(alias="from")
    suggested: float = Field(gt=0, le=1, description="the suggester's confidence when it was applied")

    @field_validator("source")
    @classmethod
    def _path(cls, value: str) -> str:
        return _source_path(value)


def _source_path(value: str) -> str:
    if not is_source_path(value):
        raise ValueError(f"{value!r} is not a source path: dotted from the record's root, arrays as [] "
                         "(lines[].sku, tags[])")
    return value


def _field_rule(value: object) -> str | SuggestedField:
    """A person's plain path, or ``{from, suggested}``; checked here so a problem is named at its own line."""
    if isinstance(value, SuggestedField):
        return value
    if isinstance(value, str):
        return _source_path(value)
    if isinstance(value, dict):
        try:
            return SuggestedField.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = "required and missing" if first["type"] == "missing" else first["msg"]
            raise ValueError(f"{where}: {message.removeprefix('Value error, ')}") from None
    raise ValueError("give a source path, or {from: PATH, suggested: CONFIDENCE}")


FieldRule = Annotated[str | SuggestedField, PlainValidator(_field_rule)]


class MappingConfig(_Strict):
    """The whole file (``version: 1``)."""

    version: int = Field(1, ge=1, le=1)
    legal_entity: Code
    base_currency: str = Field(min_length=3, max_length=3)
    journal: JournalRules
    accounts: Accounts
    payment_types: dict[Code, PaymentTypeRule] = Field(min_length=1)
    tax_components: dict[Code, TaxComponentRule] = Field(default_factory=dict)
    departments: dict[Code, DepartmentRule] = Field(min_length=1)
    locations: dict[Code, LocationRule] = Field(default_factory=dict)
    status_alignment: dict[Code, Code] = Field(default_factory=dict)
    customer_payments: CustomerPaymentRules = Field(default_factory=CustomerPaymentRules)
    catalog: CatalogRules | None = None
    customers: CustomerRules = Field(default_factory=CustomerRules)
    payroll: PayrollRules | None = None
    fields: dict[FieldName, dict[FieldName, FieldRule]] = Field(
        default_factory=dict, description="target entity -> target field -> source path")
    amount_tolerance: str = Field("0.00", pattern=r"^\d+(\.\d+)?$", description="reconciliation tolerance")

    @field_validator("base_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        minor_units(value.upper())
        return value.upper()

    @field_validator("status_alignment")
    @classmethod
    def _statuses(cls, value: dict[str, str]) -> dict[str, str]:
        from shared.canonical.payments import PaymentStatus

        unknown = sorted(set(value) - {s.value for s in PaymentStatus})
        if unknown:
            known = ", ".join(s.value for s in PaymentStatus)
            raise ValueError(f"unknown gateway status {', '.join(unknown)}; use one of {known}")
        return value

    @model_validator(mode="after")
    def _dimension_names_agree(self) -> MappingConfig:
        names = {frozenset(rule.dimensions) for rule in self.departments.values() if rule.dimensions}
        if len(names) > 1:
            raise ValueError("every department must set the same dimension names")
        return self

    def account_names(self) -> dict[str, str]:
        """What each mapped account is for, in words an accountant reads beside the number."""
        uses: dict[str, list[str]] = {}

        def use(account: str, what: str) -> None:
            if what not in uses.setdefault(account, []):
                uses[account].append(what)

        roles = {"undeposited": "Card receivable, undeposited", "suspense": "Suspense between split journals"}
        for role, account in self.accounts.model_dump().items():
            use(account, roles.get(role, role.replace("_", " ").capitalize()))
        clearing: dict[str, list[str]] = {}
        for name, rule in self.payment_types.items():
            clearing.setdefault(rule.clearing_account, []).append(name.replace("_", " ").title())
        for account, names in clearing.items():
            use(account, f"Clearing: {', '.join(names)}")
        for name, tax in self.tax_components.items():
            use(tax.account, f"{name.title()} tax payable")
        for name, department in self.departments.items():
            use(department.revenue_account, f"{name.title()} revenue")
        return {account: "; ".join(names) for account, names in uses.items()}

    def payment_type(self, name: str) -> PaymentTypeRule:
        """Raises:
        UnmappedError: ``name`` has no rule; the batch must not be guessed at.
        """
        try:
            return self.payment_types[name]
        except KeyError:
            raise UnmappedError("UnmappedPaymentType", f"payment type {name!r} is not in the mapping") from None

    def tax_component(self, name: str) -> TaxComponentRule:
        try:
            return self.tax_components[name]
        except KeyError:
            raise UnmappedError("UnmappedTaxComponent", f"tax component {name!r} is not in the mapping") from None

    def department(self, name: str) -> DepartmentRule:
        try:
            return self.departments[name]
        except KeyError:
            raise UnmappedError("UnmappedDepartment", f"department {name!r} is not in the mapping") from None


class UnmappedError(FatalError):
    """A name the mapping does not cover; the batch is dead-lettered with this reason."""
