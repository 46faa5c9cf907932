import json
from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.settings import Settings, get_settings


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HL365_STORAGE", "HL365_BUS", "GP_APP_KEY", "HL365_DATA_DIR", "D365_TARGET", "AzureWebJobsStorage",
                 "HL365_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "local.settings.json"
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def write(path: Path, values: dict[str, str]) -> None:
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))


def test_defaults_run_embedded_with_no_settings_at_all(settings_file: Path) -> None:
    settings = Settings()
    assert (settings.storage, settings.bus, settings.d365_target) == ("sqlite", "sqlite", "embedded")
    assert settings.data_dir == Path(".hl365")


def test_local_settings_values_are_read(settings_file: Path) -> None:
    write(settings_file, {"GP_APP_KEY": "from-file", "HL365_DATA_DIR": "/tmp/x", "D365_TARGET": "bc"})
    settings = Settings()
    assert settings.require("gp_app_key") == "from-file"
    assert settings.data_dir == Path("/tmp/x")
    assert settings.d365_target == "bc"


def test_environment_wins_over_local_settings(settings_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(settings_file, {"GP_APP_KEY": "from-file"})
    monkeypatch.setenv("GP_APP_KEY", "from-env")
    assert Settings().require("gp_app_key") == "from-env"


def test_blank_values_mean_unset(settings_file: Path) -> None:
    write(settings_file, {"GP_APP_KEY": "", "APPLICATIONINSIGHTS_CONNECTION_STRING": " "})
    settings = Settings()
    assert settings.gp_app_key is None and settings.appinsights_connection_string is None


def test_missing_required_setting_names_the_app_setting(settings_file: Path) -> None:
    with pytest.raises(ConfigError, match="GP_APP_KEY is required"):
        Settings().require("gp_app_key")


def test_azure_storage_without_a_connection_is_refused(settings_file: Path) -> None:
    write(settings_file, {"HL365_STORAGE": "azure"})
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        get_settings()


@pytest.mark.parametrize("key", [None, "hl365-local-audit-key", "short"])
def test_outside_the_sandbox_the_audit_key_must_be_set_and_strong(settings_file: Path, key: str | None) -> None:
    values = {"HL365_BUS": "servicebus", "ServiceBusConnection__fullyQualifiedNamespace": "hl.servicebus.windows.net"}
    write(settings_file, values if key is None else {**values, "HL365_AUDIT_KEY": key})
    with pytest.raises(ConfigError, match="HL365_AUDIT_KEY must be set"):
        get_settings()
    write(settings_file, {**values, "HL365_AUDIT_KEY": "k" * 32})
    get_settings.cache_clear()
    assert get_settings().audit_key.get_secret_value() == "k" * 32


def test_invalid_value_names_the_setting(settings_file: Path) -> None:
    write(settings_file, {"HL365_BUS": "rabbit"})
    with pytest.raises(ConfigError, match="HL365_BUS"):
        get_settings()


def test_broken_settings_file_is_reported(settings_file: Path) -> None:
    settings_file.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Settings()


def test_loaded_once_and_shared(settings_file: Path) -> None:
    assert get_settings() is get_settings()


def test_secrets_do_not_show_in_repr(settings_file: Path) -> None:
    write(settings_file, {"GP_APP_KEY": "very-secret-key"})
    assert "very-secret-key" not in repr(Settings())


def test_example_settings_name_every_setting_the_app_reads() -> None:
    example = json.loads(Path(__file__).parents[1].joinpath("local.settings.example.json").read_text())["Values"]
    names = {choice for field in Settings.model_fields.values() for choice in field.validation_alias.choices}
    assert names - set(example) == set()
