"""One HTTP client for every API hl365 calls: explicit timeouts and limits, a data-driven error
policy, jittered exponential backoff honouring ``Retry-After``, and an idempotency key set once
before the retry loop, so every retry of a write carries the same key.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from shared.errors import ApiError, PermanentApiError, TransientApiError, UncertainOutcome
from shared.ops import telemetry
from shared.security.pan import redact

log = logging.getLogger("hl365.http")


class Action(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REFRESH_TOKEN_THEN_RETRY = "refresh_token_then_retry"  # noqa: S105
    FAIL = "fail"


DEFAULT_POLICY: Mapping[int, Action] = {
    401: Action.REFRESH_TOKEN_THEN_RETRY,
    408: Action.RETRY,
    429: Action.RATE_LIMITED,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}
"""Status → action; anything not named is SUCCESS below 400 and FAIL from 400. Clients override
entries (F&O answers validation failures with 500, which must FAIL, not RETRY)."""

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GATEWAY_STATUSES = frozenset({502, 504})
"""A proxy's timeout or bad gateway: the service behind it may have applied the write."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying in-process before the caller reschedules the message."""

    max_attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: Callable[[float], float] = field(default=lambda d: random.uniform(d / 2, d))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Backoff before attempt ``attempt + 1``: jittered exponential, raised to a server's Retry-After."""
        backoff = self.jitter(min(self.initial_delay * 2 ** (attempt - 1), self.max_delay))
        if retry_after is not None and retry_after <= self.max_retry_after:
            return max(backoff, retry_after)
        return backoff


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds, in either of its forms (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ApiClient:
    """A thin wrapper over ``httpx.Client`` that turns every failure into an ``ApiError`` subclass.

    Args:
        source: names the API in errors and logs (``"gp"``, ``"fo"``).
        base_url: the API root.
        auth: returns the headers that authenticate a request; called with ``refresh=True`` after a 401.
        policy: status → action overrides, merged over ``DEFAULT_POLICY``.
        describe_error: extracts a readable message from an error response body.
        classify: decides from the body where the status alone cannot (None defers to the table).
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        auth: Callable[[bool], Mapping[str, str]] | None = None,
        policy: Mapping[int, Action] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        headers: Mapping[str, str] | None = None,
        describe_error: Callable[[httpx.Response], str] | None = None,
        classify: Callable[[httpx.Response], Action | None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self._auth = auth
        self._policy = {**DEFAULT_POLICY, **(policy or {})}
        self._retry = retry
        self._describe = describe_error or (lambda r: r.text[:2000])
        self._classify = classify
        self._sleep = sleep
        self.requests_sent = 0
        self._http = httpx.Client(base_url=base_url, timeout=timeout, limits=limits, headers=dict(headers or {}),
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotency_header: str | None = None,
        idempotency_key: str | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; returns a successful response or raises an ``ApiError`` subclass.

        ``read_only`` marks a POST that changes nothing (a ``$batch`` of GETs): a lost answer is retried.

        Raises:
            TransientApiError: retries ran out on throttling, 5xx or a connection that never got through.
            UncertainOutcome: a write timed out or lost its response; it may have been applied.
            PermanentApiError: the API refused the request for a reason retrying cannot fix.
        """
        headers = dict(kwargs.pop("headers", None) or {})
        if idempotency_header and idempotency_key:
            headers.setdefault(idempotency_header, idempotency_key)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if self._auth is not None and not refreshed:
                headers.update(self._auth(False))
            try:
                self.requests_sent += 1
                response = self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                error = self._transport_error("GET" if read_only else method, url, exc)
                if attempt >= self._retry.max_attempts or isinstance(error, UncertainOutcome):
                    raise error from exc
                self._pause(attempt, None, f"{type(exc).__name__}")
                continue
            action = self._action(response)
            if read_only and response.status_code in GATEWAY_STATUSES and action is Action.FAIL:
                action = Action.RETRY  # a gateway gave up on a read: nothing was written, asking again is safe
            if action is Action.RATE_LIMITED:
                telemetry.count("throttled", flow=self.source)
            if action is Action.SUCCESS:
                return response
            if action is Action.REFRESH_TOKEN_THEN_RETRY and self._auth is not None and not refreshed:
                refreshed = True
                headers.update(self._auth(True))
                attempt -= 1
                continue
            error = self._status_error(response, action)
            if not read_only and method.upper() in WRITE_METHODS and response.status_code in GATEWAY_STATUSES:
                raise UncertainOutcome(error.reason, f"{method} {url}: the gateway answered "
                                       f"{response.status_code}; the write may have been applied",
                                       source=self.source, status=response.status_code, body=error.body)
            if isinstance(error, PermanentApiError) or attempt >= self._retry.max_attempts:
                raise error
            self._pause(attempt, retry_after_seconds(response), f"HTTP {response.status_code}")

    def _pause(self, attempt: int, retry_after: float | None, why: str) -> None:
        delay = self._retry.delay(attempt, retry_after)
        log.info("%s: %s; retrying in %.2f s (attempt %d)", self.source, why, delay, attempt + 1)
        self._sleep(delay)

    def _action(self, response: httpx.Response) -> Action:
        if self._classify is not None and response.status_code >= 400:
            decided = self._classify(response)
            if decided is not None:
                return decided
        status = response.status_code
        if status in self._policy:
            return self._policy[status]
        return Action.SUCCESS if status < 400 else Action.FAIL

    def _status_error(self, response: httpx.Response, action: Action) -> ApiError:
        message = redact(self._describe(response))
        request_id = (response.headers.get("request-id") or response.headers.get("x-request-id")
                      or response.headers.get("ms-request-id"))
        body = redact(response.text[:32_000])
        reason = f"HTTP{response.status_code}"
        details: dict[str, Any] = {"source": self.source, "status": response.status_code, "request_id": request_id,
                                   "body": body}
        if action in (Action.RETRY, Action.RATE_LIMITED):
            return TransientApiError(reason, message, **details)
        return PermanentApiError(reason, message, **details)

    def _transport_error(self, method: str, url: str, exc: httpx.TransportError) -> ApiError:
        sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        text = f"{method} {url}: {type(exc).__name__}: {redact(str(exc))}"
        if sent and method.upper() in WRITE_METHODS:
            return UncertainOutcome("ResponseLost", text, source=self.source)
        return TransientApiError("ConnectionFailed", text, source=self.source)
