"""Compensation as BPMN defines it: handlers attached to activities by compensation boundary events run, last
completed first and each once, when a compensation throw event is reached, with the variables their activity
completed with. Also the failure paths a shipped order relies on: a RETRIES_EXHAUSTED boundary event instead of an
incident, and a retry cycle given as an expression."""

from __future__ import annotations

import pytest

from processes.core.engine import Engine
from processes.core.models import Incident
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from processes.features.messages import correlate
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import BpmnErrorThrown, JobFailed, JobService
from tests.support.diagrams import process
from tests.support.engine import deployed, job_rows

HANDLERS = """
<bpmn:serviceTask id="reserve" camunda:type="external" camunda:topic="wms.reserve"/>
<bpmn:boundaryEvent id="reserve_undo" attachedToRef="reserve"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:serviceTask id="release" isForCompensation="true" camunda:type="external" camunda:topic="wms.release"/>
<bpmn:association id="a1" associationDirection="One" sourceRef="reserve_undo" targetRef="release"/>
<bpmn:serviceTask id="authorize" camunda:type="external" camunda:topic="payment.authorize"/>
<bpmn:boundaryEvent id="authorize_undo" attachedToRef="authorize"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:serviceTask id="void" isForCompensation="true" camunda:type="external" camunda:topic="payment.void">
  <bpmn:extensionElements><camunda:inputOutput>
    <camunda:inputParameter name="voidReason">cancelled: ${reason}</camunda:inputParameter>
  </camunda:inputOutput></bpmn:extensionElements>
</bpmn:serviceTask>
<bpmn:association id="a2" associationDirection="One" sourceRef="authorize_undo" targetRef="void"/>"""

CANCELLABLE = f"""
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="reserve"/>
{HANDLERS}
<bpmn:sequenceFlow id="f2" sourceRef="reserve" targetRef="authorize"/>
<bpmn:sequenceFlow id="f3" sourceRef="authorize" targetRef="pack"/>
<bpmn:userTask id="pack"/>
<bpmn:sequenceFlow id="f4" sourceRef="pack" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="cancel" triggeredByEvent="true">
  <bpmn:startEvent id="cancel_start"><bpmn:messageEventDefinition messageRef="Msg_Cancel"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="c1" sourceRef="cancel_start" targetRef="undo"/>
  <bpmn:intermediateThrowEvent id="undo"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="c2" sourceRef="undo" targetRef="cancelled"/>
  <bpmn:endEvent id="cancelled"/>
</bpmn:subProcess>"""
MESSAGE = '<bpmn:message id="Msg_Cancel" name="cancel-order"/>'


def diagram(key: str, body: str, extra: str = MESSAGE) -> tuple[str, bytes]:
    name, xml = process(key, body)
    return name, xml.replace(b"<bpmn:process ", extra.encode() + b"<bpmn:process ", 1)


class Systems:
    """Stands in for the warehouse and payment systems: records every call with the variables it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail: dict[str, Exception] = {}

    def __call__(self, job) -> dict:
        self.calls.append((job.topic, dict(job.variables)))
        if job.topic in self.fail:
            raise self.fail[job.topic]
        return {
            "wms.reserve": {"reservationId": f"RES-{job.variables['orderId']}", "inventoryStatus": "reserved"},
            "payment.authorize": {"paymentAuthorizationId": "AUTH-1", "paymentStatus": "authorized"},
            "wms.release": {"inventoryStatus": "released"},
            "payment.void": {"paymentVoidId": "VOID-1", "paymentStatus": "voided"},
        }.get(job.topic, {})


def run_all(jobs: JobService) -> None:
    for _ in range(10):
        claimed = jobs.claim("worker", limit=10)
        if not claimed:
            return
        for job in claimed:
            jobs.run(job)


def test_cancelling_runs_each_handler_once_last_completed_first_with_its_activitys_variables(engine: Engine) -> None:
    deployed(engine, diagram("comp", CANCELLABLE))
    systems = Systems()
    jobs = JobService(engine, systems)
    instance_id = start_instance(engine, "comp", variables={"orderId": "O-7"}, business_key="O-7").instance["id"]
    run_all(jobs)
    assert [e["elementId"] for e in get_instance(engine, instance_id)["activeElements"]] == ["pack"]

    correlate(engine, "cancel-order", business_key="O-7", variables={"reason": "changed mind"})
    run_all(jobs)
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert [topic for topic, _ in systems.calls] == ["wms.reserve", "payment.authorize", "payment.void", "wms.release"]
    void, release = systems.calls[2][1], systems.calls[3][1]
    assert void["paymentAuthorizationId"] == "AUTH-1" and void["voidReason"] == "cancelled: changed mind"
    assert release["reservationId"] == "RES-O-7" and release["reason"] == "changed mind"  # and the process's now
    assert view["variables"]["paymentStatus"] == "voided" and view["variables"]["inventoryStatus"] == "released"
    events = instance_events(engine, instance_id)
    done = [e["data"] for e in events if e["type"] == "compensation_completed"]
    assert [(d["activity"], d["handler"]) for d in done] == [("authorize", "void"), ("reserve", "release")]
    assert [j.element_id for j in job_rows(engine, instance_id)] == ["reserve", "authorize", "void", "release"]


def test_only_what_completed_is_compensated(engine: Engine) -> None:
    deployed(engine, diagram("comp_early", CANCELLABLE))
    systems = Systems()
    jobs = JobService(engine, systems)
    instance_id = start_instance(engine, "comp_early", variables={"orderId": "O-8"}, business_key="O-8").instance["id"]
    jobs.run(jobs.claim("worker")[0])  # reserved; authorize has not run yet
    correlate(engine, "cancel-order", business_key="O-8", variables={"reason": "late"})
    run_all(jobs)
    assert [topic for topic, _ in systems.calls] == ["wms.reserve", "wms.release"]
    assert get_instance(engine, instance_id)["status"] == "completed"


def test_a_failing_handler_is_an_incident_on_the_throw_event(engine: Engine) -> None:
    deployed(engine, diagram("comp_fail", CANCELLABLE))
    systems = Systems()
    jobs = JobService(engine, systems)
    instance_id = start_instance(engine, "comp_fail", variables={"orderId": "O-9"}, business_key="O-9").instance["id"]
    run_all(jobs)
    systems.fail["payment.void"] = BpmnErrorThrown("ALREADY_CAPTURED", "authorization AUTH-1 is captured")
    correlate(engine, "cancel-order", business_key="O-9", variables={"reason": "x"})
    run_all(jobs)
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident"
    with engine.read_session() as session:
        incident = session.query(Incident).filter_by(instance_id=instance_id).one()
    assert incident.element_id == "undo" and "ALREADY_CAPTURED" in incident.message
    assert "wms.release" not in [topic for topic, _ in systems.calls]  # one at a time: the next waits


def test_compensation_the_engine_cannot_run_is_refused_at_deploy(engine: Engine) -> None:
    body = """
    <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="payment.authorize"/>
    <bpmn:boundaryEvent id="charge_undo" attachedToRef="charge"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
    <bpmn:userTask id="refund_by_hand" isForCompensation="true"/>
    <bpmn:association id="a1" sourceRef="charge_undo" targetRef="refund_by_hand"/>
    <bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="undo_all"/>
    <bpmn:endEvent id="undo_all"><bpmn:compensateEventDefinition/></bpmn:endEvent>"""
    with pytest.raises(DeploymentRejected) as refused:
        deploy(engine, [diagram("comp_bad", body, "")])
    problems = {p.element_id: p.message for p in refused.value.problems}
    assert "service, send or business rule tasks" in problems["refund_by_hand"]
    assert "undo_all" not in problems  # a compensation end event runs (tests/e2e/test_thrown_events.py)


RETRYING = """
<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="authorize"/>
<bpmn:serviceTask id="authorize" camunda:type="external" camunda:topic="payment.authorize">
  <bpmn:extensionElements>
    <camunda:failedJobRetryTimeCycle>${retryCycle}</camunda:failedJobRetryTimeCycle>
  </bpmn:extensionElements>
</bpmn:serviceTask>
<bpmn:boundaryEvent id="gave_up" attachedToRef="authorize">
  <bpmn:errorEventDefinition errorRef="Err_Exhausted" camunda:errorMessageVariable="paymentProblem"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f2" sourceRef="authorize" targetRef="paid"/><bpmn:endEvent id="paid"/>
<bpmn:sequenceFlow id="f3" sourceRef="gave_up" targetRef="resolve"/>
<bpmn:userTask id="resolve" camunda:candidateGroups="operations"/>
<bpmn:sequenceFlow id="f4" sourceRef="resolve" targetRef="resolved"/><bpmn:endEvent id="resolved"/>"""
EXHAUSTED = '<bpmn:error id="Err_Exhausted" errorCode="RETRIES_EXHAUSTED"/>'


def test_exhausted_retries_take_a_retries_exhausted_boundary_after_the_diagrams_retry_cycle(engine: Engine) -> None:
    deployed(engine, diagram("retrying", RETRYING, EXHAUSTED))
    systems = Systems()
    systems.fail["payment.authorize"] = JobFailed("payment: HTTP 503", retryable=True)
    jobs = JobService(engine, systems)
    instance_id = start_instance(engine, "retrying", variables={"retryCycle": "R3/PT0S"}).instance["id"]
    run_all(jobs)
    view = get_instance(engine, instance_id)
    assert view["status"] == "waiting" and [e["elementId"] for e in view["activeElements"]] == ["resolve"]
    assert len(systems.calls) == 3  # R3: three attempts in all
    assert "after 3 attempts" in view["variables"]["paymentProblem"]
    [job] = job_rows(engine, instance_id)
    assert job.max_attempts == 3 and job.retry_cycle == "R3/PT0S" and job.status == "done"
    with engine.read_session() as session:
        assert session.query(Incident).filter_by(instance_id=instance_id).count() == 0


def test_without_such_a_boundary_exhausted_retries_stay_an_incident(engine: Engine) -> None:
    other_code = EXHAUSTED.replace("RETRIES_EXHAUSTED", "PAYMENT_PROBLEM")  # the boundary catches another code
    deployed(engine, diagram("retrying_plain", RETRYING, other_code))
    systems = Systems()
    systems.fail["payment.authorize"] = JobFailed("payment: HTTP 503", retryable=True)
    jobs = JobService(engine, systems)
    instance_id = start_instance(engine, "retrying_plain", variables={"retryCycle": "R2/PT0S"}).instance["id"]
    run_all(jobs)
    assert get_instance(engine, instance_id)["status"] == "incident"
    assert len(systems.calls) == 2


def test_a_retry_cycle_expression_that_fails_is_an_incident_naming_it(engine: Engine) -> None:
    deployed(engine, diagram("retrying_unset", RETRYING, EXHAUSTED))
    instance_id = start_instance(engine, "retrying_unset").instance["id"]  # no retryCycle variable
    assert get_instance(engine, instance_id)["status"] == "incident"
    with engine.read_session() as session:
        incident = session.query(Incident).filter_by(instance_id=instance_id).one()
    assert incident.element_id == "authorize" and incident.message.startswith("retry cycle of authorize: ")
    assert job_rows(engine, instance_id) == []  # no job without a valid retry cycle
