"""The `orderflow` command against a running server, as an analyst or operator would type it."""

from __future__ import annotations

import json

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


def test_simulate_pushes_orders_and_reports_throughput(server: Server) -> None:
    result = orderflow(server, "simulate", "--orders", "12", "--concurrency", "3", "--invalid-share", "0.25")
    assert result.returncode == 0, result.stderr
    assert "completed 12/12 orders" in result.stdout
    assert "completed orders/s" in result.stdout and "p99" in result.stdout
