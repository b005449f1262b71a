"""Results of one order's parallel jobs that arrive together are applied in one engine step (processes/jobs/results.py),
on the shipped order workflow and a real SQLite database."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from processes.core.engine import Engine
from processes.core.models import ProcessInstance
from processes.errors import Conflict
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.engine import deployed
from tests.support.paths import SHIPPED

ORDER = {
    "items": [{"sku": "SKU-1", "quantity": 1, "unitPrice": 10.0}],
    "shippingAddress": {"country": "FR"},
    "customer": {"id": "C"},
}


def _revision(engine: Engine, instance_id: str) -> int:
    with engine.read_session() as session:
        return session.get(ProcessInstance, instance_id).revision


def _started_with_parallel_jobs(engine: Engine, jobs: JobService) -> tuple[str, list]:
    deployed(engine, ("order_fulfillment.bpmn", SHIPPED.read_bytes()))
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER, business_key="B-1").instance["id"]
    claimed = jobs.claim("w", limit=10)
    assert sorted(j.topic for j in claimed) == ["payment.authorize", "wms.reserve"]
    return instance_id, claimed


def _report_together(engine: Engine, jobs: JobService, instance_id: str, claimed: list) -> list[BaseException]:
    """Both jobs run at once, each on a worker thread: the result ready first waits for the other's call."""
    errors: list[BaseException] = []

    def run(job) -> None:
        try:
            jobs.run(job)
        except BaseException as exc:  # noqa: BLE001 - the test reads what each worker heard
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def _calls_meeting(count: int, answer):
    """An executor whose first `count` calls all begin before any of them answers (as parallel branches' calls
    do); later calls answer at once."""
    everyone_called = threading.Barrier(count, timeout=30)
    calls = []

    def execute(job):
        calls.append(job.id)
        if len(calls) <= count:
            everyone_called.wait()
        return answer(job)

    return execute


def test_results_that_arrive_together_are_applied_in_one_step(engine: Engine) -> None:
    jobs = JobService(engine, _calls_meeting(2, lambda job: {f"{job.topic.replace('.', '_')}_id": job.id}))
    instance_id, claimed = _started_with_parallel_jobs(engine, jobs)
    before = _revision(engine, instance_id)

    assert _report_together(engine, jobs, instance_id, claimed) == []

    assert _revision(engine, instance_id) == before + 1  # one step, not two
    assert jobs.results.joint_steps == 1
    view = get_instance(engine, instance_id)
    assert {"payment_authorize_id", "wms_reserve_id"} <= set(view["variables"])
    done = {e["elementId"] for e in instance_events(engine, instance_id) if e["type"] == "element_completed"}
    assert {"Task_ReserveInventory", "Task_AuthorizePayment", "Gateway_Fulfilled"} <= done
    # The order goes on: the join passed and the capture is the next job; it completes as usual.
    (capture,) = jobs.claim("w", limit=10)
    assert capture.topic == "payment.capture"
    jobs.run(capture)
    jobs.run(jobs.claim("w", limit=10)[0])
    assert get_instance(engine, instance_id)["status"] == "completed"


def test_a_stale_result_is_rejected_alone_and_the_other_still_counts(engine: Engine) -> None:
    jobs = JobService(engine, _calls_meeting(2, lambda job: {f"{job.topic.replace('.', '_')}_id": job.id}))
    instance_id, claimed = _started_with_parallel_jobs(engine, jobs)
    stale = dataclasses.replace(claimed[0], lease_token="not-the-lease")

    errors = _report_together(engine, jobs, instance_id, [stale, claimed[1]])

    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    view = get_instance(engine, instance_id)
    statuses = {j["topic"]: j["status"] for j in view["jobs"]}
    assert statuses[claimed[1].topic] == "done"
    assert statuses[stale.topic] == "locked"  # still the real worker's, whose result will count
    jobs.run(claimed[0])
    assert {j["topic"]: j["status"] for j in get_instance(engine, instance_id)["jobs"]}[stale.topic] == "done"


def test_a_result_waits_while_its_siblings_call_runs_and_both_count_in_one_step(engine: Engine) -> None:
    reservation_called, answer_reservation = threading.Event(), threading.Event()

    def execute(job):
        if job.topic == "wms.reserve":
            reservation_called.set()
            answer_reservation.wait(30)  # the warehouse takes its time
        return {f"{job.topic.replace('.', '_')}_id": job.id}

    jobs = JobService(engine, execute)
    instance_id, claimed = _started_with_parallel_jobs(engine, jobs)
    before = _revision(engine, instance_id)
    reserve = next(job for job in claimed if job.topic == "wms.reserve")
    authorize = next(job for job in claimed if job.topic == "payment.authorize")
    reserving = threading.Thread(target=jobs.run, args=(reserve,))
    reserving.start()
    assert reservation_called.wait(30)
    authorizing = threading.Thread(target=jobs.run, args=(authorize,))
    authorizing.start()

    deadline = time.monotonic() + 30
    while jobs.results.waiting(instance_id) < 1:  # the payment's result is ready, and waits
        if time.monotonic() > deadline:
            pytest.fail("the payment's result never waited for the reservation's call")
        time.sleep(0.01)
    assert _revision(engine, instance_id) == before  # nothing applied while the warehouse still answers
    answer_reservation.set()
    reserving.join(30)
    authorizing.join(30)

    assert _revision(engine, instance_id) == before + 1
    assert jobs.results.joint_steps == 1
    assert {"payment_authorize_id", "wms_reserve_id"} <= set(get_instance(engine, instance_id)["variables"])
