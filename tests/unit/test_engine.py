"""The engine step and jobs, called directly as domain functions on a real SQLite database."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from processes.core.engine import Engine
from processes.core.models import AuditEvent, ProcessInstance, utcnow
from processes.errors import Conflict, NotFound
from processes.instances import cancel_instance, get_instance, instance_events, start_instance
from processes.jobs.service import BpmnErrorThrown, JobFailed, JobService, retry_delays
from tests.support.diagrams import ERROR_BOUNDARY, process, service_task
from tests.support.engine import deployed, job_rows
from tests.support.paths import SHIPPED

TIMER_BOUNDARY = """
    <bpmn:boundaryEvent id="too_slow" attachedToRef="charge">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1.5S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="too_slow" targetRef="timed_out"/>
    <bpmn:endEvent id="timed_out"/>"""


def only_job(jobs: JobService) -> object:
    claimed = jobs.claim("worker-1", limit=10)
    assert len(claimed) == 1, claimed
    return claimed[0]


# -- the shipped workflow, in process -------------------------------------------------------------------


def test_shipped_order_completes_through_jobs(engine: Engine) -> None:
    deployed(engine, ("order_fulfillment.bpmn", SHIPPED.read_bytes()))
    calls: list[str] = []

    def executor(job) -> dict:
        calls.append(job.topic)
        return {f"{job.topic.replace('.', '_')}_id": job.id}

    jobs = JobService(engine, executor)
    order = {
        "items": [{"sku": "SKU-1", "quantity": 1, "unitPrice": 10.0}],
        "shippingAddress": {"country": "FR"},
        "customer": {"id": "C"},
    }
    started = start_instance(engine, "order_fulfillment", variables=order, business_key="B-1")
    assert started.created and started.instance["status"] == "running"
    for _ in range(3):
        for job in jobs.claim("w", limit=10):
            jobs.run(job)
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "completed"
    assert sorted(calls) == ["payment.authorize", "payment.capture", "wms.reserve", "wms.ship"]
    assert calls.index("payment.capture") > calls.index("payment.authorize")
    assert "priority" not in view["variables"]  # a 10.00 order takes the standard path


def test_state_is_stored_without_the_spec(engine: Engine) -> None:
    deployed(engine, ("order_fulfillment.bpmn", SHIPPED.read_bytes()))
    started = start_instance(engine, "order_fulfillment", variables={"items": [], "shippingAddress": {}})
    with engine.read_session() as session:
        state = json.loads(session.get(ProcessInstance, started.instance["id"]).state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert state["tasks"]


def test_state_reloads_from_the_database_without_the_cache(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine, lambda job: {"paid": True})
    started = start_instance(engine, "svc", variables={"amount": 3})
    engine.workflows.discard(started.instance["id"])  # as if another process had stepped it
    engine.specs._entries.clear()
    jobs.run(only_job(jobs))
    view = get_instance(engine, started.instance["id"])
    assert view["status"] == "completed" and view["variables"] == {"amount": 3, "paid": True}


# -- leases ----------------------------------------------------------------------------------------------


def test_a_worker_whose_lease_expired_cannot_report(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine)
    instance_id = start_instance(engine, "svc").instance["id"]
    stale = jobs.claim("slow-worker", lease_seconds=0.05)[0]
    time.sleep(0.1)
    fresh = jobs.claim("fast-worker")[0]  # the expired lease makes the job claimable again
    assert fresh.id == stale.id and fresh.lease_token != stale.lease_token
    with pytest.raises(Conflict):
        jobs.complete(stale.id, stale.lease_token, {"paid": "twice"})
    jobs.complete(fresh.id, fresh.lease_token, {"paid": "once"})
    with pytest.raises(Conflict):
        jobs.complete(fresh.id, fresh.lease_token, {"paid": "again"})
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["paid"] == "once"
    completed = [e for e in instance_events(engine, instance_id) if e["elementId"] == "charge"]
    assert [e["type"] for e in completed] == ["job_created", "element_completed"]  # one step, not two


def test_concurrent_reports_of_one_job_have_exactly_one_winner(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine)
    instance_id = start_instance(engine, "svc").instance["id"]
    job = jobs.claim("w")[0]
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def report(n: int) -> None:
        barrier.wait()
        try:
            jobs.complete(job.id, job.lease_token, {"winner": n})
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert get_instance(engine, instance_id)["status"] == "completed"


def test_jobs_are_claimed_by_one_worker_only(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine)
    for _ in range(20):
        start_instance(engine, "svc")
    claimed: list[list] = []
    barrier = threading.Barrier(4)

    def claim(worker: str) -> None:
        barrier.wait()
        claimed.append([j.id for j in jobs.claim(worker, limit=20)])

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == 20 and len(set(ids)) == 20


# -- failures --------------------------------------------------------------------------------------------


def test_transient_failures_retry_with_backoff_then_open_an_incident(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    attempts: list[int] = []

    def flaky(job) -> dict:
        attempts.append(job.attempt)
        raise JobFailed("payment gateway timed out")

    jobs = JobService(engine, flaky)
    engine.settings.backoff_base_seconds = 0.01
    instance_id = start_instance(engine, "svc").instance["id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and get_instance(engine, instance_id)["status"] != "incident":
        for job in jobs.claim("w"):
            jobs.run(job)
        time.sleep(0.01)
    view = get_instance(engine, instance_id)
    assert attempts == [1, 2, 3]
    assert view["status"] == "incident"
    assert view["jobs"][0]["status"] == "failed" and "timed out" in view["jobs"][0]["lastError"]
    assert view["incidents"][0]["elementId"] == "charge" and "timed out" in view["incidents"][0]["message"]
    failed_events = [e for e in instance_events(engine, instance_id) if e["type"] == "job_failed"]
    assert len(failed_events) == 2 and failed_events[0]["data"]["retryInSeconds"] > 0


def test_retry_cycle_from_the_diagram_sets_attempts_and_delays(engine: Engine) -> None:
    cycle = (
        "<bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R5/PT30S</camunda:failedJobRetryTimeCycle>"
        "</bpmn:extensionElements>"
    )
    deployed(engine, process("svc", service_task(cycle)))
    jobs = JobService(engine, lambda job: (_ for _ in ()).throw(JobFailed("503 from gateway")))
    instance_id = start_instance(engine, "svc").instance["id"]
    before = utcnow()
    jobs.run(only_job(jobs))
    job = job_rows(engine, instance_id)[0]
    assert job.max_attempts == 5 and job.attempt == 2 and job.status == "ready"
    assert timedelta(seconds=29) < job.due_at - before < timedelta(seconds=31)
    assert jobs.claim("w") == []  # not due yet
    assert retry_delays("PT1M,PT5M") == [60.0, 300.0]
    assert retry_delays("R3/PT10S") == [10.0, 10.0]


def test_business_error_is_caught_by_a_boundary_event(engine: Engine) -> None:
    errors = '<bpmn:error id="Error_Declined" errorCode="PAYMENT_DECLINED"/>'
    name, xml = process("svc", service_task(boundary=ERROR_BOUNDARY))
    xml = xml.replace(b"</bpmn:definitions>", errors.encode() + b"</bpmn:definitions>")
    deployed(engine, (name, xml))

    def decline(job) -> dict:
        raise BpmnErrorThrown("PAYMENT_DECLINED", "card declined")

    jobs = JobService(engine, decline)
    instance_id = start_instance(engine, "svc").instance["id"]
    jobs.run(only_job(jobs))
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed" and view["variables"]["notified"] is True
    types = [(e["type"], e["elementId"]) for e in instance_events(engine, instance_id)]
    assert ("bpmn_error", "charge") in types and ("element_completed", "cancelled") in types
    assert ("element_completed", "done") not in types


def test_uncaught_business_error_opens_an_incident(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine, lambda job: (_ for _ in ()).throw(BpmnErrorThrown("OUT_OF_STOCK", "no stock")))
    instance_id = start_instance(engine, "svc").instance["id"]
    jobs.run(only_job(jobs))
    view = get_instance(engine, instance_id)
    assert view["status"] == "incident"
    assert "OUT_OF_STOCK" in view["incidents"][0]["message"]


def test_a_failing_script_opens_an_incident_naming_the_element(engine: Engine) -> None:
    body = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Task_Total"/>
      <bpmn:scriptTask id="Task_Total"><bpmn:script>total = amount / count</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="Task_Total" targetRef="end"/><bpmn:endEvent id="end"/>"""
    deployed(engine, process("divide", body))
    view = get_instance(engine, start_instance(engine, "divide", variables={"amount": 1, "count": 0}).instance["id"])
    assert view["status"] == "incident"
    incident = view["incidents"][0]
    assert incident["elementId"] == "Task_Total" and "division by zero" in incident["message"]
    assert "Traceback" not in incident["message"]
    missing = get_instance(engine, start_instance(engine, "divide", variables={"amount": 1}).instance["id"])
    assert "count" in missing["incidents"][0]["message"]


# -- timers ----------------------------------------------------------------------------------------------


def test_boundary_timer_fires_on_time_and_cancels_the_job(engine: Engine) -> None:
    deployed(engine, process("svc", service_task(boundary=TIMER_BOUNDARY)))
    jobs = JobService(engine, lambda job: {"paid": True})
    instance_id = start_instance(engine, "svc").instance["id"]
    service_job = jobs.claim("slow-worker", limit=1)[0]  # the connector hangs; the timer must take over
    assert service_job.kind == "service"
    assert jobs.claim("w") == []  # the timer is not due yet (1.5 s: long enough on a loaded machine)
    timer = next(j for j in job_rows(engine, instance_id) if j.kind == "timer")
    time.sleep(max((timer.due_at - utcnow()).total_seconds(), 0) + 0.02)
    fired = jobs.claim("w")
    assert [j.kind for j in fired] == ["timer"]
    jobs.run(fired[0])
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    ended = [e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"]
    assert "timed_out" in ended and "done" not in ended
    assert {j["kind"]: j["status"] for j in view["jobs"]} == {"service": "cancelled", "timer": "done"}
    with pytest.raises(Conflict):  # the slow worker's late answer is rejected
        jobs.complete(service_job.id, service_job.lease_token, {"paid": True})


def test_intermediate_timer_waits_then_continues(engine: Engine) -> None:
    body = """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
      <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
        <bpmn:timeDuration>PT0.2S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/><bpmn:endEvent id="end"/>"""
    deployed(engine, process("pause", body))
    jobs = JobService(engine)
    instance_id = start_instance(engine, "pause").instance["id"]
    assert get_instance(engine, instance_id)["status"] == "waiting"
    time.sleep(0.25)
    for job in jobs.claim("w"):
        jobs.run(job)
    assert get_instance(engine, instance_id)["status"] == "completed"


# -- starting and cancelling -----------------------------------------------------------------------------


def test_idempotency_key_starts_one_instance_even_concurrently(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    results: list = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        results.append(start_instance(engine, "svc", idempotency_key="order-42"))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.instance["id"] for r in results}) == 1
    assert sum(r.created for r in results) == 1
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_business_key_is_free_again_once_the_instance_ended(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    first = start_instance(engine, "svc", business_key="ORD-7")
    assert start_instance(engine, "svc", business_key="ORD-7").instance["id"] == first.instance["id"]
    cancel_instance(engine, first.instance["id"])
    again = start_instance(engine, "svc", business_key="ORD-7")
    assert again.created and again.instance["id"] != first.instance["id"]


def test_cancel_cancels_jobs_and_refuses_an_ended_instance(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "svc").instance["id"]
    claimed = jobs.claim("w")[0]
    assert cancel_instance(engine, instance_id)["status"] == "cancelled"
    assert job_rows(engine, instance_id)[0].status == "cancelled"
    with pytest.raises(Conflict):
        jobs.complete(claimed.id, claimed.lease_token, {})
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_instance(engine, instance_id)
    with pytest.raises(NotFound):
        cancel_instance(engine, "nope")


def test_unknown_process_and_version(engine: Engine) -> None:
    deployed(engine, process("svc", service_task()))
    with pytest.raises(NotFound, match="'nope'"):
        start_instance(engine, "nope")
    with pytest.raises(NotFound, match="version 9"):
        start_instance(engine, "svc", version=9)


# -- audit trail ----------------------------------------------------------------------------------------


def test_audit_events_are_only_ever_appended(engine: Engine) -> None:
    deployed(engine, ("order_fulfillment.bpmn", SHIPPED.read_bytes()))
    jobs = JobService(engine, lambda job: {"ok": job.topic})
    order = {"items": [{"sku": "S", "quantity": 1, "unitPrice": 5}], "shippingAddress": {"country": "DE"}}
    start_instance(engine, "order_fulfillment", variables=order)
    with engine.read_session() as session:
        first = [
            (e.id, e.type, e.element_id, e.at) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    with engine.write_session() as session:  # unrelated writes leave existing events untouched
        session.execute(update(ProcessInstance).values(updated_at=utcnow()))
        session.commit()
    for _ in range(3):  # reserve and authorize, then capture, then ship
        for job in jobs.claim("w"):
            jobs.run(job)
    with engine.read_session() as session:
        after = [
            (e.id, e.type, e.element_id, e.at) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert after[: len(first)] == first and len(after) > len(first)
    assert {e[1] for e in first} >= {"instance_started", "element_completed", "job_created"}
    assert "instance_completed" in {e[1] for e in after}
