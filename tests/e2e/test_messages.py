"""Messages over HTTP: routed by business key or correlation key to the one waiting instance, merged into its
variables; message start events; clear errors when nobody waits or several do."""

from __future__ import annotations

from tests.support.diagrams import HEADER
from tests.support.rest import assert_problem, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'

WAIT_FOR_PAYMENT = (
    HEADER.replace("<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ")
    + """<bpmn:message id="Msg_Paid" name="payment-received">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
  </bpmn:message>
  <bpmn:message id="Msg_Order" name="{key}-order-placed"/>
  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="paid"/>
    <bpmn:intermediateCatchEvent id="paid" name="Payment received">
      <bpmn:messageEventDefinition messageRef="Msg_Paid"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="paid" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="{key}_by_message" isExecutable="true">
    <bpmn:startEvent id="placed"><bpmn:messageEventDefinition messageRef="Msg_Order"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="placed" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"""
)


def setup(server: Server, key: str) -> None:
    response = deploy(server, (f"{key}.bpmn", WAIT_FOR_PAYMENT.replace("{key}", key).encode()))
    assert response.status_code == 201, response.text


def start(server: Server, key: str, business_key: str, **variables) -> str:
    body = {"businessKey": business_key, "variables": variables}
    return server.post(f"/process-definitions/{key}/instances", json=body).json()["id"]


def test_message_by_correlation_key_reaches_only_its_instance(server: Server) -> None:
    setup(server, "msg_key")
    first = start(server, "msg_key", "BK-A", orderId="O-1")
    second = start(server, "msg_key", "BK-B", orderId="O-2")
    view = server.get(f"/process-instances/{second}").json()
    assert view["status"] == "waiting" and view["activeElements"][0]["message"] == "payment-received"
    assert view["activeElements"][0]["correlationKey"] == "O-2"

    sent = server.post(
        "/messages", json={"name": "payment-received", "correlationKey": "O-2", "variables": {"paid": 42}}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"result": "correlated", "instanceId": second}
    done = wait_until_ended(server, second)
    assert done["status"] == "completed" and done["variables"]["paid"] == 42  # merged, not nested
    assert server.get(f"/process-instances/{first}").json()["status"] == "waiting"
    events = server.get(f"/process-instances/{second}/events").json()["items"]
    assert any(e["type"] == "message_received" and e["data"]["variables"] == {"paid": 42} for e in events)


def test_message_by_business_key(server: Server) -> None:
    setup(server, "msg_bk")
    instance_id = start(server, "msg_bk", "ORDER-77", orderId="O-77")
    sent = server.post("/messages", json={"name": "payment-received", "businessKey": "ORDER-77"})
    assert sent.json()["instanceId"] == instance_id
    assert wait_until_ended(server, instance_id)["status"] == "completed"
    # the instance no longer waits: the same message again reaches nobody
    assert_problem(server.post("/messages", json={"name": "payment-received", "businessKey": "ORDER-77"}), 404)


def test_ambiguous_and_unknown_messages_are_refused(server: Server) -> None:
    setup(server, "msg_many")
    start(server, "msg_many", "M-1", orderId="same")
    start(server, "msg_many", "M-2", orderId="same")
    assert_problem(
        server.post("/messages", json={"name": "payment-received", "correlationKey": "same"}),
        409,
        "2 process instances",
    )
    assert_problem(server.post("/messages", json={"name": "no-such-message"}), 404, "no-such-message")
    assert_problem(server.post("/messages", json={"businessKey": "x"}), 422, "name")


def test_a_message_start_event_starts_an_instance(server: Server) -> None:
    setup(server, "msg_start")
    body = {"name": "msg_start-order-placed", "businessKey": "NEW-1", "variables": {"x": 1}}
    sent = server.post("/messages", json=body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["result"] == "started"
    view = wait_until_ended(server, sent.json()["instanceId"])
    assert view["processKey"] == "msg_start_by_message" and view["businessKey"] == "NEW-1"
    assert view["status"] == "completed" and view["variables"]["x"] == 1


def test_camunda8_kafka_order_runs_to_its_end(server: Server, conformance) -> None:
    """flowing-retail's Kafka order process, unchanged: each step sends a command (a service task an external worker
    takes by its zeebe:taskDefinition type), then waits for the answering event (a message with a FEEL
    correlation key the worker set)."""
    from tests.support.rest import activate

    xml = (conformance / "camunda8" / "order-kafka.bpmn").read_bytes()
    response = deploy(server, ("order-kafka.bpmn", xml))
    assert response.status_code == 201, response.text
    key = response.json()["definitions"][0]["key"]
    instance_id = start(server, key, "KAFKA-1", orderId="K-1")
    steps = [
        ("retrieve-payment", "CorrelationId_RetrievePayment", "PaymentReceivedEvent"),
        ("fetch-goods", "CorrelationId_FetchGoods", "GoodsFetchedEvent"),
        ("ship-goods", "CorrelationId_ShipGoods", "GoodsShippedEvent"),
    ]
    for topic, key_variable, message in steps:
        jobs = activate(server, topic, worker="kafka-bridge")
        assert len(jobs) == 1 and jobs[0]["instanceId"] == instance_id, (topic, jobs)
        correlation = f"{topic}-{instance_id}"
        done = server.post(
            f"/jobs/{jobs[0]['id']}/complete",
            json={"workerId": "kafka-bridge", "variables": {key_variable: correlation}},
        )
        assert done.status_code == 200, done.text
        sent = server.post("/messages", json={"name": message, "correlationKey": correlation})
        assert sent.status_code == 200, (message, sent.text)
        assert sent.json()["instanceId"] == instance_id
    last = activate(server, "order-completed", worker="kafka-bridge")
    server.post(f"/jobs/{last[0]['id']}/complete", json={"workerId": "kafka-bridge"})
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed"
    completed = [e["elementId"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    for element in (
        "IntermediateThrowEvent_1531zpf",
        "IntermediateThrowEvent_0660fen",
        "IntermediateThrowEvent_1s6m7rf",
    ):
        assert element in completed
