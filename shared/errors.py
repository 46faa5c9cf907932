"""The error root of hl365: every failure is either worth retrying or needs a person."""

from __future__ import annotations


class IntegrationError(Exception):
    """A failure with a short machine-readable ``reason`` and a ``description`` a person can act on."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason = reason
        self.description = description


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
