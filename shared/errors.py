"""The error root of hl365: every failure is either worth retrying or needs a person."""

from __future__ import annotations

import re

_SEEN_BEFORE = re.compile(r"id=(?P<id>[A-Za-z0-9_\-]+)(?:,\s*status=(?P<status>[A-Z_]+))?")


class IntegrationError(Exception):
    """A failure with a short machine-readable ``reason`` and a ``description`` a person can act on."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


class ConfigError(IntegrationError):
    """A setting the running code needs is missing or invalid. Neither retried nor dead-lettered: a person
    sets it, and the work runs once it is set (a timer's next run, the sender's retry, a replay)."""

    def __init__(self, description: str) -> None:
        super().__init__("NotConfigured", description)


class RetriableError(IntegrationError):
    """Transient: the same message may succeed later (throttling, a timeout, a lease held elsewhere)."""


class FatalError(IntegrationError):
    """No retry can fix it: the message goes to DeadLetters at once with this reason."""


class ApiError(IntegrationError):
    """An HTTP API answered with an error; the body is kept redacted so it can be stored and logged."""

    def __init__(
        self,
        reason: str,
        description: str,
        *,
        source: str,
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(reason, description)
        self.source = source
        self.status = status
        self.request_id = request_id
        self.body = body


class TransientApiError(ApiError, RetriableError):
    """Throttling, a 5xx, a timeout before the request was sent: the same call may succeed later."""


class PermanentApiError(ApiError, FatalError):
    """Validation, authorisation or a missing resource: retrying the same call cannot help."""


class UncertainOutcome(ApiError, RetriableError):
    """A write may or may not have been applied (a timeout or a connection lost after sending):
    look the external key up in the target before writing again."""


class RequestRejected(FatalError):
    """A request hl365 will not act on, as it was sent: the sender must change it. Nothing was accepted."""

    def __init__(self, description: str) -> None:
        super().__init__(type(self).__name__, description)


class InvalidRequest(RequestRejected):
    """Malformed: not JSON, not the expected shape, a parameter out of range."""


class Unauthenticated(RequestRejected):
    """The signature, key or client state is missing or does not match."""


class NotFound(RequestRejected):
    """What the request names does not exist (a dead letter id)."""


class TooLarge(RequestRejected):
    """The body exceeds what the source may send."""


class UnsupportedMediaType(RequestRejected):
    """The body is not JSON."""


class Unprocessable(RequestRejected):
    """Well-formed but refused: card data, or not an event of the source's kind."""


class DuplicateAction(PermanentApiError):
    """The gateway (GP API) has seen this ``x-gp-idempotency`` key before: the action was already done, do not redo it.

    ``resource_id`` (and ``resource_status``) name what the first request made, when GP said so.
    """

    def __init__(self, description: str, *, idempotency_key: str | None, status: int | None, body: str | None,
                 request_id: str | None = None) -> None:
        super().__init__("DUPLICATE_ACTION", description, source="gp", status=status, body=body,
                         request_id=request_id)
        self.idempotency_key = idempotency_key
        found = _SEEN_BEFORE.search(description)
        self.resource_id = found.group("id") if found else None
        self.resource_status = found.group("status") if found else None
