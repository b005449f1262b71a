"""Conditional events: evaluated when reached and after every step whose variables changed; intermediate catch,
interrupting and non-interrupting boundary events, camunda:variableName / variableEvents, failures as incidents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.features import build_engine
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.errors import DeploymentRejected
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process


def fresh(db_url: str) -> Engine:
    """A new engine (no state cached in memory), so every step loads the instance as saved."""
    return build_engine(make_session_factory(make_engine(db_url)))


def feed(db_url: str, values: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Complete the instance's `work` jobs one at a time, each with the next variables, yielding the view after."""
    for variables in values:
        jobs = JobService(fresh(db_url), lambda job, v=variables: v)
        claimed = jobs.claim("worker", topics=["work"], limit=1)
        assert claimed, "no work job is waiting"
        jobs.run(claimed[0])
        yield variables


def worker_branch(count: int) -> str:
    """`count` service tasks in a row on topic `work`: the branch whose results change the variables."""
    tasks = "".join(
        f'<bpmn:serviceTask id="w{i}" camunda:type="external" camunda:topic="work"/>'
        f'<bpmn:sequenceFlow id="fw{i}" sourceRef="w{i}" targetRef="{f"w{i + 1}" if i + 1 < count else "worked"}"/>'
        for i in range(count)
    )
    return f'<bpmn:sequenceFlow id="to_w" sourceRef="fork" targetRef="w0"/>{tasks}<bpmn:endEvent id="worked"/>'


def parallel(other_branch: str, workers: int = 1) -> str:
    return f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="fork"/>
      <bpmn:parallelGateway id="fork"/>{worker_branch(workers)}{other_branch}"""


def condition(text: str, attributes: str = "") -> str:
    return (
        f"<bpmn:conditionalEventDefinition {attributes}><bpmn:condition>{text}</bpmn:condition>"
        "</bpmn:conditionalEventDefinition>"
    )


def events(engine: Engine, instance_id: str, kind: str) -> list[str]:
    return [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == kind]


CATCH = """<bpmn:sequenceFlow id="to_c" sourceRef="fork" targetRef="until"/>
  <bpmn:intermediateCatchEvent id="until">{condition}</bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="c_e" sourceRef="until" targetRef="after"/>
  <bpmn:scriptTask id="after"><bpmn:script>seen = approved</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="a_e" sourceRef="after" targetRef="done"/><bpmn:endEvent id="done"/>"""


def test_an_intermediate_catch_waits_until_its_condition_holds(db_url, engine: Engine) -> None:
    deploy(engine, [process("catch", parallel(CATCH.format(condition=condition("${approved}")), workers=2))])
    instance_id = start_instance(engine, "catch").instance["id"]
    waiting = get_instance(engine, instance_id)
    # `approved` does not exist yet: the condition is false, not an error.
    assert waiting["status"] == "running" and waiting["incidents"] == []
    assert "until" in [e["elementId"] for e in waiting["activeElements"]]

    steps = feed(db_url, [{"approved": False}, {"approved": True}])
    next(steps)
    assert "until" in [e["elementId"] for e in get_instance(engine, instance_id)["activeElements"]]
    next(steps)
    done = get_instance(engine, instance_id)
    assert done["status"] == "completed", done
    assert events(engine, instance_id, "condition_met") == ["until"]
    assert "after" in events(engine, instance_id, "element_completed")


def boundary(cancel: str, text: str = "${level > 1}", attributes: str = "") -> str:
    return f"""<bpmn:sequenceFlow id="to_slow" sourceRef="fork" targetRef="slow"/>
      <bpmn:serviceTask id="slow" camunda:type="external" camunda:topic="slow"/>
      <bpmn:sequenceFlow id="slow_e" sourceRef="slow" targetRef="slow_done"/><bpmn:endEvent id="slow_done"/>
      <bpmn:boundaryEvent id="watch" attachedToRef="slow" cancelActivity="{cancel}">{condition(text, attributes)}
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="w_n" sourceRef="watch" targetRef="note"/>
      <bpmn:scriptTask id="note"><bpmn:script>noted = level</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="n_e" sourceRef="note" targetRef="noted_end"/><bpmn:endEvent id="noted_end"/>"""


def test_an_interrupting_boundary_cancels_the_task_and_its_job(db_url, engine: Engine) -> None:
    deploy(engine, [process("interrupt", parallel(boundary("true")))])
    instance_id = start_instance(engine, "interrupt", variables={"level": 0}).instance["id"]
    list(feed(db_url, [{"level": 2}]))
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed", view
    assert {j["elementId"]: j["status"] for j in view["jobs"]}["slow"] == "cancelled"
    assert events(engine, instance_id, "condition_met") == ["watch"]
    assert view["variables"]["noted"] == 2  # the boundary's path goes on with the variables that met it


def test_a_non_interrupting_boundary_fires_at_each_change_that_meets_it(db_url, engine: Engine) -> None:
    deploy(engine, [process("nudge", parallel(boundary("false"), workers=3))])
    instance_id = start_instance(engine, "nudge", variables={"level": 0}).instance["id"]
    list(feed(db_url, [{"level": 2}, {"level": 1}, {"level": 3}]))
    view = get_instance(fresh(db_url), instance_id)
    assert events(engine, instance_id, "condition_met") == ["watch", "watch"]  # at 2 and at 3, not at 1
    assert events(engine, instance_id, "element_completed").count("note") == 2
    # The task it sits on goes on waiting for its own job, with the boundary armed again.
    assert {e["elementId"]: e["state"] for e in view["activeElements"]} == {"slow": "started", "watch": "waiting"}
    assert {j["elementId"]: j["status"] for j in view["jobs"]}["slow"] == "ready"


def test_variable_name_limits_evaluation_to_changes_of_that_variable(db_url, engine: Engine) -> None:
    watched = boundary("true", "${ready}", 'camunda:variableName="level"')
    deploy(engine, [process("named", parallel(watched, workers=2))])
    instance_id = start_instance(engine, "named", variables={"level": 0, "ready": False}).instance["id"]
    steps = feed(db_url, [{"ready": True}, {"level": 5}])
    next(steps)  # the condition is now true, but only a change of `level` makes it look
    assert events(engine, instance_id, "condition_met") == []
    next(steps)
    assert events(engine, instance_id, "condition_met") == ["watch"]


def test_variable_events_limit_evaluation_to_those_kinds_of_change(db_url, engine: Engine) -> None:
    watched = boundary("true", "${flag != null}", 'camunda:variableName="flag" camunda:variableEvents="update"')
    deploy(engine, [process("updates", parallel(watched, workers=2))])
    instance_id = start_instance(engine, "updates", variables={"level": 0}).instance["id"]
    steps = feed(db_url, [{"flag": "a"}, {"flag": "b"}])
    next(steps)  # created: not listened to, though the condition holds
    assert events(engine, instance_id, "condition_met") == []
    next(steps)  # updated
    assert events(engine, instance_id, "condition_met") == ["watch"]


def test_a_failing_condition_is_an_incident_on_the_event_not_a_lost_job_result(db_url, engine: Engine) -> None:
    broken = CATCH.format(condition=condition("${approved.size() > 0}"))
    deploy(engine, [process("broken", parallel(broken))])
    instance_id = start_instance(engine, "broken", variables={"approved": 5}).instance["id"]
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident"
    assert view["incidents"][0]["elementId"] == "until"
    assert "method 'size' is not available on number 5" in view["incidents"][0]["message"]


@pytest.mark.parametrize(
    "definition, fragment",
    [
        (condition("${approved &amp;&amp; }"), "JUEL"),
        (condition("${approved}", 'camunda:variableEvents="change"'), "camunda:variableEvents 'change'"),
    ],
)
def test_bad_conditions_are_refused_at_deploy_naming_the_event(engine: Engine, definition: str, fragment: str) -> None:
    with pytest.raises(DeploymentRejected) as rejected:
        deploy(engine, [process("bad_condition", parallel(CATCH.format(condition=definition)))])
    assert any(p.element_id == "until" and fragment in p.message for p in rejected.value.problems), (
        rejected.value.problems
    )


def test_a_job_result_that_meets_a_boundary_on_its_own_task_leaves_it_that_way(engine: Engine) -> None:
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="check"/>
      <bpmn:serviceTask id="check" camunda:type="external" camunda:topic="work"/>
      <bpmn:boundaryEvent id="fraud" attachedToRef="check">{condition}</bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="ok" sourceRef="check" targetRef="passed"/><bpmn:endEvent id="passed"/>
      <bpmn:sequenceFlow id="bad" sourceRef="fraud" targetRef="blocked"/><bpmn:endEvent id="blocked"/>"""
    deploy(engine, [process("own", body.format(condition=condition("${score > 80}")))])
    instance_id = start_instance(engine, "own").instance["id"]
    jobs = JobService(engine, lambda job: {"score": 95})
    jobs.run(jobs.claim("worker", topics=["work"])[0])
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["score"] == 95
    completed = events(engine, instance_id, "element_completed")
    assert "blocked" in completed and "check" not in completed and "passed" not in completed
