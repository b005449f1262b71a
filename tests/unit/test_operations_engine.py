"""Operating orders inside the engine: migration keeps a boundary timer and a job in flight with their elements,
a token started before an activity arms its boundary events and runs to the end, and suspension holds a job a
worker had leased (its report is refused) until resume makes it ready again."""

from __future__ import annotations

import pytest

from app.features import build_engine
from app.migrations import upgrade
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.deployment.deployments import deploy
from processes.errors import Conflict
from processes.instances import get_instance, start_instance
from processes.jobs.service import JobService
from processes.operations import batches, migration, modification, suspension
from tests.support.diagrams import process

V1 = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Approve"/>
<bpmn:userTask id="Approve" name="Approve"/><bpmn:sequenceFlow id="f2" sourceRef="Approve" targetRef="charge"/>
<bpmn:boundaryEvent id="late" attachedToRef="Approve"><bpmn:timerEventDefinition>
  <bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f4" sourceRef="late" targetRef="end"/>
<bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="pay"/>
<bpmn:sequenceFlow id="f3" sourceRef="charge" targetRef="end"/><bpmn:endEvent id="end"/>"""
V2 = V1.replace('"Approve"', '"ApproveOrder"')


def where(view: dict) -> list[tuple[str, str]]:
    return [(e["elementId"], e["state"]) for e in view["activeElements"]]


def jobs(view: dict) -> list[tuple[str, str | None, str]]:
    return [(j["kind"], j["elementId"], j["status"]) for j in view["jobs"]]


def test_migration_keeps_a_boundary_timer_and_a_job_in_flight(engine: Engine) -> None:
    deploy(engine, [process("mig", V1)])
    waiting = start_instance(engine, "mig").instance["id"]
    charging = start_instance(engine, "mig").instance["id"]
    modification.modify_instance(engine, charging, instructions=[{"cancel": "Approve"}, {"startBefore": "charge"}])
    deploy(engine, [process("mig", V2)])
    checked = migration.check_request(
        engine, {"processKey": "mig", "sourceVersion": 1, "targetVersion": 2, "mapping": {"Approve": "ApproveOrder"}}
    )
    timer_before = [j["id"] for j in get_instance(engine, waiting)["jobs"]]
    for instance_id in (waiting, charging):
        migration.migrate_instance(engine, instance_id, checked)

    moved = get_instance(engine, waiting)
    assert moved["definitionVersion"] == 2 and where(moved) == [("ApproveOrder", "ready"), ("late", "waiting")]
    assert [j["id"] for j in moved["jobs"] if j["status"] == "ready"] == timer_before  # the same timer job
    assert where(get_instance(engine, charging)) == [("charge", "started")]
    assert ("service", "charge", "ready") in jobs(get_instance(engine, charging))


def test_a_token_started_before_an_activity_arms_its_boundary_events(engine: Engine) -> None:
    deploy(engine, [process("arm", V1)])
    order = start_instance(engine, "arm").instance["id"]
    modification.modify_instance(engine, order, instructions=[{"cancel": "Approve"}, {"startBefore": "charge"}])
    view = modification.modify_instance(engine, order, instructions=[{"cancel": "charge"}, {"startBefore": "Approve"}])
    assert where(view) == [("Approve", "ready"), ("late", "waiting")]
    assert ("service", "charge", "cancelled") in jobs(view) and ("timer", None, "ready") in jobs(view)


def test_suspension_holds_a_leased_job_until_resume(engine: Engine) -> None:
    deploy(engine, [process("hold", V1)])
    order = start_instance(engine, "hold").instance["id"]
    modification.modify_instance(engine, order, instructions=[{"cancel": "Approve"}, {"startBefore": "charge"}])
    service = JobService(engine)
    [claimed] = service.claim("w1", topics=["pay"], service_only=True)
    assert suspension.suspend_instance(engine, order)["status"] == "suspended"
    assert ("service", "charge", "held") in jobs(get_instance(engine, order))
    with pytest.raises(Conflict):
        service.complete(claimed.id, claimed.lease_token, {})  # the worker's lease went with the hold
    assert service.claim("w2", topics=["pay"], service_only=True) == []
    suspension.resume_instance(engine, order)
    [again] = service.claim("w2", topics=["pay"], service_only=True)
    service.complete(again.id, again.lease_token, {})
    assert get_instance(engine, order)["status"] == "completed"


def test_a_batch_goes_on_where_it_stopped_when_its_worker_is_gone(db_url: str) -> None:
    sql_engine = make_engine(db_url)
    upgrade(sql_engine)
    # A lease so short that every round of the batch does one order, then saves and puts the job back.
    engine = build_engine(make_session_factory(sql_engine), settings=EngineSettings(lease_seconds=0.003))
    deploy(engine, [process("many", V1)])
    orders = [start_instance(engine, "many").instance["id"] for _ in range(3)]
    batch_id = batches.batch_instances(engine, "suspend", {"instanceIds": orders}, comment="night")
    service = JobService(engine)

    [lost] = service.claim("dead-worker", lease_seconds=0.001)  # claimed by a worker that dies at once
    assert lost.kind == "batch" and batches.get_batch(engine, batch_id)["status"] == "running"
    rounds = 0
    while batches.get_batch(engine, batch_id)["status"] == "running" and rounds < 20:
        for job in service.claim("worker", lease_seconds=30):
            service.run(job)
        rounds += 1
    batch = batches.get_batch(engine, batch_id)
    assert batch["status"] == "completed" and rounds > 1
    assert [i["instanceId"] for i in batch["items"]] == orders and batch["counts"]["done"] == 3
    assert {get_instance(engine, o)["status"] for o in orders} == {"suspended"}
