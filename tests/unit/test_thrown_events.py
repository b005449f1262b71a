"""Event subprocesses started by signals, escalations and timers, signal start events, an uncaught error end event,
and the bpmn-miwg C.9 models (error and timer event subprocesses) deployed together and started."""

from __future__ import annotations

import time
from pathlib import Path

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.features.signals import broadcast
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process


def deployed(engine: Engine, key: str, body: str, definitions: str = "") -> None:
    name, xml = process(key, body)
    deploy(engine, [(name, xml.replace(b"<bpmn:process ", definitions.encode() + b"<bpmn:process ", 1))])


def completed(engine: Engine, instance_id: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]


def run_due_jobs(engine: Engine) -> None:
    jobs = JobService(engine)
    for job in jobs.claim("test", limit=20):
        jobs.run(job)


SIGNAL = '<bpmn:signal id="Sig" name="recall"/>'
SIGNAL_START = """
<bpmn:startEvent id="on_recall"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:startEvent>
<bpmn:sequenceFlow id="f1" sourceRef="on_recall" targetRef="note"/>
<bpmn:scriptTask id="note"><bpmn:script>noted = batch</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="done"/>
<bpmn:endEvent id="done"/>"""
SIGNAL_SUBPROCESS = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:userTask id="review"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="recalled" triggeredByEvent="true">
  <bpmn:startEvent id="recall_start" isInterrupting="false"><bpmn:signalEventDefinition signalRef="Sig"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="r1" sourceRef="recall_start" targetRef="check"/>
  <bpmn:scriptTask id="check"><bpmn:script>checked = batch</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="r2" sourceRef="check" targetRef="recall_end"/>
  <bpmn:endEvent id="recall_end"/>
</bpmn:subProcess>"""


def test_a_signal_starts_processes_and_non_interrupting_event_subprocesses(engine: Engine) -> None:
    deployed(engine, "recall_log", SIGNAL_START, SIGNAL)
    deployed(engine, "recall_review", SIGNAL_SUBPROCESS, SIGNAL)
    reviewing = start_instance(engine, "recall_review").instance["id"]
    outcome = broadcast(engine, "recall", {"batch": "B-7"})
    assert outcome["reached"] == [reviewing] and len(outcome["started"]) == 1
    started = get_instance(engine, outcome["started"][0])
    assert started["status"] == "completed" and started["variables"]["noted"] == "B-7"
    view = get_instance(engine, reviewing)
    assert [e["elementId"] for e in view["activeElements"]] == ["review"]  # not interrupted
    assert "check" in completed(engine, reviewing)
    assert broadcast(engine, "no-such-signal")["reached"] == []


ESCALATION = '<bpmn:escalation id="Esc" escalationCode="HELP"/>'
ESCALATION_SUBPROCESS = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pick"/>
<bpmn:subProcess id="pick">
  <bpmn:startEvent id="pick_start"/>
  <bpmn:sequenceFlow id="p1" sourceRef="pick_start" targetRef="ask"/>
  <bpmn:intermediateThrowEvent id="ask"><bpmn:escalationEventDefinition escalationRef="Esc"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="p2" sourceRef="ask" targetRef="picked"/>
  <bpmn:scriptTask id="picked"><bpmn:script>picked = True</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="p3" sourceRef="picked" targetRef="pick_end"/>
  <bpmn:endEvent id="pick_end"/>
  <bpmn:subProcess id="helping" triggeredByEvent="true">
    <bpmn:startEvent id="help_start"><bpmn:escalationEventDefinition escalationRef="Esc"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="h1" sourceRef="help_start" targetRef="helped"/>
    <bpmn:scriptTask id="helped"><bpmn:script>helped = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="h2" sourceRef="helped" targetRef="help_end"/>
    <bpmn:endEvent id="help_end"/>
  </bpmn:subProcess>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="pick" targetRef="done"/>
<bpmn:endEvent id="done"/>"""


def test_an_escalation_event_subprocess_interrupts_its_scope(engine: Engine) -> None:
    deployed(engine, "escalation_esp", ESCALATION_SUBPROCESS, ESCALATION)
    instance_id = start_instance(engine, "escalation_esp").instance["id"]
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    steps = completed(engine, instance_id)
    assert "helped" in steps and "picked" not in steps and "done" in steps  # the subprocess ended, the process not


TIMER_SUBPROCESS = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
<bpmn:userTask id="approve"/>
<bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:subProcess id="too_slow" triggeredByEvent="true">
  <bpmn:startEvent id="deadline">
    <bpmn:timerEventDefinition><bpmn:timeDuration>PT0.2S</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="t1" sourceRef="deadline" targetRef="expired"/>
  <bpmn:endEvent id="expired"/>
</bpmn:subProcess>"""


def test_an_interrupting_timer_event_subprocess_takes_over_when_due(engine: Engine) -> None:
    deployed(engine, "timer_esp", TIMER_SUBPROCESS)
    instance_id = start_instance(engine, "timer_esp").instance["id"]
    view = get_instance(engine, instance_id)
    assert [j["kind"] for j in view["jobs"]] == ["timer"] and view["status"] == "waiting"
    deadline = time.monotonic() + 10
    while get_instance(engine, instance_id)["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
        run_due_jobs(engine)
    assert get_instance(engine, instance_id)["status"] == "completed"
    assert "expired" in completed(engine, instance_id) and "approve" not in completed(engine, instance_id)


UNCAUGHT = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="refuse"/>
<bpmn:endEvent id="refuse"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:endEvent>"""


def test_an_error_nothing_catches_is_an_incident_at_its_end_event(engine: Engine) -> None:
    deployed(engine, "uncaught_error", UNCAUGHT, '<bpmn:error id="Err" errorCode="NOPE"/>')
    instance_id = start_instance(engine, "uncaught_error").instance["id"]
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident"
    [incident] = view["incidents"]
    assert incident["elementId"] == "refuse" and "NOPE" in incident["message"] and "not caught" in incident["message"]


RISK_CHECK = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
<decision id="risk_check" name="Risk"><decisionTable id="t">
<input id="i"><inputExpression id="ie" typeRef="string"><text>"x"</text></inputExpression></input>
<output id="o" name="risk" typeRef="string"/>
<rule id="r"><inputEntry id="e1"><text>-</text></inputEntry><outputEntry id="e2"><text>"low"</text></outputEntry></rule>
</decisionTable></decision></definitions>"""


def test_miwg_c9_error_and_timer_event_subprocesses_deploy_and_run(engine: Engine, conformance: Path) -> None:
    miwg = conformance / "bpmn-miwg"
    files = [(n, (miwg / n).read_bytes()) for n in ("C.9.1.bpmn", "C.9.2.bpmn", "C.9.0.bpmn")]
    result = deploy(engine, [*files, ("risk_check.dmn", RISK_CHECK)])
    assert {d["key"] for d in result.as_dict()["definitions"]} == {
        "requestDocument_en",
        "ManualCheck",
        "customer_onboarding_en",
    }
    # ManualCheck waits for its decision; its non-interrupting timer event subprocess (R1/P5D) is armed.
    check = get_instance(engine, start_instance(engine, "ManualCheck").instance["id"])
    assert check["status"] == "waiting" and "UserTask_DecideOnApplication" in [
        e["elementId"] for e in check["activeElements"]
    ]
    [timer] = [j for j in check["jobs"] if j["kind"] == "timer"]
    assert timer["dueAt"] > check["createdAt"]
    onboarding = get_instance(engine, start_instance(engine, "customer_onboarding_en").instance["id"])
    assert onboarding["status"] == "running" and not onboarding["incidents"]


def test_what_cannot_run_is_refused_naming_the_element(engine: Engine) -> None:
    from processes.errors import DeploymentRejected

    body = """
    <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="both"/>
    <bpmn:endEvent id="both"><bpmn:signalEventDefinition signalRef="Sig"/>
      <bpmn:escalationEventDefinition escalationRef="Esc"/></bpmn:endEvent>
    <bpmn:subProcess id="late" triggeredByEvent="true">
      <bpmn:startEvent id="bad_timer"><bpmn:timerEventDefinition><bpmn:timeDuration>soon</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:startEvent>
      <bpmn:sequenceFlow id="l1" sourceRef="bad_timer" targetRef="late_end"/><bpmn:endEvent id="late_end"/>
    </bpmn:subProcess>
    <bpmn:subProcess id="undo" triggeredByEvent="true">
      <bpmn:startEvent id="on_compensation"><bpmn:compensateEventDefinition/></bpmn:startEvent>
      <bpmn:sequenceFlow id="u1" sourceRef="on_compensation" targetRef="undo_end"/><bpmn:endEvent id="undo_end"/>
    </bpmn:subProcess>"""
    try:
        deployed(engine, "cannot_run", body, SIGNAL + ESCALATION)
    except DeploymentRejected as refused:
        problems = {p.element_id: p.message for p in refused.problems}
    else:
        raise AssertionError("deployed")
    assert set(problems) == {"both", "bad_timer", "on_compensation"}, problems
    assert "several event definitions" in problems["both"]
    assert "timer 'soon' is not an ISO 8601" in problems["bad_timer"]
    assert "compensation event subprocesses" in problems["on_compensation"]


SIGNAL_BOUNDARY = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
<bpmn:userTask id="review"/>
<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done"/>
<bpmn:endEvent id="done"/>
<bpmn:boundaryEvent id="recall_seen" attachedToRef="review" cancelActivity="false">
  <bpmn:signalEventDefinition signalRef="Sig"/>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="recall_seen" targetRef="log"/>
<bpmn:scriptTask id="log"><bpmn:script>logged = batch</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f4" sourceRef="log" targetRef="logged_end"/>
<bpmn:endEvent id="logged_end"/>"""


def test_a_non_interrupting_boundary_event_catches_every_signal_while_its_task_waits(engine: Engine) -> None:
    deployed(engine, "recall_boundary", SIGNAL_BOUNDARY, SIGNAL)
    instance_id = start_instance(engine, "recall_boundary").instance["id"]
    for batch in ("B-1", "B-2"):
        assert broadcast(engine, "recall", {"batch": batch})["reached"] == [instance_id]
    assert completed(engine, instance_id).count("log") == 2
    view = get_instance(engine, instance_id)
    assert sorted(e["elementId"] for e in view["activeElements"]) == ["recall_seen", "review"]


SIGNAL_THROW_ALL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="recall"/>
<bpmn:endEvent id="recall"><bpmn:signalEventDefinition signalRef="Sig">
  <bpmn:extensionElements><camunda:in variables="all"/><camunda:in source="batch" target="recalledBatch"/>
  </bpmn:extensionElements></bpmn:signalEventDefinition></bpmn:endEvent>"""


def test_a_thrown_signal_carries_the_variables_camunda_in_names(engine: Engine) -> None:
    deployed(engine, "recall_review_in", SIGNAL_SUBPROCESS, SIGNAL)
    deployed(engine, "recall_throw", SIGNAL_THROW_ALL, SIGNAL)
    reviewing = start_instance(engine, "recall_review_in").instance["id"]
    thrower = start_instance(engine, "recall_throw", variables={"batch": "B-9"}).instance["id"]
    assert get_instance(engine, thrower)["status"] == "completed"
    run_due_jobs(engine)  # the publish job: the signal reaches the other orders after the thrower's step
    checked = [e["data"] for e in instance_events(engine, reviewing) if e["elementId"] == "check"]
    assert checked == [{"checked": "B-9"}]
    received = [e for e in instance_events(engine, reviewing) if e["type"] == "event_subprocess_started"]
    assert received and received[0]["data"]["signal"] == "recall"


def test_message_throw_events_with_an_implementation_are_jobs_on_its_topic(engine: Engine) -> None:
    from tests.support.diagrams import c8

    body = """
    <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tell"/>
    <bpmn:intermediateThrowEvent id="tell"><bpmn:messageEventDefinition messageRef="M"
      camunda:class="com.example.TellCustomer"/></bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="tell" targetRef="told"/>
    <bpmn:endEvent id="told"><bpmn:extensionElements><zeebe:taskDefinition type="crm.told" retries="2"/>
      </bpmn:extensionElements><bpmn:messageEventDefinition messageRef="M"/></bpmn:endEvent>"""
    name, xml = c8("message_jobs", body)
    deploy(engine, [(name, xml.replace(b"<bpmn:process ", b'<bpmn:message id="M" name="m"/><bpmn:process ', 1))])
    instance_id = start_instance(engine, "message_jobs").instance["id"]
    waiting = get_instance(engine, instance_id)["activeElements"]
    assert [(e["elementId"], e["type"], e["state"]) for e in waiting] == [("tell", "IntermediateThrowEvent", "started")]
    jobs = JobService(engine, lambda job: {f"done_{job.topic}": True})
    topics = []
    for _ in range(2):
        [job] = jobs.claim("test", limit=5, topics=["com.example.TellCustomer", "crm.told"], service_only=True)
        topics.append((job.topic, job.element_id, job.max_attempts))
        jobs.run(job)
    assert topics == [("com.example.TellCustomer", "tell", 3), ("crm.told", "told", 2)]
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["done_crm.told"] is True


SIGNAL_OR_TIMEOUT = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="which"/>
<bpmn:eventBasedGateway id="which"/>
<bpmn:sequenceFlow id="f2" sourceRef="which" targetRef="recalled"/>
<bpmn:sequenceFlow id="f3" sourceRef="which" targetRef="quiet"/>
<bpmn:intermediateCatchEvent id="recalled"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:intermediateCatchEvent>
<bpmn:intermediateCatchEvent id="quiet"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>
</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f4" sourceRef="recalled" targetRef="by_signal"/>
<bpmn:endEvent id="by_signal"/>
<bpmn:sequenceFlow id="f5" sourceRef="quiet" targetRef="by_timer"/>
<bpmn:endEvent id="by_timer"/>"""


def test_a_signal_after_an_event_based_gateway_takes_its_path(engine: Engine) -> None:
    deployed(engine, "recall_or_quiet", SIGNAL_OR_TIMEOUT, SIGNAL)
    instance_id = start_instance(engine, "recall_or_quiet").instance["id"]
    assert broadcast(engine, "recall", {"batch": "B-3"})["reached"] == [instance_id]
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["batch"] == "B-3"
    assert "by_signal" in completed(engine, instance_id) and "by_timer" not in completed(engine, instance_id)


EACH_ITEM = """
<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
<bpmn:subProcess id="each">
  <bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="item"/>
  <bpmn:startEvent id="item_start"/><bpmn:sequenceFlow id="e1" sourceRef="item_start" targetRef="check"/>
  <bpmn:exclusiveGateway id="check" default="ok"/>
  <bpmn:sequenceFlow id="bad" sourceRef="check" targetRef="refuse">
    <bpmn:conditionExpression>${item == 'x'}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="ok" sourceRef="check" targetRef="fine"/>
  <bpmn:endEvent id="refuse"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:endEvent>
  <bpmn:endEvent id="fine"/>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="done"/><bpmn:endEvent id="done"/>
<bpmn:boundaryEvent id="refused" attachedToRef="each"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="refused" targetRef="failed"/><bpmn:endEvent id="failed"/>"""


def test_an_error_end_event_in_a_multi_instance_subprocess_reaches_its_boundary_event(engine: Engine) -> None:
    deployed(engine, "each_item", EACH_ITEM, '<bpmn:error id="Err" errorCode="BAD"/>')
    instance_id = start_instance(engine, "each_item", variables={"items": ["a", "x"]}).instance["id"]
    assert get_instance(engine, instance_id)["status"] == "completed"
    steps = completed(engine, instance_id)
    assert "failed" in steps and "done" not in steps


def test_an_error_end_event_of_a_called_process_reaches_the_call_activitys_boundary_event(engine: Engine) -> None:
    called = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="c1" sourceRef="s" targetRef="no"/>
      <bpmn:endEvent id="no"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:endEvent>"""
    caller = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
      <bpmn:callActivity id="call" calledElement="says_no"/>
      <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="done"/><bpmn:endEvent id="done"/>
      <bpmn:boundaryEvent id="said_no" attachedToRef="call"><bpmn:errorEventDefinition errorRef="Err"/>
      </bpmn:boundaryEvent><bpmn:sequenceFlow id="f3" sourceRef="said_no" targetRef="refused"/>
      <bpmn:endEvent id="refused"/>"""
    error = '<bpmn:error id="Err" errorCode="NO"/>'
    deployed(engine, "says_no", called, error)
    deployed(engine, "asks", caller, error)
    instance_id = start_instance(engine, "asks").instance["id"]
    assert get_instance(engine, instance_id)["status"] == "completed"
    steps = completed(engine, instance_id)
    assert "refused" in steps and "done" not in steps
