"""Variables that cannot be saved never strand an order (issue #15, item 2), checked on the engine directly: the
element that made such a value fails with an incident naming the variable; what a task completion or a job's
result itself brings over ORDERFLOW_MAX_VARIABLES_BYTES is rolled back, an incident is opened in a fresh step and
the caller gets UnsavableVariable (422), with the task still open or the job still held. Variables a request brings
that are on their own over the cap are refused before anything changes (InvalidInput, 422)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.features import build_engine
from app.migrations import upgrade
from inbox.tasks import complete_task
from processes import limits
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.core.models import HumanTask
from processes.core.variables import UnsavableVariable
from processes.deployment.deployments import deploy
from processes.errors import InvalidInput
from processes.instances import get_instance, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process

CAP = 2000


@pytest.fixture
def small_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine whose instances may keep at most CAP bytes of variables (the limits are process-wide)."""
    before = limits.Limits(**vars(limits.LIMITS))
    sql = make_engine(f"sqlite:///{tmp_path / 'orderflow.db'}")
    upgrade(sql)
    yield build_engine(make_session_factory(sql), settings=EngineSettings(max_variables_bytes=CAP))
    limits.configure(**vars(before))


APPROVE_THEN_SCRIPT = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="approve"/>
  <bpmn:userTask id="approve"/><bpmn:sequenceFlow id="f1" sourceRef="approve" targetRef="work"/>
  <bpmn:scriptTask id="work"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/><bpmn:endEvent id="end"/>"""

CHARGE = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="charge"/>
  <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="big.result"/>
  <bpmn:sequenceFlow id="f1" sourceRef="charge" targetRef="end"/><bpmn:endEvent id="end"/>"""


def _open_task(engine: Engine, instance_id: str) -> HumanTask:
    with engine.read_session() as session:
        return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()


def _open_incidents(view: dict) -> list[dict]:
    return [i for i in view["incidents"] if i["resolvedAt"] is None]


def test_a_script_over_the_cap_fails_at_its_element(small_engine: Engine) -> None:
    deploy(small_engine, [process("over_cap", APPROVE_THEN_SCRIPT.format(script="notes = 'x' * 5000"))])
    instance_id = start_instance(small_engine, "over_cap").instance["id"]
    task = _open_task(small_engine, instance_id)
    complete_task(small_engine, task.id, {"approved": True}, "ada")
    view = get_instance(small_engine, instance_id)
    (incident,) = _open_incidents(view)
    assert view["status"] == "incident" and incident["elementId"] == "work"
    assert "'notes'" in incident["message"] and "ORDERFLOW_MAX_VARIABLES_BYTES" in incident["message"]
    assert _open_task(small_engine, instance_id).status == "completed"  # the approval given stays given


def test_a_task_completion_over_the_cap_is_refused_and_the_task_stays_open(small_engine: Engine) -> None:
    deploy(small_engine, [process("big_form", APPROVE_THEN_SCRIPT.format(script="done = True"))])
    instance_id = start_instance(small_engine, "big_form", variables={"order": "o" * 1000}).instance["id"]
    task = _open_task(small_engine, instance_id)
    with pytest.raises(InvalidInput, match="limit is 2000"):  # on its own over what an instance may keep
        complete_task(small_engine, task.id, {"comment": "x" * 5000}, "ada")
    with pytest.raises(UnsavableVariable, match="'comment'") as info:  # together with the order's
        complete_task(small_engine, task.id, {"comment": "x" * 1500}, "ada")
    assert info.value.status == 422
    view = get_instance(small_engine, instance_id)
    (incident,) = _open_incidents(view)
    assert view["status"] == "incident" and "'comment'" in incident["message"]
    assert _open_task(small_engine, instance_id).status == "open"
    # The same completion again adds no second incident; a completion that fits goes through.
    with pytest.raises(UnsavableVariable):
        complete_task(small_engine, task.id, {"comment": "x" * 1500}, "ada")
    assert len(_open_incidents(get_instance(small_engine, instance_id))) == 1
    complete_task(small_engine, task.id, {"comment": "short"}, "ada")
    assert _open_task(small_engine, instance_id).status == "completed"


def test_a_job_result_over_the_cap_is_refused_and_opens_an_incident(small_engine: Engine) -> None:
    deploy(small_engine, [process("big_result", CHARGE)])
    instance_id = start_instance(small_engine, "big_result").instance["id"]
    jobs = JobService(small_engine, lambda job: {})
    (job,) = jobs.claim("w", limit=10, topics=["big.result"])
    with pytest.raises(UnsavableVariable, match="'receipt'"):
        jobs.complete(job.id, job.lease_token, {"receipt": "x" * 5000}, instance_id=instance_id)
    view = get_instance(small_engine, instance_id)
    assert view["status"] == "incident" and "'receipt'" in _open_incidents(view)[0]["message"]
    assert [j["status"] for j in view["jobs"] if j["kind"] == "service"] == ["locked"]


def test_a_start_whose_own_variables_are_over_the_cap_creates_nothing(small_engine: Engine) -> None:
    deploy(small_engine, [process("big_start", APPROVE_THEN_SCRIPT.format(script="done = True"))])
    with pytest.raises(InvalidInput, match="limit is 2000"):
        start_instance(small_engine, "big_start", variables={"order": "x" * 5000})
    with small_engine.read_session() as session:
        assert session.scalars(select(HumanTask)).all() == []


def test_a_connector_whose_result_is_over_the_cap_fails_its_job_for_good(small_engine: Engine) -> None:
    deploy(small_engine, [process("big_connector", CHARGE)])
    instance_id = start_instance(small_engine, "big_connector").instance["id"]
    jobs = JobService(small_engine, lambda job: {"receipt": "x" * 5000})
    (job,) = jobs.claim("w", limit=10, topics=["big.result"])
    jobs.run(job)
    view = get_instance(small_engine, instance_id)
    assert view["status"] == "incident"
    assert [j["status"] for j in view["jobs"] if j["kind"] == "service"] == ["failed"]
    assert all("'receipt'" in i["message"] for i in _open_incidents(view))
