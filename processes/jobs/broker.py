"""The Celery transport: job ids go to a Redis or RabbitMQ broker after the step's commit; any number of worker
processes (`orderflow worker`, built in `app.worker`) claim and run them. It sits beside the embedded transport
(`embedded.py`) and implements the same interface (`processes.core.JobDispatcher`).

A message carries only job ids: one, or the jobs of an order that one step made due at once (the branches of a
parallel split; at most MAX_SIDE_BY_SIDE, a wider split takes several messages), so that one worker runs them side
by side and applies their results in one step, as the embedded runner does (processes/jobs/results.py). The job
row is the truth: a worker claims it by lease, runs it and reports back through an engine step that checks the
lease, so a message delivered twice, or redelivered after a worker was killed (acks_late), still runs the job once;
a killed worker's job is sent again by the outbox sweep once its lease expires.

Recovery (README "Run on several machines"): publishing is best effort and never holds a request (a background
sender with a bounded queue; the job row, already committed, is the guarantee); the sweep re-sends only what was
lost; workers reconnect within 2 s; jobs of orders already under way go ahead of the first jobs of new orders."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer
from kombu import Queue

from observability import tracing
from processes.core.models import SERVICE, utcnow
from processes.core.records import JobRecord
from processes.core.transport import MAX_SIDE_BY_SIDE, JobDispatcher

log = logging.getLogger(__name__)

RUN_JOB = "orderflow.run_job"
SOON_SECONDS = 60.0  # jobs due within this are sent with a countdown; later ones by the sweep
SOCKET_TIMEOUT = 5.0  # seconds a broker may stay silent before a publish or a read gives up (a hung broker)
RECONNECT_MAX_SECONDS = 2.0  # a worker tries its broker again at least this often while it is away
SENDER_QUEUE = 10_000  # job ids waiting for the background sender; beyond that they are left to the sweep
TRACEPARENT_HEADER = "traceparent"  # a message header: the trace context of the step that made the job (tracing on)


def celery_settings(config: dict[str, Any]) -> dict[str, Any]:
    name = config["ORDERFLOW_QUEUE"]
    url = config["ORDERFLOW_BROKER_URL"] or "memory://"
    settings = {
        "broker_url": url,
        "task_default_queue": name,
        "task_routes": {RUN_JOB: {"queue": name}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Acknowledge after the job ran; a worker killed mid-job gets its message redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Messages a worker holds per job slot (ORDERFLOW_WORKER_PREFETCH). A held message is a job nobody else
        # runs until this worker takes it (if the worker dies, until the sweep sees the queue empty); an order's
        # next jobs skip the broker anyway (chain.py), so the default stays 1.
        "worker_prefetch_multiplier": config.get("ORDERFLOW_WORKER_PREFETCH", 1),
        "broker_connection_retry_on_startup": True,
        # A publish while the broker is down fails fast; the outbox sweep sends the job later.
        "broker_connection_timeout": 2,
        "broker_transport_options": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.5,
            # A broker that accepts the connection and then says nothing (hung, not refused) must not hold a
            # publish or a worker forever.
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": 2,
        },
        "worker_hijack_root_logger": False,
        # A job cut off by a lost broker connection is not lost: its lease expires and the sweep resends it.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Reconnects every RECONNECT_MAX_SECONDS at most (Celery's own backoff grows to 30 s).
        "worker_consumer": f"{__name__}:PromptConsumer",
    }
    if url.startswith(("amqp", "pyamqp")):
        # RabbitMQ orders by priority only on a queue declared with a maximum priority.
        settings["task_queues"] = [Queue(name, routing_key=name, queue_arguments={"x-max-priority": AMQP_UNDER_WAY})]
    return settings


# Priorities: the next job of an order already under way goes before the first jobs of orders just started, so a
# burst of new orders never holds back the ones that are half done (capture, ship), which hold stock and money.
# Redis (kombu's priority lists) runs the lowest number first; RabbitMQ the highest.
REDIS_UNDER_WAY, REDIS_NEW = 0, 6
AMQP_UNDER_WAY, AMQP_NEW = 5, 0


def priority(broker_url: str, new_order: bool) -> int:
    if broker_url.startswith(("amqp", "pyamqp")):
        return AMQP_NEW if new_order else AMQP_UNDER_WAY
    return REDIS_NEW if new_order else REDIS_UNDER_WAY


class PromptConsumer(Consumer):
    """Celery's consumer with a reconnect backoff capped at RECONNECT_MAX_SECONDS, so workers are back within
    2 s of the broker, and that survives the two ways Celery 5.7 stops a worker on a lost Redis connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Celery 5.7 with Redis: a job that ends after the broker connection was lost acknowledges its message on
        # the old, collected connection, which raises AttributeError and stops the whole worker (seen in
        # `make chaos`, broker-stop). Counted as a connection error, it is logged and the worker reconnects; the
        # message is not lost either way (the job is done, and a redelivery is dropped as not claimable).
        self.connection_errors = (*self.connection_errors, AttributeError)

    def ensure_connected(self, conn):
        conn.ensure_connection = partial(
            conn.ensure_connection, interval_start=0.5, interval_step=0.5, interval_max=RECONNECT_MAX_SECONDS
        )
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc):
        # Celery 5.7 collects the lost connection, then closes it; on Redis the close restores unacknowledged
        # messages through the collected connection and raises AttributeError, which stops the whole worker (seen
        # in `make chaos`, broker-stop). Nothing is lost by skipping that restore: the jobs come back by their
        # lease or as lost messages through the sweep.
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_collected() -> None:
                try:
                    close()
                except AttributeError as error:
                    log.warning("closing the lost broker connection failed (%s); reconnecting anyway", error)

            connection.close = close_collected
        super().on_connection_error_after_connected(exc)


class CeleryDispatcher(JobDispatcher):
    """Sends due jobs to the broker after the step's commit. Jobs due later (timers, retries) are sent by the
    sweep when they are due.

    The request that made the jobs never waits for the broker: the ids go to a background sender through a
    bounded queue (the job rows, committed already, are the guarantee; the send is only a wake-up). What the
    sender cannot send, or what does not fit in the queue, is marked unsent for the next sweep."""

    sends_after_commit = True

    def __init__(self, topics: list[str], app: Celery, unsent: Callable[[list[str]], None] | None = None):
        self.topics = set(topics)  # jobs of other topics are for external workers (REST), not Celery
        self.app = app
        self.unsent = unsent  # told which jobs could not be sent, so the next sweep sends them at once
        self._queue: queue.Queue[tuple[list[str], float | None, int, str | None]] = queue.Queue(SENDER_QUEUE)
        self._sender: threading.Thread | None = None
        self._sender_pid = 0
        self._lock = threading.Lock()

    def dispatch(self, jobs: list[JobRecord], *, new_order: bool = False) -> None:
        now = utcnow()
        overflow = []
        rank = priority(self.app.conf.broker_url, new_order)
        traceparent = tracing.current_traceparent()  # the step's span: the sender thread runs outside it
        due_now: dict[str, list[str]] = {}  # per order: its jobs due now go in one message
        messages: list[tuple[list[str], float | None]] = []
        for job in jobs:
            if job.kind == SERVICE and job.topic not in self.topics:
                continue
            wait = (job.due_at - now).total_seconds()
            if wait > SOON_SECONDS:
                continue  # the sweep sends it when it is due; long broker delays are fragile
            if wait > 0:  # a timer due soon goes with a countdown, so it fires on time instead of at the next sweep
                messages.append(([job.id], wait + 0.005))
            else:
                group = due_now.get(job.instance_id)
                if group is None or len(group) >= MAX_SIDE_BY_SIDE:  # a full message: the next jobs start another
                    group = due_now[job.instance_id] = []
                    messages.append((group, None))
                group.append(job.id)
        for job_ids, countdown in messages:
            try:
                self._queue.put_nowait((job_ids, countdown, rank, traceparent))
            except queue.Full:
                overflow.extend(job_ids)
        self._start_sender()
        if overflow:
            log.warning("%d jobs left to the sweep: the broker is not keeping up", len(overflow))
            self._mark_unsent(overflow)

    def _start_sender(self) -> None:
        with self._lock:  # once per process: a forked web worker (gunicorn) starts its own
            if self._sender is None or self._sender_pid != os.getpid() or not self._sender.is_alive():
                self._sender_pid = os.getpid()
                self._sender = threading.Thread(target=self._send_forever, name="orderflow-broker-sender", daemon=True)
                self._sender.start()

    def _send_forever(self) -> None:
        while True:
            job_ids, countdown, rank, traceparent = self._queue.get()
            if send(self.app, *job_ids, countdown=countdown, priority=rank, traceparent=traceparent):
                continue
            # The broker is away: what is waiting now would fail the same way, one timeout each. Leave it all to
            # the sweep at once, so the queue does not fill up behind a dead broker.
            failed = list(job_ids)
            while True:
                try:
                    failed.extend(self._queue.get_nowait()[0])
                except queue.Empty:
                    break
            for other in failed[len(job_ids) :]:  # send() told of the message's own jobs
                log.warning("could not send job %s to the broker (broker unreachable); the sweep will resend it", other)
            self._mark_unsent(failed)

    def _mark_unsent(self, job_ids: list[str]) -> None:
        if self.unsent is None:
            return
        try:
            self.unsent(job_ids)
        except Exception:  # the sweep still finds them once lost, only later
            log.exception("could not mark jobs %s as unsent", job_ids)


def send(
    app: Celery,
    *job_ids: str,
    countdown: float | None = None,
    priority: int | None = None,
    traceparent: str | None = None,
) -> bool:
    """One message for `job_ids` (one worker runs them side by side); False when the broker did not take it."""
    try:
        headers = {TRACEPARENT_HEADER: traceparent} if traceparent else None
        app.send_task(RUN_JOB, args=list(job_ids), retry=False, countdown=countdown, priority=priority, headers=headers)
        return True
    except Exception as exc:  # the broker is down: the job row stays, and the sweep sends it later
        for job_id in job_ids:
            log.warning("could not send job %s to the broker (%s); the sweep will resend it", job_id, exc)
        return False


def send_all(app: Celery, job_ids: Iterable[str], new_orders: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Send jobs from the sweep, the first jobs of orders not under way (`new_orders`) behind the others. Returns
    those that could not be sent; after the first failure the rest are not tried (the broker is away)."""
    ids = list(job_ids)
    url = app.conf.broker_url
    for n, job_id in enumerate(ids):
        if not send(app, job_id, priority=priority(url, new_order=job_id in new_orders)):
            return ids[n:]
    return []


def queue_depth(app: Celery, name: str) -> int | None:
    """Messages waiting in the queue (all priorities), or None when the broker does not answer. A queue the
    broker does not know (Redis drops an empty list) is empty."""
    from kombu.exceptions import ChannelError

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            try:
                return connection.default_channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:
                return 0
            except Exception as exc:  # amqp's NOT_FOUND comes as its own class
                if "NOT_FOUND" in str(exc) or getattr(exc, "code", None) == 404:
                    return 0
                raise
    except Exception as exc:
        log.info("could not read the depth of queue %s (%s)", name, exc.__class__.__name__)
        return None


def broker_health_of(celery: Celery, timeout: float = 2.0) -> dict[str, Any]:
    """Whether the broker answers (its address without credentials), without sending anything."""
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return {"ok": True, "url": celery.conf.broker_url.split("@")[-1]}
    except Exception as exc:
        return {"ok": False, "url": celery.conf.broker_url.split("@")[-1], "error": exc.__class__.__name__}
