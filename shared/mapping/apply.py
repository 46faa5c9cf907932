"""``hl365 mapping apply``: accepted suggestions written into ``mapping.yaml``, the person's comments, order and
entries kept.

Field suggestions land under ``fields: {ENTITY: {TARGET_FIELD: {from: SOURCE_PATH, suggested: CONFIDENCE}}}``,
every one at or above the minimum confidence unless a person marked it ``"accepted": false``. Value entries (a
payment type, an earning code) land under their section, but only those a person marked ``"accepted": true``: an
entry names accounts, so a confidence alone never writes one. No entry already in the mapping is ever replaced,
neither a person's nor one applied earlier from a suggestion (a person may have corrected its ``from:``): it is
reported as kept, and deleting it lets the new suggestion in. The result is checked as ``hl365 config check``
would check it before anything is written: a file that would not validate is left as it was. A symlinked
mapping is written through to its target, which keeps its mode.
"""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from shared.mapping.fields import is_source_path, source_of
from shared.mapping.loader import check
from shared.mapping.suggest import plain

SECTION_WORDS = {"payment_types": "payment type", "tax_components": "tax component", "departments": "department",
                 "locations": "location", "status_alignment": "gateway status",
                 "payroll.codes.earning": "earning code", "payroll.codes.withholding": "withholding code",
                 "payroll.codes.deduction_pre_tax": "pre-tax deduction code",
                 "payroll.codes.deduction_post_tax": "post-tax deduction code",
                 "payroll.codes.employer_tax": "employer tax code",
                 "payroll.codes.employer_contribution": "employer contribution code",
                 "payroll.departments": "payroll department", "payroll.locations": "payroll location",
                 "catalog.inventory.locations": "stock location"}


class ApplyInputError(ValueError):
    """The suggestions or the mapping file cannot be read, or the mapping file cannot be written."""


@dataclass
class ApplyReport:
    """What ``apply`` did, in sentences a finance user reads."""

    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    not_accepted: list[str] = field(default_factory=list)
    """Entry suggestions left because no person marked them ``"accepted": true``."""
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False

    @property
    def changes(self) -> int:
        return len(self.added)

    @property
    def valid(self) -> bool:
        return not self.problems


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _is_field_suggestion(item: Mapping[str, Any]) -> bool:
    return all(isinstance(item.get(k), str) and item[k] for k in ("source_field", "target_field", "target_entity"))


def _is_entry_suggestion(item: Mapping[str, Any]) -> bool:
    return all(isinstance(item.get(k), str) and item[k] for k in ("section", "key")) and "entry" in item


def _confidence(item: Mapping[str, Any]) -> float | None:
    value = item.get("confidence")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None
    return float(value)


def apply(mapping_path: Path, suggestions: Sequence[Mapping[str, Any]], *, min_confidence: float = 0.5,
          dry_run: bool = False) -> ApplyReport:
    """Apply to ``mapping_path`` the field suggestions at or above ``min_confidence`` (except those marked
    ``"accepted": false``) and the entry suggestions a person marked ``"accepted": true``; never over an entry
    already there.

    Raises:
        ApplyInputError: the mapping file cannot be read, is not YAML, or cannot be written.
    """
    path = Path(mapping_path)
    yaml = _yaml()
    try:
        original = path.read_text(encoding="utf-8")
        document = yaml.load(original)
    except OSError as exc:
        raise ApplyInputError(f"cannot read {path}: {exc.strerror}") from None
    except YAMLError as exc:
        raise ApplyInputError(f"{path} is not YAML: {exc}") from None
    if not isinstance(document, CommentedMap):
        raise ApplyInputError(f"{path} is not a mapping of sections")
    report = ApplyReport(dry_run=dry_run)
    fields_wanted: list[tuple[float, Mapping[str, Any]]] = []
    for index, item in enumerate(suggestions):
        where = f"suggestion {index + 1}"
        if not isinstance(item, Mapping):
            report.skipped.append(f"{where}: not a suggestion object")
            continue
        confidence = _confidence(item)
        label = _label(item)
        if not (_is_field_suggestion(item) or _is_entry_suggestion(item)) or confidence is None:
            report.skipped.append(f"{where}: not a suggestion (needs source_field, target_field, target_entity "
                                  "and confidence, or section, key, entry and confidence)")
        elif item.get("accepted") is False:
            report.skipped.append(f"{label}: rejected by a person (accepted: false)")
        elif _is_entry_suggestion(item) and not _is_field_suggestion(item):
            if item.get("accepted") is True:
                _apply_entry(document, item, confidence, report)
            elif item.get("entry") is None:
                report.skipped.append(f"{label}: the suggester proposed no entry; a person must write it")
            else:
                report.not_accepted.append(f"{label}: not marked \"accepted\": true; an entry names accounts, so a "
                                           "person accepts it by name")
        elif confidence < min_confidence:
            report.skipped.append(f"{label}: confidence {confidence:.2f} is below the {min_confidence:.2f} minimum")
        elif not is_source_path(str(item["source_field"])):
            report.skipped.append(f"{label}: {item['source_field']!r} is not a source path")
        else:
            fields_wanted.append((confidence, item))
    _apply_fields(document, fields_wanted, report)
    if not report.changes:
        return report
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    try:
        report.problems = _problems_of(path, buffer.getvalue())
        if report.problems or dry_run:
            return report
        _replace(path, buffer.getvalue())
    except OSError as exc:
        raise ApplyInputError(f"cannot write {path}: {exc.strerror or exc}; it is unchanged") from None
    report.written = True
    return report


def _label(item: Mapping[str, Any]) -> str:
    if _is_field_suggestion(item):
        return f"{item['target_entity']}.{item['target_field']} ← {item['source_field']}"
    if _is_entry_suggestion(item):
        return f"{SECTION_WORDS.get(str(item['section']), str(item['section']))} {item['key']}"
    return "suggestion"


def _apply_fields(document: CommentedMap, wanted: list[tuple[float, Mapping[str, Any]]],
                  report: ApplyReport) -> None:
    """Best first: per entity and target field one suggestion, each source field used once per entity, and no
    target field that already has an entry touched."""
    wanted.sort(key=lambda x: -x[0])
    section = document.get("fields")
    now: set[tuple[str, str]] = set()
    used: dict[str, dict[str, str]] = {}
    """entity → source path → the target field it fills."""
    if isinstance(section, Mapping):
        for entity, rules in section.items():
            if isinstance(rules, Mapping):
                used[str(entity)] = {source_of(rule): str(name) for name, rule in rules.items() if source_of(rule)}
    for confidence, item in wanted:
        entity, target, source = str(item["target_entity"]), str(item["target_field"]), str(item["source_field"])
        label = f"{entity}.{target} ← {source}"
        rules = section.get(entity) if isinstance(section, Mapping) else None
        existing = rules.get(target) if isinstance(rules, Mapping) else None
        if (entity, target) in now:
            report.skipped.append(f"{label} ({confidence:.2f}): {source_of(existing)} fills it, a surer suggestion")
            continue
        taken = used.get(entity, {}).get(source)
        if taken is not None and taken != target:
            report.skipped.append(f"{label} ({confidence:.2f}): {source} already fills {entity}.{taken}")
            continue
        if existing is not None:
            report.kept.append(_kept(entity, target, existing, source, confidence))
            continue
        if section is None:
            section = CommentedMap()
            document["fields"] = section
            document.yaml_set_comment_before_after_key(
                "fields", before="\nfield mappings: entity -> field -> source path; {from, suggested} came from a "
                "suggestion")
        if not isinstance(section, CommentedMap):
            report.skipped.append(f"{label}: the fields section is not a mapping")
            continue
        rules = section.get(entity)
        if rules is None:
            rules = CommentedMap()
            section[entity] = rules
        entry = CommentedMap([("from", source), ("suggested", round(confidence, 2))])
        entry.fa.set_flow_style()
        report.added.append(f"{label} ({confidence:.2f})")
        rules[target] = entry
        now.add((entity, target))
        used.setdefault(entity, {})[source] = target


def _kept(entity: str, target: str, existing: Any, source: str, confidence: float) -> str:
    """Why an entry already in ``fields:`` stays: whoever wrote it, a person's word or an earlier suggestion a
    person may have corrected, the mapping holds it until a person deletes it."""
    before = source_of(existing) or _words(existing)
    origin = ("written by a person" if isinstance(existing, str)
              else "applied from an earlier suggestion, or corrected by a person since")
    if before == source:
        return f"{entity}.{target} ← {before}: {origin}, and the suggestion agrees"
    return (f"{entity}.{target} ← {before}: {origin}; the suggestion {source} ({confidence:.2f}) was not applied: "
            "delete it to take the new suggestion")


def _apply_entry(document: CommentedMap, item: Mapping[str, Any], confidence: float, report: ApplyReport) -> None:
    section_name, key, entry = str(item["section"]), str(item["key"]), item["entry"]
    label = _label(item)
    if entry is None:
        report.skipped.append(f"{label}: accepted, but it has no entry; write the entry in it, or in the mapping")
        return
    here: Any = document
    for part in section_name.split("."):
        here = here.get(part) if isinstance(here, Mapping) else None
    if not isinstance(here, CommentedMap):
        report.skipped.append(f"{label}: the mapping has no {section_name} section to add it to")
        return
    if key in here:
        report.kept.append(f"{label}: already mapped ({_words(here[key])}); left as it is")
        return
    like = item.get("like")
    model = here.get(like) if isinstance(like, str) else None
    node = copy.deepcopy(model) if model is not None and plain(model) == entry else _node(entry, here)
    here[key] = node
    like_words = f" like {like}" if isinstance(like, str) else ""
    report.added.append(f"{label}{like_words}: {_words(node)} ({confidence:.2f})")


def _node(entry: Any, siblings: CommentedMap) -> Any:
    """A new entry in the style of its section: inline like ``{method: AMEX, ...}`` when the others are."""
    if not isinstance(entry, Mapping):
        return entry
    node = CommentedMap((str(k), _node(v, CommentedMap()) if isinstance(v, Mapping) else v) for k, v in entry.items())
    inline = any(isinstance(v, CommentedMap) and v.fa.flow_style() for v in siblings.values())
    if inline:
        node.fa.set_flow_style()
    return node


def _words(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{str(k).replace('_', ' ')} {_words(v)}" for k, v in value.items())
    return str(value)


def _problems_of(path: Path, text: str) -> list[str]:
    """The problems ``hl365 config check`` would name in ``text``, with ``path``'s name and the lines of ``text``.
    Checked in a scratch directory of its own, so a dry run needs no right to write beside ``path``."""
    with tempfile.TemporaryDirectory(prefix="hl365-apply-") as folder:
        scratch = Path(folder) / path.name
        scratch.write_text(text, encoding="utf-8")
        _, problems = check(scratch)
        return [str(p).replace(str(scratch), str(path)) for p in problems]


def _replace(path: Path, text: str) -> None:
    """Written beside the file and renamed over it, so a crash leaves the old file or the new, never half. A
    symlink is followed (the link stays, its target gets the text), and the file keeps its mode.

    Raises:
        OSError: the file or its folder cannot be written; the file is unchanged.
    """
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, mode)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def read_suggestions(path: Path) -> list[dict[str, Any]]:
    """The suggestions file: a JSON list (``suggest-mapping --out``, ``dlq suggest``), or ``{"suggestions": [...]}``.

    Raises:
        ApplyInputError: unreadable, not JSON, or not a list of objects.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApplyInputError(f"cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApplyInputError(f"{path} is not JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("suggestions"), list):
        document = document["suggestions"]
    if isinstance(document, dict) and _is_entry_suggestion(document):
        document = [document]
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise ApplyInputError(f"{path} must hold a JSON list of suggestions")
    return document


def main_apply(suggestions_path: Path, mapping_path: Path, dry_run: bool, min_confidence: float) -> int:
    """``hl365 mapping apply SUGGESTIONS.json``: 0 applied or nothing to do, 1 the result would not validate
    (nothing written), 2 an input cannot be read or the mapping cannot be written."""
    from rich.console import Console
    from rich.markup import escape

    console, errors = Console(highlight=False), Console(stderr=True, highlight=False)
    if not 0 < min_confidence <= 1:
        errors.print(f"--min-confidence must be above 0 and at most 1, not {min_confidence}")
        return 2
    try:
        suggestions = read_suggestions(suggestions_path)
        report = apply(mapping_path, suggestions, min_confidence=min_confidence, dry_run=dry_run)
    except ApplyInputError as exc:
        errors.print(escape(str(exc)))
        return 2
    for title, lines, style in (("Added", report.added, "green"), ("Kept", report.kept, "cyan"),
                                ("Not accepted", report.not_accepted, "yellow"),
                                ("Skipped", report.skipped, "yellow")):
        if lines:
            console.print(f"[bold {style}]{title}[/bold {style}] ({len(lines)})")
            for line in lines:
                console.print(f"  {line}", markup=False)
            if lines is report.not_accepted:
                console.print(f'  to apply one, review it and add "accepted": true to it in {suggestions_path}',
                              markup=False)
    where = escape(str(mapping_path))
    if report.problems:
        errors.print(f"[bold red]Not written[/bold red]: {where} would not pass config check:")
        for problem in report.problems:
            errors.print(f"  {problem}", markup=False)
        return 1
    if not report.changes:
        console.print(f"Nothing to apply; {where} is unchanged.")
    elif dry_run:
        console.print(f"Dry run: {report.changes} change(s) would be written to {where}; it passes config check.")
    else:
        console.print(f"{report.changes} change(s) written to {where}; it passes config check.")
    return 0
