"""Jobs: claiming by lease, running outside any transaction, reporting back through an engine step.

The same functions serve every transport (embedded threads now, Celery later): a transport only decides
which job ids to try and when."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam, false, or_, select, update
from sqlalchemy.exc import DBAPIError

from observability import logs, tracing
from processes import expressions
from processes.core import spiff
from processes.core.engine import JOB_KEY, Engine
from processes.core.models import (
    JOB_CANCELLED,
    JOB_DONE,
    JOB_FAILED,
    JOB_LOCKED,
    JOB_READY,
    JOB_REVIEW,
    SERVICE,
    TIMER,
    Job,
    ProcessInstance,
    new_id,
    utcnow,
)
from processes.core.records import JobRecord
from processes.core.spiff import data_changed, find_task, tasks_in
from processes.core.statements import Statement
from processes.core.step import Step
from processes.core.transport import ClaimedJob
from processes.core.variables import UnsavableVariable
from processes.errors import Conflict, InternalError, NotFound
from processes.expressions import mappings
from processes.jobs.results import Call, ResultBatches

log = logging.getLogger(__name__)


class JobFailed(InternalError):
    """A job's work failed. Retryable failures are tried again with backoff; others open an incident."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class JobNeedsReview(InternalError):
    """The job's answer does not match what was asked (a discrepancy): a person must look before it counts."""

    def __init__(self, code: str, message: str, asked: dict, got: dict, variables: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.asked, self.got, self.variables = code, asked, got, variables or {}


class BpmnErrorThrown(InternalError):
    """A business failure with an error code, thrown as a BPMN error at the job's task."""

    def __init__(self, code: str, message: str = "", variables: dict[str, Any] | None = None):
        super().__init__(message or code)
        self.code = code
        self.variables = variables or {}


# Does the work of a service job and returns the variables to set; raises JobFailed or BpmnErrorThrown.
JobExecutor = Callable[[ClaimedJob], dict[str, Any]]


def retry_delays(cycle: str) -> list[float]:
    """Seconds to wait before each retry: "R3/PT10S" is 3 attempts 10 s apart (Camunda's meaning: the
    job has 3 tries), "PT1M,PT5M,PT15M" waits 1, 5 then 15 minutes between four attempts."""
    now = datetime.now(UTC)

    def seconds(duration: str) -> float:
        parsed = TimerEventDefinition.parse_iso_duration(duration.strip())
        return TimerEventDefinition.get_timedelta_from_start(parsed, now).total_seconds()

    cycle = cycle.strip()
    if cycle.upper().startswith("R"):
        repeat, _, duration = cycle[1:].partition("/")
        tries = int(repeat) if repeat else 1
        return [seconds(duration)] * max(tries - 1, 0)
    return [seconds(part) for part in cycle.split(",") if part.strip()]


@lru_cache(maxsize=32)
def _claim_statement(topics: int | None) -> Statement:
    """JobService.claim_job's statement for a worker of any topic (None) or of `topics` topics, built and compiled
    once (topic_0, topic_1, ... are its parameters: a precompiled statement has no expanding IN list). On SQLite the
    subquery's columns are written without their table (SQLAlchemy's RETURNING there names no tables); they still
    resolve to the order (`id`) and the job (`instance_id`, which only jobs have)."""
    jobs = Job.__table__
    now = bindparam("now", type_=jobs.c.due_at.type)
    claimable = or_(
        (jobs.c.status == JOB_READY) & (jobs.c.due_at <= now),
        (jobs.c.status == JOB_LOCKED) & (jobs.c.lock_expires_at < now),
    )
    query = update(jobs).where(jobs.c.id == bindparam("job_id"), claimable)
    if topics is not None:
        of_topics = jobs.c.topic.in_([bindparam(f"topic_{n}", type_=jobs.c.topic.type) for n in range(topics)])
        query = query.where(or_(jobs.c.kind != SERVICE, of_topics if topics else false()))
    of_order = [  # what the worker needs to know of the job's order
        select(column).where(ProcessInstance.id == jobs.c.instance_id).scalar_subquery().label(column.key)
        for column in (ProcessInstance.business_key, ProcessInstance.trace_parent)
    ]
    claimed = ("id", "instance_id", "kind", "topic", "element_id", "attempt", "max_attempts", "variables")
    return Statement(
        query.values(
            status=JOB_LOCKED,
            locked_by=bindparam("worker"),
            lease_token=bindparam("token"),
            lock_expires_at=bindparam("expires", type_=jobs.c.lock_expires_at.type),
            updated_at=now,
        ).returning(*(jobs.c[name] for name in claimed), *of_order)
    )


def _expired(job: Job) -> bool:
    return job.lock_expires_at is not None and job.lock_expires_at < utcnow()


class JobService:
    """Claiming, running and reporting jobs, on top of the engine step."""

    def __init__(self, engine: Engine, executor: JobExecutor | None = None):
        self.engine = engine
        self.executor = executor
        self.results = ResultBatches(engine)
        self._expected: dict[str, Call] = {}  # calls of jobs handed to this process's threads, not begun yet

    # -- claiming ------------------------------------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        *,
        limit: int = 10,
        topics: Iterable[str] | None = None,
        job_ids: Iterable[str] | None = None,
        lease_seconds: float | None = None,
        service_only: bool = False,
        business_key: str | None = None,
        process_keys: Iterable[str] | None = None,
    ) -> list[ClaimedJob]:
        """Lease due jobs (and jobs whose lease expired) to a worker. FOR UPDATE SKIP LOCKED on PostgreSQL;
        SQLite takes the database write lock for the claim. `business_key` and `process_keys` take only the jobs
        of those orders (a worker that serves one process, as Camunda's fetchAndLock filters allow)."""
        now = utcnow()
        lease = timedelta(seconds=lease_seconds or self.engine.settings.lease_seconds)
        claimable = or_(
            (Job.status == JOB_READY) & (Job.due_at <= now),
            (Job.status == JOB_LOCKED) & (Job.lock_expires_at < now),
        )
        query = select(Job).where(claimable)
        if job_ids is not None:
            query = query.where(Job.id.in_(list(job_ids)))
        if topics is not None:
            by_topic = Job.topic.in_(list(topics))
            # service_only: an external worker never gets the engine's own jobs, whatever topic it asks for.
            query = query.where(
                (by_topic & (Job.kind == SERVICE)) if service_only else or_(Job.kind != SERVICE, by_topic)
            )
        if business_key is not None or process_keys is not None:
            # A subquery, not a join: FOR UPDATE must lock the job rows only, never the instances.
            orders = select(ProcessInstance.id)
            if business_key is not None:
                orders = orders.where(ProcessInstance.business_key == business_key)
            if process_keys is not None:
                orders = orders.where(ProcessInstance.process_key.in_(list(process_keys)))
            query = query.where(Job.instance_id.in_(orders))
        query = query.order_by(Job.due_at).limit(limit).with_for_update(skip_locked=True)
        claimed = []
        with self.engine.write_session() as session:
            for job in session.scalars(query):
                job.status, job.locked_by = JOB_LOCKED, worker_id
                job.lease_token = new_id()
                job.lock_expires_at = now + lease
                job.updated_at = now
                claimed.append(job)
            session.commit()
            orders = (
                {
                    row.id: row
                    for row in session.execute(
                        select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.trace_parent).where(
                            ProcessInstance.id.in_({j.instance_id for j in claimed})
                        )
                    )
                }
                if claimed
                else {}
            )
            return [
                ClaimedJob(
                    business_key=getattr(orders.get(j.instance_id), "business_key", None),
                    trace_parent=getattr(orders.get(j.instance_id), "trace_parent", None),
                    id=j.id,
                    instance_id=j.instance_id,
                    kind=j.kind,
                    topic=j.topic,
                    element_id=j.element_id,
                    attempt=j.attempt,
                    max_attempts=j.max_attempts,
                    lease_token=j.lease_token,
                    variables=j.variables or {},
                )
                for j in claimed
            ]

    def claim_job(self, worker_id: str, job_id: str, *, topics: Iterable[str] | None = None) -> ClaimedJob | None:
        """Lease one job named by its id (the job a broker message or a runner's queue names), or None when it is
        not claimable (done, held by another worker, not due yet, or of a topic this worker does not serve).

        One UPDATE ... RETURNING, the order's business key and trace context read by subqueries in it: one round
        trip and one commit, where claim() selects, updates and then reads the order. A claim that meets a step
        writing the same job row waits for that step's commit and then looks again (no SKIP LOCKED: skipping
        would drop a message whose job is ready a moment later)."""
        now = utcnow()
        token = new_id()
        values = {
            "job_id": job_id,
            "now": now,
            "worker": worker_id,
            "token": token,
            "expires": now + timedelta(seconds=self.engine.settings.lease_seconds),
        }
        if topics is not None:
            topics = sorted(set(topics))
            values.update((f"topic_{n}", topic) for n, topic in enumerate(topics))
        statement = _claim_statement(None if topics is None else len(topics))
        try:
            with self.engine.write_connection() as connection:
                row = statement.first(connection, values)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # A pooled connection that died while idle (the database restarted; workers do not ping before
            # use): the pool has dropped it and its like, and nothing was claimed. Once more, on a new one.
            with self.engine.write_connection() as connection:
                row = statement.first(connection, values)
        if row is None:
            return None
        return ClaimedJob(
            id=row["id"],
            instance_id=row["instance_id"],
            kind=row["kind"],
            topic=row["topic"],
            element_id=row["element_id"],
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            lease_token=token,
            variables=row["variables"] or {},
            business_key=row["business_key"],
            trace_parent=row["trace_parent"],
        )

    def release(self, jobs: list[ClaimedJob]) -> None:
        """Give claimed jobs back at once, because their worker could not be told about them: due again for the
        next claim instead of locked until the lease runs out."""
        now = utcnow()
        with self.engine.write_session() as session:
            for job in jobs:
                session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.lease_token == job.lease_token, Job.status == JOB_LOCKED)
                    .values(status=JOB_READY, locked_by=None, lease_token=None, lock_expires_at=None, updated_at=now)
                )
            session.commit()

    def task_headers(self, instance_id: str, element_id: str | None) -> dict[str, str]:
        """Camunda 8 `zeebe:taskHeaders` of a job's task: static settings handed to workers with each job."""
        with self.engine.read_session() as session:
            definition_id = session.scalar(
                select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id)
            )
            if definition_id is None or element_id is None:
                return {}
            spec, subprocess_specs = self.engine.spec_for(session, definition_id)
        for candidate in (spec, *subprocess_specs.values()):
            task_spec = candidate.task_specs.get(element_id)
            if task_spec is not None:
                headers = (getattr(task_spec, "extensions", None) or {}).get("headers") or {}
                # A header drawn without a value is an empty one (Camunda Modeler saves it without the attribute).
                return {str(name): "" if value is None else str(value) for name, value in headers.items()}
        return {}

    def sweep(
        self,
        *,
        limit: int = 200,
        resend_after_seconds: float = 10.0,
        topics: Iterable[str] | None = None,
        queue_empty_since: datetime | None = None,
        lost_after_seconds: float = 300.0,
    ) -> list[str]:
        """The outbox sweep for broker transports: ids of due jobs whose message is not in the broker, marked sent.

        That is a job never sent (a retry or a timer now due, a send that failed), a job whose lease expired and
        was not sent since (its worker died), or a job whose message was lost: sent before `queue_empty_since`,
        a moment the broker's queue was seen empty, so its message is neither waiting nor run (a broker restarted
        without its messages). A job still queued behind others is left alone, however long the queue; a job is
        sent again at most every `resend_after_seconds`, and after `lost_after_seconds` in any case (a broker
        whose queue is never empty). At most `limit` jobs per sweep: a bounded rate.

        Any number of sweepers may run: claiming decides who runs a job, so a job sent twice still runs once."""
        now = utcnow()
        resend_before = now - timedelta(seconds=resend_after_seconds)
        lost_before = now - timedelta(seconds=lost_after_seconds)
        if queue_empty_since is not None:
            lost_before = max(lost_before, min(queue_empty_since, resend_before))
        ready = (Job.status == JOB_READY) & (Job.due_at <= now)
        expired = (Job.status == JOB_LOCKED) & (Job.lock_expires_at < now)
        query = (
            select(Job)
            .where(
                or_(ready, expired),
                or_(
                    Job.dispatched_at.is_(None),
                    Job.dispatched_at < lost_before,
                    expired & (Job.dispatched_at < Job.lock_expires_at),  # not sent since its worker died
                ),
            )
            .order_by(Job.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if topics is not None:  # jobs of other topics wait for external workers
            query = query.where(or_(Job.kind != SERVICE, Job.topic.in_(list(topics))))
        with self.engine.write_session() as session:
            jobs = list(session.scalars(query))
            for job in jobs:
                job.dispatched_at = now
            session.commit()
            return [job.id for job in jobs]

    def of_new_orders(self, job_ids: list[str]) -> set[str]:
        """Those of the jobs whose order is not under way yet (no job of it done): the first jobs of orders just
        started, which wait behind the jobs of orders under way (see the broker transport's priorities)."""
        if not job_ids:
            return set()
        with self.engine.read_session() as session:
            jobs = dict(session.execute(select(Job.id, Job.instance_id).where(Job.id.in_(job_ids))).all())
            under_way = set(
                session.scalars(
                    select(Job.instance_id)
                    .where(Job.instance_id.in_({i for i in jobs.values() if i}), Job.status == JOB_DONE)
                    .distinct()
                )
            )
        return {job_id for job_id, instance_id in jobs.items() if instance_id and instance_id not in under_way}

    def mark_unsent(self, job_ids: list[str]) -> None:
        """Jobs whose send to the broker failed: the next sweep sends them without waiting."""
        with self.engine.write_session() as session:
            session.execute(update(Job).where(Job.id.in_(job_ids)).values(dispatched_at=None))
            session.commit()

    def next_due(self) -> datetime | None:
        """When the earliest waiting job becomes due (for sleeping pollers)."""
        with self.engine.read_session() as session:
            return session.scalar(select(Job.due_at).where(Job.status == JOB_READY).order_by(Job.due_at).limit(1))

    # -- running -------------------------------------------------------------------------------------------

    def expect(self, jobs: list[ClaimedJob]) -> None:
        """Jobs handed to this process to run when a thread is free: their calls count from now, so that a
        sibling's result that is ready first waits for them (results.py) even while they wait for a thread."""
        for job in jobs:
            if job.kind == SERVICE and job.id not in self._expected:
                self._expected[job.id] = self.results.calling(job.instance_id, begun=False)

    def run(self, job: ClaimedJob) -> None:
        """Do a claimed job's work outside any transaction, then report through an engine step.

        A report that meets a database error (a restart, a lost connection) is tried again with the same lease
        until the lease ends, instead of dropping the work done and waiting for the lease to expire, after which
        the job would run a second time.

        With tracing on the job is a span in the trace its order was started under (or under the context its
        broker message brought); with tracing or JSON log lines on, its log lines name the order and the job."""
        if not logs.active():
            self._run(job)
            return
        with (
            logs.about(instance_id=job.instance_id, order=job.business_key, job_id=job.id),
            tracing.span(
                f"orderflow job {job.topic or job.kind}",
                kind=tracing.SpanKind.CONSUMER,
                parent=job.trace_parent,
                attributes={
                    "orderflow.job_id": job.id,
                    "orderflow.job_kind": job.kind,
                    "orderflow.topic": job.topic or "",
                    "orderflow.attempt": job.attempt,
                    "orderflow.instance_id": job.instance_id,
                    "orderflow.element_id": job.element_id or "",
                },
            ),
        ):
            self._run(job)

    def _run(self, job: ClaimedJob) -> None:
        expected = self._expected.pop(job.id, None)
        try:
            self._run_job(job, expected)
        finally:
            if expected is not None:
                expected.end()

    def _run_job(self, job: ClaimedJob, expected: Call | None) -> None:
        deadline = time.monotonic() + self.engine.settings.lease_seconds  # the lease was taken just now
        if job.kind == TIMER:
            self._report(partial(self.fire_timers, job), deadline)
            return
        for feature in self.engine.hooks.run_job:  # kinds of job a feature owns (timer start events)
            if feature.run_job(self.engine, job):
                return
        if self.executor is None:
            raise RuntimeError("no job executor configured")
        lease, instance = job.lease_token, job.instance_id
        if expected is not None:
            expected.begin()
        call = expected or self.results.calling(instance)  # a sibling's result waits for this call (results.py)
        try:
            try:
                variables = self.executor(job)
            except JobNeedsReview as exc:
                report = partial(self.hold_for_review, job, exc)
            except BpmnErrorThrown as exc:
                tracing.annotate(**{"orderflow.bpmn_error": exc.code})
                report = partial(
                    self.throw_bpmn_error, job.id, lease, exc.code, str(exc), exc.variables, instance_id=instance
                )
            except JobFailed as exc:
                self._failed(job, exc, str(exc), exc.retryable)
                report = partial(self.fail, job.id, lease, str(exc), retryable=exc.retryable, instance_id=instance)
            except Exception as exc:  # a connector bug is still a failure of this job, never of the worker
                message = f"{exc.__class__.__name__}: {exc}"
                self._failed(job, exc, message, True)
                report = partial(self.fail, job.id, lease, message, retryable=True, instance_id=instance)
            else:
                # The wait for siblings takes at most half of what is left of the lease: the result still arrives.
                wait_until = time.monotonic() + (deadline - time.monotonic()) / 2
                report = partial(self._complete_with_others, job, variables, call, wait_until)
            if report.func != self._complete_with_others:
                call.end()  # no result to join a batch with: the siblings' results need not wait for this report
            self._report(report, deadline)
        finally:
            call.end()

    @staticmethod
    def _failed(job: ClaimedJob, error: Exception, message: str, retryable: bool) -> None:
        """Say that a job's work failed: a warning line (the order's ids are on it with JSON lines) and the span."""
        if not retryable:
            again = "not to be retried"
        elif job.attempt < job.max_attempts:
            again = "to be retried"
        else:
            again = "no attempt left"
        log.warning(
            "job %s (%s) failed on attempt %d of %d, %s: %s",
            job.id, job.topic, job.attempt, job.max_attempts, again, message,
        )  # fmt: skip
        tracing.failed(error)

    def _complete_with_others(
        self, job: ClaimedJob, variables: dict[str, Any], call: Call | None = None, wait_until: float | None = None
    ) -> None:
        """Complete a job together with the results of the order's other jobs that arrive meanwhile (results.py)."""
        apply = partial(self._deliver, job_id=job.id, lease_token=job.lease_token, variables=variables)
        alone = partial(self._complete_or_fail, job, variables)
        try:
            self.results.deliver(job.instance_id, apply, alone, call, wait_until)
        except UnsavableVariable as exc:
            # Its result can never be saved: running it again at every lease's end would not help.
            self.fail(job.id, job.lease_token, str(exc), retryable=False, instance_id=job.instance_id)

    def _complete_or_fail(self, job: ClaimedJob, variables: dict[str, Any]) -> None:
        try:
            self.complete(job.id, job.lease_token, variables, instance_id=job.instance_id)
        except UnsavableVariable as exc:
            # Its result can never be saved: running it again at every lease's end would not help.
            self.fail(job.id, job.lease_token, str(exc), retryable=False, instance_id=job.instance_id)

    def _report(self, report: Callable[[], None], deadline: float) -> None:
        """Run a report, again after a database error, with a short backoff, while the lease lasts."""
        pause = 0.2
        while True:
            try:
                report()
                return
            except DBAPIError as exc:
                if time.monotonic() + pause >= deadline:
                    raise
                log.warning("job report failed (%s); trying again in %.1f s", exc.__class__.__name__, pause)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    # -- reporting: each is one engine step that first checks the lease ----------------------------------

    def _leased_job(self, step: Step, job_id: str, lease_token: str) -> JobRecord:
        # A leased job is one of the instance's active jobs, which the step loads anyway.
        job = next((j for j in step.active_jobs() if j.id == job_id), None)
        if job is None:
            found = JobRecord.load(step.connection, Job.id == job_id)
            job = found[0] if found else None
        if job is None or job.instance_id != step.instance.id:
            raise NotFound(f"job {job_id} does not exist")
        if job.status != JOB_LOCKED or job.lease_token != lease_token:
            raise Conflict(f"job {job_id} is no longer locked by this worker (its lease expired or it was done)")
        if job.lock_expires_at is not None and job.lock_expires_at < utcnow():
            raise Conflict(f"job {job_id}: the lease expired before the result arrived")
        return job

    def _task_of(self, step: Step, job: JobRecord):
        task = find_task(step.workflow, job.task_id)
        if task is None or task.state != TaskState.STARTED or task.internal_data.get(JOB_KEY) != job.id:
            return None
        return task

    def lease_of(self, job_id: str, worker_id: str) -> tuple[str, str]:
        """(lease token, instance id) of a job that `worker_id` holds: how a worker that knows only the job id
        (an external worker over REST) reports. A worker that does not hold the job gets Conflict."""
        with self.engine.read_session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound(f"job {job_id} does not exist")
            if job.status != JOB_LOCKED or job.locked_by != worker_id or job.lease_token is None:
                raise Conflict(f"job {job_id} is not locked by worker '{worker_id}' (its lock expired or it was done)")
            return job.lease_token, job.instance_id

    def current_lease(self, job_id: str) -> tuple[str, str]:
        """(lease token, instance id) of a locked job, whoever holds it: how a Camunda 8 worker reports, which
        names only the job key. A job that is not locked (done, or its lock expired and it was taken back) gets
        Conflict."""
        with self.engine.read_session() as session:
            job = session.get(Job, job_id)
            if job is None or job.kind != SERVICE:
                raise NotFound(f"job {job_id} does not exist")
            if job.status != JOB_LOCKED or job.lease_token is None or _expired(job):
                raise Conflict(f"job {job_id} is not activated by a worker (its timeout passed or it was done)")
            return job.lease_token, job.instance_id

    def extend_lock(self, job_id: str, worker_id: str, seconds: float) -> None:
        """Give the worker that holds a job `seconds` more from now (a long job that is still being worked on)."""
        with self.engine.write_session() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None:
                raise NotFound(f"job {job_id} does not exist")
            if job.status != JOB_LOCKED or job.locked_by != worker_id or _expired(job):
                raise Conflict(f"job {job_id} is not locked by worker '{worker_id}' (its lock expired or it was done)")
            job.lock_expires_at = utcnow() + timedelta(seconds=seconds)
            job.updated_at = utcnow()
            session.commit()

    def unlock(self, job_id: str) -> None:
        """Release a job's lock at once, so any worker may fetch it again; the attempt is not counted."""
        with self.engine.write_session() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or job.kind != SERVICE or job.status not in (JOB_READY, JOB_LOCKED):
                raise NotFound(f"job {job_id} does not exist or is done")
            job.status, job.locked_by, job.lease_token, job.lock_expires_at = JOB_READY, None, None, None
            job.due_at = job.updated_at = utcnow()
            session.commit()

    def _instance_of(self, job_id: str) -> str:
        with self.engine.read_session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound(f"job {job_id} does not exist")
            return job.instance_id

    def complete(
        self,
        job_id: str,
        lease_token: str,
        variables: dict[str, Any] | None = None,
        actor: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        apply = partial(self._deliver, job_id=job_id, lease_token=lease_token, variables=variables)
        self.engine.step(
            instance_id or self._instance_of(job_id), apply, actor=actor or "worker", kind="job", rerunnable=True
        )

    def _deliver(self, step: Step, *, job_id: str, lease_token: str, variables: dict[str, Any] | None) -> None:
        """Within a step: a job's result completes its task (after the lease check, which raises before anything
        changed)."""
        job = self._leased_job(step, job_id, lease_token)
        job.status, job.updated_at, job.lock_expires_at = JOB_DONE, utcnow(), None
        task = self._task_of(step, job)
        if task is None:  # the task was left meanwhile (boundary event, cancel): nothing to deliver
            job.status = JOB_CANCELLED
            return
        if any(f.job_result(step, task, job, variables or {}) for f in self.engine.hooks.job_result):
            return  # a feature took the result (a compensation handler's)
        try:
            produced = mappings.outputs(task.task_spec.extensions, {**job.variables, **(variables or {})})
        except expressions.ExpressionError as exc:
            job.status = JOB_FAILED
            step.open_incident("mapping_error", f"output mapping: {exc}", task=task, job=job)
            return
        task.data.update(variables or {} if produced is None else produced)
        if any(f.completing(step, task) for f in self.engine.hooks.completing):
            return  # the task is left another way (the result met a conditional boundary event on it)
        task.complete()
        step.record("element_completed", task, data_changed(task) or None)

    def fail(
        self,
        job_id: str,
        lease_token: str,
        message: str,
        *,
        retryable: bool = True,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        actor: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        """Record a failed attempt: retry later with backoff, or open an incident if none is left."""

        def apply(step: Step) -> None:
            job = self._leased_job(step, job_id, lease_token)
            now = utcnow()
            job.last_error, job.updated_at, job.lock_expires_at, job.locked_by = message, now, None, None
            if retries is not None:
                job.max_attempts = job.attempt + max(retries, 0)
            if retryable and job.attempt < job.max_attempts:
                delay = backoff_seconds if backoff_seconds is not None else self._backoff(job)
                job.status, job.due_at, job.attempt = (
                    JOB_READY,
                    now + timedelta(seconds=delay),
                    job.attempt + 1,
                )
                job.dispatched_at = None  # the sweep sends it when it is due
                step.new_jobs.append(job)
                step.record(
                    "job_failed",
                    data={"jobId": job.id, "error": message, "retryInSeconds": round(delay, 3)},
                    element_id=job.element_id,
                )
                return
            task = self._task_of(step, job)
            if retryable and task is not None and catches_exhausted(step, task):
                # The diagram handles this itself (a boundary event for RETRIES_EXHAUSTED): no incident.
                job.status, job.last_error = JOB_DONE, f"{RETRIES_EXHAUSTED}: {message}"
                after = f"{job.topic}: {message} (after {job.attempt} attempts)"
                throw_error_at(self.engine, step, task, job, RETRIES_EXHAUSTED, after)
                return
            job.status = JOB_FAILED
            step.open_incident("job_failed", f"{job.topic}: {message}", task=task, job=job)

        self.engine.step(instance_id or self._instance_of(job_id), apply, actor=actor or "worker", kind="job")

    def _backoff(self, job: JobRecord) -> float:
        if job.retry_cycle:
            delays = retry_delays(job.retry_cycle)
            if delays:
                return delays[min(job.attempt - 1, len(delays) - 1)]
        _, base, cap = self.engine.settings.policy_for(job.topic)
        delay = min(base * 2 ** (job.attempt - 1), cap)
        return delay * random.uniform(0.8, 1.2)  # jitter: failed jobs of one outage do not retry in lockstep

    def throw_bpmn_error(
        self,
        job_id: str,
        lease_token: str,
        code: str,
        message: str = "",
        variables: dict[str, Any] | None = None,
        actor: str | None = None,
        instance_id: str | None = None,
    ) -> None:
        """Throw a BPMN error at the job's task: a boundary error event that catches the code (or any code)
        takes over; with none, the instance stops with an incident."""

        def apply(step: Step) -> None:
            job = self._leased_job(step, job_id, lease_token)
            now = utcnow()
            job.status, job.updated_at, job.lock_expires_at, job.last_error = (
                JOB_DONE,
                now,
                None,
                f"{code}: {message}",
            )
            task = self._task_of(step, job)
            if task is None:
                job.status = JOB_CANCELLED
                return
            task.data.update(variables or {})
            throw_error_at(self.engine, step, task, job, code, message, variables)

        self.engine.step(instance_id or self._instance_of(job_id), apply, actor=actor or "worker", kind="job")

    def hold_for_review(self, job: ClaimedJob, review: JobNeedsReview) -> None:
        """A response that does not match what was asked is never accepted silently: the job waits while a person
        reviews both values in the inbox, then accepts them (the job completes) or rejects them (BPMN error)."""

        def apply(step: Step) -> None:
            row = self._leased_job(step, job.id, job.lease_token)
            row.status, row.lock_expires_at, row.locked_by = JOB_REVIEW, None, None
            row.last_error, row.updated_at = f"{review.code}: {review}", utcnow()
            task = self._task_of(step, row)
            if task is None:
                row.status = JOB_CANCELLED
                return
            if not any(f.review(step, task, row, review) for f in self.engine.hooks.review):
                row.status = JOB_FAILED  # nobody can review it: an operator must look
                step.open_incident("discrepancy", f"{row.topic}: {review.code}: {review}", task=task, job=row)

        self.engine.step(job.instance_id, apply, actor="worker", kind="job")

    def fire_timers(self, job: ClaimedJob) -> None:
        def apply(step: Step) -> None:
            row = self._leased_job(step, job.id, job.lease_token)
            row.status, row.updated_at = JOB_DONE, utcnow()
            step.forget_job(row)
            before = {f: f.before_timers(step) for f in self.engine.hooks.before_timers}
            try:
                spiff.fire_due_timers(step.workflow, utcnow())
            except SpiffWorkflowException as exc:
                step.open_incident("timer_error", str(exc))
            step.record("timers_checked", data={"jobId": row.id})
            for feature in self.engine.hooks.after_timers:
                feature.after_timers(step, before.get(feature))

        self.engine.step(job.instance_id, apply, actor="timer", kind="timer")


# The BPMN error a job throws when its retries run out, if a boundary event on its task catches exactly this code
# (DESIGN.md, failure paths). Catch-all error boundaries do not: for them exhausted retries stay an incident.
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"


def catches_exhausted(step: Step, task) -> bool:
    """Whether an error boundary event on the task names RETRIES_EXHAUSTED."""
    for waiting in tasks_in(step.workflow, TaskState.WAITING):
        definition = getattr(waiting.task_spec, "event_definition", None)
        code = getattr(definition, "code", None)
        if waiting.parent is task.parent and waiting is not task and code == RETRIES_EXHAUSTED:
            return True
    # An error event subprocess around the task (or a boundary event on an enclosing activity) may catch it.
    return any(
        f.uncaught_error(step, task, RETRIES_EXHAUSTED, "", check=True) for f in step.engine.hooks.uncaught_error
    )


def throw_error_at(
    engine: Engine, step: Step, task, job: JobRecord, code: str, message: str, variables: dict[str, Any] | None = None
) -> None:
    """Within a step: throw BPMN error `code` at a job's task; a boundary error event catching it takes over,
    else an incident. The worker's `variables` go on with the path the boundary event takes."""
    event = BpmnEvent(ErrorEventDefinition(code, code=code), {"code": code, "message": message})
    catchers = [
        t
        for t in tasks_in(step.workflow, TaskState.WAITING)
        if t.parent is task.parent and t is not task and t.task_spec.catches(t, event)
    ]
    if not catchers:
        # The error goes on outwards: error event subprocesses of the task's scope, then enclosing activities.
        if any(f.uncaught_error(step, task, code, message) for f in engine.hooks.uncaught_error):
            job.status = JOB_DONE
            step.record("bpmn_error", task, {"code": code, "message": message, "caught": True})
            return
    step.record("bpmn_error", task, {"code": code, "message": message, "caught": bool(catchers)})
    if not catchers:
        job.status = JOB_FAILED
        step.open_incident("bpmn_error", f"{code}: {message} (no boundary event catches it)", task=task, job=job)
        return
    catcher = catchers[0]
    extensions = getattr(catcher.task_spec, "extensions", None) or {}
    if extensions.get("errorCodeVariable"):  # Camunda 7: where the boundary event puts what it caught
        catcher.data[extensions["errorCodeVariable"]] = code
    if extensions.get("errorMessageVariable"):
        catcher.data[extensions["errorMessageVariable"]] = message
    catcher.data.update(variables or {})
    catcher.task_spec.catch(catcher, event)
    spiff.update(catcher)


__all__ = [
    "BpmnErrorThrown",
    "ClaimedJob",
    "JobExecutor",
    "JobFailed",
    "JobService",
    "SERVICE",
    "TIMER",
    "retry_delays",
]
