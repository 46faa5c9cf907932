"""Observability for the queue pipeline: one counter per stage, JSON logs that carry the correlation
id from intake to post, and OpenTelemetry to Application Insights only when a connection string is set.

This module imports nothing from ``shared`` so that any module, the HTTP client included, can count
and log through it without an import cycle. Without ``configure(...)`` and without a MeterProvider,
the counter is the OpenTelemetry API's no-op: nothing is sent anywhere and nothing extra is loaded.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import metrics

from shared.security.pan import redact

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, MeterProvider

STAGES = ("received", "duplicate", "posted", "retried", "dead_lettered", "throttled")
"""What can happen to a message; one counter with a ``stage`` attribute keeps dashboards to one query."""

METER_NAME = "hl365"
COUNTER_NAME = "hl365.messages"
LOGGER_NAME = "hl365"
"""The logger hierarchy whose records carry the correlation id and go to Application Insights."""

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("hl365_correlation_id", default=None)
_lock = threading.Lock()
_configure_lock = threading.Lock()
_provider: MeterProvider | None = None
_counter: Counter | None = None
_configured: bool | None = None


def use_meter_provider(provider: MeterProvider | None) -> None:
    """Send ``count`` to ``provider`` instead of the global one; ``None`` goes back to the global one.

    The global MeterProvider can be set only once per process, so tests inject their own
    (an SDK provider with an ``InMemoryMetricReader``) here and restore with ``None`` afterwards.
    """
    global _provider, _counter
    with _lock:
        _provider = provider
        _counter = None


def _messages() -> Counter:
    global _counter
    counter = _counter
    if counter is None:
        with _lock:
            if _counter is None:
                # The global meter is a proxy until a provider is set, so a counter made before
                # configure() still reaches Application Insights once configure() has run.
                meter = _provider.get_meter(METER_NAME) if _provider is not None else metrics.get_meter(METER_NAME)
                _counter = meter.create_counter(COUNTER_NAME, unit="1",
                                                description="Messages through the pipeline, by stage and flow")
            counter = _counter
    return counter


def count(stage: str, n: int = 1, *, flow: str, **attributes: str) -> None:
    """Add ``n`` to ``hl365.messages`` with the attributes ``stage``, ``flow`` and ``attributes``.

    Keep attribute values low in cardinality (a target, a message type): never an id or an amount.

    :raises ValueError: ``stage`` is not one of ``STAGES``, or ``n`` is negative (a counter only grows,
        and the SDK would drop the value with nothing but a warning).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    if n < 0:
        raise ValueError(f"count for stage {stage!r} must not be negative, got {n}")
    _messages().add(n, {**attributes, "stage": stage, "flow": flow})


def correlated(correlation_id: str | None) -> contextlib.AbstractContextManager[None]:
    """Tag every log record made inside the block (in this thread or task) with ``correlation_id``.

    A context variable rather than a logger adapter, so code several calls down logs with the id
    without being handed it. ``None`` clears an outer id for the block.
    """
    return _correlated(correlation_id)


@contextlib.contextmanager
def _correlated(correlation_id: str | None) -> Iterator[None]:
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


def current_correlation_id() -> str | None:
    return _correlation.get()


class CorrelationFilter(logging.Filter):
    """Copy the current correlation id onto each record, so any handler (the OpenTelemetry one
    included, which exports record attributes as custom dimensions) sees it; an ``extra=`` id wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = _correlation.get()
        return True


class RedactingFilter(logging.Filter):
    """Mask card numbers and SSNs in each record's message before any handler writes or exports it: a message
    built from an upstream error text or an id must not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:  # the traceback's text, formatted once, masked for all
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_RESERVED = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "correlation_id",
}


def _serialisable(value: object) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log search without parsing free text.

    Fields: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``correlation_id`` when
    there is one, then the ``extra=`` fields that JSON can hold (others are left out rather than
    failing the record), ``exception`` and ``stack`` as text. The correlation id falls back to the
    context variable, so a handler using this formatter needs no ``CorrelationFilter``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is None:
            correlation_id = _correlation.get()
        if correlation_id is not None:
            entry["correlation_id"] = correlation_id
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in entry and _serialisable(value):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry).decode()


def _install_correlation_filter() -> None:
    # A logger's filters see only records made on that very logger, not those propagated from
    # hl365.* children, so the filter goes on the handlers that receive the hierarchy's records.
    hl365 = logging.getLogger(LOGGER_NAME)
    targets: list[logging.Filterer] = [hl365, *hl365.handlers, *logging.getLogger().handlers]
    for target in targets:
        if not any(isinstance(f, CorrelationFilter) for f in target.filters):
            target.addFilter(CorrelationFilter())
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


def configure(connection_string: str | None, *, service_name: str = "hl365") -> bool:
    """Wire logs and telemetry once per process; returns whether Application Insights is on.

    Every call puts a ``CorrelationFilter`` on the ``hl365`` logger and on the handlers of it and
    of the root logger (so handlers added since an earlier call get it too). The first call with a
    truthy ``connection_string`` loads the Azure Monitor distro, which sets the global providers so
    that traces, the ``hl365.*`` logs and the ``hl365.messages`` counter reach Application Insights.
    With a falsy one nothing from ``azure.monitor`` is imported. Later calls return the first
    call's answer: the global providers cannot be replaced once set.
    """
    global _configured
    with _configure_lock:
        if _configured is None:
            if connection_string:
                from azure.monitor.opentelemetry import configure_azure_monitor
                from opentelemetry.sdk.resources import SERVICE_NAME, Resource

                configure_azure_monitor(
                    connection_string=connection_string,
                    # Our hierarchy only: third-party request logs are noise and may carry headers.
                    logger_name=LOGGER_NAME,
                    resource=Resource.create({SERVICE_NAME: service_name}),
                )
                _configured = True
            else:
                _configured = False
        _install_correlation_filter()
        return _configured
