"""The Bicep in infra/ against the app it deploys.

The queues, their settings, the app settings, the secrets, the role assignments, the workbook and the
alert queries are each compared with what the code binds, sends, reads, logs and emits, so a renamed
queue, a new setting or a changed metric fails here before it fails in Azure. checkov scans the
templates offline from its own virtualenv (``.venv/tools/checkov``).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser
from pydantic import SecretStr

from sandbox.host import HostedFunction, index, load_app, read_host_json, resolve
from shared.dynamics import bc, fo
from shared.flows import pipeline
from shared.messaging.embedded import DEFAULT_QUEUE_OPTIONS
from shared.ops import telemetry
from shared.ops.alerts import Alert
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"

SECRETS = ("GP_APP_KEY", "D365_CLIENT_SECRET", "RETAIL_API_TOKEN", "HL365_AUDIT_KEY", "BC_WEBHOOK_CLIENT_STATE",
           "PORTICO_SECRET_API_KEY")
"""Settings that must come from Key Vault in Azure."""

ROLE_IDS = {
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
"""Built-in role definition ids (learn.microsoft.com, role-based-access-control/built-in-roles)."""

FLEX_DEPRECATED_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
                            "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
                            "WEBSITE_NODE_DEFAULT_VERSION", "WEBSITE_TIME_ZONE"}
"""App settings the Flex Consumption plan rejects or ignores (functions-app-settings, Flex deprecations)."""


# -- reading the templates --------------------------------------------------------------------------------------


@cache
def bicep(name: str) -> dict[str, Any]:
    """The pycep parse of ``infra/NAME`` (e.g. ``main.bicep``, ``modules/roles.bicep``)."""
    parsed: dict[str, Any] = BicepParser().parse(file_path=INFRA / name)
    return parsed


def key(name: str) -> str:
    """An object key as Bicep wrote it, without the quotes a quoted key keeps in the parse."""
    return name.strip("'")


def path_of(expression: Any) -> str:
    """``a.b.c`` for a property access (``functionApp.outputs.principalId``), the text of a plain reference."""
    if isinstance(expression, dict) and "operator" in expression:
        operator = expression["operator"]
        if operator["type"] == "property_accessor":
            operands = operator["operands"]
            return f"{path_of(operands['operand_1'])}.{path_of(operands['operand_2'])}"
    if isinstance(expression, str):
        return expression
    raise AssertionError(f"not a reference: {expression!r}")


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's declaration, inside its ``if (…)`` condition or ``for`` loop when it has one."""
    config: dict[str, Any] = resource["config"]
    return config["config"] if "condition" in config or "loop_type" in config else config


def variable(name: str, var: str) -> Any:
    return bicep(name)["variables"][var]["value"]


def app_settings() -> dict[str, Any]:
    return {key(k): v for k, v in variable("main.bicep", "appSettings").items()}


def bicep_queues() -> dict[str, dict[str, Any]]:
    return {q["name"]: q for q in variable("main.bicep", "queues")}


def iso_duration(text: str) -> timedelta:
    """An ISO 8601 duration as ARM writes them (``PT1M``, ``PT10M``, ``P14D``, ``P1DT2H``)."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    assert match and text not in ("P", "PT"), f"{text!r} is not an ISO 8601 duration"
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def timespan(text: str) -> timedelta:
    hours, minutes, seconds = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


# -- reading the app ------------------------------------------------------------------------------------------


@cache
def functions() -> tuple[HostedFunction, ...]:
    return tuple(index(load_app()))


def example_settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    return values


def bound_queues() -> set[str]:
    """Queues of every Service Bus trigger and output binding, binding expressions resolved as the host does."""
    names = set()
    for function in functions():
        for binding in function.function_json["bindings"]:
            if binding["type"] in ("serviceBusTrigger", "serviceBus") and "queueName" in binding:
                names.add(resolve(str(binding["queueName"]), example_settings()))
    return names


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def sent_queues() -> set[str]:
    """Queue names of every ``….bus.send(QUEUE, …)`` in the product code whose first argument is a module
    constant (``TRANSFORM_QUEUE``, ``payments.POST_QUEUE``); a variable there is a re-send to the queue a
    message came from (a retry, a replay), which a trigger already names."""
    names = set()
    for path in [*sorted((ROOT / "shared").rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]:
        module = None
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "send"):
                continue
            receiver = node.func.value
            if not (isinstance(receiver, ast.Attribute) and receiver.attr == "bus") or not node.args:
                continue
            module = module or importlib.import_module(_module_of(path))
            value: Any = module
            for part in ast.unparse(node.args[0]).split("."):
                value = getattr(value, part, None)
            if isinstance(value, str):
                names.add(value)
    return names


def swept_queues() -> set[str]:
    """The queues whose dead-letter sub-queues the sweep drains (each flow's ``QUEUES``)."""
    names: set[str] = set()
    for path in sorted((ROOT / "shared" / "flows").glob("*.py")):
        names.update(getattr(importlib.import_module(_module_of(path)), "QUEUES", ()))
    return names


def alert_kinds_raised() -> set[str]:
    """The ``kind`` of every ``Alert("kind", …)`` the product code raises."""
    kinds = set()
    for path in sorted((ROOT / "shared").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Alert"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                kinds.add(str(node.args[0].value))
    return kinds


# -- every template parses ------------------------------------------------------------------------------------

BICEP_FILES = sorted(str(p.relative_to(INFRA)) for p in INFRA.rglob("*.bicep"))


def test_infra_has_the_main_template_and_its_modules() -> None:
    assert "main.bicep" in BICEP_FILES
    referenced = {m["detail"]["path"] for m in bicep("main.bicep")["modules"].values()}
    missing = sorted(p for p in referenced if not (INFRA / p).is_file())
    assert not missing, f"main.bicep references modules that do not exist: {missing}"
    unused = sorted(set(BICEP_FILES) - referenced - {"main.bicep"})
    assert not unused, f"modules no template uses: {unused}"


@pytest.mark.parametrize("name", BICEP_FILES)
def test_bicep_file_parses(name: str) -> None:
    parsed = bicep(name)
    assert parsed.get("resources") or parsed.get("modules"), f"{name} declares no resource and no module"


def test_no_resource_hard_codes_a_region() -> None:
    regions = re.compile(r"^(east|west|north|south|central|uk|france|germany|japan|australia|canada|brazil)", re.I)
    for name in BICEP_FILES:
        for symbol, resource in bicep(name).get("resources", {}).items():
            location = body(resource).get("location")
            assert not (isinstance(location, str) and regions.match(location)), (
                f"{name}: {symbol} is pinned to {location}; take the location parameter")


# -- Service Bus ----------------------------------------------------------------------------------------------


def test_bicep_creates_exactly_the_queues_the_app_binds_sends_to_and_sweeps() -> None:
    sent = sent_queues()
    assert sent, "found no bus.send(...) with a queue constant; the scan no longer matches the code"
    expected = bound_queues() | sent | swept_queues()
    assert set(bicep_queues()) == expected, (
        f"missing in Bicep: {sorted(expected - set(bicep_queues()))}; "
        f"not used by the app: {sorted(set(bicep_queues()) - expected)}")


def test_servicebus_module_creates_one_queue_per_entry_of_main_list() -> None:
    main_params = bicep("main.bicep")["modules"]["serviceBus"]["config"]["params"]
    assert path_of(main_params["queues"]) == "queues"
    queue = bicep("modules/servicebus.bicep")["resources"]["queue"]["config"]
    assert queue["loop_type"]["detail"]["array_name"] == "queues"


@pytest.mark.parametrize("name", sorted(bicep_queues()))
def test_queue_settings_match_the_bus_semantics_the_code_relies_on(name: str) -> None:
    queue = bicep_queues()[name]
    # The embedded bus reproduces Service Bus with these options; Azure must behave the same way.
    assert iso_duration(queue["lockDuration"]) == DEFAULT_QUEUE_OPTIONS.lock_duration
    assert queue["maxDeliveryCount"] == DEFAULT_QUEUE_OPTIONS.max_delivery_count
    window = iso_duration(queue["duplicateDetectionHistoryTimeWindow"])
    assert window == DEFAULT_QUEUE_OPTIONS.duplicate_detection_window
    # A lock longer than 5 minutes is refused by Service Bus; the host renews a shorter one while a function runs.
    service_bus = read_host_json(str(ROOT / "host.json"))["extensions"]["serviceBus"]
    renewal = timespan(service_bus["maxAutoLockRenewalDuration"])
    assert iso_duration(queue["lockDuration"]) <= min(timedelta(minutes=5), renewal)
    # A rescheduled retry waits up to MAX_DELAY; it must not expire before it is due.
    assert iso_duration(queue["defaultMessageTimeToLive"]) > pipeline.MAX_DELAY * 2


def test_every_queue_dead_letters_expired_messages_and_drops_duplicates() -> None:
    properties = body(bicep("modules/servicebus.bicep")["resources"]["queue"])["properties"]
    assert properties["requiresDuplicateDetection"] is True
    assert properties["deadLetteringOnMessageExpiration"] is True
    # Duplicate detection keys on MessageId alone only when the queue is not partitioned.
    assert properties["enablePartitioning"] is False
    sessions = any(f.trigger.get("isSessionsEnabled") for f in functions() if f.kind == "serviceBusTrigger")
    assert properties["requiresSession"] is sessions, "a session queue refuses the app's messages without SessionId"


def test_namespace_tier_supports_duplicate_detection_and_accepts_only_entra_id() -> None:
    namespace = bicep("modules/servicebus.bicep")["resources"]["namespace"]["config"]
    assert namespace["sku"]["name"] in ("Standard", "Premium"), "Basic has no duplicate detection"
    assert namespace["properties"]["disableLocalAuth"] is True
    assert "ServiceBusConnection" not in app_settings(), "a connection string would bypass the managed identity"
    assert path_of(app_settings()["ServiceBusConnection__fullyQualifiedNamespace"]) == (
        "serviceBus.outputs.fullyQualifiedNamespace")


# -- app settings ---------------------------------------------------------------------------------------------


def optional_settings_in_readme() -> set[str]:
    text = (INFRA / "README.md").read_text()
    section = text.split("## Optional settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, flags=re.M))


def test_every_setting_the_app_reads_is_set_or_documented_as_optional() -> None:
    read = {str(field.validation_alias.choices[0]) for field in Settings.model_fields.values()  # type: ignore[union-attr]
            if field.validation_alias is not None}
    undocumented = sorted(read - set(app_settings()) - optional_settings_in_readme())
    assert not undocumented, (
        f"set these in main.bicep or list them in infra/README.md 'Optional settings': {undocumented}")
    both = sorted(set(app_settings()) & optional_settings_in_readme())
    assert not both, f"listed as optional in infra/README.md but set by main.bicep: {both}"


def test_every_binding_expression_names_a_setting_the_template_sets() -> None:
    expressions = {name for f in functions() for value in f.trigger.values() if isinstance(value, str)
                   for name in re.findall(r"%([A-Za-z0-9_]+)%", value)}
    assert expressions, "no %SETTING% binding expression found; the scan no longer matches the app"
    missing = sorted(expressions - set(app_settings()))
    assert not missing, f"the Functions host cannot index a trigger whose %SETTING% is unset: {missing}"


def test_the_app_runs_on_azure_storage_and_service_bus_with_identity_connections() -> None:
    settings = app_settings()
    assert settings["HL365_STORAGE"] == "azure" and settings["HL365_BUS"] == "servicebus"
    assert path_of(settings["AzureWebJobsStorage__accountName"]) == "storage.outputs.name"
    assert path_of(settings["AzureWebJobsStorage__tableServiceUri"]) == "storage.outputs.tableEndpoint"
    assert "AzureWebJobsStorage" not in settings, "a connection string there would need shared keys, which are off"
    storage = bicep("modules/storage.bicep")["resources"]["storage"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False


def test_no_app_setting_is_one_flex_consumption_rejects() -> None:
    site_settings = {s["name"] for s in bicep("modules/functionapp.bicep")["resources"]["site"]["config"]
                     ["properties"]["siteConfig"]["appSettings"]}
    assert not (set(app_settings()) | site_settings) & FLEX_DEPRECATED_SETTINGS


def test_function_app_is_flex_consumption_python_with_https_and_managed_identity() -> None:
    module = bicep("modules/functionapp.bicep")["resources"]
    assert module["plan"]["config"]["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    site = module["site"]["config"]
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "SystemAssigned"
    assert site["properties"]["httpsOnly"] is True
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer" and storage["authentication"]["type"] == "SystemAssignedIdentity"
    main = bicep("main.bicep")["modules"]["functionApp"]["config"]["params"]
    assert path_of(main["deploymentContainerUrl"]) == "storage.outputs.deploymentContainerUrl"


def test_webhook_url_the_app_registers_with_business_central_is_the_deployed_host() -> None:
    assert app_settings()["HL365_PUBLIC_URL"] == "https://${functionApp.outputs.defaultHostName}"


# -- secrets ----------------------------------------------------------------------------------------------------

KEY_VAULT_REFERENCE = re.compile(
    r"@Microsoft\.KeyVault\(VaultName=\$\{names\.keyVault\};SecretName=([a-z0-9-]{1,127})\)")


@pytest.mark.parametrize("setting", SECRETS)
def test_secret_is_a_key_vault_reference(setting: str) -> None:
    value = app_settings().get(setting)
    assert isinstance(value, str) and KEY_VAULT_REFERENCE.fullmatch(value), (
        f"{setting} must be @Microsoft.KeyVault(VaultName=...;SecretName=...), not {value!r}")
    vault = bicep("main.bicep")["modules"]["keyVault"]["config"]["params"]["keyVaultName"]
    assert path_of(vault) == "names.keyVault", "the references must name the vault main.bicep creates"


def test_secret_names_are_distinct_and_documented_for_the_operator() -> None:
    names = [KEY_VAULT_REFERENCE.fullmatch(app_settings()[s]).group(1) for s in SECRETS]  # type: ignore[union-attr]
    assert len(set(names)) == len(names)
    readme = (INFRA / "README.md").read_text()
    for name in names:
        assert f"--name {name} " in readme, f"infra/README.md does not show how to set {name}"


def test_every_secret_setting_the_template_sets_is_a_reference_not_a_value() -> None:
    for name, field in Settings.model_fields.items():
        alias = str(field.validation_alias.choices[0])  # type: ignore[union-attr]
        if field.annotation not in (SecretStr, SecretStr | None) or alias not in app_settings():
            continue
        value = app_settings()[alias]
        literal = isinstance(value, str) and "${" not in value
        assert not literal, f"{alias} ({name}) is a literal; use a Key Vault reference"


def test_no_secret_literal_appears_anywhere_in_infra() -> None:
    secret_aliases = {str(f.validation_alias.choices[0]) for f in Settings.model_fields.values()  # type: ignore[union-attr]
                      if f.annotation in (SecretStr, SecretStr | None)}
    local_secrets = {v for k, v in example_settings().items() if k in secret_aliases and len(v) >= 8}
    assert local_secrets, "found no local secret values to look for"
    patterns = [re.compile(p, re.I) for p in (r"AccountKey=", r"SharedAccessKey=", r"InstrumentationKey=",
                                              r"listKeys\(", r"password\s*[:=]\s*'(?!@Microsoft\.KeyVault\()[^']")]
    for path in sorted(p for p in INFRA.rglob("*") if p.is_file()):
        text = path.read_text()
        for secret in local_secrets:
            assert secret not in text, f"{path.relative_to(ROOT)} contains a secret value"
        for pattern in patterns:
            assert not pattern.search(text), f"{path.relative_to(ROOT)} matches {pattern.pattern}"
    for name in BICEP_FILES:
        parsed = bicep(name)
        for param, spec in parsed.get("parameters", {}).items():
            secure = any(d["type"] == "secure" for d in spec.get("decorators", []))
            assert not (secure and spec.get("default")), f"{name}: secure parameter {param} has a default"
        kinds = {r["type"] for r in parsed.get("resources", {}).values()}
        assert "Microsoft.KeyVault/vaults/secrets" not in kinds, f"{name} writes a secret; the operator sets them"


def test_key_vault_uses_rbac_and_keeps_deleted_secrets() -> None:
    properties = bicep("modules/keyvault.bicep")["resources"]["vault"]["config"]["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True and properties["enablePurgeProtection"] is True
    assert "accessPolicies" not in properties


# -- role assignments -----------------------------------------------------------------------------------------


def role_assignments() -> set[tuple[str, str]]:
    """(scope resource type, role definition id) of every role assignment in roles.bicep, for its principal."""
    roles_module = bicep("modules/roles.bicep")
    ids = variable("modules/roles.bicep", "roles")
    resources = roles_module["resources"]
    found = set()
    for symbol, resource in resources.items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = resource["config"]
        properties = config["properties"]
        assert properties["principalId"] == "principalId", f"{symbol} is not for the function app's identity"
        assert properties["principalType"] == "ServicePrincipal"
        definition = properties["roleDefinitionId"]["function"]["parameters"]
        role = path_of(definition["resource_name_1"])
        role_id = ids[role.split(".", 1)[1]] if role.startswith("roles.") else role
        found.add((resources[config["scope"]]["type"], role_id))
    return found


def test_roles_are_granted_to_the_function_app_identity() -> None:
    main = bicep("main.bicep")["modules"]
    assert path_of(main["roles"]["config"]["params"]["principalId"]) == "functionApp.outputs.principalId"
    output = bicep("modules/functionapp.bicep")["outputs"]["principalId"]["value"]
    assert path_of(output) == "site.identity.principalId"
    assert "roles" in main["settings"]["config"]["dependsOn"], (
        "the app settings (and their Key Vault references) must be written after the roles exist")


def test_role_assignments_cover_each_use_of_the_identity_and_nothing_more() -> None:
    settings = app_settings()
    needed = set()
    if sent_queues():
        needed.add(("Microsoft.ServiceBus/namespaces", ROLE_IDS["Azure Service Bus Data Sender"]))
    if bound_queues() or swept_queues():
        needed.add(("Microsoft.ServiceBus/namespaces", ROLE_IDS["Azure Service Bus Data Receiver"]))
    if settings.get("HL365_STORAGE") == "azure":
        needed.add(("Microsoft.Storage/storageAccounts", ROLE_IDS["Storage Table Data Contributor"]))
    deployment = bicep("modules/functionapp.bicep")["resources"]["site"]["config"]["properties"][
        "functionAppConfig"]["deployment"]["storage"]
    identity_deploys = deployment["authentication"]["type"] == "SystemAssignedIdentity"
    if "AzureWebJobsStorage__accountName" in settings or identity_deploys:
        needed.add(("Microsoft.Storage/storageAccounts", ROLE_IDS["Storage Blob Data Owner"]))
    if any(b["type"] == "blobTrigger" for f in functions() for b in f.function_json["bindings"]):
        # The blob trigger keeps its poison messages and receipts in queues of AzureWebJobsStorage.
        needed.add(("Microsoft.Storage/storageAccounts", ROLE_IDS["Storage Queue Data Contributor"]))
    if any(isinstance(v, str) and v.startswith("@Microsoft.KeyVault(") for v in settings.values()):
        needed.add(("Microsoft.KeyVault/vaults", ROLE_IDS["Key Vault Secrets User"]))
    insights = bicep("modules/monitoring.bicep")["resources"]["appInsights"]["config"]["properties"]
    if insights["DisableLocalAuth"] is True:
        assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
        needed.add(("Microsoft.Insights/components", ROLE_IDS["Monitoring Metrics Publisher"]))
    assert len(needed) == 7
    assert role_assignments() == needed


# -- monitoring: workbook and alerts read what the code emits ----------------------------------------------------


@cache
def emitted_metric() -> tuple[str, frozenset[str]]:
    """The counter's name and attribute keys, captured from a real ``telemetry.count`` call."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        telemetry.count("throttled", flow=fo.SOURCE)
        data = reader.get_metrics_data()
    finally:
        telemetry.use_meter_provider(None)
    assert data is not None
    metrics = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert len(metrics) == 1
    keys = frozenset(k for point in metrics[0].data.data_points for k in point.attributes)
    return metrics[0].name, keys


def workbook_queries() -> dict[str, str]:
    document = json.loads((MODULES / "workbook.json").read_text())
    return {item["content"]["title"]: item["content"]["query"] for item in document["items"] if item["type"] == 3}


def alert_rules() -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in variable("modules/alerts.bicep", "logRules")}


def alert_query(rule: str) -> str:
    query = alert_rules()[rule]["query"]
    while isinstance(query, dict):  # replace(…) around the query variable: follow it to the text
        query = query["function"]["parameters"]["original_string"]
    text = variable("modules/alerts.bicep", query)
    assert isinstance(text, str)
    return text


def test_metric_queries_use_the_counter_name_and_dimensions_the_code_emits() -> None:
    name, keys = emitted_metric()
    assert keys == {"stage", "flow"}
    queries = [q for q in workbook_queries().values() if "AppMetrics" in q] + [alert_query("erp-throttling")]
    assert len(queries) >= 3
    for query in queries:
        assert f'Name == "{name}"' in query
        for dimension in keys:
            assert f'Properties["{dimension}"]' in query
        for stage in re.findall(r'stage == "([a-z_]+)"', query):
            assert stage in telemetry.STAGES


def test_workbook_has_the_five_views_and_points_at_the_workspace() -> None:
    titles = " ".join(workbook_queries()).lower()
    for view in ("by flow and stage", "dead-lettered", "discrepancies", "throttled", "failed executions"):
        assert view in titles, f"the workbook has no view for {view!r}"
    params = bicep("modules/workbook.bicep")["resources"]["workbook"]["config"]["properties"]
    assert path_of(params["sourceId"]) == "workspaceId"
    serialized = params["serializedData"]["function"]["parameters"]
    assert serialized["original_string"]["function"]["parameters"]["file_path"] == "workbook.json"
    assert "__WORKSPACE_ID__" in (MODULES / "workbook.json").read_text()


def test_alerts_match_the_alert_lines_the_app_logs() -> None:
    raised = alert_kinds_raised()
    covered = {"dead-letters": ("dead_lettered", "settlement_failed"), "discrepancies": ("discrepancies",)}
    for rule, kinds in covered.items():
        query = alert_query(rule)
        for kind in kinds:
            assert kind in raised, f"the code no longer raises Alert({kind!r}, ...)"
            prefix = str(Alert(kind, "m").as_json()["text"]).removesuffix("m").rstrip()
            assert f'startswith "{prefix}"' in query, f"{rule} does not match the log line {prefix!r}"
    catch_all = alert_query("other-app-alerts")
    assert re.match(r"^hl365 [a-z_]+: ", str(Alert("card_data_rejected", "m").as_json()["text"]))
    assert "^hl365 [a-z_]+: " in catch_all


def test_throttling_alert_watches_the_erp_clients() -> None:
    query = alert_query("erp-throttling")
    assert f'flow in ("{fo.SOURCE}", "{bc.SOURCE}")' in query
    assert 'stage == "throttled"' in query


def test_day_not_closed_alert_watches_the_settlement_functions() -> None:
    query = alert_query("day-not-closed")
    names = set(re.findall(r"Functions\.([a-z_]+)'", query)) | set(
        re.findall(r'"([a-z_]+)"', query.split("OperationName in", 1)[1].split(")", 1)[0]))
    by_name = {f.name: f for f in functions()}
    assert names == {"eod_settlement", "settlement_run"}
    assert by_name["eod_settlement"].kind == "timerTrigger"
    assert by_name["settlement_run"].trigger.get("route") == "admin/settlement"
    rule = alert_rules()["day-not-closed"]
    assert iso_duration(rule["windowSize"]) >= timedelta(days=1, hours=23)


def test_every_alert_notifies_the_action_group() -> None:
    resources = bicep("modules/alerts.bicep")["resources"]
    log_alerts = body(resources["logAlerts"])["properties"]
    assert [path_of(a) for a in log_alerts["actions"]["actionGroups"]] == ["actionGroup.id"]
    metric_actions = resources["busDeadLetters"]["config"]["properties"]["actions"]
    assert [path_of(a["actionGroupId"]) for a in metric_actions] == ["actionGroup.id"]
    receivers = resources["actionGroup"]["config"]["properties"]["emailReceivers"]
    assert [path_of(r["emailAddress"]) for r in receivers] == ["alertEmail"]
    assert set(alert_rules()) == {"dead-letters", "discrepancies", "erp-throttling", "function-failures",
                                  "other-app-alerts", "day-not-closed"}


def test_diagnostic_settings_send_each_service_to_the_workspace() -> None:
    resources = bicep("modules/diagnostics.bicep")["resources"]
    scoped = {resources[body(r)["scope"]]["type"]: path_of(body(r)["properties"]["workspaceId"])
              for r in resources.values() if r["type"] == "Microsoft.Insights/diagnosticSettings"}
    for kind in ("Microsoft.ServiceBus/namespaces", "Microsoft.Storage/storageAccounts",
                 "Microsoft.Storage/storageAccounts/tableServices", "Microsoft.Storage/storageAccounts/blobServices",
                 "Microsoft.KeyVault/vaults", "Microsoft.Web/sites"):
        assert scoped.get(kind) == "workspaceId", f"no diagnostic setting for {kind}"
    assert path_of(bicep("modules/monitoring.bicep")["resources"]["appInsights"]["config"]["properties"][
        "WorkspaceResourceId"]) == "workspace.id"


# -- checkov ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV.relative_to(ROOT)} (its own virtualenv; see the Makefile)")
    done = subprocess.run([str(CHECKOV), "--skip-download", "--framework", "bicep", "-d", str(INFRA), "-o", "json"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert done.stdout, f"checkov printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {checkov_report['results'].get('parsing_errors')}"
    assert summary["resource_count"] > 0 and summary["passed"] > 0
    failed = [f"{c['check_id']} {c['check_name']} ({c['file_path']} {c['resource']})"
              for c in checkov_report["results"]["failed_checks"]]
    assert not failed, "checkov failed:\n" + "\n".join(failed)


def test_every_checkov_suppression_gives_its_reason(checkov_report: dict[str, Any]) -> None:
    for check in checkov_report["results"].get("skipped_checks", []):
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 8, f"{check['check_id']} in {check['file_path']} is skipped without a reason"
