"""Camunda 8 constructs run as drawn: FEEL script tasks (zeebe:script), call activities (zeebe:calledElement)."""

from __future__ import annotations

import pytest

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from processes.instances import get_instance, start_instance
from tests.support.diagrams import c8

SCRIPT = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="total"/>
  <bpmn:scriptTask id="total"><bpmn:extensionElements>
    <zeebe:script expression="=sum(for i in items return i.quantity * i.unitPrice)" resultVariable="total"/>
  </bpmn:extensionElements></bpmn:scriptTask>
  <bpmn:sequenceFlow id="b" sourceRef="total" targetRef="e"/><bpmn:endEvent id="e"/>"""

CALLER = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="call"/>
  <bpmn:callActivity id="call"><bpmn:extensionElements><zeebe:calledElement processId="c8_child"/>
  </bpmn:extensionElements></bpmn:callActivity>
  <bpmn:sequenceFlow id="b" sourceRef="call" targetRef="e"/><bpmn:endEvent id="e"/>"""


def test_a_feel_script_task_sets_its_result_variable(engine: Engine) -> None:
    deploy(engine, [c8("c8_script", SCRIPT)])
    items = [{"quantity": 2, "unitPrice": 2.5}, {"quantity": 1, "unitPrice": 10}]
    view = get_instance(engine, start_instance(engine, "c8_script", variables={"items": items}).instance["id"])
    assert view["status"] == "completed" and view["variables"]["total"] == 15


def test_a_feel_script_with_a_syntax_error_is_refused_at_deploy(engine: Engine) -> None:
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [c8("c8_bad_script", SCRIPT.replace("=sum(", "=sum(("))])
    assert any(p.element_id == "total" and "FEEL" in p.message for p in rejected.value.problems)


def test_a_zeebe_call_activity_calls_its_process(engine: Engine) -> None:
    deploy(engine, [c8("c8_child", SCRIPT.replace('resultVariable="total"', 'resultVariable="childTotal"'))])
    deploy(engine, [c8("c8_parent", CALLER)])
    items = [{"quantity": 3, "unitPrice": 1}]
    view = get_instance(engine, start_instance(engine, "c8_parent", variables={"items": items}).instance["id"])
    assert view["status"] == "completed" and view["variables"]["childTotal"] == 3


def test_a_zeebe_call_to_an_unknown_process_names_the_call_activity(engine: Engine) -> None:
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [c8("c8_orphan", CALLER.replace("c8_child", "nowhere"))])
    assert any(p.element_id == "call" for p in rejected.value.problems), rejected.value.problems


def test_task_headers_reach_external_workers(server, conformance) -> None:
    """zeebe-io's get-started order process (unchanged) gives its payment job a header: method=VISA."""
    from tests.support.rest import activate
    from tests.support.rest import deploy as deploy_over_http

    xml = (conformance / "camunda8" / "order-process-4.bpmn").read_bytes()
    key = deploy_over_http(server, ("order-process-4.bpmn", xml)).json()["definitions"][0]["key"]
    server.post(f"/process-definitions/{key}/instances", json={"variables": {"orderId": "H-1"}})
    job = activate(server, "payment-service")[0]
    assert job["customHeaders"] == {"method": "VISA"}


ERROR_VARIABLES = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="pay"/>
  <bpmn:serviceTask id="pay" camunda:type="external" camunda:topic="erp.pay"/>
  <bpmn:boundaryEvent id="failed" attachedToRef="pay">
    <bpmn:errorEventDefinition camunda:errorCodeVariable="why" camunda:errorMessageVariable="details"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="b" sourceRef="pay" targetRef="ok"/><bpmn:endEvent id="ok"/>
  <bpmn:sequenceFlow id="c" sourceRef="failed" targetRef="handled"/><bpmn:endEvent id="handled"/>"""


def test_an_error_boundary_stores_the_code_and_message(engine: Engine) -> None:
    from processes.jobs.service import BpmnErrorThrown, JobService
    from tests.support.diagrams import process

    deploy(engine, [process("error_variables", ERROR_VARIABLES)])
    jobs = JobService(engine, lambda job: (_ for _ in ()).throw(BpmnErrorThrown("CARD_EXPIRED", "card expired 01/25")))
    instance_id = start_instance(engine, "error_variables").instance["id"]
    jobs.run(jobs.claim("w")[0])
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert view["variables"]["why"] == "CARD_EXPIRED" and view["variables"]["details"] == "card expired 01/25"
