"""The Celery worker and the outbox sweep of the distributed transport (`processes/jobs/broker.py`): the Celery
application configured from orderflow's environment, the task that runs one job, and the scheduler loop.

Run workers with `orderflow worker` (or `celery -A app.worker worker`) and the outbox sweep with
`orderflow scheduler`."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from celery import Celery, signals

from observability import logs, tracing
from processes.core.models import utcnow
from processes.core.transport import MAX_SIDE_BY_SIDE
from processes.jobs.broker import (
    RUN_JOB,
    TRACEPARENT_HEADER,
    broker_health_of,
    celery_settings,
    queue_depth,
    send_all,
)
from processes.jobs.chain import JobChain

from .collector import settle_after_start_up
from .config import from_environment

log = logging.getLogger(__name__)

celery = Celery("orderflow")
celery.config_from_object(celery_settings(from_environment()))  # settings only: nothing connects at import


@signals.worker_init.connect
def _refuse_a_database_without_schema(**_kwargs: Any) -> None:
    """A worker never migrates (that is `orderflow migrate`, run once). Started on a database without the schema
    (`orderflow worker` or `celery -A app.worker worker`), it stops at once and says so, instead of failing every
    job it takes."""
    from .setup import check_schema

    if problem := check_schema(from_environment()):
        raise SystemExit(f"orderflow worker cannot start: {problem}")


@signals.worker_init.connect
def _load_before_forking(**_kwargs: Any) -> None:
    """Import the engine, its features and the connectors once, in the worker's main process: pool processes
    forked from it start with them loaded (the FEEL grammar alone takes about a second to build), instead of each
    paying for it in its first job."""
    from . import services  # noqa: F401

    # Frozen before the fork: the collector never writes to these objects, so the pool processes keep sharing them.
    settle_after_start_up()


@signals.worker_process_init.connect
def _build_in_pool_process(**_kwargs: Any) -> None:
    """Build this pool process's services as soon as it is forked (never before: database connections must not
    be shared across a fork), so that its first job does not wait for them."""
    try:
        worker_services()
    except Exception:  # the first job builds them again and reports what is wrong
        log.exception("could not prepare this worker process")


_services = None
_services_lock = threading.Lock()


def worker_services():
    """The engine and job service of this worker process, built on first use (after the pool forked)."""
    global _services
    with _services_lock:
        if _services is None:
            from processes.core.db import make_engine

            from .services import build_services

            logging.getLogger("spiff").setLevel(logging.WARNING)  # one line per task state change otherwise
            config = from_environment()
            # Here, after the pool forked: the span exporter's thread must belong to this process.
            tracing.configure()
            if config["ORDERFLOW_LOG_FORMAT"] == "json" and not logs.ON:
                logs.configure()  # `celery -A app.worker worker` started it without `orderflow worker`
            config["ORDERFLOW_EMBEDDED_WORKERS"] = False
            # No ping before each use of a pooled connection: on PostgreSQL each ping is a round trip and a
            # transaction of its own, 2 of the 6 commits per order in a worker (bench (c)). A connection that died
            # meanwhile (PostgreSQL restarted) fails its first statement instead, and SQLAlchemy then drops every
            # older connection of the pool; what was running is retried: a claim at once (`claim_job`), a report
            # while its lease lasts (`JobService._report`), a sweep at its next round.
            sql_engine = make_engine(
                config["SQLALCHEMY_DATABASE_URI"], config["ORDERFLOW_SQLITE_SYNCHRONOUS"], pool_pre_ping=False
            )
            services = build_services(sql_engine, config)
            # The next job of an order runs here, right after the job that made it (processes/jobs/chain.py).
            services.engine.dispatcher = JobChain(services.engine.dispatcher, worker_id, services.connectors.topics())
            _services = services
            # What this process built to run jobs lives as long as it does: out of the collector's way.
            settle_after_start_up()
        return _services


def worker_id() -> str:
    return f"celery-{socket.gethostname()}-{os.getpid()}"


class _Profile:
    """cProfile of this worker's jobs when ORDERFLOW_WORKER_PROFILE names a directory (`bench/run.py
    --profile-workers`), one file per process and thread: the CPU time inside jobs only (not waits, not Celery's
    own loop), rewritten every few seconds, so a worker stopped at any moment leaves its figures."""

    def __init__(self, directory: str):
        import cProfile

        self.path = os.path.join(directory, f"worker-{os.getpid()}-{threading.get_ident()}.prof")
        self.profile = cProfile.Profile(time.thread_time)  # CPU time: waits for the database or HTTP do not count
        self.saved = time.monotonic()

    def __enter__(self) -> None:
        self.profile.enable()

    def __exit__(self, *_exc: object) -> None:
        self.profile.disable()
        if time.monotonic() - self.saved > 2.0:
            self.profile.dump_stats(self.path)
            self.saved = time.monotonic()


_profiles = threading.local()  # one per thread: a worker with `--pool threads` runs jobs in several


def _profiled():
    directory = os.environ.get("ORDERFLOW_WORKER_PROFILE")
    if not directory:
        return contextlib.nullcontext()
    profile = getattr(_profiles, "profile", None)
    if profile is None or f"-{os.getpid()}-" not in profile.path:  # (a forked pool process starts its own)
        os.makedirs(directory, exist_ok=True)
        profile = _profiles.profile = _Profile(directory)
    return profile


@celery.task(name=RUN_JOB)
def run_job(job_id: str, *others: str) -> str:
    """Claim the job (if nobody else has it) and run it; the lease check rejects a stale report. `others`: more jobs
    of the same order, made due by the same step (a parallel split), run side by side with it (broker.py)."""
    with _profiled():
        return _run_jobs([job_id, *others])


def _run_jobs(job_ids: list[str]) -> str:
    services = worker_services()
    topics = services.connectors.topics()
    claimed = [job for job in (services.jobs.claim_job(worker_id(), i, topics=topics) for i in job_ids) if job]
    if not claimed:
        return "not claimable"  # done already, taken by another worker, or not due yet
    # The step that made the jobs sent its trace context with the message (a sweep's send has none: the job then
    # joins the trace its order was started under).
    traceparent = _header(run_job.request, TRACEPARENT_HEADER)
    outcomes = [
        run_together(services, claimed[n : n + MAX_SIDE_BY_SIDE], traceparent)
        for n in range(0, len(claimed), MAX_SIDE_BY_SIDE)  # (a message of an older sender may hold more)
    ]
    return "rejected" if "rejected" in outcomes else "done"


def run_together(services, jobs: list, traceparent: str | None) -> str:
    """Run claimed jobs of one order that are due together, then the next jobs of the order that their steps leased
    to this worker (processes/jobs/chain.py). Of jobs due together (an order's parallel jobs, in one message or made
    by one step), the first runs in this thread and the others each in a thread of their own, with chains of their
    own, so that the result ready first waits for the others' calls and all are applied in one engine step
    (processes/jobs/results.py), as in the embedded runner."""
    from processes.errors import Conflict

    outcomes: list[str] = []
    threads: list[threading.Thread] = []

    def beside(job) -> None:
        with _profiled():  # a thread of its own: its own profile (bench --profile-workers)
            outcomes.append(run_together(services, [job], traceparent))

    with tracing.attached(traceparent), services.engine.dispatcher.running(jobs) as chain:
        for job, *others in chain:
            if others:
                services.jobs.expect([job, *others])
                for other in others:
                    threads.append(threading.Thread(target=beside, args=(other,), daemon=True))
                    threads[-1].start()
            try:
                services.jobs.run(job)
            except Conflict as exc:
                log.info("job %s: result rejected (%s)", job.id, exc)
                outcomes.append("rejected")
    for thread in threads:
        thread.join()
    return "rejected" if "rejected" in outcomes else "done"


def _header(request: Any, name: str) -> str | None:
    """A header the message was sent with: a worker puts custom headers beside Celery's own; an eager `apply` keeps
    them under `headers`."""
    value = request.get(name)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value if isinstance(value, str) else None


def run_scheduler(
    interval: float = 0.5,
    resend_after_seconds: float = 10.0,
    stop: threading.Event | None = None,
    limit: int = 200,
) -> None:
    """The outbox sweep loop: send every due job whose message is not in the broker (never sent, its worker died,
    or lost with the broker), at most `limit` per sweep. Safe to run several."""
    from .monitoring import alert_monitor

    services = worker_services()
    stop = stop or threading.Event()
    config = from_environment()
    # The prediction alerts read the predictor's fit, which refits itself in the background once it is stale.
    alerts = alert_monitor(services.engine, config, services.predictor)
    next_alert_check = time.monotonic() + (alerts.settings.interval_seconds if alerts else 0.0)
    queue_empty_since = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            # Read before the sweep: a message sent before an empty queue was seen is not waiting in it.
            seen_at = utcnow()
            if queue_depth(celery, config["ORDERFLOW_QUEUE"]) == 0:
                # Less a second: a job committed just before may not have reached the queue from its sender yet.
                queue_empty_since = seen_at - timedelta(seconds=1)
            topics = services.connectors.topics()
            due = services.jobs.sweep(
                resend_after_seconds=resend_after_seconds,
                topics=topics,
                queue_empty_since=queue_empty_since,
                limit=limit,
            )
            # After an outage the sweep sends the first jobs of many new orders: orders under way still go first.
            unsent = send_all(celery, due, services.jobs.of_new_orders(due))
            if unsent:  # the broker is away: the next sweep tries them again, not in resend_after_seconds
                services.jobs.mark_unsent(unsent)
        except Exception:
            log.exception("sweep failed; trying again")
        if alerts is not None and started >= next_alert_check:  # any number of schedulers: each breach posts once
            next_alert_check = started + alerts.settings.interval_seconds
            alerts.check_logged()
        stop.wait(max(interval - (time.monotonic() - started), 0.0))


def broker_health(timeout: float = 2.0) -> dict[str, Any]:
    return broker_health_of(celery, timeout)
