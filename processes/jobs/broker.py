"""The Celery transport: job ids go to a Redis or RabbitMQ broker after the step's commit; any number of worker
processes (`orderflow worker`, built in `app.worker`) claim and run them. It sits beside the embedded transport
(`embedded.py`) and implements the same interface (`processes.core.JobDispatcher`).

A message carries only a job id. The job row is the truth: a worker claims it by lease, runs it and reports back
through an engine step that checks the lease, so a message delivered twice, or redelivered after a worker was killed
(acks_late), still runs the job once; a killed worker's job is sent again by the outbox sweep once its lease
expires."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

from processes.core.models import ENGINE_KINDS, utcnow
from processes.core.records import JobRecord
from processes.core.transport import JobDispatcher

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


class CeleryDispatcher(JobDispatcher):
    """Sends due jobs to the broker after the step's commit. Jobs due later (timers, retries) are sent by the
    sweep when they are due."""

    sends_after_commit = True

    def __init__(self, topics: list[str], app: Celery, unsent: Callable[[list[str]], None] | None = None):
        self.topics = set(topics)  # jobs of other topics are for external workers (REST), not Celery
        self.app = app
        self.unsent = unsent  # told which jobs could not be sent, so the next sweep sends them at once

    def dispatch(self, jobs: list[JobRecord]) -> None:
        now = utcnow()
        failed = []
        for job in jobs:
            if job.kind not in ENGINE_KINDS and job.topic not in self.topics:
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


def broker_health_of(celery: Celery, timeout: float = 2.0) -> dict[str, Any]:
    """Whether the broker answers (its address without credentials), without sending anything."""
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return {"ok": True, "url": celery.conf.broker_url.split("@")[-1]}
    except Exception as exc:
        return {"ok": False, "url": celery.conf.broker_url.split("@")[-1], "error": exc.__class__.__name__}
