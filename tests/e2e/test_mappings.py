"""Input/output mappings (zeebe:ioMapping, camunda:inputOutput): what workers see, what reaches the process."""

from __future__ import annotations

from tests.support.diagrams import process
from tests.support.rest import activate, deploy
from tests.support.server import Server
from tests.support.waiting import wait_until_ended

C7_SERVICE = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="quote"/>
  <bpmn:serviceTask id="quote" camunda:type="external" camunda:topic="erp.quote">
    <bpmn:extensionElements><camunda:inputOutput>
      <camunda:inputParameter name="channel">web</camunda:inputParameter>
      <camunda:inputParameter name="net">${total * 0.8}</camunda:inputParameter>
      <camunda:inputParameter name="skus"><camunda:list><camunda:value>${sku}</camunda:value>
        <camunda:value>GIFT-WRAP</camunda:value></camunda:list></camunda:inputParameter>
      <camunda:inputParameter name="address"><camunda:map><camunda:entry key="city">${city}</camunda:entry>
        </camunda:map></camunda:inputParameter>
      <camunda:outputParameter name="quotedPrice">${price * 2}</camunda:outputParameter>
    </camunda:inputOutput></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="b" sourceRef="quote" targetRef="e"/><bpmn:endEvent id="e"/>"""

ZEEBE_USER = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="check"/>
  <bpmn:userTask id="check"><bpmn:extensionElements><zeebe:ioMapping>
      <zeebe:output source="=approved and amount &lt; 500" target="decision.autoApproved"/>
  </zeebe:ioMapping></bpmn:extensionElements></bpmn:userTask>
  <bpmn:sequenceFlow id="b" sourceRef="check" targetRef="e"/><bpmn:endEvent id="e"/>"""


def start(server: Server, key: str, **variables) -> str:
    return server.post(f"/process-definitions/{key}/instances", json={"variables": variables}).json()["id"]


def test_camunda7_input_and_output_parameters(server: Server) -> None:
    assert deploy(server, process("c7_mappings", C7_SERVICE)).status_code == 201
    instance_id = start(server, "c7_mappings", total=100, sku="SKU-1", city="Lyon")
    job = activate(server, "erp.quote")[0]
    variables = job["variables"]
    assert variables["channel"] == "web" and variables["net"] == 80.0
    assert variables["skus"] == ["SKU-1", "GIFT-WRAP"] and variables["address"] == {"city": "Lyon"}
    server.post(f"/jobs/{job['id']}/complete", json={"workerId": "w1", "variables": {"price": 21, "debug": "x"}})
    view = wait_until_ended(server, instance_id)
    assert view["variables"]["quotedPrice"] == 42
    assert "debug" not in view["variables"] and "net" not in view["variables"]  # only outputs reach the process


def test_camunda8_ioMapping_of_flowing_retail_reaches_the_worker(server: Server, conformance) -> None:
    xml = (conformance / "camunda8" / "order-zeebe.bpmn").read_bytes()
    key = deploy(server, ("order-zeebe.bpmn", xml)).json()["definitions"][0]["key"]
    instance_id = start(server, key, order={"orderId": "O-7", "totalSum": 99.5}, traceId="t-1")
    saved = activate(server, "save-order-z")  # the order is saved first
    assert [j["instanceId"] for j in saved] == [instance_id]
    server.post(f"/jobs/{saved[0]['id']}/complete", json={"workerId": "w1"})
    job = activate(server, "retrieve-payment-z")[0]
    assert job["variables"]["refId"] == "O-7" and job["variables"]["amount"] == 99.5
    assert job["variables"]["traceId"] == "t-1"


def test_zeebe_output_on_a_user_task(server: Server) -> None:
    name, xml = process("c8_user_output", ZEEBE_USER)
    xml = xml.replace(b"<bpmn:definitions ", b'<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" ')
    assert deploy(server, (name, xml)).status_code == 201
    instance_id = start(server, "c8_user_output", amount=120)
    task = next(t for t in server.get("/tasks").json()["items"] if t["instanceId"] == instance_id)
    server.post(f"/tasks/{task['id']}/complete", json={"userId": "u", "variables": {"approved": True}})
    view = wait_until_ended(server, instance_id)
    assert view["variables"]["decision"] == {"autoApproved": True} and "approved" not in view["variables"]


def test_a_failing_input_mapping_opens_an_incident(server: Server) -> None:
    assert (
        deploy(server, process("c7_bad_mapping", C7_SERVICE.replace("${total * 0.8}", "${nope * 2}"))).status_code
        == 201
    )
    instance_id = start(server, "c7_bad_mapping", total=1, sku="S", city="C")
    view = server.get(f"/process-instances/{instance_id}").json()
    assert view["status"] == "incident" and "nope" in view["incidents"][0]["message"]
    assert view["incidents"][0]["elementId"] == "quote"
