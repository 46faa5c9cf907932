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
