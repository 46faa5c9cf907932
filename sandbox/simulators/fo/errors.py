"""F&O's error answers: the OData error body, and the HTTP 500 with the Infolog that a failed business rule or
posting gives (reference §1.6)."""

from __future__ import annotations

from typing import Any

from sandbox.simulators.fo.model import WRITE_EXCEPTION, EntitySpec

_STACK = ("   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.UpdateProcessor.{op}_Save("
          "ChangeOperationContext context)\r\n   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update."
          "ChangeInterceptor.{op}()")


class FoFailure(Exception):
    """An OData error answer: HTTP ``status`` with ``{"error": {"code", "message", "innererror"?}}``."""

    def __init__(self, status: int, message: str, *, inner: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(inner["message"] if inner else message)
        self.status = status
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": "", "message": self.message}
        if self.inner is not None:
            error["innererror"] = self.inner
        return {"error": error}


def write_failure(spec: EntitySpec, messages: list[str], *, op: str = "CreateEntity") -> FoFailure:
    """The 500 F&O answers when validateField/validateWrite/insert fails: the Infolog in ``innererror``."""
    text = f"Write failed for table row of type '{spec.entity}'. Infolog: " + "; ".join(messages) + "."
    return FoFailure(500, "An error has occurred.", inner={"message": text, "type": WRITE_EXCEPTION,
                                                            "stacktrace": _STACK.format(op=op)})


def action_failure(messages: list[str]) -> FoFailure:
    """The 500 of an X++ action that threw: the Infolog is all a caller gets."""
    return FoFailure(500, "An error has occurred.", inner={
        "message": "Infolog: " + "; ".join(messages) + ".", "type": "Microsoft.Dynamics.Ax.Xpp.ErrorException",
        "stacktrace": "   at Dynamics.AX.Application.LedgerJournalPost.run()"})


def bad_request(message: str) -> FoFailure:
    return FoFailure(400, message)


def not_found(what: str) -> FoFailure:
    return FoFailure(404, f"Resource not found for the segment '{what}'.")
