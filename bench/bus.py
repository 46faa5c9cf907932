"""The embedded bus beside plain SQLite doing the same writes: ``python -m bench.bus``.

The baseline is the floor of the bus's storage: the same rows inserted, read and deleted in the same
batches on a bare WAL database, without the peek-lock, duplicate detection and session rules.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.messaging.embedded import EmbeddedBus
from shared.messaging.messages import OutgoingMessage

BODY = b'{"type":"payment.captured"}' * 8


def _bus(path: Path, messages: int, batch: int) -> float:
    bus = EmbeddedBus(path)
    started = time.perf_counter()
    for start in range(0, messages, batch):
        bus.send("bench", [OutgoingMessage(BODY, f"m-{n}") for n in range(start, start + batch)])
    done = 0
    while done < messages:
        received = bus.receive("bench", max_messages=batch)
        with bus.together():
            for message in received:
                bus.complete(message)
        done += len(received)
    elapsed = time.perf_counter() - started
    bus.close()
    return messages / elapsed


def _bare(path: Path, messages: int, batch: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY, id TEXT, body BLOB)")
    started = time.perf_counter()
    for start in range(0, messages, batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO m (id, body) VALUES (?, ?)",
                               [(f"m-{n}", BODY) for n in range(start, start + batch)])
        connection.execute("COMMIT")
    while True:
        connection.execute("BEGIN IMMEDIATE")
        rows = connection.execute("SELECT seq, body FROM m ORDER BY seq LIMIT ?", (batch,)).fetchall()
        connection.executemany("DELETE FROM m WHERE seq = ?", [(row[0],) for row in rows])
        connection.execute("COMMIT")
        if not rows:
            break
    elapsed = time.perf_counter() - started
    connection.close()
    return messages / elapsed


def measure(messages: int = 20_000, batch: int = 100) -> dict[str, Any]:
    """Messages per second sent, received and completed, by the bus and by bare SQLite, in one process."""
    with tempfile.TemporaryDirectory() as tmp:
        bare = _bare(Path(tmp) / "bare.sqlite", messages, batch)
        bus = _bus(Path(tmp) / "bus.sqlite", messages, batch)
    return {"messages": messages, "batch": batch, "bus_per_s": round(bus), "bare_per_s": round(bare)}


if __name__ == "__main__":
    print(json.dumps(measure()))
