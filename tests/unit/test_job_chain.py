"""A worker process keeps an order's next job (processes/jobs/chain.py) and claims a job by id in one statement
(JobService.claim_job): what a Celery worker does, here in process on SQLite."""

from __future__ import annotations

from sqlalchemy import select

from processes.core.engine import Engine
from processes.core.models import Job
from processes.core.transport import JobDispatcher
from processes.deployment.deployments import deploy
from processes.instances import get_instance, start_instance
from processes.jobs.chain import JobChain
from processes.jobs.service import JobService
from tests.support.diagrams import process
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


def run_chain(engine: Engine, chain: JobChain, jobs: JobService, job_id: str) -> list[str]:
    first = jobs.claim_job("worker-1", job_id, topics=TOPICS)
    assert first is not None
    ran = []
    with chain.running(first) as queue:
        for job in queue:
            ran.append(job.topic)
            jobs.run(job)
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
    assert run_chain(engine, chain, jobs, branches["wms.reserve"].id) == ["wms.reserve"]  # the join waits
    ran = run_chain(engine, chain, jobs, branches["payment.authorize"].id)

    assert ran == ["payment.authorize", "payment.capture", "wms.ship"]
    assert get_instance(engine, instance_id)["status"] == "completed"
    rows = job_rows(engine, instance_id)
    for topic in ("payment.capture", "wms.ship"):  # leased when made, never sent through the broker
        assert rows[topic].status == "done" and rows[topic].locked_by == "worker-1", topic
        assert rows[topic].dispatched_at is None, topic
    assert sorted(broker.sent) == ["payment.authorize", "wms.reserve"]


SPLIT = process(
    "split",
    """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="a"/>
    <bpmn:serviceTask id="a" camunda:type="external" camunda:topic="a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
    <bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="c"/>
    <bpmn:serviceTask id="b" camunda:type="external" camunda:topic="b"/>
    <bpmn:serviceTask id="c" camunda:type="external" camunda:topic="c"/>
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="c" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)


def test_of_two_parallel_jobs_one_stays_and_the_other_goes_to_the_broker(engine: Engine) -> None:
    deploy(engine, [SPLIT])
    chain, broker = chained(engine)
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "split").instance["id"]

    ran = run_chain(engine, chain, jobs, job_rows(engine, instance_id)["a"].id)

    assert len(ran) == 2 and ran[0] == "a"  # one branch ran here at once ...
    other = "c" if ran[1] == "b" else "b"
    assert broker.sent == ["a", other]  # ... the other went to the broker, for another worker to run meanwhile
    row = job_rows(engine, instance_id)[other]
    assert (row.status, row.locked_by, row.dispatched_at is not None) == ("ready", None, True)


def test_a_chain_ends_after_its_limit_and_hands_on_through_the_broker(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    chain, broker = chained(engine, max_jobs=2)
    jobs = JobService(engine, lambda job: {})
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER).instance["id"]
    branches = job_rows(engine, instance_id)
    run_chain(engine, chain, jobs, branches["wms.reserve"].id)

    assert run_chain(engine, chain, jobs, branches["payment.authorize"].id) == ["payment.authorize", "payment.capture"]
    assert broker.sent[-1] == "wms.ship"
    assert job_rows(engine, instance_id)["wms.ship"].status == "ready"
