"""Ids shaped like the GP gateway's (``TRN_BHZ1whvNJnMv``): letters only, so no id can ever look like a card
number to a PAN scanner. The GP simulator, the Retail simulator's card tenders and the scenario generators
all draw their ids here."""

from __future__ import annotations

import hashlib
import random

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def random_id(rng: random.Random, prefix: str = "", n: int = 12) -> str:
    """``prefix`` and ``n`` letters drawn from ``rng``."""
    return prefix + "".join(rng.choice(LETTERS) for _ in range(n))


def derived_id(text: str, n: int, prefix: str = "") -> str:
    """``prefix`` and ``n`` letters derived from ``text`` (its SHA-256): the same text, the same id."""
    digest = hashlib.sha256(text.encode()).digest()
    return prefix + "".join(LETTERS[b % len(LETTERS)] for b in digest[:n])
