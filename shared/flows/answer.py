"""What a core call tells an HTTP caller: one shape for every route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Answer:
    """What intake tells the sender: an HTTP status, a reason a person can act on, and headers."""

    status: int
    reason: str
    body: Mapping[str, object] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> bytes:
        return orjson.dumps({"status": self.status, "reason": self.reason, **self.body})
