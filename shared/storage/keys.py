"""Row-key hygiene: Table Storage refuses ``/ \\ # ?`` and control characters in keys."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")


def safe_key(value: str) -> str:
    """``value`` percent-encoded where Table Storage would refuse it; unchanged when already safe."""
    if not _UNSAFE.search(value):
        return value
    return quote(value, safe="".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "/\\#?%"))
