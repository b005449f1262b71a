"""Open-loop load for `make bench`: orders arrive at a fixed rate, whatever the server's pace, and each order's
latency runs from its scheduled arrival to its completion (the server's `endedAt`).

A closed burst (start 500 orders as fast as possible, then wait) reports queueing behind the burst as latency. Here a
late start counts against the server too: if the client cannot send on time because the server holds its threads,
the wait is part of the latency (no coordinated omission)."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from app.simulate import REQUEST_ERRORS, Api, make_order, percentile

SENDERS = 16  # client threads: enough that a slow answer does not hold the next arrival at the rates measured


def open_loop(url: str, token: str, rate: float, seconds: float, timeout: float = 120.0) -> dict:
    """Start orders at `rate` per second for `seconds`, wait until every one has ended, and measure."""
    orders = max(int(rate * seconds), 1)
    run = f"OPEN-{int(time.time() * 1000):x}-"
    rng = random.Random(11)
    bodies = [make_order(rng) for _ in range(orders)]
    local = threading.local()
    started: dict[str, float] = {}  # instance id -> scheduled arrival (epoch seconds)
    late: list[float] = []  # how far behind schedule each start was sent
    errors = [0]
    lock = threading.Lock()

    apis: list[Api] = []

    def api() -> Api:
        if not hasattr(local, "api"):
            local.api = Api(url, token)
            with lock:
                apis.append(local.api)
        return local.api

    def start(n: int, due: float) -> None:
        sent = time.time()
        try:
            instance = api().post(
                "/api/v1/process-definitions/order_fulfillment/instances",
                {"businessKey": f"{run}{n}", "variables": bodies[n]},
            )
        except REQUEST_ERRORS:
            with lock:
                errors[0] += 1
            return
        with lock:
            started[instance["id"]] = due
            late.append(max(sent - due, 0.0) * 1000)

    first = time.time() + 0.2
    with ThreadPoolExecutor(SENDERS) as pool:
        for n in range(orders):
            due = first + n / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            pool.submit(start, n, due)
    for each in apis:
        each.close()

    deadline = time.monotonic() + timeout
    http = Api(url, token)
    try:
        while time.monotonic() < deadline:
            params = {"businessKeyPrefix": run, "status": "completed", "perPage": 1}
            if http.get("/api/v1/process-instances", params)["total"] >= len(started):
                break
            time.sleep(0.5)
        latencies = []
        for instance_id, due in started.items():
            view = http.get(f"/api/v1/process-instances/{instance_id}")
            if view.get("status") == "completed" and view.get("endedAt"):
                ended = datetime.fromisoformat(view["endedAt"].rstrip("Z")).replace(tzinfo=UTC).timestamp()
                latencies.append((ended - due) * 1000)
    finally:
        http.close()
    return {
        "ratePerSecond": round(rate, 2),
        "seconds": seconds,
        "orders": orders,
        "completed": len(latencies),
        "startErrors": errors[0],
        "latencyMs": {
            "p50": round(percentile(latencies, 50), 1),
            "p90": round(percentile(latencies, 90), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies), 1) if latencies else 0.0,
        },
        "startSentLateMs": {"p50": round(percentile(late, 50), 1), "p99": round(percentile(late, 99), 1)},
    }
