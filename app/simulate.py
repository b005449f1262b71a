"""Pushes varied orders through the REST API and measures what an integrator would see.

Used by `orderflow simulate` and by the benchmark, so both measure the same thing."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

SKUS = [f"SKU-{n}" for n in range(1001, 1016)]
COUNTRIES = ["DE", "DE", "DE", "FR", "NL", "AT", "US", "GB"]
TIERS = ["standard", "standard", "silver", "gold"]


def make_order(rng: random.Random, invalid: bool = False) -> dict[str, Any]:
    """One realistic order: 1-4 lines, a customer, a shipping address (no country when `invalid`)."""
    items = [
        {"sku": rng.choice(SKUS), "quantity": rng.randint(1, 5), "unitPrice": round(rng.uniform(5, 450), 2)}
        for _ in range(rng.randint(1, 4))
    ]
    country = "" if invalid else rng.choice(COUNTRIES)
    return {
        "items": items,
        "currency": "EUR",
        "customer": {"id": f"C-{rng.randint(1, 5000)}", "tier": rng.choice(TIERS)},
        "shippingAddress": {"street": "1 Market St", "city": "Springfield", "postalCode": "12345", "country": country},
    }


@dataclass
class SimulationResult:
    orders: int
    completed: int
    other: dict[str, int]
    seconds: float  # first start to last completion, by the server's clock
    orders_per_second: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    start_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "completed": self.completed,
            "notCompleted": self.other,
            "seconds": round(self.seconds, 3),
            "ordersPerSecond": round(self.orders_per_second, 2),
            "latencyMs": self.latency_ms,
            "startErrors": self.start_errors,
        }


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.rstrip("Z"))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def simulate(
    base_url: str,
    token: str,
    *,
    orders: int = 100,
    concurrency: int = 4,
    process_key: str = "order_fulfillment",
    invalid_share: float = 0.05,
    seed: int = 7,
    timeout: float = 600.0,
    progress: Callable[[int, str], None] | None = None,
) -> SimulationResult:
    """Start `orders` orders from `concurrency` client threads, wait until all have ended, measure. `progress` is
    told how many have ended and what the run waits for."""
    headers = {"Authorization": f"Bearer {token}"}
    run_id = f"{int(time.time() * 1000):x}"
    started: list[str] = []
    errors = [0]
    lock = threading.Lock()

    def client(worker: int) -> None:
        rng = random.Random(seed * 1000 + worker)
        with requests.Session() as http:
            http.headers.update(headers)
            for n in range(worker, orders, concurrency):
                body = {"businessKey": f"SIM-{run_id}-{n}", "variables": make_order(rng, rng.random() < invalid_share)}
                try:
                    response = http.post(
                        f"{base_url}/api/v1/process-definitions/{process_key}/instances",
                        json=body,
                        headers={"Idempotency-Key": f"sim-{run_id}-{n}"},
                        timeout=(5, 60),
                    )
                    response.raise_for_status()
                except requests.RequestException:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    started.append(response.json()["id"])

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Wait with one count query per poll (not one request per order: that would load the server being measured),
    # then read every order once.
    prefix = f"SIM-{run_id}-"
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        http.headers.update(headers)

        def count(status: str) -> int:
            params = {"businessKeyPrefix": prefix, "status": status, "perPage": 1}
            return http.get(f"{base_url}/api/v1/process-instances", params=params, timeout=(5, 30)).json()["total"]

        done = 0
        while time.monotonic() < deadline:
            done = count("completed") + count("cancelled") + count("incident")
            if progress is not None:
                progress(done, "orders still running" if done < len(started) else "")
            if done >= len(started):
                break
            time.sleep(0.25)
        views = []
        for instance_id in started:
            views.append(http.get(f"{base_url}/api/v1/process-instances/{instance_id}", timeout=(5, 30)).json())

    completed = [v for v in views if v["status"] == "completed"]
    other: dict[str, int] = {}
    for view in views:
        if view["status"] != "completed":
            other[view["status"]] = other.get(view["status"], 0) + 1
    latencies = [(_parse(v["endedAt"]) - _parse(v["createdAt"])).total_seconds() * 1000 for v in completed]
    if completed:
        first = min(_parse(v["createdAt"]) for v in completed)
        last = max(_parse(v["endedAt"]) for v in completed)
        seconds = max((last - first).total_seconds(), 1e-6)
    else:
        seconds = 0.0
    return SimulationResult(
        orders=orders,
        completed=len(completed),
        other=other,
        seconds=seconds,
        orders_per_second=len(completed) / seconds if seconds else 0.0,
        latency_ms={
            "p50": round(percentile(latencies, 50), 1),
            "p90": round(percentile(latencies, 90), 1),
            "p99": round(percentile(latencies, 99), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        start_errors=errors[0],
    )
