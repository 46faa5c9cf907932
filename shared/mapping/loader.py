"""Loads the mapping YAML (safe loading only) and reports every problem with its file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.mapping.schema import MappingConfig


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class MappingError(Exception):
    """The mapping file has problems; ``problems`` lists each one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _lines(node: yaml.Node, path: tuple[str | int, ...], found: dict[tuple[str | int, ...], int]) -> None:
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, str(key.value)), found)
            found[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)


def read_text(path: Path) -> str | Problem:
    """A configuration file's text, or why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        return Problem(str(path), 0, "(file)", f"cannot read: {exc.strerror}")
    except UnicodeDecodeError as exc:
        return Problem(str(path), 0, "(file)", f"not UTF-8 text (byte {exc.start})")


def compose(text: str, name: str, what: str) -> tuple[dict[str, Any], yaml.Node] | Problem:
    """A configuration file as a mapping and its node tree (for lines), safe loading only; or its first problem.
    ``what`` says what the document must be, in the problem's words."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        return Problem(name, line, "(syntax)", str(exc.problem or exc))
    if not isinstance(document, dict) or node is None:
        return Problem(name, 1, "(document)", what)
    return document, node


def check(path: Path) -> tuple[MappingConfig | None, list[Problem]]:
    """Parse and validate; returns the mapping (None if invalid) and every problem found."""
    name = str(path)
    text = read_text(path)
    if isinstance(text, Problem):
        return None, [text]
    composed = compose(text, name, "the mapping must be a YAML mapping of sections")
    if isinstance(composed, Problem):
        return None, [composed]
    document, node = composed
    lines: dict[tuple[str | int, ...], int] = {}
    _lines(node, (), lines)
    try:
        return MappingConfig.model_validate(document), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(error["loc"])
            line = next((lines[location[:n]] for n in range(len(location), -1, -1) if location[:n] in lines), 1)
            field = ".".join(str(p) for p in location) or "(document)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required and missing"
            elif error["type"] == "extra_forbidden":
                message = "not a setting of this section (misspelt?)"
            problems.append(Problem(name, line, field, message))
        return None, sorted(problems, key=lambda p: (p.line, p.field))


def load(path: Path) -> MappingConfig:
    """The validated mapping.

    Raises:
        MappingError: listing every problem with file, line and field.
    """
    mapping, problems = check(path)
    if mapping is None:
        raise MappingError(problems)
    return mapping
