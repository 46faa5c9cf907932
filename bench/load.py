"""A keep-alive HTTP/1.1 load generator on raw asyncio streams, light enough not to be the bottleneck."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence


def request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _connection(port: int, requests: Sequence[bytes], statuses: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            writer.write(raw)
            status_line = await reader.readline()
            statuses[int(status_line.split()[1])] += 1
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
    finally:
        writer.close()


async def _run(port: int, requests: Sequence[bytes], connections: int) -> tuple[float, Counter[int]]:
    statuses: Counter[int] = Counter()
    shares = [requests[i::connections] for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, share, statuses) for share in shares))
    return time.perf_counter() - started, statuses


def run(port: int, requests: Sequence[bytes], *, connections: int = 16) -> tuple[float, Counter[int]]:
    """Send every request once, spread over ``connections``; returns elapsed seconds and status counts."""
    return asyncio.run(_run(port, requests, connections))
