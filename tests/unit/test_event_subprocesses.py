"""Message event subprocesses as Camunda runs them: at the top level and inside an embedded subprocess, interrupting
(everything else in the scope is cancelled, jobs and inbox tasks included) or not (once per message), seeing the
scope's variables as they are when the message arrives."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import HumanTask, Job
from processes.errors import NotFound
from processes.features.messages import correlate
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process
from tests.support.engine import deployed

MESSAGES = '<bpmn:message id="Msg_Cancel" name="cancel-order"/><bpmn:message id="Msg_Note" name="add-note"/>'

TOP_LEVEL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:userTask id="review" camunda:candidateGroups="sales"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="note" triggeredByEvent="true">
  <bpmn:startEvent id="note_start" isInterrupting="false">
    <bpmn:messageEventDefinition messageRef="Msg_Note"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="n1" sourceRef="note_start" targetRef="count_note"/>
  <bpmn:scriptTask id="count_note"><bpmn:script>notes = notes + [note]</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="n2" sourceRef="count_note" targetRef="note_end"/>
  <bpmn:endEvent id="note_end"/>
</bpmn:subProcess>
<bpmn:subProcess id="cancel" triggeredByEvent="true">
  <bpmn:startEvent id="cancel_start"><bpmn:messageEventDefinition messageRef="Msg_Cancel"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="c1" sourceRef="cancel_start" targetRef="record_cancel"/>
  <bpmn:scriptTask id="record_cancel"><bpmn:script>outcome = 'cancelled: ' + reason</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="c2" sourceRef="record_cancel" targetRef="cancelled"/>
  <bpmn:endEvent id="cancelled"/>
</bpmn:subProcess>"""

# Cancellation only while the order is inside "handle": its event subprocess ends the subprocess with an error,
# which the boundary event outside catches. "ship" runs after it: no cancellation there.
NESTED = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="handle"/>
<bpmn:subProcess id="handle">
  <bpmn:startEvent id="handle_start"/>
  <bpmn:sequenceFlow id="h1" sourceRef="handle_start" targetRef="split"/>
  <bpmn:parallelGateway id="split"/>
  <bpmn:sequenceFlow id="h2" sourceRef="split" targetRef="reserve"/>
  <bpmn:sequenceFlow id="h3" sourceRef="split" targetRef="authorize"/>
  <bpmn:serviceTask id="reserve" camunda:type="external" camunda:topic="wms.reserve"/>
  <bpmn:serviceTask id="authorize" camunda:type="external" camunda:topic="payment.authorize"/>
  <bpmn:sequenceFlow id="h4" sourceRef="reserve" targetRef="join"/>
  <bpmn:sequenceFlow id="h5" sourceRef="authorize" targetRef="join"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow id="h6" sourceRef="join" targetRef="handle_end"/>
  <bpmn:endEvent id="handle_end"/>
  <bpmn:subProcess id="cancel" triggeredByEvent="true">
    <bpmn:startEvent id="cancel_start"><bpmn:messageEventDefinition messageRef="Msg_Cancel"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="cancel_start" targetRef="seen"/>
    <bpmn:scriptTask id="seen"><bpmn:script>seenReservation = reservationId</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="c2" sourceRef="seen" targetRef="cancel_end"/>
    <bpmn:endEvent id="cancel_end"><bpmn:errorEventDefinition errorRef="Err_Cancelled"/></bpmn:endEvent>
  </bpmn:subProcess>
</bpmn:subProcess>
<bpmn:boundaryEvent id="was_cancelled" attachedToRef="handle">
  <bpmn:errorEventDefinition errorRef="Err_Cancelled"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f2" sourceRef="handle" targetRef="ship"/>
<bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="wms.ship"/>
<bpmn:sequenceFlow id="f3" sourceRef="ship" targetRef="shipped"/>
<bpmn:endEvent id="shipped"/>
<bpmn:sequenceFlow id="f4" sourceRef="was_cancelled" targetRef="order_cancelled"/>
<bpmn:endEvent id="order_cancelled"/>"""
ERROR = '<bpmn:error id="Err_Cancelled" errorCode="ORDER_CANCELLED"/>'


def with_messages(key: str, body: str, extra: str = "") -> tuple[str, bytes]:
    name, xml = process(key, body)
    return name, xml.replace(b"<bpmn:process ", (MESSAGES + extra).encode() + b"<bpmn:process ", 1)


def elements_completed(engine: Engine, instance_id: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]


def test_a_non_interrupting_one_runs_per_message_and_an_interrupting_one_ends_the_process(engine: Engine) -> None:
    deployed(engine, with_messages("esp_top", TOP_LEVEL))
    started = start_instance(engine, "esp_top", variables={"notes": []}, business_key="ORDER-1")
    instance_id = started.instance["id"]

    for text in ("call back after 5", "gift wrap"):
        assert correlate(engine, "add-note", business_key="ORDER-1", variables={"note": text})["result"] == "correlated"
    view = get_instance(engine, instance_id)
    assert view["status"] == "waiting"  # the review still waits: the notes did not interrupt it
    assert [e["elementId"] for e in view["activeElements"]] == ["review"]

    correlate(engine, "cancel-order", business_key="ORDER-1", variables={"reason": "customer changed mind"})
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert view["variables"]["outcome"] == "cancelled: customer changed mind"
    assert view["variables"]["notes"] == ["call back after 5", "gift wrap"]
    completed = elements_completed(engine, instance_id)
    assert completed.count("count_note") == 2 and "cancelled" in completed and "done" not in completed
    with engine.read_session() as session:
        assert session.scalar(select(HumanTask.status).where(HumanTask.instance_id == instance_id)) == "cancelled"
    started = [e for e in instance_events(engine, instance_id) if e["type"] == "event_subprocess_started"]
    assert [e["data"]["interrupting"] for e in started] == [False, False, True]
    assert started[-1]["data"]["cancelled"] == ["review"]
    with pytest.raises(NotFound):  # ended: nothing waits for the message any more
        correlate(engine, "cancel-order", business_key="ORDER-1")


def test_inside_a_subprocess_it_sees_current_variables_and_cancels_the_jobs(engine: Engine) -> None:
    deployed(engine, with_messages("esp_nested", NESTED, ERROR))
    jobs = JobService(engine, lambda job: {"reservationId": "RES-1"} if job.topic == "wms.reserve" else {})
    instance_id = start_instance(engine, "esp_nested", business_key="ORDER-2").instance["id"]
    claimed = {job.topic: job for job in jobs.claim("worker", limit=10)}
    jobs.run(claimed["wms.reserve"])  # authorize is still out at the payment system

    correlate(engine, "cancel-order", business_key="ORDER-2", variables={"reason": "duplicate"})
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert view["variables"]["seenReservation"] == "RES-1"  # set in a parallel branch after the scope started
    completed = elements_completed(engine, instance_id)
    assert "order_cancelled" in completed and "ship" not in completed
    with engine.read_session() as session:
        statuses = dict(session.execute(select(Job.topic, Job.status).where(Job.instance_id == instance_id)).all())
    assert statuses == {"wms.reserve": "done", "payment.authorize": "cancelled"}


def test_after_the_scope_ended_the_message_reaches_nobody(engine: Engine) -> None:
    deployed(engine, with_messages("esp_window", NESTED, ERROR))
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "esp_window", business_key="ORDER-3").instance["id"]
    for job in jobs.claim("worker", limit=10):
        jobs.run(job)
    assert [e["elementId"] for e in get_instance(engine, instance_id)["activeElements"]] == ["ship"]
    with pytest.raises(NotFound):  # shipping has begun: too late to cancel
        correlate(engine, "cancel-order", business_key="ORDER-3")


def test_inside_a_subprocess_its_end_ends_the_subprocess_and_the_process_goes_on(engine: Engine) -> None:
    """The event subprocess ends normally: its scope (the subprocess) ends with it, and the flow continues after the
    subprocess with what the event subprocess set."""
    body = NESTED.replace(
        '<bpmn:endEvent id="cancel_end"><bpmn:errorEventDefinition errorRef="Err_Cancelled"/></bpmn:endEvent>',
        '<bpmn:endEvent id="cancel_end"/>',
    ).replace(
        '<bpmn:scriptTask id="seen"><bpmn:script>seenReservation = reservationId</bpmn:script></bpmn:scriptTask>',
        '<bpmn:scriptTask id="seen"><bpmn:script>outcome = "cancelled"</bpmn:script></bpmn:scriptTask>',
    )
    deployed(engine, with_messages("esp_plain_end", body, ERROR))
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "esp_plain_end", business_key="ORDER-4").instance["id"]
    correlate(engine, "cancel-order", business_key="ORDER-4")
    assert [e["elementId"] for e in get_instance(engine, instance_id)["activeElements"]] == ["ship"]
    for job in jobs.claim("worker", limit=10):
        jobs.run(job)
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["outcome"] == "cancelled"
    assert elements_completed(engine, instance_id)[-3:] == ["handle", "ship", "shipped"]
