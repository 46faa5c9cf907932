"""The ``hl365`` console script, run as a user runs it."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.storage.audit import AuditTrail, chain_partition
from shared.storage.entities import Entity
from shared.storage.sqlite import SqliteTableStore

ROOT = Path(__file__).parents[2]
HL365 = str(Path(sys.executable).with_name("hl365"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False)


def bare_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "COLUMNS": "200",
            "HL365_SETTINGS_FILE": "/nonexistent/local.settings.json", **extra}


def test_function_app_imports_with_no_settings_at_all() -> None:
    result = run(sys.executable, "-c", "import function_app; print(len(function_app.app.get_functions()))",
                 env=bare_env())
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 3


def test_functions_lists_http_queue_and_timer_triggers() -> None:
    result = run(HL365, "functions", env=bare_env())
    assert result.returncode == 0, result.stderr
    for expected in ("gp_webhook", "httpTrigger", "POST /api/webhooks/gp (ANONYMOUS)", "payments_post",
                     "serviceBusTrigger", "queue payments-post", "audit_verify", "timerTrigger", "0 30 2 * * *"):
        assert expected in result.stdout


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["functions"], ["run-timer"], ["audit", "verify"], ["demo"]):
        result = run(HL365, *command, "--help", env=bare_env())
        assert result.returncode == 0 and "Usage" in result.stdout, command


AUDITED = date(2026, 11, 20)
CHAIN = 3


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    trail = AuditTrail(store.table("AuditLog"), key=b"cli-key", clock=lambda: datetime(2026, 11, 20, 9, tzinfo=UTC),
                       shard=lambda: CHAIN)
    for n in range(4):
        trail.record(step="intake.gp", event_id=f"e{n}", correlation_id="c", outcome="accepted")
    trail.record(step="post.payment", event_id="e1", correlation_id="c", outcome="posted")
    store.close()
    return tmp_path


def test_audit_verify_passes_an_intact_day(data_dir: Path) -> None:
    result = run(HL365, "audit", "verify", "--date", "2026-11-20",
                 env=bare_env(HL365_DATA_DIR=str(data_dir), HL365_AUDIT_KEY="cli-key"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ("audit trail 2026-11-20: 1 chain(s) checked, 5 records, OK, nothing "
                                     "edited, inserted or deleted")


def test_audit_verify_fails_and_names_each_break_with_its_chain(data_dir: Path) -> None:
    store = SqliteTableStore(data_dir / "tables.sqlite")
    table = store.table("AuditLog")
    chain = chain_partition(AUDITED, CHAIN)
    [first, second] = [r for r in table.query(chain) if r.get("EventId") == "e1"]
    table.upsert(Entity(first.partition_key, first.row_key, {**first.data, "Outcome": "rejected"}))
    table.delete(second.partition_key, second.row_key)
    store.close()
    result = run(HL365, "audit", "verify", "--date", "2026-11-20",
                 env=bare_env(HL365_DATA_DIR=str(data_dir), HL365_AUDIT_KEY="cli-key"))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"record {chain}/{first.row_key}: edited (its content does not match its MAC)"
    assert lines[1].startswith(f"record {chain}/{second.row_key}: deleted")
    assert lines[2].startswith("audit trail 2026-11-20: ") and lines[2].endswith(
        "chain(s) checked, 4 records, 2 break(s), each named above")


def test_audit_verify_with_the_wrong_key_fails(data_dir: Path) -> None:
    result = run(HL365, "audit", "verify", "--date", "2026-11-20",
                 env=bare_env(HL365_DATA_DIR=str(data_dir), HL365_AUDIT_KEY="another-key"))
    assert result.returncode == 1


def test_run_timer_runs_the_audit_check_and_refuses_unknown_names(tmp_path: Path) -> None:
    env = bare_env(HL365_DATA_DIR=str(tmp_path))
    assert run(HL365, "run-timer", "audit_verify", env=env).returncode == 0
    unknown = run(HL365, "run-timer", "nope", env=env)
    assert unknown.returncode == 2 and "audit_verify" in unknown.stdout


@pytest.mark.parametrize("name", ["retail", "gp", "fo", "bc"])
def test_sim_runs_one_simulator_as_a_process(name: str, tmp_path: Path) -> None:
    import socket
    import ssl
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    snapshot = tmp_path / "state.json"
    process = subprocess.Popen([HL365, "sim", name, "--port", str(port), "--state", str(snapshot)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=bare_env(), cwd=tmp_path)
    # Dynamics and its Entra tenant answer over HTTPS, trusting the authority the command writes beside it.
    ca = tmp_path / ".hl365" / "tls" / "ca.pem"
    url = f"{'https' if name in ('fo', 'bc') else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, f"hl365 sim {name} did not answer within 30 s"
            try:
                verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else True
                state = httpx.get(f"{url}/_sim/state", timeout=1, verify=verify)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert state.status_code == 200 and isinstance(state.json(), dict)
        assert httpx.post(f"{url}/_sim/snapshot", timeout=5, verify=verify).status_code == 200
        assert snapshot.is_file() and snapshot.stat().st_size > 2
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sim_refuses_an_unknown_name() -> None:
    result = run(HL365, "sim", "sap", env=bare_env())
    assert result.returncode == 2 and "retail, gp, fo, bc" in result.stdout


def test_tokens_set_stores_the_token_a_customer_is_charged_with(tmp_path: Path) -> None:
    result = run(HL365, "tokens", "set", "--customer", "US-001", "--token", "PMT_clitoken0001", "--erp", "fo",
                 "--company", "USMF", env=bare_env(HL365_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "…0001 stored for customer US-001 (fo usmf)" in result.stdout
    store = SqliteTableStore(tmp_path / "tables.sqlite")
    row = store.table("CrossReference").get("token-fo-usmf", "US-001")
    store.close()
    assert row is not None and row["Token"] == "PMT_clitoken0001"


def test_tokens_set_refuses_a_card_number_and_a_missing_company(tmp_path: Path) -> None:
    env = bare_env(HL365_DATA_DIR=str(tmp_path))
    refused = run(HL365, "tokens", "set", "--customer", "US-001", "--token", "4111111111111111", "--company", "usmf",
                  env=env)
    assert refused.returncode == 2 and "card number" in refused.stdout
    assert "4111111111111111" not in refused.stdout + refused.stderr
    no_company = run(HL365, "tokens", "set", "--customer", "US-001", "--token", "PMT_x1234", env=env)
    assert no_company.returncode == 2 and "D365_LEGAL_ENTITY" in no_company.stdout and "--company" in no_company.stdout


def test_subscriptions_ensure_explains_what_it_needs(tmp_path: Path) -> None:
    skipped = run(HL365, "subscriptions", "ensure", env=bare_env(HL365_DATA_DIR=str(tmp_path)))
    assert skipped.returncode == 0 and "D365_TARGET is not bc" in skipped.stdout
    unconfigured = run(HL365, "subscriptions", "ensure", env=bare_env(HL365_DATA_DIR=str(tmp_path), D365_TARGET="bc"))
    assert unconfigured.returncode == 1 and "HL365_PUBLIC_URL" in unconfigured.stdout


def test_order_commands_have_help() -> None:
    for command in (["tokens"], ["tokens", "set"], ["subscriptions"], ["subscriptions", "ensure"]):
        result = run(HL365, *command, "--help", env=bare_env())
        assert result.returncode == 0 and "Usage" in result.stdout, command
