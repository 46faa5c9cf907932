"""The Retail API's refusals: 422 with the field errors, 404, and the error body a client reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

ErrorBody = Callable[[str, Mapping[str, list[str]]], dict[str, Any]]


class Invalid(Exception):
    """A request the API refuses with 422; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, list[str]], message: str | None = None) -> None:
        first = next(iter(errors.items()), ("request", ["is invalid"]))
        super().__init__(message or f"Validation failed: {first[0]} {first[1][0]}")
        self.errors = {k: list(v) for k, v in errors.items()}
        self.message = message or str(self)


class NotFound(Exception):
    """An unknown id or path: 404."""


def default_error_body(message: str, errors: Mapping[str, list[str]]) -> dict[str, Any]:
    """The error shape a third-party client reads (``message`` and ``errors``); the reference marks it [?]."""
    return {"message": message, "errors": dict(errors)}
