"""Failure paths over HTTP against the sandbox systems: transient errors retried until they succeed, exhausted
retries becoming incidents that a bulk retry clears once the system recovers, a decline taking the boundary path."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.diagrams import process
from tests.support.orders import ORDER
from tests.support.rest import deploy
from tests.support.server import Server, start_server, stop
from tests.support.waiting import wait_until_ended

PAYMENT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="authorize"/>
  <bpmn:serviceTask id="authorize" camunda:type="external" camunda:topic="payment.authorize">
    <bpmn:extensionElements>
      <camunda:failedJobRetryTimeCycle>R3/PT0.3S</camunda:failedJobRetryTimeCycle>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:boundaryEvent id="declined" attachedToRef="authorize">
    <bpmn:errorEventDefinition errorRef="Error_Declined"/></bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="b" sourceRef="authorize" targetRef="paid"/><bpmn:endEvent id="paid"/>
  <bpmn:sequenceFlow id="c" sourceRef="declined" targetRef="tell_customer"/>
  <bpmn:scriptTask id="tell_customer"><bpmn:script>customerNotified = True</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="d" sourceRef="tell_customer" targetRef="not_paid"/><bpmn:endEvent id="not_paid"/>"""


@pytest.fixture(scope="module")
def payments(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory):
    # Its own server: an outage opens payment's circuit breaker, and a short cool-down lets the tests see it close.
    server = start_server(tmp_path_factory.mktemp("failures"), sandbox_url, ORDERFLOW_CIRCUIT_COOLDOWN="0.5")
    try:
        name, xml = process("pay_with_retries", PAYMENT)
        error = b'<bpmn:error id="Error_Declined" errorCode="PAYMENT_DECLINED"/></bpmn:definitions>'
        assert deploy(server, (name, xml.replace(b"</bpmn:definitions>", error))).status_code == 201
        yield server
    finally:
        stop(server.proc)


@pytest.fixture(autouse=True)
def healthy_sandbox(sandbox_url: str):
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()
    yield
    requests.post(f"{sandbox_url}/_control/reset", timeout=5).raise_for_status()


def control(sandbox_url: str, **settings) -> None:
    requests.post(f"{sandbox_url}/_control", json=settings, timeout=5).raise_for_status()


def start(server: Server, business_key: str, **overrides) -> str:
    body = {"businessKey": business_key, "variables": {**ORDER, "total": 120.0, **overrides}}
    return server.post("/process-definitions/pay_with_retries/instances", json=body).json()["id"]


def ended_at(server: Server, instance_id: str) -> list[str]:
    events = server.get(f"/process-instances/{instance_id}/events").json()["items"]
    return [e["elementId"] for e in events if e["type"] == "element_completed"]


def test_transient_errors_are_retried_until_they_succeed(payments: Server, sandbox_url: str) -> None:
    control(sandbox_url, errorRate=1)
    instance_id = start(payments, "RETRY-1")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for the first failed attempt, then let the system recover
        job = payments.get(f"/process-instances/{instance_id}").json()["jobs"][0]
        if job["attempt"] >= 2:
            break
        time.sleep(0.05)
    assert job["attempt"] >= 2 and "503" in (job["lastError"] or "")
    control(sandbox_url, errorRate=0)
    view = wait_until_ended(payments, instance_id)
    assert view["status"] == "completed" and "paid" in ended_at(payments, instance_id)
    failed = [e for e in payments.get(f"/process-instances/{instance_id}/events").json()["items"]
              if e["type"] == "job_failed"]  # fmt: skip
    assert failed and failed[0]["data"]["retryInSeconds"] == 0.3  # the diagram's cycle, not the default


def test_exhausted_retries_become_incidents_that_a_bulk_retry_clears(payments: Server, sandbox_url: str) -> None:
    control(sandbox_url, outage=True)
    ids = [start(payments, f"OUTAGE-{n}") for n in range(3)]
    for instance_id in ids:
        view = wait_until_ended(payments, instance_id, timeout=30)
        assert view["status"] == "incident" and view["jobs"][0]["attempt"] == 3
    incidents = payments.get("/incidents", params={"processKey": "pay_with_retries"}).json()["items"]
    mine = [i["id"] for i in incidents if i["instanceId"] in ids]
    assert len(mine) == 3
    health = payments.get("/health").json()
    # 9 failures in a row tripped it; on a loaded machine its 0.5 s cool-down may already be over (half-open).
    assert health["checks"]["systems"]["systems"]["payment"]["circuit"] in ("open", "half-open")
    control(sandbox_url, outage=False)
    time.sleep(0.6)  # the circuit's cool-down: the next call is its trial
    batch = payments.post("/incidents/retry", json={"ids": mine})
    assert batch.status_code == 201, batch.text
    assert batch.json()["succeeded"] == 3 and {i["result"] for i in batch.json()["items"]} == {"retried"}
    for instance_id in ids:
        assert wait_until_ended(payments, instance_id, timeout=30)["status"] == "completed"
    health = payments.get("/health").json()
    assert health["checks"]["systems"]["systems"]["payment"]["circuit"] == "closed"
    stats = requests.get(f"{sandbox_url}/_stats", timeout=5).json()
    assert stats["authorizations"] >= 3


def test_a_declined_payment_takes_the_boundary_path(payments: Server) -> None:
    time.sleep(0.6)  # any circuit opened by an earlier test has cooled down
    instance_id = start(payments, "DECLINE-1", total=666.66)  # the sandbox always declines this amount
    view = wait_until_ended(payments, instance_id)
    assert view["status"] == "completed" and view["variables"]["customerNotified"] is True
    assert "not_paid" in ended_at(payments, instance_id) and "paid" not in ended_at(payments, instance_id)
