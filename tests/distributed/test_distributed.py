"""The distributed transport for real: `orderflow serve`, `orderflow worker` (Celery) and `orderflow scheduler` as
separate processes on PostgreSQL and a Redis or RabbitMQ broker, no mocks.

What it shows: orders complete with several worker processes, and an order's parallel branches run at the same time,
side by side in the worker that got them in one message, their results applied in one step; a worker killed with
SIGKILL mid-job loses nothing and charges nobody twice; two schedulers fire each timer once; orders started while
the broker is down are dispatched once it is back (outbox sweep); the same works on RabbitMQ.

Services: ORDERFLOW_TEST_POSTGRES_URL (default the local `test` database), ORDERFLOW_TEST_REDIS_URL,
ORDERFLOW_TEST_AMQP_URL and the `redis-server` binary (for the broker-outage test, which runs a broker of its own).
A missing service skips the tests that need it, except in CI (CI=true), where it is a failure.

Isolation: a PostgreSQL database per test (dropped at the end), a queue name per test, a sandbox process of this
module's own (its counters count this module's calls alone), a temporary data directory."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.support.cluster import (
    AMQP_URL,
    BRANCHES,
    ORDER,
    REDIS_URL,
    Cluster,
    control,
    free_port,
    in_flight,
    start_redis,
    stats,
    wait_until,
    when,
    worker_name,
)
from tests.support.diagrams import process, split_after_job
from tests.support.server import Server

# -- 1. many orders, two worker processes, parallel branches at the same time -------------------------------------


def test_orders_complete_on_two_workers_and_parallel_branches_run_at_once(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = cluster_factory(REDIS_URL)
    cluster.serve()
    # One pool process per worker: two jobs running at once are necessarily on two different `orderflow worker`s.
    workers = [cluster.worker(concurrency=1, wait=False) for _ in range(2)]
    for worker in workers:
        cluster.ready(worker)

    ids = cluster.start_orders("BATCH", 30)
    cluster.wait_completed("BATCH", ids, timeout=60)
    groups = {pid: n for n, worker in enumerate(workers) for pid in worker.pids()}
    names = {worker_name(pid): n for pid, n in groups.items()}
    holders = [j["locked_by"] for j in cluster.jobs("kind = 'service'")]
    assert len(holders) == 30 * 4 and all(h in names for h in holders), set(holders) - set(names)
    per_worker = [sum(1 for h in holders if names[h] == n) for n in range(2)]
    assert min(per_worker) > 0, f"one worker ran every job: {per_worker}"
    # An order's capture and shipment run in the worker process that ran the job before them (processes/jobs/
    # chain.py): written leased to it, never sent through the broker.
    later = cluster.jobs("instance_id = ANY(:ids) AND topic IN ('payment.capture', 'wms.ship')", ids=ids)
    assert len(later) == 30 * 2 and all(j["dispatched_at"] is None for j in later), later
    by_order: dict[str, set[str]] = {}
    for job in later:
        by_order.setdefault(job["instance_id"], set()).add(job["locked_by"])
    assert all(len(holder) == 1 for holder in by_order.values()), by_order

    # Each branch call now takes a second at the sandbox, which counts the calls it is answering at once. Orders go
    # one at a time, so two calls in flight together can only be an order's two branches, worked on at once (a
    # machine too slow to start the second call within that second fails this, never a sequential run passes it).
    # Both branches go in one broker message to one worker, which runs them side by side although its one pool
    # process takes one message at a time, and applies both results in one engine step (processes/jobs/broker.py).
    control(sandbox, latencyMs=1000)
    for n in range(2):
        in_flight(sandbox, reset=True)
        [instance_id] = cluster.start_orders(f"PARALLEL{n}", 1)
        cluster.wait_completed(f"PARALLEL{n}", [instance_id], timeout=30)
        events = cluster.events(instance_id)
        created = [e for e in events if e["type"] == "job_created" and e["elementId"] in BRANCHES]
        assert len(created) == 2, events
        seen = in_flight(sandbox)
        assert seen["peak"] == 2, f"the branches' calls never overlapped: {seen}"

        branch_jobs = cluster.jobs("instance_id = :i AND element_id = ANY(:e)", i=instance_id, e=list(BRANCHES))
        assert len(branch_jobs) == 2, branch_jobs
        ran_on = {names[j["locked_by"]] for j in branch_jobs}
        assert len(ran_on) == 1, f"the branches were split between worker processes: {branch_jobs}"
        with cluster.sql.connect() as connection:
            steps = connection.execute(
                text("SELECT revision FROM process_instances WHERE id = :id"), {"id": instance_id}
            ).scalar()
        assert steps == 4, f"{steps} engine steps: start, both branches' results in one, capture, shipment expected"


AUTHORIZE_THEN_SPLIT = split_after_job(
    "authorize_then_split",
    ("authorize", "payment.authorize"),
    {"capture": "payment.capture", "reserve": "wms.reserve"},
    then=("ship", "wms.ship"),
)


def test_a_split_after_a_workers_job_runs_side_by_side_in_that_worker(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    """The split comes after a job a worker ran (authorize, then capture and reserve at once): the step that makes
    the branches runs in that worker, which keeps both and runs them side by side (processes/jobs/chain.py), instead
    of sending one through the broker to another worker, where its result would take a step of its own."""
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    workers = [cluster.worker(concurrency=1, wait=False) for _ in range(2)]
    for worker in workers:
        cluster.ready(worker)
    name, xml = AUTHORIZE_THEN_SPLIT
    response = server.post("/deployments", files=[("files", (name, xml, "application/xml"))])
    assert response.status_code == 201, response.text
    names = {worker_name(pid): n for n, worker in enumerate(workers) for pid in worker.pids()}

    control(sandbox, latencyMs=1000)  # the branches overlap only if they run side by side (as in the test above)
    for n in range(2):
        in_flight(sandbox, reset=True)
        [instance_id] = cluster.start_orders(f"SPLIT{n}", 1, key="authorize_then_split", **ORDER, total=34.9)
        cluster.wait_completed(f"SPLIT{n}", [instance_id], timeout=30)
        assert in_flight(sandbox)["peak"] == 2, "capture and reserve never called their systems at once"
        jobs = {j["element_id"]: j for j in cluster.jobs("instance_id = :i", i=instance_id) if j["kind"] == "service"}
        assert sorted(jobs) == ["authorize", "capture", "reserve", "ship"], jobs
        assert len({names[j["locked_by"]] for j in jobs.values()}) == 1, (
            f"the order's jobs moved between workers: {jobs}"
        )
        for element in ("capture", "reserve", "ship"):  # leased when made, never through the broker
            assert jobs[element]["dispatched_at"] is None, jobs[element]
        with cluster.sql.connect() as connection:
            steps = connection.execute(
                text("SELECT revision FROM process_instances WHERE id = :id"), {"id": instance_id}
            ).scalar()
        assert steps == 4, f"{steps} engine steps: start, authorize, both branches' results in one, ship expected"
    control(sandbox, latencyMs=0)


def test_one_worker_process_with_a_thread_pool_runs_every_order_once(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    """`orderflow worker --pool threads --concurrency 4`, the set-up README "Run on several machines" suggests:
    four jobs at once in one process, each order's later jobs chained on the thread that ran the one before."""
    cluster = cluster_factory(REDIS_URL)
    cluster.serve()
    worker = cluster.worker(concurrency=4, pool="threads")
    control(sandbox, latencyMs=0)
    before = stats(sandbox)
    ids = cluster.start_orders("THREADS", 20)
    cluster.wait_completed("THREADS", ids, timeout=60)

    after = stats(sandbox)
    made = {name: after[name] - before[name] for name in ("authorizations", "reservations", "captures", "shipments")}
    assert made == {"authorizations": 20, "reservations": 20, "captures": 20, "shipments": 20}, made
    holders = {j["locked_by"] for j in cluster.jobs("instance_id = ANY(:ids)", ids=ids) if j["kind"] == "service"}
    assert holders == {worker_name(worker.popen.pid)}, holders  # one process ran them all


# -- 2. a worker killed mid-job: nothing lost, no side effect twice ---------------------------------------------


def test_a_worker_killed_mid_job_loses_nothing_and_charges_nobody_twice(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = cluster_factory(REDIS_URL, ORDERFLOW_LEASE_SECONDS="3")
    cluster.serve()
    victim, survivor = cluster.worker(concurrency=2, wait=False), cluster.worker(concurrency=2, wait=False)
    for worker in (victim, survivor):
        cluster.ready(worker)
    cluster.scheduler(resend_after=2)
    control(sandbox, latencyMs=1000)  # every call is answered a second after the sandbox did the work
    before = stats(sandbox)
    orders = 6
    ids = cluster.start_orders("KILL", orders)

    # Kill the victim while it is in the middle of a capture or a shipment: leased to it, claimed long enough ago
    # that the call has reached the sandbox, but not yet answered.
    victim_names = [worker_name(pid) for pid in victim.pids()]
    in_flight_sql = "status = 'locked' AND locked_by = ANY(:names) AND updated_at < :claimed_before"

    def victim_mid_side_effect() -> list[dict[str, Any]]:
        claimed_before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=0.4)
        held = cluster.jobs(in_flight_sql, names=victim_names, claimed_before=claimed_before)
        return held if any(j["topic"] in ("payment.capture", "wms.ship") for j in held) else []

    wait_until(victim_mid_side_effect, 30, "the victim worker to be in the middle of a capture or shipment")
    victim.kill()
    killed = cluster.jobs("status = 'locked' AND locked_by = ANY(:names)", names=victim_names)
    assert any(j["topic"] in ("payment.capture", "wms.ship") for j in killed), killed
    assert cluster.worker(concurrency=2).popen.poll() is None  # the replacement

    cluster.wait_completed("KILL", ids, timeout=60)
    after = stats(sandbox)
    made = {name: after[name] - before[name] for name in after}
    assert made["captures"] == orders and made["shipments"] == orders, made
    assert made["authorizations"] == orders and made["reservations"] == orders, made
    # The killed call had reached the sandbox; its job ran again with the same idempotency key and got the reply
    # of the first call instead of a second charge or shipment.
    assert made["idempotentReplays"] >= 1, made
    for job in cluster.jobs("id = ANY(:ids)", ids=[j["id"] for j in killed]):
        assert job["status"] == "done" and job["locked_by"] not in victim_names, job


# -- 3. two schedulers: every timer fires once ---------------------------------------------------------------------

TIMER_THEN_COUNT = process(
    "timer_then_count",
    """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait a second">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="count"/>
    <bpmn:scriptTask id="count" scriptFormat="python"><bpmn:script>fired = fired + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="count" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)


def test_two_schedulers_fire_every_timer_once(redis_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    workers = [cluster.worker(concurrency=2, wait=False) for _ in range(2)]
    for worker in workers:
        cluster.ready(worker)
    # Both sweep often and resend soon, so both keep sending the same due timer jobs.
    schedulers = [cluster.scheduler(resend_after=0.5, interval=0.1) for _ in range(2)]
    name, xml = TIMER_THEN_COUNT
    response = server.post("/deployments", files=[("files", (name, xml, "application/xml"))])
    assert response.status_code == 201, response.text

    ids = cluster.start_orders("TIMER", 12, key="timer_then_count", fired=0)
    cluster.wait_completed("TIMER", ids, timeout=30)
    for instance_id in ids:
        view = server.get(f"/process-instances/{instance_id}").json()
        assert view["variables"]["fired"] == 1, view
        events = cluster.events(instance_id)
        completed = [e["elementId"] for e in events if e["type"] == "element_completed"]
        assert completed.count("wait") == 1 and completed.count("count") == 1, events
        assert [e["type"] for e in events].count("timers_checked") == 1, events
        fired_at = next(when(e) for e in events if e["type"] == "element_completed" and e["elementId"] == "wait")
        assert (fired_at - datetime.fromisoformat(view["createdAt"].rstrip("Z"))).total_seconds() >= 1.0, events
    for scheduler in schedulers:
        assert scheduler.popen.poll() is None and "sweep failed" not in scheduler.output(), scheduler.tail()


# -- 4. the broker goes away: orders still start, and run once it is back --------------------------------------


def test_orders_started_while_the_broker_is_down_run_once_it_is_back(
    postgres_ok: None, redis_server_binary: str, cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    port = free_port()
    broker = start_redis(redis_server_binary, port, tmp_path)
    try:
        cluster = cluster_factory(f"redis://127.0.0.1:{port}/0")
        cluster.serve()
        cluster.worker(concurrency=2)
        scheduler = cluster.scheduler(resend_after=2)
        [warm_up] = cluster.start_orders("BEFORE", 1)
        cluster.wait_completed("BEFORE", [warm_up], timeout=30)

        broker.stop()
        orders = 5
        ids = cluster.start_orders("OUTAGE", orders)  # each start commits; only the publish after it fails
        server_proc = cluster.server_proc
        assert server_proc is not None

        def failed_sends() -> list[str]:  # the server's background sender tries after the answer
            return re.findall("could not send job .* to the broker", server_proc.output())

        # Both branch jobs of every order, each once.
        wait_until(lambda: len(failed_sends()) >= 2 * orders, 30, "the server to give up sending every job")
        assert len(failed_sends()) == 2 * orders, server_proc.tail()
        # The sweep finds the unsent jobs, cannot send them either, and must try again later.
        scheduler.wait_for("could not send job .* to the broker", 15)
        assert set(cluster.statuses("OUTAGE").values()) == {"running"}

        broker = start_redis(redis_server_binary, port, tmp_path)
        cluster.wait_completed("OUTAGE", ids, timeout=45)
    finally:
        broker.stop()


# -- 5. RabbitMQ ---------------------------------------------------------------------------------------------------


def test_orders_complete_with_a_rabbitmq_broker(rabbitmq_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(AMQP_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    ids = cluster.start_orders("RABBIT", 4)
    cluster.wait_completed("RABBIT", ids, timeout=30)
    health = server.get("/health").json()
    assert health["checks"]["broker"]["ok"] is True and health["checks"]["workers"]["transport"] == "celery", health


# -- 6. operating running orders: migration and suspend/resume run on the Celery workers --------------------------

APPROVE_V1 = process(
    "dist_approve",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="Approve"/>
    <bpmn:userTask id="Approve" name="Approve"/><bpmn:sequenceFlow id="f1" sourceRef="Approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)
APPROVE_V2 = process(
    "dist_approve",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="ApproveOrder"/>
    <bpmn:userTask id="ApproveOrder" name="Approve the order"/>
    <bpmn:sequenceFlow id="f1" sourceRef="ApproveOrder" targetRef="Check"/>
    <bpmn:userTask id="Check" name="Check"/><bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="end"/>
    <bpmn:endEvent id="end"/>""",
)
PAUSE = process(
    "dist_pause",
    """<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="pause"/>
    <bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition><bpmn:timeDuration>PT3S</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="pause" targetRef="end"/><bpmn:endEvent id="end"/>""",
)


def _deploy(server: Server, diagram: tuple[str, bytes]) -> None:
    name, xml = diagram
    response = server.post("/deployments", files=[("files", (name, xml, "application/xml"))])
    assert response.status_code == 201, response.text


def test_a_migration_batch_runs_on_the_celery_workers(redis_ok: None, cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    cluster.scheduler()
    _deploy(server, APPROVE_V1)
    ids = cluster.start_orders("MIGRATE", 5, key="dist_approve", amount=1)
    _deploy(server, APPROVE_V2)

    request = {
        "processKey": "dist_approve",
        "sourceVersion": 1,
        "targetVersion": 2,
        "mapping": {"Approve": "ApproveOrder"},
    }
    dry = server.post("/migrations", json={**request, "dryRun": True}).json()
    assert sorted(i["id"] for i in dry["instances"] if i["migratable"]) == sorted(ids)
    started = server.post("/migrations", json=request)
    assert started.status_code == 202, started.text
    batch_id = started.json()["batchId"]
    batch = wait_until(
        lambda: (b := server.get(f"/batches/{batch_id}").json())["status"] == "completed" and b, 30, "the batch"
    )
    assert batch["counts"] == {"done": 5, "failed": 0, "skipped": 0}, batch
    assert [j["locked_by"] for j in cluster.jobs("kind = 'batch'")][0].startswith("celery-")  # a worker ran it
    for instance_id in ids:
        for element in ("ApproveOrder", "Check"):
            task = server.get("/tasks").json()
            mine = [t for t in task["items"] if t["instanceId"] == instance_id and t["elementId"] == element]
            assert len(mine) == 1, (element, task)
            done = server.post(f"/tasks/{mine[0]['id']}/complete", json={"userId": "admin", "variables": {}})
            assert done.status_code == 200, done.text
    cluster.wait_completed("MIGRATE", ids, timeout=30)


def test_suspend_holds_a_timer_on_the_celery_workers_until_resume(
    redis_ok: None, cluster_factory: Callable[..., Cluster]
) -> None:
    cluster = cluster_factory(REDIS_URL)
    server = cluster.serve()
    cluster.worker(concurrency=2)
    cluster.scheduler(resend_after=0.5, interval=0.1)
    _deploy(server, PAUSE)
    late, early = cluster.start_orders("PAUSE", 2, key="dist_pause", n=1)
    for instance_id in (late, early):
        response = server.post(f"/process-instances/{instance_id}/suspend", json={"comment": "hold"})
        assert response.status_code == 200 and response.json()["status"] == "suspended", response.text
    # Resumed before its timer is due: the released timer job goes to the workers, which fire it.
    assert server.post(f"/process-instances/{early}/resume", json={}).status_code == 200
    cluster.wait_completed("PAUSE", [early], timeout=30)
    assert any(e["type"] == "timers_checked" and e["actor"] == "timer" for e in cluster.events(early))

    time.sleep(3.5)  # the held timer of the other order falls due: neither the scheduler nor a worker fires it
    view = server.get(f"/process-instances/{late}").json()
    assert view["status"] == "suspended" and [e["elementId"] for e in view["activeElements"]] == ["pause"], view
    assert [j["status"] for j in cluster.jobs("instance_id = :id", id=late)] == ["held"]
    assert server.post(f"/process-instances/{late}/resume", json={}).status_code == 200  # due: it fires on resume
    cluster.wait_completed("PAUSE", [late], timeout=30)
