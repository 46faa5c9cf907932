"""App settings: read once, validated once, from the environment and then ``local.settings.json``.

Nothing here runs at import time: the Functions host indexes ``function_app.py`` before the app's
settings are guaranteed, and a read there is the classic "0 functions loaded" failure.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.errors import ConfigError

SETTINGS_FILE_VARIABLE = "HL365_SETTINGS_FILE"
# Published, so it seals the sandbox's audit chain only: with Azure storage or Service Bus configured the
# chain would be forgeable, and a missing HL365_AUDIT_KEY stops the app instead.
SANDBOX_AUDIT_KEY = SecretStr("hl365-local-audit-key")


def _alias(name: str) -> Any:
    return Field(None, validation_alias=AliasChoices(name))


class LocalSettingsSource(PydanticBaseSettingsSource):
    """The ``Values`` of ``local.settings.json``, the file the Functions tooling reads locally."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get(SETTINGS_FILE_VARIABLE, "local.settings.json"))
        self._values: dict[str, Any] = {}
        if path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}: not valid JSON: {exc}") from None
            values = document.get("Values", {}) if isinstance(document, dict) else {}
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: 'Values' must be an object")
            self._values = {k.lower(): v for k, v in values.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        alias = field.validation_alias
        names = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else [field_name]
        for name in names:
            if name.lower() in self._values:
                return self._values[name.lower()], name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


class Settings(BaseSettings):
    """Every setting hl365 reads; app-setting names as the Functions host and DESIGN.md §4 spell them."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    storage: Literal["sqlite", "azure"] = Field("sqlite", validation_alias=AliasChoices("HL365_STORAGE"))
    bus: Literal["sqlite", "servicebus"] = Field("sqlite", validation_alias=AliasChoices("HL365_BUS"))
    data_dir: Path = Field(Path(".hl365"), validation_alias=AliasChoices("HL365_DATA_DIR"))
    storage_connection: SecretStr | None = _alias("AzureWebJobsStorage")
    table_service_uri: str | None = _alias("AzureWebJobsStorage__tableServiceUri")
    servicebus_connection: SecretStr | None = _alias("ServiceBusConnection")
    servicebus_namespace: str | None = _alias("ServiceBusConnection__fullyQualifiedNamespace")

    d365_target: Literal["embedded", "fo", "bc"] = Field("embedded", validation_alias=AliasChoices("D365_TARGET"))
    d365_fo_url: str | None = _alias("D365_FO_URL")
    d365_bc_url: str | None = _alias("D365_BC_URL")
    d365_authority_url: str = Field(
        "https://login.microsoftonline.com", validation_alias=AliasChoices("D365_AUTHORITY_URL")
    )
    d365_tenant_id: str | None = _alias("D365_TENANT_ID")
    d365_client_id: str | None = _alias("D365_CLIENT_ID")
    d365_client_secret: SecretStr | None = _alias("D365_CLIENT_SECRET")
    d365_credential: Literal["secret", "certificate", "managed_identity", "federated"] = Field(
        "secret", validation_alias=AliasChoices("D365_CREDENTIAL")
    )
    d365_client_certificate_path: Path | None = _alias("D365_CLIENT_CERTIFICATE_PATH")
    d365_client_certificate_password: SecretStr | None = _alias("D365_CLIENT_CERTIFICATE_PASSWORD")
    d365_managed_identity_client_id: str | None = _alias("D365_MANAGED_IDENTITY_CLIENT_ID")
    d365_ca_bundle: Path | None = _alias("D365_CA_BUNDLE")
    d365_legal_entity: str | None = _alias("D365_LEGAL_ENTITY")
    d365_bc_environment: str = Field("production", validation_alias=AliasChoices("D365_BC_ENVIRONMENT"))
    d365_bc_company: str | None = _alias("D365_BC_COMPANY")
    d365_dataverse_url: str | None = _alias("D365_DATAVERSE_URL")
    """The CRM (Dataverse) organisation, ``https://{org}.crm.dynamics.com``: its contacts and accounts are
    customer records; unset, customers come from the POS and the ERP only."""

    gp_api_url: str | None = _alias("GP_API_URL")
    gp_app_id: str | None = _alias("GP_APP_ID")
    gp_app_key: SecretStr | None = _alias("GP_APP_KEY")
    retail_api_url: str | None = _alias("RETAIL_API_URL")
    retail_api_token: SecretStr | None = _alias("RETAIL_API_TOKEN")
    portico_url: str | None = _alias("PORTICO_URL")
    """The Portico gateway root (https://api2.heartlandportico.com; cert https://cert.api2.heartlandportico.com):
    gift and loyalty balances on the customer profile; unset, profiles show none."""
    portico_secret_api_key: SecretStr | None = _alias("PORTICO_SECRET_API_KEY")
    heartland_payroll_url: str | None = _alias("HEARTLAND_PAYROLL_URL")
    """Heartland Payroll's partner POS API root (…/PosWebUI): employees kept in step with Dynamics; unset, none."""
    heartland_payroll_username: str | None = _alias("HEARTLAND_PAYROLL_USERNAME")
    heartland_payroll_password: SecretStr | None = _alias("HEARTLAND_PAYROLL_PASSWORD")
    heartland_payroll_api_key: SecretStr | None = _alias("HEARTLAND_PAYROLL_API_KEY")
    heartland_payroll_client_code: str | None = _alias("HEARTLAND_PAYROLL_CLIENT_CODE")

    appinsights_connection_string: SecretStr | None = _alias("APPLICATIONINSIGHTS_CONNECTION_STRING")
    alert_webhook_url: str | None = _alias("HL365_ALERT_WEBHOOK_URL")

    audit_key: SecretStr = Field(SANDBOX_AUDIT_KEY, validation_alias=AliasChoices("HL365_AUDIT_KEY"))
    idempotency_lease_seconds: int = Field(
        300, ge=1, le=86_400, validation_alias=AliasChoices("HL365_IDEMPOTENCY_LEASE_SECONDS")
    )
    http_timeout_seconds: float = Field(
        30.0, ge=1.0, le=300.0, validation_alias=AliasChoices("HL365_HTTP_TIMEOUT_SECONDS")
    )
    embedded_bus_speedup: float = Field(
        1.0, ge=1.0, le=3600.0, validation_alias=AliasChoices("HL365_EMBEDDED_BUS_SPEEDUP")
    )
    max_webhook_bytes: int = Field(
        256 * 1024, ge=1024, le=100 * 1024 * 1024, validation_alias=AliasChoices("HL365_MAX_WEBHOOK_BYTES")
    )
    mapping_file: Path = Field(Path("mapping.yaml"), validation_alias=AliasChoices("HL365_MAPPING_FILE"))
    rules_file: Path | None = Field(None, validation_alias=AliasChoices("HL365_RULES_FILE"))
    anomaly_schedule: str = Field("0 */5 * * * *", validation_alias=AliasChoices("HL365_ANOMALY_SCHEDULE"))
    merchant_id: str | None = _alias("HL365_MERCHANT_ID")
    merchant_timezone: str = Field("UTC", validation_alias=AliasChoices("HL365_MERCHANT_TIMEZONE"))
    eod_schedule: str = Field("0 0 4 * * *", validation_alias=AliasChoices("HL365_EOD_SCHEDULE"))
    foreign_currencies: str = Field("", validation_alias=AliasChoices("HL365_FOREIGN_CURRENCIES"))
    function_key: SecretStr | None = _alias("HL365_FUNCTION_KEY")
    public_url: str | None = _alias("HL365_PUBLIC_URL")
    bc_webhook_client_state: SecretStr | None = _alias("BC_WEBHOOK_CLIENT_STATE")
    bc_subscription_schedule: str = Field("0 0 */6 * * *",
                                          validation_alias=AliasChoices("HL365_BC_SUBSCRIPTION_SCHEDULE"))
    customers_schedule: str = Field("0 15 * * * *", validation_alias=AliasChoices("HL365_CUSTOMERS_SCHEDULE"))
    catalog_schedule: str = Field("0 45 * * * *", validation_alias=AliasChoices("HL365_CATALOG_SCHEDULE"))
    employees_schedule: str = Field("0 5 * * * *", validation_alias=AliasChoices("HL365_EMPLOYEES_SCHEDULE"))
    order_capture: Literal["charge", "authorise"] = Field(
        "charge", validation_alias=AliasChoices("HL365_ORDER_CAPTURE")
    )
    master_key: SecretStr | None = _alias("HL365_MASTER_KEY")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, LocalSettingsSource(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        """An app setting left empty in the portal or the settings file means "not set"."""
        if isinstance(values, dict):
            return {k: v for k, v in values.items() if not (isinstance(v, str) and not v.strip())}
        return values

    @field_validator("merchant_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Chicago)") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an absolute URL (e.g. https://hl365-prod.azurewebsites.net)")
        return value

    @field_validator("order_capture", mode="before")
    @classmethod
    def _capture_spelling(cls, value: Any) -> Any:
        return "authorise" if isinstance(value, str) and value.strip().lower() == "authorize" else value

    @model_validator(mode="after")
    def _backends_configured(self) -> Settings:
        if self.storage == "azure" and not (self.storage_connection or self.table_service_uri):
            raise ValueError(
                "HL365_STORAGE=azure needs AzureWebJobsStorage (connection string) "
                "or AzureWebJobsStorage__tableServiceUri (managed identity)"
            )
        if self.bus == "servicebus" and not (self.servicebus_connection or self.servicebus_namespace):
            raise ValueError(
                "HL365_BUS=servicebus needs ServiceBusConnection (connection string) "
                "or ServiceBusConnection__fullyQualifiedNamespace (managed identity)"
            )
        outside_sandbox = self.storage == "azure" or self.bus == "servicebus"
        key = self.audit_key.get_secret_value()
        if outside_sandbox and (key == SANDBOX_AUDIT_KEY.get_secret_value() or len(key) < 32):
            raise ValueError(
                "HL365_AUDIT_KEY must be set to a random secret of 32 characters or more (from Key Vault) when "
                "HL365_STORAGE=azure or HL365_BUS=servicebus: a missing or short key would make the audit "
                "chain forgeable"
            )
        return self

    def app_settings(self) -> dict[str, str]:
        """Every set value under its app-setting name, for binding expressions such as ``%HL365_EOD_SCHEDULE%``."""
        values: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            alias = field.validation_alias
            if value is not None and isinstance(alias, AliasChoices):
                text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                values[str(alias.choices[0])] = text
        return values

    def require(self, name: str) -> Any:
        """A setting the caller cannot work without; the error names the app setting to set."""
        value = getattr(self, name)
        if value is None:
            alias = type(self).model_fields[name].validation_alias
            setting = alias.choices[0] if isinstance(alias, AliasChoices) else name
            raise ConfigError(f"app setting {setting} is required here and is not set")
        return value.get_secret_value() if isinstance(value, SecretStr) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded on first use and then shared."""
    try:
        return Settings()
    except ValueError as exc:
        raise ConfigError(f"invalid app settings: {exc}") from exc
