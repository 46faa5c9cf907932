"""Field mappings of ``mapping.yaml``'s ``fields`` section: source paths and the target records built from them.

A source path is dotted from the record's root, an array written ``[]`` (``lines[].sku``, ``tags[]``), keys
verbatim (``Emp #``); a path through an array yields a list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SOURCE_PATH = re.compile(r"^[^.\[\]]+(\[\])*(\.[^.\[\]]+(\[\])*)*$")
"""The path grammar: segments without dots or brackets, each optionally followed by ``[]``."""


def is_source_path(path: str) -> bool:
    return bool(SOURCE_PATH.match(path)) and all(part.strip() for part in path.replace("[]", "").split("."))


def is_path_key(key: str) -> bool:
    """Whether a record's key can be a segment of a source path: a key holding ``.``, ``[`` or ``]`` (or only
    blanks) cannot, since the grammar would read ``ship.zip`` as ``ship`` → ``zip``."""
    return bool(key.strip()) and not any(c in key for c in ".[]")


def source_of(rule: Any) -> str:
    """The source path of a ``fields`` rule: a person's plain path, ``{from, suggested}`` (as YAML or as the
    validated model); ``""`` for anything else."""
    if isinstance(rule, str):
        return rule
    found = rule.get("from") if isinstance(rule, Mapping) else getattr(rule, "source", None)
    return found if isinstance(found, str) else ""


def read_path(record: Any, path: str) -> tuple[bool, Any]:
    """The value at ``path`` and whether it was there; through an array, the list of what each element holds
    (elements without it left out)."""
    head, _, rest = path.partition(".")
    arrays = 0
    while head.endswith("[]"):
        head, arrays = head[:-2], arrays + 1
    if not isinstance(record, Mapping) or head not in record:
        return False, None
    value = record[head]
    if arrays == 0:
        return (True, value) if not rest else read_path(value, rest)
    items: list[Any] = value if isinstance(value, list) else []
    for _ in range(arrays - 1):
        items = [inner for item in items if isinstance(item, list) for inner in item]
    if not rest:
        return True, list(items)
    found = []
    for item in items:
        present, inner = read_path(item, rest)
        if present:
            found.extend(inner) if isinstance(inner, list) and "[]" in rest else found.append(inner)
    return True, found


def map_record(record: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, Any]:
    """The target record ``rules`` (target field → source path, or ``{from, suggested}``) make of ``record``;
    a target whose source is absent is left out, not sent empty."""
    target: dict[str, Any] = {}
    for name, rule in rules.items():
        present, value = read_path(record, source_of(rule))
        if present:
            target[name] = value
    return target
