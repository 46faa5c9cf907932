"""Webhook signatures, verified against the exact raw bytes received and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def gp_signature(body: bytes, app_key: str) -> str:
    """GP API ``X-GP-Signature``: lowercase hex SHA-512 of the raw body followed by the app key (not an HMAC)."""
    return hashlib.sha512(body + app_key.encode()).hexdigest()


def verify_gp_signature(body: bytes, signature: str | None, app_key: str) -> bool:
    """True only when ``signature`` is the GP API signature of ``body``; a missing header is a mismatch."""
    if not signature:
        return False
    return hmac.compare_digest(signature.strip().lower().encode(), gp_signature(body, app_key).encode())
