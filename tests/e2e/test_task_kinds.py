"""Tasks that real Camunda diagrams implement as jobs, over HTTP: send tasks, business rule tasks and compensation
handlers implemented like service tasks, job types written as expressions, and diagrams in the Activiti namespace
that Camunda 7 still reads."""

from __future__ import annotations

from tests.support.diagrams import c8, process
from tests.support.rest import activate, assert_problem, complete, deploy, start, task_of
from tests.support.server import Server
from tests.support.waiting import wait_until_ended


def flow(*elements: str) -> str:
    """Elements in a row between a start and an end event (each element's id is its first attribute)."""
    ids = ["start", *(e.split('id="', 1)[1].split('"', 1)[0] for e in elements), "end"]
    pairs = enumerate(zip(ids, ids[1:], strict=False))
    arrows = "".join(f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}"/>' for n, (a, b) in pairs)
    return '<bpmn:startEvent id="start"/>' + "".join(elements) + '<bpmn:endEvent id="end"/>' + arrows


def work(server: Server, topic: str, instance_id: str, **variables) -> dict:
    """Act as an external worker on `topic`: take the instance's one job there and complete it."""
    jobs = [j for j in activate(server, topic, maxJobs=10) if j["instanceId"] == instance_id]
    assert len(jobs) == 1, jobs
    done = server.post(f"/jobs/{jobs[0]['id']}/complete", json={"workerId": "w1", "variables": variables})
    assert done.status_code == 200, done.text
    return jobs[0]


def test_a_send_task_is_a_job_an_external_worker_completes(server: Server) -> None:
    send = '<bpmn:sendTask id="confirm" name="Send confirmation" camunda:type="external" camunda:topic="mail.send"/>'
    assert deploy(server, process("send_c7", flow(send))).status_code == 201
    instance_id = start(server, "send_c7", email="ada@example.com")
    job = work(server, "mail.send", instance_id, messageId="M-1")
    assert job["elementId"] == "confirm" and job["variables"] == {"email": "ada@example.com"}
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["messageId"] == "M-1"

    zeebe = '<bpmn:sendTask id="publish"><bpmn:extensionElements><zeebe:taskDefinition type="kafka"/>'
    zeebe += "</bpmn:extensionElements></bpmn:sendTask>"
    assert deploy(server, c8("send_c8", flow(zeebe))).status_code == 201
    instance_id = start(server, "send_c8")
    work(server, "kafka", instance_id)
    assert wait_until_ended(server, instance_id)["status"] == "completed"


def test_a_send_task_without_an_implementation_is_refused_naming_it(server: Server) -> None:
    body = flow('<bpmn:sendTask id="notify_customer" messageRef="Msg"/>')
    name, xml = process("send_nothing", body)
    xml = xml.replace(b"<bpmn:process ", b'<bpmn:message id="Msg" name="notice"/><bpmn:process ', 1)
    refused = assert_problem(deploy(server, (name, xml)), 422, "send task has no implementation", "camunda:topic")
    assert [p["elementId"] for p in refused["problems"]] == ["notify_customer"]


def test_a_business_rule_task_implemented_in_java_is_a_job(server: Server) -> None:
    rule = '<bpmn:businessRuleTask id="score" camunda:class="com.acme.RiskScore"/>'
    response = deploy(server, process("rule_job", flow(rule)))
    assert response.status_code == 201, response.text
    warning = response.json()["warnings"][0]
    assert warning["elementId"] == "score" and "camunda:class" in warning["message"]
    assert "'com.acme.RiskScore'" in warning["message"]
    instance_id = start(server, "rule_job", amount=120)
    work(server, "com.acme.RiskScore", instance_id, risk="low")
    assert wait_until_ended(server, instance_id)["variables"]["risk"] == "low"


def test_a_compensation_handler_in_java_is_done_by_an_external_worker(server: Server) -> None:
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="reserve" camunda:type="external" camunda:topic="stock.reserve"/>
    <bpmn:boundaryEvent id="reserve_undo" attachedToRef="reserve"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
    <bpmn:serviceTask id="release" isForCompensation="true" camunda:class="com.acme.ReleaseStock"/>
    <bpmn:association id="a1" associationDirection="One" sourceRef="reserve_undo" targetRef="release"/>
    <bpmn:intermediateThrowEvent id="undo"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="reserve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="reserve" targetRef="undo"/>
    <bpmn:sequenceFlow id="f3" sourceRef="undo" targetRef="end"/>"""
    response = deploy(server, process("undo_java", body))
    assert response.status_code == 201, response.text
    warnings = {w["elementId"]: w["message"] for w in response.json()["warnings"]}
    assert "'com.acme.ReleaseStock'" in warnings["release"]
    instance_id = start(server, "undo_java")
    work(server, "stock.reserve", instance_id, reservationId="R-7")
    job = work(server, "com.acme.ReleaseStock", instance_id, released=True)
    assert job["elementId"] == "release" and job["variables"]["reservationId"] == "R-7"
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["released"] is True
    events = [e["type"] for e in server.get(f"/process-instances/{instance_id}/events").json()["items"]]
    assert "compensation_started" in events and "compensation_completed" in events


def test_a_feel_job_type_is_evaluated_for_each_job(server: Server) -> None:
    task = '<bpmn:serviceTask id="validate"><bpmn:extensionElements>'
    task += '<zeebe:taskDefinition type="=&quot;validate-&quot; + dataType" retries="=attempts"/>'
    task += "</bpmn:extensionElements></bpmn:serviceTask>"
    assert deploy(server, c8("feel_type", flow(task))).status_code == 201
    for data_type, attempts in (("json", 5), ("xml", 2)):
        instance_id = start(server, "feel_type", dataType=data_type, attempts=attempts)
        job = work(server, f"validate-{data_type}", instance_id)
        assert job["elementId"] == "validate" and job["retries"] == attempts  # retries="=attempts" too
        assert wait_until_ended(server, instance_id)["status"] == "completed"
    view = server.get(f"/process-instances/{start(server, 'feel_type')}").json()
    assert view["status"] == "incident"
    assert "job type of validate" in view["incidents"][0]["message"] and "text" in view["incidents"][0]["message"]

    bad = task.replace("dataType", "(dataType")
    assert_problem(deploy(server, c8("feel_type_bad", flow(bad))), 422, "validate")


ACTIVITI = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:activiti="http://activiti.org/bpmn"
    id="d" targetNamespace="http://www.activiti.org/test">
  <process id="activiti_order" isExecutable="true">
    <startEvent id="start"/>
    <serviceTask id="check" activiti:class="org.acme.CheckOrder" activiti:async="true"/>
    <userTask id="approve" name="Approve" activiti:assignee="${approver}" activiti:candidateGroups="sales">
      <extensionElements>
        <activiti:formProperty id="approved" name="Approve?" type="boolean" required="true"/>
        <activiti:formProperty id="level" name="Level" type="enum">
          <activiti:value id="standard" name="Standard"/><activiti:value id="express" name="Express"/>
        </activiti:formProperty>
      </extensionElements>
    </userTask>
    <userTask id="sign" name="Sign" activiti:candidateGroups="finance">
      <multiInstanceLoopCharacteristics isSequential="true" activiti:collection="${signers}"
          activiti:elementVariable="signer"/>
    </userTask>
    <endEvent id="end"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <sequenceFlow id="f2" sourceRef="check" targetRef="approve"/>
    <sequenceFlow id="f3" sourceRef="approve" targetRef="sign"/>
    <sequenceFlow id="f4" sourceRef="sign" targetRef="end"/>
  </process>
</definitions>
"""


def test_an_activiti_namespace_diagram_runs_as_camunda_reads_it(server: Server) -> None:
    response = deploy(server, ("activiti_order.bpmn", ACTIVITI.encode()))
    assert response.status_code == 201, response.text
    assert any("camunda:class" in w["message"] for w in response.json()["warnings"])
    instance_id = start(server, "activiti_order", approver="alice", signers=["x", "y"])
    work(server, "org.acme.CheckOrder", instance_id, checked=True)  # the delegate: a job named after its class
    task = task_of(server, instance_id, candidateGroup="sales")
    assert task["assignee"] == "alice" and task["candidateGroups"] == ["sales"]
    assert [(f["id"], f["label"], f["required"]) for f in task["formFields"]] == [
        ("approved", "Approve?", True), ("level", "Level", False)
    ]  # fmt: skip
    refused = assert_problem(complete(server, task["id"], "alice", level="overnight"), 422)
    assert set(refused["errors"]) == {"approved", "level"}  # the legacy form properties are the task's form
    assert complete(server, task["id"], "alice", approved=True, level="express").status_code == 200
    for _ in ("x", "y"):  # the collection: one task per signer, offered to finance
        task = task_of(server, instance_id, candidateGroup="finance")
        assert complete(server, task["id"], "fiona").status_code == 200
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["checked"] is True
    stored = server.get("/process-definitions/activiti_order/xml").text
    assert 'xmlns:activiti="http://activiti.org/bpmn"' in stored  # kept as drawn


SCRIPTED = """<bpmn:serviceTask id="quote" camunda:type="external" camunda:topic="quote">
  <bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="net"><camunda:script scriptFormat="python">
subtotal = sum(line["price"] * line["quantity"] for line in items)
round(subtotal * (1 - discount), 2)
    </camunda:script></camunda:inputParameter>
    <camunda:inputParameter name="skus"><camunda:list>
      <camunda:value>fixed</camunda:value>
      <camunda:script scriptFormat="python">[line["sku"] for line in items]</camunda:script>
    </camunda:list></camunda:inputParameter>
    <camunda:outputParameter name="gross"><camunda:script scriptFormat="juel">${price * 1.19}</camunda:script>
    </camunda:outputParameter>
  </camunda:inputOutput></bpmn:extensionElements>
</bpmn:serviceTask>"""


def test_scripts_in_input_and_output_parameters_run_in_the_sandbox(server: Server) -> None:
    assert deploy(server, process("scripted", flow(SCRIPTED))).status_code == 201
    items = [{"sku": "A", "price": 10.0, "quantity": 3}, {"sku": "B", "price": 5.0, "quantity": 2}]
    instance_id = start(server, "scripted", items=items, discount=0.1)
    job = work(server, "quote", instance_id, price=100)
    assert job["variables"]["net"] == 36.0 and job["variables"]["skus"] == ["fixed", ["A", "B"]]
    view = wait_until_ended(server, instance_id)
    assert view["status"] == "completed" and view["variables"]["gross"] == 119.0
    assert "subtotal" not in view["variables"] and "price" not in view["variables"]  # the script's own, and outputs

    failing = server.get(f"/process-instances/{start(server, 'scripted', items='none', discount=0)}").json()
    assert failing["status"] == "incident" and "input mapping of quote" in failing["incidents"][0]["message"]


def test_scripts_orderflow_cannot_run_are_refused_at_deploy_naming_element_and_parameter(server: Server) -> None:
    groovy = SCRIPTED.replace('scriptFormat="python">[line', 'scriptFormat="groovy">[line')
    refused = assert_problem(deploy(server, process("groovy", flow(groovy))), 422, "input parameter", "skus", "groovy")
    assert [p["elementId"] for p in refused["problems"]] == ["quote"]
    hostile = SCRIPTED.replace("round(subtotal", "__import__('os').system('id') or round(subtotal")
    assert_problem(deploy(server, process("hostile", flow(hostile))), 422, "input parameter", "net", "__import__")
    resource = '<bpmn:scriptTask id="calc" scriptFormat="groovy" camunda:resource="deployment://calc.groovy"/>'
    refused = assert_problem(deploy(server, process("resource", flow(resource))), 422, "deployment://calc.groovy")
    assert [p["elementId"] for p in refused["problems"]] == ["calc"]


def test_a_receive_task_waits_for_a_message_and_one_without_a_message_is_refused(server: Server) -> None:
    # A receive task is never a job in Camunda 7 or 8: it waits for its message (tests/e2e/test_messages.py).
    refused = deploy(server, process("receive_nothing", flow('<bpmn:receiveTask id="wait_for_payment"/>')))
    body = assert_problem(refused, 422, "receive task names no message", "messageRef")
    assert [p["elementId"] for p in body["problems"]] == ["wait_for_payment"]
