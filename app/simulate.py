"""Pushes varied orders through the REST API and measures what an integrator would see.

Used by `orderflow simulate` and by the benchmark, so both measure the same thing."""

from __future__ import annotations

import http.client
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from urllib3.util import wait_for_read

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


class NoAnswer(Exception):
    """No answer to a request: no connection, a timeout, or a broken reply."""


class ApiError(Exception):
    """An answer of 4xx or 5xx (what requests' raise_for_status() would say)."""


REQUEST_ERRORS = (NoAnswer, ApiError)  # what a failed start raises
CONNECT_SECONDS = 5.0


class Api:
    """The REST API over one keep-alive connection, with http.client alone: the bench client shares the cores with
    the server it measures, and a request cost about 1.0 ms CPU through requests, 0.29 ms through urllib3's pool and
    0.15 ms like this. JSON in and out with orjson; no retries and no redirects (a start must not be sent twice), a
    connection the server closed while idle is opened anew before the request, as urllib3 does. Not thread-safe: one
    per client thread."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.prefix = parts.path.rstrip("/")
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.connection = connection(parts.hostname or "localhost", parts.port, timeout=CONNECT_SECONDS)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "*/*"}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Any:
        """POST `body` as JSON and answer the reply's JSON (within 60 s); raises one of REQUEST_ERRORS."""
        all_headers = {**self.json_headers, **headers} if headers else self.json_headers
        status, data = self._request("POST", path, orjson.dumps(body), all_headers, 60.0)
        if status >= 400:
            raise ApiError(f"{status} for POST {path}")
        return orjson.loads(data)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The reply's JSON (within 30 s), whatever the status (an error's problem document too); raises NoAnswer."""
        path = f"{path}?{urlencode(params)}" if params else path
        return orjson.loads(self._request("GET", path, None, self.headers, 30.0)[1])

    def _request(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str], read_seconds: float
    ) -> tuple[int, bytes]:
        connection = self.connection
        try:
            if connection.sock is not None and wait_for_read(connection.sock, timeout=0.0):
                connection.close()  # closed by the server while idle (or it sent what nobody asked for)
            if connection.sock is None:
                connection.connect()  # within CONNECT_SECONDS
            connection.sock.settimeout(read_seconds)
            connection.request(method, self.prefix + path, body, headers)
            response = connection.getresponse()
            return response.status, response.read()  # read to the end: the connection serves the next request
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise NoAnswer(f"{method} {path}: {error.__class__.__name__}: {error}") from error

    def close(self) -> None:
        self.connection.close()


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
    run_id = f"{int(time.time() * 1000):x}"
    started: list[str] = []
    errors = [0]
    lock = threading.Lock()

    def client(worker: int) -> None:
        rng = random.Random(seed * 1000 + worker)
        api = Api(base_url, token)
        path = f"/api/v1/process-definitions/{process_key}/instances"
        try:
            for n in range(worker, orders, concurrency):
                body = {"businessKey": f"SIM-{run_id}-{n}", "variables": make_order(rng, rng.random() < invalid_share)}
                try:
                    instance = api.post(path, body, {"Idempotency-Key": f"sim-{run_id}-{n}"})
                except REQUEST_ERRORS:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    started.append(instance["id"])
        finally:
            api.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Wait with one count query per poll (not one request per order: that would load the server being measured),
    # then read every order once.
    prefix = f"SIM-{run_id}-"
    deadline = time.monotonic() + timeout
    api = Api(base_url, token)
    try:

        def count(status: str) -> int:
            params = {"businessKeyPrefix": prefix, "status": status, "perPage": 1}
            return api.get("/api/v1/process-instances", params)["total"]

        done = 0
        while time.monotonic() < deadline:
            done = count("completed") + count("cancelled") + count("incident")
            if progress is not None:
                progress(done, "orders still running" if done < len(started) else "")
            if done >= len(started):
                break
            time.sleep(0.25)
        views = [api.get(f"/api/v1/process-instances/{instance_id}") for instance_id in started]
    finally:
        api.close()

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
