"""Pipeline telemetry: the stage counter, correlated JSON logs, and the Application Insights switch.

Anything that sets OpenTelemetry's global providers runs in a subprocess: they can be set once per
process, and leaking them would change what every later test sees.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint, Sum

from shared.httpclient import ApiClient, RetryPolicy
from shared.ops import telemetry

ROOT = Path(__file__).parents[2]
NO_NETWORK_CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
)


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    metric_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[metric_reader])
    telemetry.use_meter_provider(provider)
    yield metric_reader
    telemetry.use_meter_provider(None)
    provider.shutdown()


def messages(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, Any], ...], int]:
    """``hl365.messages`` points as {sorted attributes: value}."""
    found: dict[tuple[tuple[str, Any], ...], int] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == "hl365.messages":
                    assert metric.unit == "1" and isinstance(metric.data, Sum) and metric.data.is_monotonic
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint)
                        found[tuple(sorted((point.attributes or {}).items()))] = int(point.value)
    return found


def test_count_adds_to_one_counter_tagged_by_stage_and_flow(reader: InMemoryMetricReader) -> None:
    telemetry.count("posted", 3, flow="payments")
    telemetry.count("duplicate", flow="payments", type="payment.captured")
    telemetry.count("posted", flow="settlement")

    assert messages(reader) == {
        (("flow", "payments"), ("stage", "posted")): 3,
        (("flow", "payments"), ("stage", "duplicate"), ("type", "payment.captured")): 1,
        (("flow", "settlement"), ("stage", "posted")): 1,
    }


def test_an_unknown_stage_or_a_negative_count_is_refused_and_not_recorded(reader: InMemoryMetricReader) -> None:
    with pytest.raises(ValueError, match=r"unknown stage 'sent'.*dead_lettered"):
        telemetry.count("sent", flow="payments")
    with pytest.raises(ValueError, match="must not be negative"):
        telemetry.count("retried", -1, flow="payments")
    assert messages(reader) == {}


def test_every_stage_of_the_issue_is_countable(reader: InMemoryMetricReader) -> None:
    for stage in ("received", "duplicate", "posted", "retried", "dead_lettered", "throttled"):
        telemetry.count(stage, flow="orders")
    assert {dict(attributes)["stage"] for attributes in messages(reader)} == set(telemetry.STAGES)


def test_a_429_seen_by_the_api_client_counts_as_throttled(reader: InMemoryMetricReader) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(503),
                    httpx.Response(429), httpx.Response(200)])
    api = ApiClient("fo", "http://api.test", transport=httpx.MockTransport(lambda _: next(answers)),
                    sleep=lambda _: None, retry=RetryPolicy(max_attempts=4, jitter=lambda d: d))
    try:
        assert api.request("GET", "/x").status_code == 200
    finally:
        api.close()
    assert messages(reader) == {(("flow", "fo"), ("stage", "throttled")): 2}


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """JSON logs of the ``hl365`` hierarchy, as a host handler would see them (filter on the handler)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(telemetry.JsonFormatter())
    handler.addFilter(telemetry.CorrelationFilter())
    logger = logging.getLogger("hl365")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_logs_inside_correlated_carry_the_correlation_id_and_outside_do_not(json_lines: io.StringIO) -> None:
    log = logging.getLogger("hl365.payments")
    with telemetry.correlated("abc"):
        log.info("claimed %s", "HPY-1")
        assert telemetry.current_correlation_id() == "abc"
        with telemetry.correlated("inner"):
            log.info("nested")
        log.info("posted")
    log.info("idle")

    first, nested, posted, idle = lines(json_lines)
    assert first["correlation_id"] == "abc" and first["message"] == "claimed HPY-1"
    assert first["logger"] == "hl365.payments" and first["level"] == "INFO"
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert first["time"].endswith("Z")
    assert nested["correlation_id"] == "inner" and posted["correlation_id"] == "abc"
    assert "correlation_id" not in idle
    assert telemetry.current_correlation_id() is None


def test_an_explicit_correlation_id_wins_and_extras_are_kept_when_json_can_hold_them(
        json_lines: io.StringIO) -> None:
    log = logging.getLogger("hl365.settlement")
    with telemetry.correlated("abc"):
        log.warning("batch closed", extra={"correlation_id": "x", "batch": "B-7", "lines": 12,
                                           "unprintable": object()})
    (entry,) = lines(json_lines)
    assert entry["correlation_id"] == "x"
    assert entry["batch"] == "B-7" and entry["lines"] == 12
    assert "unprintable" not in entry


def test_exceptions_are_one_line_of_json_with_the_traceback_as_text(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError("target refused")
    except RuntimeError:
        logging.getLogger("hl365.post").exception("posting failed")
    assert len(json_lines.getvalue().splitlines()) == 1
    (entry,) = lines(json_lines)
    assert entry["level"] == "ERROR" and entry["message"] == "posting failed"
    assert "Traceback" in entry["exception"] and "RuntimeError: target refused" in entry["exception"]


def test_the_formatter_alone_reads_the_correlation_id_for_handlers_without_the_filter() -> None:
    record = logging.LogRecord("hl365.orders", logging.INFO, __file__, 1, "queued", None, None)
    with telemetry.correlated("c-9"):
        assert json.loads(telemetry.JsonFormatter().format(record))["correlation_id"] == "c-9"


def run_python(code: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; the Azure Monitor exporter's offline files stay in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT),
               # No calls to Microsoft's statsbeat or settings endpoints from a test.
               APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true", APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED="true")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_without_a_connection_string_nothing_from_azure_monitor_is_loaded(tmp_path: Path) -> None:
    result = run_python("""
        import logging, sys
        logging.basicConfig(format="%(correlation_id)s|%(name)s|%(message)s")
        from shared.ops import telemetry
        assert telemetry.configure(None) is False
        assert telemetry.configure("") is False
        assert not [name for name in sys.modules if name.startswith("azure.monitor")], "azure.monitor imported"
        (handler,) = logging.getLogger().handlers
        assert sum(isinstance(f, telemetry.CorrelationFilter) for f in handler.filters) == 1
        with telemetry.correlated("abc"):
            logging.getLogger("hl365.flows.payments").warning("posted")
        logging.getLogger("hl365").warning("idle")
        telemetry.count("posted", flow="payments")
    """, tmp_path)
    assert result.stderr.splitlines() == ["abc|hl365.flows.payments|posted", "None|hl365|idle"]


def test_a_connection_string_turns_application_insights_on_without_blocking(tmp_path: Path) -> None:
    run_python(f"""
        from opentelemetry import _logs, metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from shared.ops import telemetry
        assert telemetry.configure({NO_NETWORK_CONNECTION_STRING!r}) is True
        assert telemetry.configure(None) is True
        assert isinstance(metrics.get_meter_provider(), MeterProvider)
        telemetry.count("posted", flow="payments")
        for provider in (metrics.get_meter_provider(), trace.get_tracer_provider(), _logs.get_logger_provider()):
            provider.shutdown()
    """, tmp_path)


def test_counts_and_correlated_logs_reach_application_insights(tmp_path: Path) -> None:
    """The exporter posts to a loopback ingestion endpoint standing in for Application Insights."""
    result = run_python("""
        import gzip, json, logging, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = []

        class Ingestion(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/track"):
                    received.extend(json.loads(body))
                answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/"

        from opentelemetry import _logs, metrics, trace
        from shared.ops import telemetry
        telemetry.configure(f"InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                            f"IngestionEndpoint={url};LiveEndpoint={url}", service_name="hl365-test")
        telemetry.count("dead_lettered", 2, flow="orders")
        with telemetry.correlated("corr-1"):
            logging.getLogger("hl365.orders").warning("dead-lettered %s", "ORD-1")
        logging.getLogger("azure.core").warning("not ours")
        for provider in (metrics.get_meter_provider(), trace.get_tracer_provider(), _logs.get_logger_provider()):
            provider.shutdown()
        # The server keeps answering until exit: live metrics may still post to it while shutting down.
        print(json.dumps(list(received)))
    """, tmp_path)
    items = json.loads(result.stdout.splitlines()[-1])
    counted = [(metric["value"], item["data"]["baseData"]["properties"])
               for item in items if item["data"]["baseType"] == "MetricData"
               for metric in item["data"]["baseData"]["metrics"] if metric["name"] == "hl365.messages"]
    assert counted == [(2, {"stage": "dead_lettered", "flow": "orders"})]
    logged = [item for item in items if item["data"]["baseType"] == "MessageData"]
    assert [entry["data"]["baseData"]["message"] for entry in logged] == ["dead-lettered ORD-1"]
    assert logged[0]["data"]["baseData"]["properties"]["correlation_id"] == "corr-1"
    assert logged[0]["tags"]["ai.cloud.role"] == "hl365-test"


@contextmanager
def redacted(name: str) -> Iterator[io.StringIO]:
    """What a handler with the redacting filter on logger ``name`` writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(telemetry.RedactingFilter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_a_card_number_or_an_ssn_in_a_message_is_masked_before_any_handler_writes_it() -> None:
    with redacted("hl365.employees") as stream:
        logging.getLogger("hl365.employees").warning("payroll refused %s: SSN %s, card %s", "E1001", "987-65-4320",
                                                     "4111 1111 1111 1111")
    written = stream.getvalue()
    assert "E1001" in written and "***-**-4320" in written and "411111******1111" in written
    assert "987-65-4320" not in written and "4111 1111 1111 1111" not in written


def test_a_traceback_that_quotes_an_ssn_is_masked_too() -> None:
    with redacted("hl365.employees") as stream:
        try:
            raise ValueError("payroll said: SSN 987-65-4320 is in use")
        except ValueError:
            logging.getLogger("hl365.employees").exception("add failed")
    written = stream.getvalue()
    assert "Traceback" in written and "***-**-4320" in written and "987-65-4320" not in written
