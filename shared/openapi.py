"""The app's OpenAPI 3.1 document: every HTTP route with its auth, body and answers.

Kept as YAML beside this module so it reads as the contract it is; ``tests/test_openapi.py`` holds it to
the functions the app actually binds, and a property-based fuzzer holds the app to it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml

SOURCE = Path(__file__).with_name("openapi.yaml")


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return loaded


@cache
def document_json() -> bytes:
    return orjson.dumps(document())
