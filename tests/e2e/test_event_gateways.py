"""Event-based gateways: an order waits for whichever comes first, a message or a timer, and takes that path; the
other is withdrawn (no late message is accepted, no timer fires afterwards)."""

from __future__ import annotations

import time

from processes.core.engine import Engine
from processes.errors import NotFound
from processes.features.messages import correlate
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import HEADER
from tests.support.engine import deployed
from tests.support.rest import assert_problem, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'

PAYMENT_OR_TIMEOUT = (
    HEADER.replace("<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ")
    + """
  <bpmn:message id="Msg_Details" name="payment-details-updated">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
  </bpmn:message>
  <bpmn:message id="Msg_Cancel" name="order-withdrawn"/>
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="declined"/>
    <bpmn:sequenceFlow id="a" sourceRef="declined" targetRef="wait"/>
    <bpmn:eventBasedGateway id="wait" name="New details, withdrawal or timeout?"/>
    <bpmn:sequenceFlow id="b" sourceRef="wait" targetRef="details"/>
    <bpmn:sequenceFlow id="c" sourceRef="wait" targetRef="withdrawn"/>
    <bpmn:sequenceFlow id="d" sourceRef="wait" targetRef="timeout"/>
    <bpmn:intermediateCatchEvent id="details"><bpmn:messageEventDefinition messageRef="Msg_Details"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="withdrawn"><bpmn:messageEventDefinition messageRef="Msg_Cancel"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="timeout">
      <bpmn:timerEventDefinition><bpmn:timeDuration>{timeout}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="e" sourceRef="details" targetRef="retry_payment"/><bpmn:endEvent id="retry_payment"/>
    <bpmn:sequenceFlow id="f" sourceRef="withdrawn" targetRef="withdrawn_end"/><bpmn:endEvent id="withdrawn_end"/>
    <bpmn:sequenceFlow id="g" sourceRef="timeout" targetRef="cancelled"/><bpmn:endEvent id="cancelled"/>
  </bpmn:process>
</bpmn:definitions>"""
)


def diagram(key: str, timeout: str = "PT1H") -> tuple[str, bytes]:
    return f"{key}.bpmn", PAYMENT_OR_TIMEOUT.replace("{key}", key).replace("{timeout}", timeout).encode()


def ended_at(engine: Engine, instance_id: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]


def test_the_message_that_comes_first_takes_its_path(engine: Engine):
    deployed(engine, diagram("ebg_message"))
    first = start_instance(engine, "ebg_message", variables={"orderId": "A-1"}).instance["id"]
    second = start_instance(engine, "ebg_message", variables={"orderId": "A-2"}).instance["id"]
    waiting = get_instance(engine, first)
    [gateway] = waiting["activeElements"]
    assert {(m["message"], m["correlationKey"]) for m in gateway["messages"]} == {
        ("payment-details-updated", "A-1"), ("order-withdrawn", None)
    }  # fmt: skip
    assert [(j["kind"], j["status"]) for j in waiting["jobs"]] == [("timer", "ready")]
    # The correlation key of the catch event after the gateway picks the order.
    correlate(engine, "payment-details-updated", correlation_key="A-2", variables={"card": "new"})
    view = get_instance(engine, second)
    assert view["status"] == "completed" and view["variables"]["card"] == "new"
    assert "retry_payment" in ended_at(engine, second) and "cancelled" not in ended_at(engine, second)
    assert [(j["kind"], j["status"]) for j in view["jobs"]] == [("timer", "cancelled")]
    assert get_instance(engine, first)["status"] == "waiting"  # the other order still waits
    # Once one event won, the gateway no longer waits for the others.
    try:
        correlate(engine, "order-withdrawn", correlation_key="A-2")
        raise AssertionError("a late message was accepted")
    except NotFound:
        pass


def test_the_timer_that_comes_first_takes_its_path_and_withdraws_the_messages(engine: Engine):
    deployed(engine, diagram("ebg_timer", timeout="PT0.3S"))
    instance_id = start_instance(engine, "ebg_timer", variables={"orderId": "B-1"}).instance["id"]
    jobs = JobService(engine, lambda job: {})
    time.sleep(0.4)
    fired = jobs.claim("w")
    assert [j.kind for j in fired] == ["timer"]
    jobs.run(fired[0])
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["activeElements"] == []
    assert "cancelled" in ended_at(engine, instance_id) and "retry_payment" not in ended_at(engine, instance_id)
    try:
        correlate(engine, "payment-details-updated", correlation_key="B-1")
        raise AssertionError("a message after the timeout was accepted")
    except NotFound:
        pass


def test_an_event_based_gateway_over_rest(server: Server):
    assert deploy(server, diagram("ebg_rest", timeout="PT0.5S")).status_code == 201
    by_message = server.post("/process-definitions/ebg_rest/instances",
                             json={"businessKey": "EBG-1", "variables": {"orderId": "EBG-1"}}).json()  # fmt: skip
    by_timer = server.post("/process-definitions/ebg_rest/instances",
                           json={"businessKey": "EBG-2", "variables": {"orderId": "EBG-2"}}).json()  # fmt: skip
    sent = server.post("/messages", json={"name": "order-withdrawn", "businessKey": "EBG-1"})
    assert sent.status_code == 200, sent.text
    assert wait_until_ended(server, by_message["id"])["status"] == "completed"
    assert wait_until_ended(server, by_timer["id"])["status"] == "completed"
    paths = {
        key: [e["elementId"] for e in server.get(f"/process-instances/{i}/events").json()["items"]]
        for key, i in (("message", by_message["id"]), ("timer", by_timer["id"]))
    }
    assert "withdrawn_end" in paths["message"] and "cancelled" not in paths["message"]
    assert "cancelled" in paths["timer"] and "withdrawn_end" not in paths["timer"]
    assert_problem(server.post("/messages", json={"name": "order-withdrawn", "businessKey": "EBG-2"}), 404)
