"""The `orderflow` command against a running server, as an analyst or operator would type it."""

from __future__ import annotations

import json
import socket

from tests.support.connectors import control
from tests.support.diagrams import simple
from tests.support.rest import orderflow
from tests.support.server import Server


def test_deploy_and_start_from_the_shell(server: Server, tmp_path) -> None:
    diagram = tmp_path / "cli_process.bpmn"
    diagram.write_bytes(simple("cli_process"))
    deployed = orderflow(server, "deploy", str(diagram))
    assert deployed.returncode == 0, deployed.stderr
    assert "cli_process version 1" in deployed.stdout
    assert "(unchanged)" in orderflow(server, "deploy", str(diagram)).stdout

    started = orderflow(server, "start", "cli_process", "--var", "amount=21", "--business-key", "CLI-1")
    assert started.returncode == 0, started.stderr
    instance = json.loads(started.stdout)
    assert instance["businessKey"] == "CLI-1"
    view = server.get(f"/process-instances/{instance['id']}").json()
    assert view["variables"] == {"amount": 21, "doubled": 42}  # "21" was read as the JSON number 21


def test_deploy_prints_each_lint_problem_and_fails(server: Server, tmp_path) -> None:
    diagram = tmp_path / "bad.bpmn"
    diagram.write_bytes(simple("bad", "x = open('secrets')", "Task_Reads"))
    result = orderflow(server, "deploy", str(diagram))
    assert result.returncode != 0
    assert "HTTP 422" in result.stderr and "Task_Reads" in result.stderr and "open" in result.stderr


def test_start_of_an_unknown_process_fails_with_the_reason(server: Server) -> None:
    result = orderflow(server, "start", "no_such_process")
    assert result.returncode != 0 and "HTTP 404" in result.stderr and "no_such_process" in result.stderr


def test_simulate_pushes_orders_and_reports_throughput(server: Server, sandbox_url: str) -> None:
    # Slow payment and warehouse answers, so that orders are still running when the client has started them all
    # (a fast client and server could otherwise finish every order before the first look).
    control(sandbox_url, latencyMs=300)
    try:
        result = orderflow(server, "simulate", "--orders", "12", "--concurrency", "3", "--invalid-share", "0.25")
    finally:
        control(sandbox_url, latencyMs=0)
    assert result.returncode == 0, result.stderr
    assert "completed 12/12 orders" in result.stdout
    assert "completed orders/s" in result.stdout and "p99" in result.stdout
    assert "waiting for orders still running" in result.stdout  # what the bar waits for, a line without a terminal


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_simulate_says_in_one_line_that_the_sandbox_does_not_answer(server: Server) -> None:
    """The realistic profile drives the sandbox on ORDERFLOW_SANDBOX_PORT (not whatever answers on 8081), and when
    nothing answers there it says so in one line and fails, instead of a traceback."""
    port = _closed_port()
    environment = {"ORDERFLOW_SANDBOX_PORT": str(port), "ORDERFLOW_SANDBOX_URL": ""}
    result = orderflow(server, "simulate", "--orders", "2", "--profile", "realistic", env=environment)
    assert result.returncode == 1
    said = result.stderr.strip().splitlines()
    assert len(said) == 1, result.stderr
    assert f"the sandbox systems at http://127.0.0.1:{port}/_control does not answer" in said[0]
    assert "orderflow sandbox" in said[0] and "Traceback" not in result.stderr
    assert server.get("/process-instances", params={"businessKeyPrefix": "DEMO-"}).json()["total"] == 0


def test_simulate_says_in_one_line_that_orderflow_does_not_answer(server: Server) -> None:
    result = orderflow(server, "simulate", "--orders", "2", "--url", f"http://127.0.0.1:{_closed_port()}")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "orderflow at http://127.0.0.1:" in result.stderr and "orderflow serve" in result.stderr
