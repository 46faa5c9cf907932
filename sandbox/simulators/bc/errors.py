"""The one exception the Business Central simulator raises for a refused request."""

from __future__ import annotations


class BcError(Exception):
    """Becomes ``{"error":{"code","message":"… CorrelationId: …"}}`` with ``status``, as BC answers."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def dialog(message: str) -> BcError:
    """An AL ``Error(...)`` raised by page or codeunit code: 400 ``Application_DialogException``."""
    return BcError(400, "Application_DialogException", message)


def not_found(what: str = "The requested resource") -> BcError:
    return BcError(404, "BadRequest_NotFound", f"{what} does not exist.")
