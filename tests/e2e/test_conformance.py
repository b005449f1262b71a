"""The public conformance diagrams in ../shared/conformance, used unchanged: what deploys, what runs to its end,
and that everything else is refused with a precise message, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from tests.support.paths import CONFORMANCE
from tests.support.rest import activate, drive_external_jobs
from tests.support.rest import deploy as deploy_over_http
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

MIWG = sorted((CONFORMANCE / "bpmn-miwg").glob("*.bpmn")) if CONFORMANCE.is_dir() else []

# What each reference model does today (the README's compatibility table lists the same).
MIWG_EXPECTED = {
    "C.1.0.bpmn": "deploys",
    "C.5.0.bpmn": "deploys",  # its gateways' flows without a condition run as in Camunda 7
    "C.9.1.bpmn": "deploys",
}


@pytest.mark.parametrize("path", MIWG, ids=lambda p: p.name)
def test_miwg_reference_models_deploy_or_are_refused_precisely(engine: Engine, path: Path, conformance) -> None:
    try:
        result = deploy(engine, [(path.name, path.read_bytes())])
    except DeploymentRejected as rejected:
        assert MIWG_EXPECTED.get(path.name) != "deploys", rejected.problems
        for problem in rejected.problems:
            assert problem.message and "Traceback" not in problem.message
            assert problem.element_id or "executable" in problem.message or "implementation" in problem.message
        return
    assert MIWG_EXPECTED.get(path.name) == "deploys", f"{path.name} deployed but is not listed as deploying"
    assert result.definitions


def test_every_miwg_model_is_covered(conformance) -> None:
    assert len(MIWG) >= 21


@pytest.mark.parametrize("name", ["order-process.bpmn", "order-process-4.bpmn", "order-zeebe.bpmn"])
def test_camunda8_order_processes_run_to_their_end(server: Server, conformance, name: str) -> None:
    xml = (conformance / "camunda8" / name).read_bytes()
    response = deploy_over_http(server, (name, xml))
    assert response.status_code == 201, response.text
    key = response.json()["definitions"][0]["key"]
    body = {"businessKey": f"C8-{name}", "variables": {"orderId": "O-1", "orderValue": 99, "order": {"orderId": "O-1"}}}
    started = server.post(f"/process-definitions/{key}/instances", json=body)
    assert started.status_code == 201, started.text
    view = drive_external_jobs(server, started.json()["id"])
    assert view["status"] == "completed", view


@pytest.mark.parametrize(
    "folder, name",
    [("camunda7", "invoicePayment.bpmn"), ("camunda7", "order-handling.bpmn"), ("camunda8", "send-email.bpmn")],
)
def test_camunda_diagrams_with_user_tasks_deploy(server: Server, conformance, folder: str, name: str) -> None:
    response = deploy_over_http(server, (name, (conformance / folder / name).read_bytes()))
    assert response.status_code == 201, response.text


def test_camunda7_pizza_order_deploys_with_warnings_naming_the_bean_calls(server: Server, conformance) -> None:
    """It runs to its end with a registered bean: tests/test_camunda7.py."""
    response = deploy_over_http(
        server, ("pizza-order.bpmn", (conformance / "camunda7" / "pizza-order.bpmn").read_bytes())
    )
    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    calls = [w for w in warnings if "orderBusinessLogic.getOrder()" in w["message"]]
    gateway = "ExclusiveGateway_07926wc"
    assert [(w["elementId"], w["line"]) for w in calls] == [(gateway, 24), (gateway, 31)]


def instances_of(server: Server, key: str) -> list[dict]:
    """Oldest first."""
    found = server.get("/process-instances", params={"processKey": key, "perPage": 200}).json()
    return list(reversed(found["items"]))


def test_camunda7_order_handling_runs_on_its_schedule_over_rest(server: Server, conformance) -> None:
    """Its timer start event, the Quartz cycle `0/5 0/1 * 1/1 * ?`, has the server start an instance every five
    seconds. External workers create the invoice; once `invoiceId` is set, the conditional boundary event
    (`${invoiceId != null}`) interrupts the subprocess and the invoice is archived. A new version without the timer
    start event stops the schedule."""
    xml = (conformance / "camunda7" / "order-handling.bpmn").read_bytes()
    assert deploy_over_http(server, ("order-handling.bpmn", xml)).status_code == 201
    deadline = time.monotonic() + 12
    while not instances_of(server, "Order_Process") and time.monotonic() < deadline:
        time.sleep(0.2)
    first = instances_of(server, "Order_Process")[0]
    assert first["businessKey"] is None
    for job in activate(server, "invoiceCreator", worker="invoicing", maxJobs=10):
        variables = {"invoiceId": f"INV-{job['instanceId'][:6]}"}
        server.post(f"/jobs/{job['id']}/complete", json={"workerId": "invoicing", "variables": variables})
    deadline = time.monotonic() + 20
    while server.get(f"/process-instances/{first['id']}").json()["endedAt"] is None:
        if time.monotonic() >= deadline:  # a wait that gave up, not a speed check
            pytest.fail("the invoice was never archived")
        for job in activate(server, "invoiceArchiver", worker="archive", maxJobs=10):
            server.post(f"/jobs/{job['id']}/complete", json={"workerId": "archive", "variables": {}})
        time.sleep(0.1)
    view = wait_until_ended(server, first["id"])
    assert view["status"] == "completed" and view["variables"]["invoiceId"].startswith("INV-")
    elements = [e["elementId"] for e in server.get(f"/process-instances/{first['id']}/events").json()["items"]]
    assert "BoundaryEvent_1y1bvad" in elements and "EndEvent_0q2wrcp" in elements

    stop = (
        '<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/'
        'MODEL" id="d" targetNamespace="t"><bpmn:process id="Order_Process" isExecutable="true"><bpmn:startEvent '
        'id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/></bpmn:process>'
        "</bpmn:definitions>"
    )
    assert deploy_over_http(server, ("order-handling-v2.bpmn", stop.encode())).status_code == 201
    started = len(instances_of(server, "Order_Process"))
    time.sleep(5.5)  # longer than the cycle
    assert len(instances_of(server, "Order_Process")) == started
