"""Recovery of the distributed set-up in seconds, on real processes (`orderflow serve`, Celery workers, the
scheduler) with PostgreSQL and Redis: what happens after a fault is asserted by counts (deliveries per job, calls
per idempotency key, reconnect intervals the worker logged) and by order, never by elapsed time.

- the sweep sends no job again whose message is still waiting in the queue;
- a hung broker (stopped, not refused) never holds a start request;
- a worker tries a lost broker again at least every 2 s;
- the scheduler sends again at its next sweep what it failed to send;
- a worker whose report meets a database error reports again with the same lease: the job is not run twice;
- the next job of an order already under way goes before a backlog of new orders' first jobs.

Tests that stop a broker run a redis-server of their own; the database outage blocks only the test's own database
(ALLOW_CONNECTIONS false), never the shared server."""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support.cluster import (
    REDIS_URL,
    Cluster,
    control,
    free_port,
    start_redis,
    stats,
    wait_until,
)
from tests.support.postgres import postgres_url

NO_OP = re.compile(r"succeeded in [\d.]+s: 'not claimable'")


def started_cluster(
    cluster_factory: Callable[..., Cluster], broker_url: str = REDIS_URL, workers: int = 1, **env: str
) -> Cluster:
    cluster = cluster_factory(broker_url, **env)
    cluster.serve()
    for _ in range(workers):
        cluster.worker(concurrency=1)
    return cluster


# -- the sweep leaves queued jobs alone -------------------------------------------------------------------------


def test_the_sweep_sends_no_job_again_while_its_message_waits_in_the_queue(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    # One worker process against a backlog: most jobs wait in the queue far longer than the scheduler's resend
    # interval. They are queued, not lost, so sending them again would only make no-op deliveries.
    cluster = started_cluster(cluster_factory)
    worker = cluster.workers[0]
    cluster.scheduler(resend_after=1, interval=0.25)
    control(sandbox, latencyMs=100)
    ids = cluster.start_orders("BACKLOG", 15)
    cluster.wait_completed("BACKLOG", ids, timeout=120)

    no_ops = len(NO_OP.findall(worker.output()))
    jobs = cluster.jobs("kind = 'service'")
    assert len(jobs) == 15 * 4 and all(j["status"] == "done" for j in jobs)
    # A message taken by the worker in the instant before the sweep looked at an empty queue may still be sent
    # twice; a sweep that resends what is queued makes dozens.
    assert no_ops <= 2, f"{no_ops} deliveries of jobs that were done or taken already, for {len(jobs)} jobs"


# -- a hung broker -----------------------------------------------------------------------------------------------


def test_a_hung_broker_never_holds_a_start_request(
    postgres_ok: None, redis_server_binary: str, cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    port = free_port()
    broker = start_redis(redis_server_binary, port, tmp_path)
    try:
        cluster = started_cluster(cluster_factory, f"redis://127.0.0.1:{port}/0")
        cluster.scheduler(resend_after=2)
        [warm_up] = cluster.start_orders("BEFORE", 1)
        cluster.wait_completed("BEFORE", [warm_up], timeout=30)

        os.kill(broker.popen.pid, signal.SIGSTOP)  # it keeps its port and connections, and answers nothing
        answered: list[str] = []
        starts = threading.Thread(target=lambda: answered.extend(cluster.start_orders("HUNG", 3)), daemon=True)
        starts.start()
        starts.join(20)
        hung_while_answered = not starts.is_alive()  # every start answered while the broker was still hung
        os.kill(broker.popen.pid, signal.SIGCONT)
        starts.join(60)
        assert hung_while_answered, "a start request waited for the hung broker"
        assert len(answered) == 3
        cluster.wait_completed("HUNG", answered, timeout=60)
    finally:
        os.kill(broker.popen.pid, signal.SIGCONT)
        broker.stop()


# -- reconnecting ------------------------------------------------------------------------------------------------

RETRY = re.compile(r"Trying again (?:in ([\d.]+) seconds?|now)")


def test_a_worker_tries_a_lost_broker_again_at_least_every_two_seconds(
    postgres_ok: None, redis_server_binary: str, cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    port = free_port()
    broker = start_redis(redis_server_binary, port, tmp_path)
    try:
        cluster = started_cluster(cluster_factory, f"redis://127.0.0.1:{port}/0")
        worker = cluster.workers[0]
        cluster.scheduler(resend_after=2)
        broker.stop()
        # Enough attempts that a growing backoff would have passed 2 s (Celery's own: 2, 4, 6, ... 30 s).
        wait_until(lambda: len(RETRY.findall(worker.output())) >= 6, 60, "the worker to try the broker 6 times")
        broker = start_redis(redis_server_binary, port, tmp_path)
        waits = [float(seconds or 0) for seconds in RETRY.findall(worker.output())]
        assert max(waits) <= 2.0, f"the worker waited {waits} s between attempts"
        ids = cluster.start_orders("BACK", 2)
        cluster.wait_completed("BACK", ids, timeout=60)
    finally:
        broker.stop()


# -- the scheduler and a failed send -----------------------------------------------------------------------------


def test_the_scheduler_tries_a_failed_send_again_at_its_next_sweep(
    postgres_ok: None, redis_server_binary: str, cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    port = free_port()
    broker = start_redis(redis_server_binary, port, tmp_path)
    try:
        cluster = started_cluster(cluster_factory, f"redis://127.0.0.1:{port}/0")
        # Long enough that a job marked sent by a failed sweep would wait a minute for the next try.
        scheduler = cluster.scheduler(resend_after=60, interval=0.25)
        broker.stop()
        ids = cluster.start_orders("DOWN", 2)
        failed = re.compile(r"could not send job (\S+) to the broker")

        def tried_twice() -> bool:
            sent = failed.findall(scheduler.output())
            return any(sent.count(job_id) >= 2 for job_id in sent)

        wait_until(tried_twice, 30, "the scheduler to try one job at two sweeps")
        broker = start_redis(redis_server_binary, port, tmp_path)
        cluster.wait_completed("DOWN", ids, timeout=60)
    finally:
        broker.stop()


# -- a database error while reporting ----------------------------------------------------------------------------


def test_a_report_that_meets_a_database_error_is_made_again_with_the_same_lease(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = started_cluster(cluster_factory, ORDERFLOW_LEASE_SECONDS="20")
    worker = cluster.workers[0]
    cluster.scheduler(resend_after=1, interval=0.25)
    control(sandbox, latencyMs=1500)  # every call is answered 1.5 s after the sandbox did the work
    before = stats(sandbox)
    [order] = cluster.start_orders("BLIP", 1)

    def capturing() -> list[dict[str, Any]]:  # the worker waits for the sandbox's answer to a capture
        claimed_before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=0.3)
        sql = "status = 'locked' AND topic = 'payment.capture' AND updated_at < :before"
        return cluster.jobs(sql, before=claimed_before)

    wait_until(capturing, 60, "the worker to be in the middle of a capture")
    database = make_url(cluster.db_url).database
    admin = create_engine(postgres_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:  # this test's database only: nobody may connect, everyone is out
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": database},
            )
        # The capture is done at the sandbox; its answer comes while the database is away, and the report fails.
        wait_until(lambda: stats(sandbox)["captures"] > before["captures"], 30, "the sandbox to capture")
        worker.wait_for("job report failed|raised unexpected", 30)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()

    cluster.wait_completed("BLIP", [order], timeout=60)
    made = {name: count - before[name] for name, count in stats(sandbox).items()}
    # The capture ran once: its result was reported again, not the job run again after its lease expired.
    assert made["captures"] == 1 and made["idempotentReplays"] == 0, made
    [capture] = cluster.jobs("topic = 'payment.capture'")
    assert capture["attempt"] == 1 and capture["status"] == "done", capture


# -- orders under way first --------------------------------------------------------------------------------------


def test_the_next_job_of_an_order_under_way_goes_before_new_orders(
    redis_ok: None, cluster_factory: Callable[..., Cluster], sandbox: str
) -> None:
    cluster = cluster_factory(REDIS_URL)
    cluster.serve()
    # The first order is started, then a backlog of new orders, all before any worker runs.
    [first] = cluster.start_orders("FIRST", 1)
    backlog = cluster.start_orders("LATER", 20)
    worker = cluster.worker(concurrency=1)
    cluster.wait_completed("FIRST", [first], timeout=60)
    cluster.wait_completed("LATER", backlog, timeout=120)

    [shipped] = cluster.jobs("instance_id = :i AND topic = 'wms.ship'", i=first)
    done_before = cluster.jobs(
        "instance_id = ANY(:later) AND kind = 'service' AND updated_at < :at", later=backlog, at=shipped["updated_at"]
    )
    # In arrival order the first order's capture and shipment would wait for all 40 first jobs of the backlog.
    assert len(done_before) <= 3, (
        f"{len(done_before)} jobs of new orders ran before the first order shipped:\n{worker.tail()}"
    )
