"""`orderflow simulate --profile realistic`: the order story's mix against a real server and the sandbox, with
simulated people working the inbox and the sandbox misbehaving; every order ends, in the story's outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.support.server import TOKEN, Server, start_server, stop


@pytest.fixture(scope="module")
def server(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its own server: the demo's payment outage opens payment's circuit, closed again after a short cool-down."""
    server = start_server(tmp_path_factory.mktemp("demo"), sandbox_url, ORDERFLOW_CIRCUIT_COOLDOWN="3")
    try:
        yield server
    finally:
        stop(server.proc)


def test_the_realistic_demo_runs_every_order_to_an_end(server: Server, sandbox_url: str) -> None:
    # The sandbox is found by ORDERFLOW_SANDBOX_PORT, as `orderflow serve` finds it.
    environment = {**os.environ, "ORDERFLOW_URL": server.url, "ORDERFLOW_API_TOKEN": TOKEN,
                   "ORDERFLOW_SANDBOX_URL": "", "ORDERFLOW_SANDBOX_PORT": sandbox_url.rsplit(":", 1)[1]}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "simulate", "--orders", "16", "--profile", "realistic"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "16/16 orders started, all ended" in result.stdout, result.stdout
    outcomes = next(line for line in lines if line.startswith("how they ended: "))
    assert "shipped" in outcomes and "still running" not in outcomes, outcomes
    chaos = next(line for line in lines if line.startswith("the sandbox meanwhile: "))
    assert "payment system down" in chaos and "DPD refuses bookings" in chaos and "tax system down" in chaos
    assert "incident" not in outcomes, outcomes  # operations retried what the outages stopped
    assert "people worked: " in result.stdout
    assert "waiting for orders" in result.stdout  # the bar says what it waits for (a line each without a terminal)
    assert "/monitoring/incidents" in result.stdout and "/api/v1/incidents" not in result.stdout

    listed = server.get("/process-instances", params={"businessKeyPrefix": "DEMO-", "perPage": 100}).json()
    assert listed["total"] == 16
    assert {i["processKey"] for i in listed["items"]} <= {"order_management", "order_intake"}
    assert all(i["endedAt"] or i["status"] == "incident" for i in listed["items"])
    # the sandbox is left as documented: well behaved, SKU-OUT out of stock
    assert requests.get(f"{sandbox_url}/_control", timeout=5).json()["outageSystems"] == []
    stock = requests.get(f"{sandbox_url}/wms/stock", timeout=5).json()["items"]
    assert next(i["available"] for i in stock if i["sku"] == "SKU-OUT") == 0
