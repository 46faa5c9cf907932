"""What the Retail simulator tests share: the running simulator and its API client, and a small catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

import httpx

from sandbox.simulators.retail import DEFAULT_TOKEN, RetailSimulator

CST = timezone(timedelta(hours=-6))
Query = list[tuple[str, str | int | float | bool | None]]
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


@dataclass
class Running:
    sim: RetailSimulator
    api: httpx.Client
    root: str


def ids(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["results"]]


def catalogue(sim: RetailSimulator) -> dict[str, int]:
    """Four items whose prices sort differently as text and as numbers ("9.50" > "10.00" as text)."""
    made = {
        "mug": sim.add_item("Mug", price="9.50", department="Housewares", custom={"color": "Blue"}),
        "tee": sim.add_item("Tee shirt", price="10.00", department="Apparel", custom={"color": "Red"}),
        "cap": sim.add_item("Cap", price="25.00", department="Apparel", custom={"color": "Blue"}),
        "pen": sim.add_item("Pen", price="2.25", department="Stationery", active=False),
    }
    return {name: record["id"] for name, record in made.items()}
