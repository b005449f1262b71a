"""End to end over HTTP against a running `orderflow serve`: what an integrator sees."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.diagrams import simple
from tests.support.orders import ORDER
from tests.support.paths import SHIPPED
from tests.support.rest import assert_problem, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended


def test_health_reports_database_and_connectors(server: Server) -> None:
    body = server.get("/health").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["connectors"]["ok"]


def test_shipped_order_runs_to_completion_with_a_full_audit_trail(server: Server) -> None:
    response = server.post(
        "/process-definitions/order_fulfillment/instances", json={"businessKey": "ORD-E2E-1", "variables": ORDER}
    )
    assert response.status_code == 201, response.text
    started = response.json()
    assert response.headers["Location"].endswith(started["id"])
    view = wait_until_ended(server, started["id"])
    assert view["status"] == "completed", view
    variables = view["variables"]
    assert variables["total"] == 1225.0 and variables["priority"] == "high"
    assert variables["paymentStatus"] == "captured" and variables["shipmentStatus"] == "shipped"
    assert variables["trackingNumber"]
    assert [job["status"] for job in view["jobs"]] == ["done"] * 4, view["jobs"]

    events = server.get(f"/process-instances/{started['id']}/events").json()["items"]
    completed = [e["elementId"] for e in events if e["type"] == "element_completed"]
    for element in (
        "StartEvent_OrderReceived",
        "Task_ValidateOrder",
        "Gateway_OrderValid",
        "Gateway_OrderValue",
        "Task_FlagHighValue",
        "Gateway_Fulfil",
        "Task_ReserveInventory",
        "Task_AuthorizePayment",
        "Gateway_Fulfilled",
        "Task_CapturePayment",
        "Task_ShipOrder",
        "EndEvent_OrderShipped",
    ):
        assert element in completed, (element, completed)
    assert events[0]["type"] == "instance_started" and events[-1]["type"] == "instance_completed"
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)
    validate = next(e for e in events if e["elementId"] == "Task_ValidateOrder")
    assert validate["data"]["total"] == 1225.0  # the data the step changed


def test_invalid_order_is_rejected_with_a_reason(server: Server) -> None:
    order = {**ORDER, "items": []}
    started = server.post("/process-definitions/order_fulfillment/instances", json={"variables": order}).json()
    view = wait_until_ended(server, started["id"])
    assert view["status"] == "completed"
    assert view["variables"]["valid"] is False
    assert "no items" in view["variables"]["rejectionReason"]
    assert not view["jobs"]  # nothing was reserved or charged


def test_idempotency_key_returns_the_same_instance(server: Server) -> None:
    body = {"variables": ORDER}
    headers = {"Idempotency-Key": "idem-e2e-1"}
    first = server.post("/process-definitions/order_fulfillment/instances", json=body, headers=headers)
    second = server.post("/process-definitions/order_fulfillment/instances", json=body, headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]


def test_active_business_key_returns_the_existing_instance(server: Server) -> None:
    deploy(server, ("wait.bpmn", WAITING_PROCESS))
    first = server.post("/process-definitions/waits_for_timer/instances", json={"businessKey": "BK-1"})
    second = server.post("/process-definitions/waits_for_timer/instances", json={"businessKey": "BK-1"})
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    listed = server.get("/process-instances", params={"businessKey": "BK-1"}).json()
    assert listed["total"] == 1


WAITING_PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="waits_for_timer" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait an hour">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_cancel_a_waiting_instance_then_cancel_again_is_a_conflict(server: Server) -> None:
    deploy(server, ("wait.bpmn", WAITING_PROCESS))
    started = server.post("/process-definitions/waits_for_timer/instances", json={}).json()
    view = server.get(f"/process-instances/{started['id']}").json()
    assert view["status"] == "waiting"
    assert [e["elementId"] for e in view["activeElements"]] == ["wait"]
    since = datetime.fromisoformat(view["activeElements"][0]["since"].replace("Z", "+00:00"))  # reached just now
    assert abs((datetime.now(UTC) - since).total_seconds()) < 30
    assert [j["kind"] for j in view["jobs"]] == ["timer"]
    cancelled = server.post(f"/process-instances/{started['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert server.get(f"/process-instances/{started['id']}").json()["jobs"][0]["status"] == "cancelled"
    assert_problem(server.post(f"/process-instances/{started['id']}/cancel"), 409, "already cancelled")


def test_cancel_of_a_completed_instance_is_a_conflict(server: Server) -> None:
    deploy(server, ("quick.bpmn", simple("quick")))
    started = server.post("/process-definitions/quick/instances", json={"variables": {"amount": 1}}).json()
    assert wait_until_ended(server, started["id"])["status"] == "completed"
    assert_problem(server.post(f"/process-instances/{started['id']}/cancel"), 409, "already completed")
    assert server.get(f"/process-instances/{started['id']}").json()["status"] == "completed"


def test_deploy_versions_by_content(server: Server) -> None:
    first = deploy(server, ("versioned.bpmn", simple("versioned")))
    assert first.status_code == 201, first.text
    assert first.json()["definitions"][0]["version"] == 1 and first.json()["definitions"][0]["isNew"]
    same = deploy(server, ("versioned.bpmn", simple("versioned")))
    assert same.json()["definitions"][0]["version"] == 1 and not same.json()["definitions"][0]["isNew"]
    changed = deploy(server, ("versioned.bpmn", simple("versioned", "doubled = amount * 3")))
    assert changed.json()["definitions"][0]["version"] == 2

    latest = server.get("/process-definitions/versioned").json()
    assert latest["version"] == 2
    assert server.get("/process-definitions/versioned", params={"version": 1}).json()["version"] == 1
    assert b"amount * 3" in server.get("/process-definitions/versioned/xml").content

    on_v1 = server.post("/process-definitions/versioned/instances?version=1", json={"variables": {"amount": 5}})
    on_latest = server.post("/process-definitions/versioned/instances", json={"variables": {"amount": 5}})
    assert wait_until_ended(server, on_v1.json()["id"])["variables"]["doubled"] == 10
    assert wait_until_ended(server, on_latest.json()["id"])["variables"]["doubled"] == 15


# -- bad input -----------------------------------------------------------------------------------------


def test_shipped_workflow_is_deployed_at_start(server: Server) -> None:
    definition = server.get("/process-definitions/order_fulfillment").json()
    assert definition["resource"] == "order_fulfillment.bpmn"
    assert server.get("/process-definitions/order_fulfillment/xml").content == SHIPPED.read_bytes()
