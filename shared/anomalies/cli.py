"""``hl365 anomalies IN.jsonl --out flags.jsonl [--locations FILE]``: the detector over a file of payments.

Exit codes: 0 no flag, 1 flags written, 2 the input or the locations file cannot be used. Malformed rows are
named (``FILE:LINE: reason``), counted and skipped; they do not stop the run.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from shared.anomalies.detector import PATTERNS, Location, LocationsError, detect, load_locations
from shared.anomalies.rows import Reader

PROGRESS_FROM = 8 * 1024 * 1024
"""Input bytes from which reading shows a progress bar."""


def _lines(handle: IO[bytes], advance: object) -> Iterator[bytes]:
    step = advance if callable(advance) else None
    for line in handle:
        if step is not None:
            step(len(line))
        yield line


def run(source: Path, out: Path, locations: Path | None = None) -> int:
    """Reads ``source``, writes one ``{"id", "pattern", "score", "reason"}`` line per flag to ``out``, prints
    the flags per pattern and the malformed rows; answers the exit code."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console(soft_wrap=True)
    places: dict[str, Location] = {}
    if locations is not None:
        try:
            places = load_locations(locations)
        except LocationsError as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            return 2
    reader = Reader(str(source))
    try:
        size = source.stat().st_size
        with source.open("rb") as handle:
            if size >= PROGRESS_FROM:
                with Progress(TextColumn("reading {task.description}"), BarColumn(), DownloadColumn(),
                              TimeElapsedColumn(), console=console, transient=True) as bar:
                    task = bar.add_task(source.name, total=size)
                    rows = list(reader.rows(_lines(handle, lambda n: bar.advance(task, n))))
            else:
                rows = list(reader.rows(handle))
    except OSError as exc:
        console.print(f"[red]{escape(str(source))}: cannot be read ({escape(exc.strerror or str(exc))})[/red]")
        return 2
    for problem in reader.problems:
        console.print(problem, markup=False, soft_wrap=True)
    if not rows and reader.malformed:
        console.print(f"[red]{escape(str(source))}: no usable row ({reader.malformed:,} malformed)[/red]")
        return 2
    with console.status(f"looking for anomalies in {len(rows):,} rows"):
        flags = detect(rows, places)
    out.parent.mkdir(parents=True, exist_ok=True)
    encode = msgspec.json.encode
    with out.open("wb") as sink:
        for flag in flags:
            sink.write(encode(flag) + b"\n")
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hl365 anomalies", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="JSON Lines of payments")
    parser.add_argument("--out", type=Path, required=True, help="where to write the flags, one a line")
    parser.add_argument("--locations", type=Path, default=None,
                        help='JSON {"CODE": {"metro": "CHI", "opens": "08:00", "closes": "21:00"}, '
                             '"ECOM": {"online": true}}')
    args = parser.parse_args(argv)
    return run(args.source, args.out, args.locations)
