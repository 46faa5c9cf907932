"""The GP API's error answers: ``error_code``, ``detailed_error_code`` and ``detailed_error_description``."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

ERRORS: Mapping[str, tuple[int, str]] = {
    "NOT_AUTHENTICATED": (401, "40001"),
    "ACTION_NOT_AUTHORIZED": (403, "40004"),
    "MANDATORY_DATA_MISSING": (400, "40005"),
    "RESOURCE_NOT_FOUND": (404, "40008"),
    "DUPLICATE_ACTION": (409, "40039"),
    "INVALID_TRANSACTION_ACTION": (400, "40042"),
    "INVALID_REQUEST_DATA": (400, "40213"),
    "SYSTEM_ERROR_DOWNSTREAM": (502, "50046"),
}
"""``error_code`` → (HTTP status, ``detailed_error_code``): the reference's mapping; 40004 (bad credentials,
403) and 40042 (invalid action) come from the GP SDKs' own tests."""


class GpError(Exception):
    """A GP API error answer; raised by the handlers and by the Python-side scenario API alike."""

    def __init__(self, error_code: str, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.status, self.detailed_error_code = ERRORS[error_code]

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "detailed_error_code": self.detailed_error_code,
                "detailed_error_description": self.description}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status)
