"""The embedded job transport: worker threads run jobs as soon as a step commits, and pick up jobs whose
worker died once the lease expires."""

from __future__ import annotations

import threading
import time

from processes.core.engine import Engine
from processes.deployment.deployments import deploy
from processes.instances import get_instance, start_instance
from processes.jobs.embedded import EmbeddedRunner
from processes.jobs.service import JobService
from tests.support.diagrams import process, service_task
from tests.support.paths import SHIPPED


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_parallel_branches_run_on_different_threads(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    threads_by_topic: dict[str, str] = {}
    both_started = threading.Barrier(2, timeout=5)

    def executor(job) -> dict:
        threads_by_topic[job.topic] = threading.current_thread().name
        if job.topic in ("wms.reserve", "payment.authorize"):
            both_started.wait()  # only passes if reserve and authorize really run at the same time
        return {}

    runner = EmbeddedRunner(JobService(engine, executor), threads=4, poll_seconds=0.1)
    engine.dispatcher = runner
    runner.start()
    try:
        order = {"items": [{"sku": "S", "quantity": 1, "unitPrice": 5}], "shippingAddress": {"country": "DE"}}
        instance_id = start_instance(engine, "order_fulfillment", variables=order).instance["id"]
        assert wait_for(lambda: get_instance(engine, instance_id)["status"] == "completed")
    finally:
        runner.stop()
    assert threads_by_topic["wms.reserve"] != threads_by_topic["payment.authorize"]
    assert set(threads_by_topic) == {"wms.reserve", "payment.authorize", "payment.capture", "wms.ship"}


def test_a_job_whose_worker_died_is_picked_up_after_the_lease_expires(engine: Engine) -> None:
    deploy(engine, [process("svc", service_task())])
    jobs = JobService(engine, lambda job: {"paid_by": "survivor"})
    instance_id = start_instance(engine, "svc").instance["id"]
    dead = jobs.claim("worker-that-crashed", lease_seconds=0.3)
    assert len(dead) == 1  # leased, and its worker never reports
    runner = EmbeddedRunner(jobs, threads=2, poll_seconds=0.05)
    engine.dispatcher = runner
    runner.start()
    try:
        assert wait_for(lambda: get_instance(engine, instance_id)["status"] == "completed", timeout=5)
    finally:
        runner.stop()
    view = get_instance(engine, instance_id)
    assert view["variables"]["paid_by"] == "survivor"


def test_jobs_wait_for_a_topic_no_local_worker_serves(engine: Engine) -> None:
    deploy(engine, [process("svc", service_task())])
    runner = EmbeddedRunner(JobService(engine, lambda job: {}), threads=1, topics=["other.topic"], poll_seconds=0.05)
    engine.dispatcher = runner
    runner.start()
    try:
        instance_id = start_instance(engine, "svc").instance["id"]
        time.sleep(0.3)
        view = get_instance(engine, instance_id)
    finally:
        runner.stop()
    assert view["status"] == "running" and view["jobs"][0]["status"] == "ready"


def test_with_one_thread_a_result_does_not_wait_for_its_sibling_queued_behind_it(engine: Engine) -> None:
    """A result waits for its order's other calls (processes/jobs/results.py), but never for one that only the
    thread it holds could start: here the order's second parallel job is queued behind the first."""
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    engine.settings.lease_seconds = 120  # a result that waited for the queued job would wait a minute
    runner = EmbeddedRunner(JobService(engine, lambda job: {}), threads=1, poll_seconds=0.1)
    engine.dispatcher = runner
    runner.start()
    try:
        order = {"items": [{"sku": "S", "quantity": 1, "unitPrice": 5}], "shippingAddress": {"country": "DE"}}
        instance_id = start_instance(engine, "order_fulfillment", variables=order).instance["id"]
        assert wait_for(lambda: get_instance(engine, instance_id)["status"] == "completed", timeout=30)
    finally:
        runner.stop()
