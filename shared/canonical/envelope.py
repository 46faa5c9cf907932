"""The message envelope every queue carries (DESIGN.md §4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Envelope(BaseModel):
    """One event on its way through the pipeline.

    ``idempotency_key`` doubles as the Service Bus ``MessageId`` so the bus drops a re-sent message,
    and ``correlation_id`` follows the event from intake to post.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    source: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    idempotency_key: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    attempt: int = Field(default=0, ge=0)
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def from_body(cls, body: bytes | str) -> Envelope:
        return cls.model_validate_json(body)
