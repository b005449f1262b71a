"""The engine on a real PostgreSQL server: migrations, the shipped order, and the row locks (FOR UPDATE, SKIP LOCKED,
unique indexes) that keep concurrent workers and requests correct in the distributed set-up.

The server is ORDERFLOW_TEST_POSTGRES_URL (default: the local test database). Each run of this module works in a
schema of its own, dropped at the end, so runs never see each other's rows. Without a reachable server the module is
skipped, except in CI (CI=true), where a missing service is a failure."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.features import build_engine
from app.migrations import alembic_config, upgrade
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.core.models import AuditEvent, Base, Job, ProcessInstance
from processes.deployment.deployments import deploy
from processes.errors import Conflict
from processes.instances import get_instance, instance_events, start_instance
from processes.jobs.service import JobService
from tests.support.diagrams import process, service_task
from tests.support.paths import SHIPPED

CONNECT_TIMEOUT = 3  # seconds
WAIT = 10.0  # seconds: the longest any test waits for a thread or a lock before it fails instead of hanging


def _postgres_url() -> str:
    url = make_url(os.environ.get("ORDERFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    if url.drivername == "postgresql":  # a plain libpq-style URL: use the driver the project installs
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _probe(url: str) -> str | None:
    """None when the server answers, else why not."""
    probe = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the server is reported, whatever the driver raises
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        probe.dispose()
    return None


URL = _postgres_url()
SHOWN_URL = make_url(URL).render_as_string(hide_password=True)
_error = _probe(URL)
UNREACHABLE = f"PostgreSQL not reachable at {SHOWN_URL}: {_error} (set ORDERFLOW_TEST_POSTGRES_URL)" if _error else None
if UNREACHABLE and os.environ.get("CI") != "true":
    pytest.skip(UNREACHABLE, allow_module_level=True)

ORDER = {
    "items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": 10.0}],
    "shippingAddress": {"country": "FR"},
    "customer": {"id": "C-1"},
}


# -- fixtures: a schema per module run, empty tables per test --------------------------------------------


@pytest.fixture(scope="module")
def sql_engine() -> Iterator[SqlEngine]:
    """A fresh schema, migrated the way the server migrates; every pooled connection has it on its search_path."""
    if UNREACHABLE:
        pytest.fail(f"{UNREACHABLE}; CI=true, so a missing PostgreSQL service is a failure, not a skip")
    schema = f"orderflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        URL, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": CONNECT_TIMEOUT}
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # lock_timeout only turns a lock that is never released (an engine bug) into an error instead of a hung run.
    options = f"-csearch_path={schema} -clock_timeout={int(WAIT * 1000)}"
    sql = make_engine(
        URL,
        connect_args={"options": options, "connect_timeout": CONNECT_TIMEOUT},
        pool_size=12,
        max_overflow=8,
    )
    try:
        upgrade(sql)
        yield sql
    finally:
        sql.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(sql_engine: SqlEngine) -> Engine:
    """An engine (fresh caches) on empty tables of the module's PostgreSQL schema. Overrides the SQLite one."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with sql_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return build_engine(make_session_factory(sql_engine), settings=EngineSettings(lease_seconds=30))


# -- helpers ---------------------------------------------------------------------------------------------


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads released together; each call's result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=WAIT)
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=WAIT) for f in futures]


# Sessions waiting, directly or behind another waiter (later waiters queue on the first one's tuple lock), for :pid.
BLOCKED_BY = text(
    """
    WITH RECURSIVE blocked(pid) AS (
        SELECT a.pid FROM pg_stat_activity a WHERE :pid = ANY(pg_blocking_pids(a.pid))
        UNION
        SELECT a.pid FROM pg_stat_activity a JOIN blocked b ON b.pid = ANY(pg_blocking_pids(a.pid))
    )
    SELECT count(*) FROM blocked
    """
)


@contextmanager
def instance_row_locked(sql_engine: SqlEngine, instance_id: str) -> Iterator[Callable[[int], None]]:
    """Hold the instance row lock from another connection, as a step in progress does. Yields a function that waits
    until n other sessions are blocked on it; the lock is released on leaving the block."""
    with sql_engine.connect() as holder:
        holder.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id).with_for_update())
        pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()

        def wait_for_waiters(n: int) -> None:
            deadline = time.monotonic() + WAIT
            with sql_engine.connect() as observer:
                while True:
                    waiting = observer.execute(BLOCKED_BY, {"pid": pid}).scalar_one()
                    observer.rollback()  # pg_stat_activity is a snapshot taken once per transaction
                    if waiting >= n:
                        return
                    if time.monotonic() >= deadline:  # a wait that gave up, not a speed check
                        pytest.fail(f"only {waiting} of {n} steps are waiting for the row lock")
                    time.sleep(0.01)

        yield wait_for_waiters
        holder.rollback()


def job_rows(engine: Engine, **where: Any) -> list[Job]:
    with engine.read_session() as session:
        query = select(Job).filter_by(**where).order_by(Job.created_at, Job.id)
        return list(session.scalars(query))


def run_all(jobs: JobService, rounds: int = 4) -> None:
    for _ in range(rounds):
        for job in jobs.claim("w", limit=10):
            jobs.run(job)


def stub_executor(calls: list[str]) -> Callable[[Any], dict]:
    def executor(job) -> dict:
        calls.append(job.topic)
        return {f"{job.topic.replace('.', '_')}_id": job.id}

    return executor


# -- schema ----------------------------------------------------------------------------------------------


def test_migrations_create_exactly_the_tables_of_the_models(sql_engine: SqlEngine) -> None:
    with sql_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        # Alembic does not compare a partial index's WHERE clause, so the one the business-key dedupe relies on is
        # checked against the catalogue directly.
        indexes = {i["name"]: i for i in inspect(connection).get_indexes("process_instances")}
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert differences == []
    active_key = indexes["uq_active_business_key"]
    assert active_key["unique"] and active_key["column_names"] == ["process_key", "business_key"]
    where = active_key["dialect_options"]["postgresql_where"]
    assert "ended_at IS NULL" in where and "business_key IS NOT NULL" in where
    assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()  # every migration applied


# -- the shipped workflow --------------------------------------------------------------------------------


def test_shipped_order_completes_through_jobs(engine: Engine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    calls: list[str] = []
    jobs = JobService(engine, stub_executor(calls))
    started = start_instance(engine, "order_fulfillment", variables=ORDER, business_key="ORD-1")
    assert started.created and started.instance["status"] == "running"
    instance_id = started.instance["id"]
    run_all(jobs)
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert view["variables"]["total"] == 20.0 and "priority" not in view["variables"]
    assert sorted(calls) == ["payment.authorize", "payment.capture", "wms.reserve", "wms.ship"]
    assert calls.index("payment.capture") > calls.index("payment.authorize")
    assert {j.status for j in job_rows(engine, instance_id=instance_id)} == {"done"}
    types = [e["type"] for e in instance_events(engine, instance_id)]
    assert types[0] == "instance_started" and types[-1] == "instance_completed"
    assert types.count("job_created") == 4
    # The business key is free again once the order ended.
    again = start_instance(engine, "order_fulfillment", variables=ORDER, business_key="ORD-1")
    assert again.created and again.instance["id"] != instance_id


# -- concurrency: row locks, SKIP LOCKED, unique indexes -------------------------------------------------


def test_concurrent_reports_of_one_job_have_exactly_one_winner(engine: Engine, sql_engine: SqlEngine) -> None:
    deploy(engine, [process("svc", service_task())])
    jobs = JobService(engine)
    instance_id = start_instance(engine, "svc").instance["id"]
    job = jobs.claim("w")[0]

    def report(n: int) -> Callable[[], str]:
        return lambda: jobs.complete(job.id, job.lease_token, {"winner": n}) or "won"

    # All eight steps queue on the instance row lock, then go through it one at a time.
    with ThreadPoolExecutor(max_workers=1) as runner:
        with instance_row_locked(sql_engine, instance_id) as wait_for_waiters:
            reported = runner.submit(at_once, *(report(n) for n in range(8)))
            wait_for_waiters(8)
        outcomes = reported.result(timeout=WAIT)

    assert sum(o == "won" for o in outcomes) == 1, outcomes
    assert all(isinstance(o, Conflict) for o in outcomes if o != "won"), outcomes
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert view["variables"]["winner"] == outcomes.index("won")
    completed = [e for e in instance_events(engine, instance_id) if e["elementId"] == "charge"]
    assert [e["type"] for e in completed] == ["job_created", "element_completed"]
    assert [j.status for j in job_rows(engine, instance_id=instance_id)] == ["done"]


def test_concurrent_claims_take_every_job_exactly_once(engine: Engine, sql_engine: SqlEngine) -> None:
    deploy(engine, [process("svc", service_task())])
    jobs = JobService(engine)
    for _ in range(40):
        start_instance(engine, "svc")
    ready = job_rows(engine, status="ready")
    assert len(ready) == 40

    # A claim in progress elsewhere holds five jobs: claims skip them instead of waiting for it (SKIP LOCKED).
    held = [j.id for j in ready[:5]]
    with sql_engine.connect() as other:
        other.execute(select(Job.id).where(Job.id.in_(held)).with_for_update())
        batches = at_once(*(lambda w=f"w{n}": jobs.claim(w, limit=20) for n in range(4)))
        other.rollback()
    assert not [b for b in batches if isinstance(b, Exception)], batches
    ids = [j.id for batch in batches for j in batch]
    assert len(ids) == 35 and len(set(ids)) == 35 and not set(ids) & set(held)
    assert sorted(held) == sorted(j.id for j in jobs.claim("late", limit=20))

    rows = job_rows(engine)
    assert {r.status for r in rows} == {"locked"}
    owner = {j.id: f"w{n}" for n, batch in enumerate(batches) for j in batch} | dict.fromkeys(held, "late")
    assert {r.id: r.locked_by for r in rows} == owner
    assert len({r.lease_token for r in rows}) == 40


def test_concurrent_claims_of_one_job_by_its_id_have_exactly_one_winner(engine: Engine, sql_engine: SqlEngine) -> None:
    """JobService.claim_job, what a Celery worker does with a message (one sent twice, or redelivered): one UPDATE
    per claim; a claim that meets the row locked by another transaction waits for it and then finds it taken."""
    deploy(engine, [process("svc", service_task())])
    jobs = JobService(engine)
    start_instance(engine, "svc", business_key="ORDER-9")
    [ready] = job_rows(engine, status="ready")

    with sql_engine.connect() as other:
        other.execute(select(Job.id).where(Job.id == ready.id).with_for_update())  # a claim elsewhere, not committed
        with ThreadPoolExecutor(max_workers=1) as runner:
            claims = runner.submit(at_once, *(lambda w=f"w{n}": jobs.claim_job(w, ready.id) for n in range(6)))
            time.sleep(0.3)  # the six claims are waiting on the row now (if they skipped it, they are done already)
            other.rollback()
            outcomes = claims.result(timeout=WAIT)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1, outcomes
    assert (winners[0].business_key, winners[0].topic) == ("ORDER-9", "pay")
    [row] = job_rows(engine)
    assert (row.status, row.lease_token) == ("locked", winners[0].lease_token)
    assert row.locked_by == f"w{outcomes.index(winners[0])}"


def test_concurrent_starts_create_one_instance(engine: Engine) -> None:
    deploy(engine, [process("svc", service_task())])

    def instances() -> list[ProcessInstance]:
        with engine.read_session() as session:
            return list(session.scalars(select(ProcessInstance)))

    # The same Idempotency-Key, six requests at once.
    results = at_once(*(lambda: start_instance(engine, "svc", idempotency_key="order-42") for _ in range(6)))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.instance["id"] for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert [i.idempotency_key for i in instances()] == ["order-42"]

    # The same business key and no Idempotency-Key: one active instance.
    results = at_once(*(lambda: start_instance(engine, "svc", business_key="ORD-7") for _ in range(6)))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.instance["id"] for r in results}) == 1
    assert sum(r.created for r in results) == 1
    active = [i for i in instances() if i.business_key == "ORD-7" and i.ended_at is None]
    assert [i.id for i in active] == [results[0].instance["id"]]

    # The losers left nothing behind: one job and one start event per instance.
    assert len(job_rows(engine)) == 2
    with engine.read_session() as session:
        starts = session.scalar(select(func.count()).where(AuditEvent.type == "instance_started"))
    assert starts == 2


def test_parallel_branches_reported_at_once_join_exactly_once(engine: Engine, sql_engine: SqlEngine) -> None:
    deploy(engine, [("order_fulfillment.bpmn", SHIPPED.read_bytes())])
    calls: list[str] = []
    instance_id = start_instance(engine, "order_fulfillment", variables=ORDER).instance["id"]
    jobs = JobService(engine, stub_executor(calls))
    branches = {j.topic: j for j in jobs.claim("w", limit=10)}
    assert set(branches) == {"wms.reserve", "payment.authorize"}
    # Two worker processes: the second engine has its own, empty workflow cache and reads the state from the row.
    other = JobService(build_engine(engine.session_factory, settings=engine.settings))
    reserve, authorize = branches["wms.reserve"], branches["payment.authorize"]

    with ThreadPoolExecutor(max_workers=1) as runner:
        with instance_row_locked(sql_engine, instance_id) as wait_for_waiters:
            reported = runner.submit(
                at_once,
                lambda: jobs.complete(reserve.id, reserve.lease_token, {"reservationId": "R-1"}) or "ok",
                lambda: other.complete(authorize.id, authorize.lease_token, {"authorizationId": "A-1"}) or "ok",
            )
            wait_for_waiters(2)  # both steps are blocked on the same row: they run one after the other
        assert reported.result(timeout=WAIT) == ["ok", "ok"]

    captures = job_rows(engine, instance_id=instance_id, element_id="Task_CapturePayment")
    assert len(captures) == 1 and captures[0].status == "ready"
    assert captures[0].variables["reservationId"] == "R-1" and captures[0].variables["authorizationId"] == "A-1"
    events = instance_events(engine, instance_id)
    joined = [e for e in events if e["elementId"] == "Gateway_Fulfilled" and e["type"] == "element_completed"]
    assert len(joined) == 1
    assert get_instance(engine, instance_id)["status"] == "running"

    run_all(jobs)
    view = get_instance(engine, instance_id)
    assert view["status"] == "completed"
    assert sorted(calls) == ["payment.capture", "wms.ship"]
    assert view["variables"]["reservationId"] == "R-1" and view["variables"]["authorizationId"] == "A-1"
    types = [(e["type"], e["elementId"]) for e in instance_events(engine, instance_id)]
    assert types.count(("job_created", "Task_CapturePayment")) == 1
    assert types.count(("instance_completed", None)) == 1


def test_racing_schedulers_start_one_instance_per_timer_tick(engine: Engine) -> None:
    """A timer start event's schedule is a job without an instance; FOR UPDATE SKIP LOCKED and the lease check in the
    starting step let each tick start exactly one instance, however many schedulers claim at once."""
    from tests.support.diagrams import scheduled

    deploy(engine, [scheduled("pg_ticks", "R5/PT0.15S")])

    def scheduler(name: str) -> None:
        jobs = JobService(engine)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and job_rows(engine, kind="schedule")[0].status != "done":
            for job in jobs.claim(name, limit=5):
                try:
                    jobs.run(job)
                except Conflict:
                    pass
            time.sleep(0.005)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(scheduler, [f"s{n}" for n in range(4)]))
    assert job_rows(engine, kind="schedule")[0].status == "done"
    query = select(ProcessInstance.idempotency_key).where(ProcessInstance.process_key == "pg_ticks")
    with engine.read_session() as session:
        keys = list(session.scalars(query))
    assert len(keys) == 5 and len(set(keys)) == 5  # five ticks, one instance each


def test_claim_after_the_pools_connections_died_takes_the_job(sql_engine: SqlEngine) -> None:
    """A worker pings no pooled connection before use: after the database dropped them all (a restart), the next
    claim still takes its job, on a new connection, instead of failing its broker message."""
    worker_sql = make_engine(
        URL,
        connect_args={"options": f"-csearch_path={_schema_of(sql_engine)}", "connect_timeout": CONNECT_TIMEOUT},
        pool_pre_ping=False,
    )
    try:
        engine = build_engine(make_session_factory(worker_sql), settings=EngineSettings(lease_seconds=30))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with worker_sql.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        deploy(engine, [process("svc", service_task())])
        start_instance(engine, "svc", business_key="ORDER-1")
        [ready] = job_rows(engine, status="ready")
        pooled = [worker_sql.connect() for _ in range(3)]  # three connections in the pool, all of them to drop
        pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in pooled]
        for connection in pooled:
            connection.rollback()
            connection.close()
        with sql_engine.connect() as admin:
            terminate = text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid")
            admin.execute(terminate, {"pids": pids})
            admin.commit()

        claimed = JobService(engine).claim_job("w1", ready.id)

        assert claimed is not None and claimed.business_key == "ORDER-1"
        [row] = job_rows(engine)
        assert (row.status, row.locked_by) == ("locked", "w1")
    finally:
        worker_sql.dispose()


def _schema_of(sql_engine: SqlEngine) -> str:
    with sql_engine.connect() as connection:
        return connection.exec_driver_sql("SELECT current_schema()").scalar()
