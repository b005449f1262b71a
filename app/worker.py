"""The Celery worker and the outbox sweep of the distributed transport (`processes/jobs/broker.py`): the Celery
application configured from orderflow's environment, the task that runs one job, and the scheduler loop.

Run workers with `orderflow worker` (or `celery -A app.worker worker`) and the outbox sweep with
`orderflow scheduler`."""

from __future__ import annotations

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
from processes.jobs.broker import (
    RUN_JOB,
    TRACEPARENT_HEADER,
    broker_health_of,
    celery_settings,
    queue_depth,
    send_all,
)

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
            sql_engine = make_engine(config["SQLALCHEMY_DATABASE_URI"], config["ORDERFLOW_SQLITE_SYNCHRONOUS"])
            _services = build_services(sql_engine, config)
        return _services


def worker_id() -> str:
    return f"celery-{socket.gethostname()}-{os.getpid()}"


@celery.task(name=RUN_JOB)
def run_job(job_id: str) -> str:
    """Claim the job (if nobody else has it) and run it; the lease check rejects a stale report."""
    from processes.errors import Conflict

    services = worker_services()
    claimed = services.jobs.claim(worker_id(), job_ids=[job_id], limit=1, topics=services.connectors.topics())
    if not claimed:
        return "not claimable"  # done already, taken by another worker, or not due yet
    # The step that made the job sent its trace context with the message (a sweep's send has none: the job then
    # joins the trace its order was started under).
    with tracing.attached(_header(run_job.request, TRACEPARENT_HEADER)):
        try:
            services.jobs.run(claimed[0])
        except Conflict as exc:
            log.info("job %s: result rejected (%s)", job_id, exc)
            return "rejected"
    return "done"


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
