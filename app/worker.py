"""The distributed job transport: Celery workers on a Redis or RabbitMQ broker.

Run workers with `orderflow worker` (or `celery -A app.worker worker`) and the outbox sweep with `orderflow scheduler`.
A Celery message carries only a job id. The job row in the database is the truth: a worker claims it by lease, runs
it, and reports back through an engine step that checks the lease. So a message delivered twice, or
redelivered after a worker was killed (acks_late), still runs the job once, and a killed worker's job is sent again
by the sweep once its lease expires."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, signals

from processes.core.records import JobRecord
from processes.core.transport import JobDispatcher

from .config import from_environment

log = logging.getLogger(__name__)

RUN_JOB = "orderflow.run_job"
SOON_SECONDS = 60.0  # jobs due within this are sent with a countdown; later ones by the sweep


def celery_settings(config: dict[str, Any]) -> dict[str, Any]:
    queue = config["ORDERFLOW_QUEUE"]
    return {
        "broker_url": config["ORDERFLOW_BROKER_URL"] or "memory://",
        "task_default_queue": queue,
        "task_routes": {RUN_JOB: {"queue": queue}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Acknowledge after the job ran; a worker killed mid-job gets its message redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # A publish while the broker is down fails fast; the outbox sweep sends the job later.
        "broker_connection_timeout": 2,
        "broker_transport_options": {"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        "worker_hijack_root_logger": False,
        # A job cut off by a lost broker connection is not lost: its lease expires and the sweep resends it.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
    }


celery = Celery("orderflow")
celery.config_from_object(celery_settings(from_environment()))  # settings only: nothing connects at import


class CeleryDispatcher(JobDispatcher):
    """Sends due jobs to the broker after the step's commit. Jobs due later (timers, retries) are sent by the
    sweep when they are due."""

    sends_after_commit = True

    def __init__(self, topics: list[str], app: Celery = celery, unsent: Callable[[list[str]], None] | None = None):
        self.topics = set(topics)  # jobs of other topics are for external workers (REST), not Celery
        self.app = app
        self.unsent = unsent  # told which jobs could not be sent, so the next sweep sends them at once

    def dispatch(self, jobs: list[JobRecord]) -> None:
        from processes.core.models import SCHEDULE, TIMER, utcnow

        now = utcnow()
        failed = []
        for job in jobs:
            if job.kind not in (TIMER, SCHEDULE) and job.topic not in self.topics:
                continue
            wait = (job.due_at - now).total_seconds()
            if wait > SOON_SECONDS:
                continue  # the sweep sends it when it is due; long broker delays are fragile
            # A timer due soon goes with a countdown, so it fires on time instead of at the next sweep.
            if not send(self.app, job.id, countdown=max(wait, 0.0) + 0.005 if wait > 0 else None):
                failed.append(job.id)
        if failed and self.unsent is not None:
            try:
                self.unsent(failed)
            except Exception:  # the sweep still resends them, only later
                log.exception("could not mark jobs %s as unsent", failed)


def send(app: Celery, job_id: str, countdown: float | None = None) -> bool:
    try:
        app.send_task(RUN_JOB, args=[job_id], retry=False, countdown=countdown)
        return True
    except Exception as exc:  # the broker is down: the job row stays, and the sweep sends it later
        log.warning("could not send job %s to the broker (%s); the sweep will resend it", job_id, exc)
        return False


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
    try:
        services.jobs.run(claimed[0])
    except Conflict as exc:
        log.info("job %s: result rejected (%s)", job_id, exc)
        return "rejected"
    return "done"


def run_scheduler(
    interval: float = 0.5, resend_after_seconds: float = 10.0, stop: threading.Event | None = None
) -> None:
    """The outbox sweep loop: send every due job that no worker took in time. Safe to run several."""
    from .monitoring import alert_monitor

    services = worker_services()
    stop = stop or threading.Event()
    alerts = alert_monitor(services.engine, from_environment())
    next_alert_check = time.monotonic() + (alerts.settings.interval_seconds if alerts else 0.0)
    while not stop.is_set():
        started = time.monotonic()
        try:
            topics = services.connectors.topics()
            for job_id in services.jobs.sweep(resend_after_seconds=resend_after_seconds, topics=topics):
                send(celery, job_id)
        except Exception:
            log.exception("sweep failed; trying again")
        if alerts is not None and started >= next_alert_check:  # any number of schedulers: each breach posts once
            next_alert_check = started + alerts.settings.interval_seconds
            alerts.check_logged()
        stop.wait(max(interval - (time.monotonic() - started), 0.0))


def broker_health(timeout: float = 2.0) -> dict[str, Any]:
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return {"ok": True, "url": celery.conf.broker_url.split("@")[-1]}
    except Exception as exc:
        return {"ok": False, "url": celery.conf.broker_url.split("@")[-1], "error": exc.__class__.__name__}
