"""The customer rules a data steward edits, under ``customers`` in ``mapping.yaml``: how sure a match must be,
and which source a profile believes for each field. Light on purpose: the mapping loads it without the
matcher's libraries."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.canonical.customers import LoyaltyBalance

SOURCES = ("pos", "erp", "crm", "loyalty")
FIELDS = ("first_name", "last_name", "company", "email", "phone", "address_line1", "city", "state",
          "postal_code", "country")
GROUPS = {"name": ("first_name", "last_name"), "company": ("company",), "email": ("email",), "phone": ("phone",),
          "address": ("address_line1", "city", "state", "postal_code", "country")}
"""Fields a profile takes together from one record: a first name of one and a last name of another would make
a person no source knows."""


class MatchRules(BaseModel):
    """The knobs a data steward turns, in ``mapping.yaml`` under ``customers.matching``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.95, gt=0, lt=1, description="match probability at and above which records link")
    review_from: float = Field(0.60, gt=0, lt=1, description="pairs from here up to the threshold go to review")
    duplicates_per_100: float = Field(
        30, gt=0, le=300, description="about how many extra records per 100 customers the sources hold; the prior")
    seed: int = Field(42, description="seed of the random pairs u-probabilities are measured on")

    @model_validator(mode="after")
    def _band(self) -> MatchRules:
        if self.review_from >= self.threshold:
            raise ValueError(f"review_from ({self.review_from}) must be below threshold ({self.threshold})")
        return self


_FIELD_ORDER: dict[str, tuple[str, ...]] = {"email": ("crm", "loyalty", "erp", "pos"),
                                            "phone": ("pos", "loyalty", "crm", "erp")}
"""The CRM is where people correct their e-mail; the till is where they give the phone they answer."""


class Survivorship(BaseModel):
    """Which source a profile believes, per field (``name``, ``company``, ``email``, ``phone``, ``address``):
    the first in the list that has a value wins, and among records of one source the most recently updated.
    ``default`` serves every field not named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: tuple[str, ...] = ("erp", "crm", "loyalty", "pos")
    fields: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(_FIELD_ORDER))

    @field_validator("default")
    @classmethod
    def _sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in SOURCES]
        if unknown or not value:
            raise ValueError(f"sources must be some of {', '.join(SOURCES)}; got {', '.join(unknown) or 'none'}")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, order in value.items():
            if name not in GROUPS:
                raise ValueError(f"{name!r} is not one of the fields a profile chooses ({', '.join(GROUPS)})")
            cls._sources(order)
        return value

    def order(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, self.default)




class LoyaltyRules(BaseModel):
    """Where a profile's loyalty balances go in the ERP. F&O: entity-extension fields of ``CustomersV3`` (the
    ISV adds them, as ``HL365PaymentStatus`` on orders). Business Central API v2.0 customers have no field a
    balance could go in, so there they stay on the profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fo_gift_field: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,80}$")
    fo_points_field: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,80}$")

    def fo_fields(self, balance: LoyaltyBalance) -> dict[str, Decimal]:
        fields: dict[str, Decimal] = {}
        if self.fo_gift_field:
            fields[self.fo_gift_field] = balance.gift.amount
        if self.fo_points_field:
            fields[self.fo_points_field] = balance.points
        return fields


class CustomerRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    matching: MatchRules = Field(default_factory=MatchRules)
    survivorship: Survivorship = Field(default_factory=Survivorship)
    loyalty: LoyaltyRules = Field(default_factory=LoyaltyRules)
