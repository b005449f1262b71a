"""A worker process keeps an order's next jobs (processes/jobs/chain.py), runs the branches of a split side by side
(app.worker.run_together) and claims a job by id in one statement (JobService.claim_job): what a Celery worker
does, here in process on SQLite."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from sqlalchemy import select, text

from app.worker import run_together
from processes.core.engine import Engine
from processes.core.models import Job
from processes.core.transport import MAX_SIDE_BY_SIDE, JobDispatcher
from processes.deployment.deployments import deploy
from processes.instances import get_instance, start_instance
from processes.jobs.chain import JobChain
from processes.jobs.service import JobService
from tests.support.diagrams import split_after_job
from tests.support.paths import SHIPPED

ORDER = {"items": [{"sku": "S", "quantity": 1, "unitPrice": 5}], "shippingAddress": {"country": "DE"}}
TOPICS = ["wms.reserve", "payment.authorize", "payment.capture", "wms.ship", "a", "b", "c"]


class Broker(JobDispatcher):
    """Stands for the broker transport: records which jobs would have been sent."""

    sends_after_commit = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def dispatch(self, jobs, *, new_order: bool = False) -> None:
        self.sent += [job.topic for job in jobs]


def chained(engine: Engine, max_jobs: int = 10) -> tuple[JobChain, Broker]:
    broker = Broker()
    engine.dispatcher = JobChain(broker, lambda: "worker-1", TOPICS, max_jobs=max_jobs)
    return engine.dispatcher, broker


def job_rows(engine: Engine, instance_id: str) -> dict[str, Job]:
    with engine.read_session() as session:
        return {j.topic: j for j in session.scalars(select(Job).where(Job.instance_id == instance_id))}


def run_chain(engine: Engine, jobs: JobService, job_id: str) -> list[str]:
    """Claim a job and run it as a worker's message does (`run_together`, with the chain `chained` installed); the
    topics the jobs' calls went to."""
    first = jobs.claim_job("worker-1", job_id, topics=TOPICS)
    assert first is not None
    ran: list[str] = []
    jobs.executor = lambda job: ran.append(job.topic) or {}
    run_together(SimpleNamespace(engine=engine, jobs=jobs), [first], None)
    return ran


def test_claim_job_leases_a_job_once_with_its_order(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER, business_key="ORDER-7").instance["id"]
    jobs = JobService(engine, lambda job: {})
    reserve = job_rows(engine, instance_id)["wms.reserve"]

    assert jobs.claim_job("worker-1", reserve.id, topics=["payment.authorize"]) is None  # not a topic it serves
    claimed = jobs.claim_job("worker-1", reserve.id, topics=TOPICS)
    assert claimed is not None
    assert (claimed.business_key, claimed.topic, claimed.instance_id) == ("ORDER-7", "wms.reserve", instance_id)
    assert claimed.variables == reserve.variables
    row = job_rows(engine, instance_id)["wms.reserve"]
    assert (row.status, row.locked_by, row.lease_token) == ("locked", "worker-1", claimed.lease_token)
    assert jobs.claim_job("worker-2", reserve.id, topics=TOPICS) is None  # the message delivered twice

    jobs.run(claimed)
    assert job_rows(engine, instance_id)["wms.reserve"].status == "done"
    assert jobs.claim_job("worker-2", reserve.id, topics=TOPICS) is None


def test_an_orders_next_jobs_run_in_the_worker_that_made_them(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    chain, broker = chained(engine)
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER).instance["id"]
    assert sorted(broker.sent) == ["payment.authorize", "wms.reserve"]  # the start is not a worker's job

    branches = job_rows(engine, instance_id)
    assert run_chain(engine, jobs, branches["wms.reserve"].id) == ["wms.reserve"]  # the join waits
    ran = run_chain(engine, jobs, branches["payment.authorize"].id)

    assert ran == ["payment.authorize", "payment.capture", "wms.ship"]
    assert get_instance(engine, instance_id)["status"] == "completed"
    rows = job_rows(engine, instance_id)
    for topic in ("payment.capture", "wms.ship"):  # leased when made, never sent through the broker
        assert rows[topic].status == "done" and rows[topic].locked_by == "worker-1", topic
        assert rows[topic].dispatched_at is None, topic
    assert sorted(broker.sent) == ["payment.authorize", "wms.reserve"]


SPLIT = split_after_job("split", ("a", "a"), {"b": "b", "c": "c"})


def test_a_split_after_a_job_runs_side_by_side_in_the_worker_that_made_it(engine: Engine) -> None:
    deploy(engine, [SPLIT])
    chain, broker = chained(engine)
    both_calling = threading.Barrier(2, timeout=10)  # b and c return only once both are calling: side by side
    ran: list[str] = []

    def call(job) -> dict:
        ran.append(job.topic)
        if job.topic in ("b", "c"):
            both_calling.wait()
        return {}

    jobs = JobService(engine, call)
    instance_id = start_instance(engine, "split").instance["id"]
    first = jobs.claim_job("worker-1", job_rows(engine, instance_id)["a"].id, topics=TOPICS)
    assert first is not None
    run_together(SimpleNamespace(engine=engine, jobs=jobs), [first], None)

    assert ran[0] == "a" and sorted(ran[1:]) == ["b", "c"]
    assert broker.sent == ["a"]  # only the start's job went through the broker
    rows = job_rows(engine, instance_id)
    for topic in ("b", "c"):  # leased to this worker when made, never sent
        assert (rows[topic].status, rows[topic].locked_by, rows[topic].dispatched_at) == ("done", "worker-1", None)
    assert get_instance(engine, instance_id)["status"] == "completed"
    with engine.read_session() as session:
        steps = session.execute(text("SELECT revision FROM process_instances WHERE id = :id"), {"id": instance_id})
        assert steps.scalar() == 3, "start, a's result, then b's and c's results in one step"


def test_a_wider_split_keeps_eight_branches_and_sends_the_rest_to_the_broker(engine: Engine) -> None:
    """One diagram must not start a thread per branch in one worker: the branches beyond MAX_SIDE_BY_SIDE go to the
    broker (which groups them by the same limit), for this worker or another to run."""
    deploy(engine, [split_after_job("wide", ("a", "a"), {f"t{n}": "b" for n in range(11)})])
    chain, broker = chained(engine)
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "wide").instance["id"]

    ran = run_chain(engine, jobs, job_rows(engine, instance_id)["a"].id)

    assert ran == ["a"] + ["b"] * MAX_SIDE_BY_SIDE
    assert broker.sent == ["a"] + ["b"] * (11 - MAX_SIDE_BY_SIDE)
    with engine.read_session() as session:
        left = session.scalars(select(Job).where(Job.instance_id == instance_id, Job.status == "ready")).all()
    assert len(left) == 11 - MAX_SIDE_BY_SIDE and all(j.locked_by is None for j in left)


def test_a_chain_ends_after_its_limit_and_hands_on_through_the_broker(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    chain, broker = chained(engine, max_jobs=2)
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER).instance["id"]
    branches = job_rows(engine, instance_id)
    run_chain(engine, jobs, branches["wms.reserve"].id)

    assert run_chain(engine, jobs, branches["payment.authorize"].id) == ["payment.authorize", "payment.capture"]
    assert broker.sent[-1] == "wms.ship"
    assert job_rows(engine, instance_id)["wms.ship"].status == "ready"
