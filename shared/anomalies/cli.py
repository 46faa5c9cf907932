"""``hl365 anomalies IN.jsonl --out flags.jsonl [--locations FILE]``: the detector over a file of payments.

The typer command in ``sandbox/cli.py`` parses the arguments and calls ``run``. Exit codes: 0 no flag, 1 flags
written, 2 the input, the locations file or the output cannot be used. Malformed rows are named
(``FILE:LINE: reason``), counted and skipped; they do not stop the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import msgspec

from shared.anomalies.detector import PATTERNS, Location, LocationsError, detect, load_locations
from shared.anomalies.rows import Reader

PROGRESS_FROM = 8 * 1024 * 1024
"""Input bytes from which reading shows a progress bar."""


def _lines(handle: IO[bytes], step: Callable[[int], object]) -> Iterator[bytes]:
    for line in handle:
        step(len(line))
        yield line


def _unwritable(out: Path) -> str | None:
    """Why ``out`` cannot take the flags, or ``None``: checked before the detector runs, so a typo in ``--out``
    costs no minutes of reading."""
    if out.is_dir():
        return "is a directory; give a file name such as flags.jsonl"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("ab"):
            pass
    except OSError as exc:
        return f"cannot be written ({exc.strerror or exc})"
    return None


def run(source: Path, out: Path, locations: Path | None = None) -> int:
    """Reads ``source``, writes one ``{"id", "pattern", "score", "reason"}`` line per flag to ``out``, prints
    the flags per pattern and the malformed rows; answers the exit code (0 no flag, 1 flags, 2 unusable)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console(soft_wrap=True)

    def fail(message: str) -> int:
        console.print(f"[red]{escape(message)}[/red]")
        return 2

    places: dict[str, Location] = {}
    if locations is not None:
        try:
            places = load_locations(locations)
        except LocationsError as exc:
            return fail(str(exc))
    reader = Reader(str(source))
    try:
        size = source.stat().st_size
        with source.open("rb") as handle:
            if size >= PROGRESS_FROM:
                with Progress(TextColumn("reading {task.description}"), BarColumn(), DownloadColumn(),
                              TimeElapsedColumn(), console=console, transient=True) as bar:
                    task = bar.add_task(escape(source.name), total=size)
                    rows = list(reader.rows(_lines(handle, lambda n: bar.advance(task, n))))
            else:
                rows = list(reader.rows(handle))
    except OSError as exc:
        return fail(f"{source}: cannot be read ({exc.strerror or exc})")
    for problem in reader.problems:
        console.print(problem, markup=False, soft_wrap=True)
    if not rows and reader.malformed:
        return fail(f"{source}: no usable row ({reader.malformed:,} malformed)")
    why = _unwritable(out)
    if why is not None:
        return fail(f"{out}: {why}")
    with console.status(f"looking for anomalies in {len(rows):,} rows"):
        flags = detect(rows, places)
    encode = msgspec.json.encode
    try:
        with out.open("wb") as sink:
            for flag in flags:
                sink.write(encode(flag) + b"\n")
    except OSError as exc:
        return fail(f"{out}: cannot be written ({exc.strerror or exc})")
    counts = Counter(f.pattern for f in flags)
    table = Table(title=f"{len(rows):,} rows, {len(flags):,} flags")
    table.add_column("pattern")
    table.add_column("flags", justify="right")
    for pattern in PATTERNS:
        table.add_row(pattern, f"{counts.get(pattern, 0):,}")
    console.print(table)
    console.print(reader.summary if reader.malformed else f"{source}: no malformed row", markup=False)
    console.print(f"flags in {out}", markup=False)
    return 1 if flags else 0
