"""Event subprocesses with a conditional start: when their scope is active and the variables they listen to change
so that the condition holds, they start: an interrupting one cancels the rest of the scope, a non-interrupting one
runs beside it (again at each change that meets the condition)."""

from __future__ import annotations

from processes.core.engine import Engine
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process
from tests.support.engine import deployed

RISKY = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="score"/>
  <bpmn:serviceTask id="score" camunda:type="external" camunda:topic="risk.score"/>
  <bpmn:sequenceFlow id="b" sourceRef="score" targetRef="rescore"/>
  <bpmn:serviceTask id="rescore" camunda:type="external" camunda:topic="risk.score"/>
  <bpmn:sequenceFlow id="c" sourceRef="rescore" targetRef="ship"/>
  <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ship"/>
  <bpmn:sequenceFlow id="d" sourceRef="ship" targetRef="shipped"/><bpmn:endEvent id="shipped"/>
  <bpmn:subProcess id="on_risk" triggeredByEvent="true">
    <bpmn:startEvent id="risky" isInterrupting="{interrupting}">
      <bpmn:conditionalEventDefinition camunda:variableName="riskScore">
        <bpmn:condition xsi:type="bpmn:tFormalExpression">${{riskScore &gt; 80}}</bpmn:condition>
      </bpmn:conditionalEventDefinition>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="r1" sourceRef="risky" targetRef="flag"/>
    <bpmn:scriptTask id="flag" scriptFormat="python"><bpmn:script>flags = flags + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="r2" sourceRef="flag" targetRef="held"/><bpmn:endEvent id="held"/>
  </bpmn:subProcess>"""


def risky(interrupting: bool) -> tuple[str, bytes]:
    key = "risk_interrupting" if interrupting else "risk_watch"
    name, xml = process(key, RISKY.format(interrupting="true" if interrupting else "false"))
    xml = xml.replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    )
    return name, xml


def run_jobs(engine: Engine, answers: list[dict]) -> list[str]:
    """Answer jobs in order with `answers`; the topics that were asked."""
    answers = list(answers)
    asked: list[str] = []

    def executor(job) -> dict:
        asked.append(job.topic)
        return answers.pop(0) if answers else {}

    jobs = JobService(engine, executor)
    for _ in range(6):
        for job in jobs.claim("w", limit=10):
            jobs.run(job)
    return asked


def completed(engine: Engine, instance_id: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]


def test_an_interrupting_conditional_event_subprocess_stops_the_order(engine: Engine):
    deployed(engine, risky(interrupting=True))
    instance_id = start_instance(engine, "risk_interrupting", variables={"flags": 0}).instance["id"]
    asked = run_jobs(engine, [{"riskScore": 95}])
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["flags"] == 1
    assert asked == ["risk.score"]  # nothing after the risky score ran
    assert "held" in completed(engine, instance_id) and "shipped" not in completed(engine, instance_id)
    started = [e for e in instance_events(engine, instance_id) if e["type"] == "event_subprocess_started"]
    assert [(e["elementId"], e["data"]["interrupting"]) for e in started] == [("on_risk", True)]


def test_a_non_interrupting_one_runs_beside_the_order_at_each_change_that_meets_it(engine: Engine):
    deployed(engine, risky(interrupting=False))
    instance_id = start_instance(engine, "risk_watch", variables={"riskScore": 10, "flags": 0}).instance["id"]
    run_jobs(engine, [{"riskScore": 85}, {"riskScore": 90}])  # two changes that meet the condition
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    ended = completed(engine, instance_id)
    assert ended.count("held") == 2 and "shipped" in ended


def test_a_condition_never_met_starts_nothing(engine: Engine):
    deployed(engine, risky(interrupting=True))
    instance_id = start_instance(engine, "risk_interrupting", variables={"riskScore": 10, "flags": 0}).instance["id"]
    run_jobs(engine, [{"riskScore": 20}, {"riskScore": 30}])
    ended = completed(engine, instance_id)
    assert "shipped" in ended and "held" not in ended
    assert get_instance(engine, instance_id)["status"] == "completed"


def test_event_subprocesses_orderflow_does_not_run_are_refused_naming_their_start(engine: Engine):
    import pytest

    from processes.deployment.deployments import deploy
    from processes.errors import DeploymentRejected

    def esp(kind: str, definition: str) -> tuple[str, bytes]:
        body = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="e"/>
          <bpmn:endEvent id="e"/><bpmn:subProcess id="on_{kind}" triggeredByEvent="true">
          <bpmn:startEvent id="{kind}_start">{definition}
          </bpmn:startEvent><bpmn:sequenceFlow id="r" sourceRef="{kind}_start" targetRef="r_end"/>
          <bpmn:endEvent id="r_end"/></bpmn:subProcess>"""
        return process(f"esp_{kind}", body)

    # Timer, error, escalation and signal starts run (tests/e2e/test_thrown_events.py): they deploy.
    for kind, definition in (
        ("timer", "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"),
        ("error", "<bpmn:errorEventDefinition/>"),
        ("escalation", "<bpmn:escalationEventDefinition/>"),
        ("signal", '<bpmn:signalEventDefinition signalRef="Sig"/>'),
    ):
        name, xml = esp(kind, definition)
        deploy(engine, [(name, xml.replace(b"<bpmn:process ", b'<bpmn:signal id="Sig" name="go"/><bpmn:process '))])
    with pytest.raises(DeploymentRejected) as refused:
        deploy(engine, [esp("compensate", "<bpmn:compensateEventDefinition/>")])
    [problem] = refused.value.problems
    assert problem.element_id == "compensate_start" and "compensation event subprocesses" in problem.message
