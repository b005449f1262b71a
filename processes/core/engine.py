"""The one engine path. Every change to an instance is one call of `Engine.step`, in one transaction:
lock the instance, load its state, apply one command, run the engine, derive side effects, save, commit,
and only then hand new jobs to the job transport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session, sessionmaker

from inbox import escalations, tasks
from processes import expressions
from processes.core.db import writer_lock
from processes.core.models import (
    ACTIVE_JOB_STATUSES,
    COMPLETED,
    INCIDENT,
    JOB_CANCELLED,
    JOB_LOCKED,
    JOB_REVIEW,
    RUNNING,
    SERVICE,
    TIMER,
    WAITING,
    AuditEvent,
    ProcessDefinition,
    iso,
    new_id,
    utcnow,
)
from processes.core.records import (
    ACTIVE_JOBS,
    INSTANCE_STATE,
    LOCK_INSTANCE,
    IncidentRecord,
    InstanceRecord,
    JobRecord,
    Record,
    write,
)
from processes.core.state import SpecCache, StateSerializer, WorkflowCache
from processes.deployment.parser import topic_of
from processes.errors import NotFound
from processes.expressions import mappings
from processes.expressions.beans import Beans, check_beans, run_service_tasks
from processes.expressions.script_engine import SandboxedScriptEngine
from processes.features import (
    compensation,
    conditional_events,
    decisions,
    event_gateways,
    event_subprocesses,
    messages,
)

log = logging.getLogger(__name__)

JOB_KEY = "orderflow.job"  # marks, in a task's internal data, the job made for it
ACTIVE_STATES = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


@dataclass(frozen=True)
class ClaimedJob:
    """A job as a worker holds it, outside any session."""

    id: str
    instance_id: str
    kind: str
    topic: str | None
    element_id: str | None
    attempt: int
    max_attempts: int
    lease_token: str
    variables: dict[str, Any]
    business_key: str | None = None


class JobDispatcher:
    """Where new jobs go after commit. The embedded runner and the Celery transport implement this."""

    def dispatch(self, jobs: list[JobRecord]) -> None:  # noqa: B027 - a no-op default is the point
        """Called after the step's commit with the jobs it created or rescheduled."""

    def lease_holder(self, topic: str | None) -> str | None:
        """The worker in this process that will run a new job of this topic at once, if any. The step then
        writes the job already leased to it, saving a claim transaction per job."""
        return None

    def run_claimed(self, jobs: list[ClaimedJob]) -> None:  # noqa: B027
        """Called after commit with the jobs the step leased to `lease_holder`."""

    # A broker transport sends due jobs right after commit; the step records that in the outbox row, so the
    # sweep only re-sends what was not taken in time.
    sends_after_commit: bool = False


@dataclass
class EngineSettings:
    lease_seconds: float = 30.0
    default_max_attempts: int = 3
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    # A topic's own retry policy (max attempts, backoff base, cap), used when the diagram sets none.
    retry_policy: Callable[[str], tuple[int, float, float] | None] | None = None
    # Functions JUEL may call as Camunda 7 beans: bean name -> method name -> function (processes/beans.py).
    beans: Beans | None = None

    def policy_for(self, topic: str | None) -> tuple[int, float, float]:
        policy = self.retry_policy(topic) if self.retry_policy is not None and topic else None
        return (
            tuple(policy)
            if policy
            else (self.default_max_attempts, self.backoff_base_seconds, self.backoff_cap_seconds)
        )


@dataclass
class Step:
    """What one engine step works on; commands read and change it."""

    connection: Connection
    instance: InstanceRecord
    workflow: BpmnWorkflow
    actor: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    new_jobs: list[JobRecord] = field(default_factory=list)
    leased_jobs: list[ClaimedJob] = field(default_factory=list)
    active_jobs: list[JobRecord] | None = None
    incident: IncidentRecord | None = None
    records: list[Record] = field(default_factory=list)  # rows to write at the end of the step, in order
    subscriptions: tuple[list, list] | None = None  # (message waits now, before) for messages.save_subscriptions

    def record(self, type_: str, task=None, data: dict | None = None, **extra: Any) -> None:
        spec = task.task_spec if task is not None else None
        self.events.append(
            {
                "instance_id": self.instance.id,
                "at": utcnow(),
                "type": type_,
                "element_id": getattr(spec, "bpmn_id", None) or extra.get("element_id"),
                "element_name": getattr(spec, "bpmn_name", None),
                "element_type": spec.__class__.__name__ if spec is not None else None,
                "actor": self.actor,
                "data": data,
                "entered_at": entered_at(task),
            }
        )


INSERT_EVENTS = insert(AuditEvent.__table__)


def tasks_in(workflow: BpmnWorkflow, states: int) -> list:
    """Tasks in any of `states`, in creation order. Scans the task dictionaries: SpiffWorkflow's get_tasks()
    walks the whole tree through an iterator and was the largest engine cost per step."""
    found = [t for t in workflow.tasks.values() if t.state & states]
    for subprocess in workflow.subprocesses.values():
        found.extend(t for t in subprocess.tasks.values() if t.state & states)
    return found


def find_task(workflow: BpmnWorkflow, task_id: str | None):
    """The task with this id, in the workflow or its subprocesses; None when it is gone. (SpiffWorkflow's
    get_task_from_id raises for a missing top-level task.)"""
    if not task_id:
        return None
    try:
        uuid = UUID(str(task_id))
    except ValueError:
        return None
    for by_id in (workflow.tasks, *(sp.tasks for sp in workflow.subprocesses.values())):
        if uuid in by_id:
            return by_id[uuid]
    return None


def entered_at(task) -> datetime | None:
    """When the token reached this task's element: its parent task's last state change, which is the parent's
    completion (a completed task never changes again). Kept on audit events and active elements so that time spent
    per element is one subtraction for the metrics, at no cost to the step beyond reading an attribute."""
    parent = task.parent if task is not None else None
    if parent is None:
        return None
    return datetime.fromtimestamp(parent.last_state_change, UTC).replace(tzinfo=None)


def is_element(task) -> bool:
    """True for tasks that stand for a drawn BPMN element (not SpiffWorkflow's hidden control tasks)."""
    return getattr(task.task_spec, "bpmn_id", None) is not None


def data_changed(task) -> dict[str, Any]:
    parent = task.parent.data if task.parent is not None else {}
    return {k: v for k, v in task.data.items() if k not in parent or parent[k] != v}


class Engine:
    """Owns the caches and the one step function. One per process; thread-safe."""

    def __init__(
        self,
        session_factory: sessionmaker,
        dispatcher: JobDispatcher | None = None,
        settings: EngineSettings | None = None,
    ):
        self.session_factory = session_factory
        self.dispatcher = dispatcher or JobDispatcher()
        self.settings = settings or EngineSettings()
        self.serializer = StateSerializer()
        self.specs = SpecCache(self.serializer)
        self.workflows = WorkflowCache()
        self.decision_models = decisions.ModelCache()
        self.beans = check_beans(self.settings.beans)
        self.script_engine = SandboxedScriptEngine(self.beans)
        self.sql = session_factory.kw["bind"]
        self._writer_lock = writer_lock(self.sql)

    # -- sessions ---------------------------------------------------------------------------------------

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock up front (BEGIN IMMEDIATE on SQLite), so a
        read-then-write never fails half way because another writer got in between."""
        with self._writer_lock:
            session = self.session_factory()
            try:
                session.connection(execution_options={"orderflow_write": True})
                yield session
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (the engine step's): no ORM session bookkeeping."""
        with self._writer_lock, self.sql.connect() as connection:
            connection = connection.execution_options(orderflow_write=True)
            with connection.begin():
                yield connection

    # -- the engine step ----------------------------------------------------------------------------------

    def spec_for(self, session: Connection | Session, definition_id: str):
        def loader() -> str:
            spec_json = session.scalar(select(ProcessDefinition.spec_json).where(ProcessDefinition.id == definition_id))
            if spec_json is None:
                raise NotFound(f"process definition {definition_id} does not exist")
            return spec_json

        return self.specs.get(definition_id, loader)

    def step(
        self,
        instance_id: str | None,
        command: Callable[[Step], None],
        *,
        actor: str | None = None,
        create: Callable[[Connection], tuple[InstanceRecord, BpmnWorkflow]] | None = None,
    ) -> Step:
        """Apply one command to one instance. `create` instead of `instance_id` starts a new instance."""
        with self.write_connection() as connection:
            if create is not None:
                instance, workflow = create(connection)
            else:
                found = InstanceRecord.load_with(connection, LOCK_INSTANCE, id=instance_id)
                if not found:
                    raise NotFound(f"process instance {instance_id} does not exist")
                instance = found[0]
                workflow = self._load(connection, instance)
            # What JUEL's `execution` sees (not serialized: set on every step).
            workflow.orderflow_instance = {"processInstanceId": instance.id, "businessKey": instance.business_key}
            step = Step(connection=connection, instance=instance, workflow=workflow, actor=actor, records=[instance])
            workflow.orderflow_decide = lambda task, key: self._decide(step, task, key)
            try:
                command(step)
                self._run_until_settled(step)
                self._derive(step)
                self._save(step)
            except BaseException:
                self.workflows.discard(instance.id)
                raise
            revision = instance.revision
            instance_id = instance.id
        self.workflows.put(instance_id, revision, workflow)
        if step.new_jobs:
            self.dispatcher.dispatch(step.new_jobs)
        if step.leased_jobs:
            self.dispatcher.run_claimed(step.leased_jobs)
        return step

    def new_workflow(self, session: Connection | Session, definition_id: str) -> BpmnWorkflow:
        spec, subprocess_specs = self.spec_for(session, definition_id)
        return BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)

    def _load(self, session: Connection | Session, instance: InstanceRecord) -> BpmnWorkflow:
        workflow = self.workflows.take(instance.id, instance.revision)
        if workflow is None:
            spec, subprocess_specs = self.spec_for(session, instance.definition_id)
            state = session.scalar(INSTANCE_STATE, {"id": instance.id})
            workflow = self.serializer.load_state(state, spec, subprocess_specs)
        # Never trust the engine a workflow came with: the library restores an unsandboxed one.
        workflow.script_engine = self.script_engine
        return workflow

    def _run_until_settled(self, step: Step) -> None:
        """Run the engine, then what it cannot do alone: conditional events whose variables changed, and service
        tasks that call registered beans. Each may let the engine go on, so repeat until nothing more happens.
        Conditions are looked at before the first run too: the command's variables may meet one before the flow
        moves on (Camunda triggers conditional events when variables are set)."""
        self._fire_conditions(step)
        self._run_engine(step)
        for _ in range(conditional_events.MAX_ROUNDS):
            # Compensation first, even after an incident: it remembers what completed and owns its throw events.
            compensated = compensation.settle(self, step)
            if step.incident is not None:
                return
            ran = run_service_tasks(self, step) or compensated
            if not (self._fire_conditions(step) or ran):
                return
            self._run_engine(step)
        self.open_incident(
            step,
            "engine_error",
            f"the process did not settle after {conditional_events.MAX_ROUNDS} rounds of conditional events and "
            "bean calls; check the conditions for a loop",
        )

    def _fire_conditions(self, step: Step) -> bool:
        """Conditional events whose condition became true, and event subprocesses with a conditional start."""
        caught = conditional_events.fire(self, step)
        started = event_subprocesses.fire_conditions(self, step)
        return caught or started

    def _run_engine(self, step: Step) -> None:
        if step.incident is not None:
            return

        def completed(task) -> None:
            # Called after every run, also for service tasks that only reached STARTED (their job runs now).
            if is_element(task) and task.state == TaskState.COMPLETED:
                step.record("element_completed", task, data_changed(task) or None)
                if escalations.is_timer_boundary(task):
                    escalations.on_timer_boundary(step, task)

        try:
            step.workflow.do_engine_steps(did_complete_task=completed)
        except SpiffWorkflowException as exc:
            task = getattr(exc, "task", None)
            self.open_incident(step, "engine_error", _plain_message(exc), task=task)

    def _decide(self, step: Step, task, key: str) -> dict[str, Any]:
        """A business rule task's decision, evaluated in the step and recorded in the audit trail (the rule hit
        rate is counted from these events)."""
        outcome = decisions.decide(self, step.connection, key, task.data)
        step.record(
            "decision_evaluated",
            task,
            {
                "decision": key,
                "version": outcome["version"],
                "matchedRules": outcome["matchedRules"],
                "result": outcome["result"],
                "inputs": {k: v for k, v in task.data.items() if not isinstance(v, (dict, list))},
            },
        )
        return outcome

    def open_incident(self, step: Step, error_type: str, message: str, task=None, job: JobRecord | None = None) -> None:
        incident = IncidentRecord.new(
            instance_id=step.instance.id,
            job_id=job.id if job is not None else None,
            element_id=getattr(task.task_spec, "bpmn_id", None) if task is not None else job and job.element_id,
            task_id=str(task.id) if task is not None else job and job.task_id,
            error_type=error_type,
            message=message,
        )
        step.records.append(incident)
        step.incident = incident
        step.record(
            "incident_opened",
            task,
            {"errorType": error_type, "message": message},
            element_id=incident.element_id,
        )

    def active_jobs(self, step: Step) -> list[JobRecord]:
        if step.active_jobs is None:
            if step.instance.is_new:
                step.active_jobs = []
            else:
                step.active_jobs = JobRecord.load_with(step.connection, ACTIVE_JOBS, instance_id=step.instance.id)
                step.records.extend(step.active_jobs)
        return step.active_jobs

    def _derive(self, step: Step) -> None:
        """Side effects of the new state: jobs for reached service tasks, the timer job, status."""
        workflow, instance, now = step.workflow, step.instance, utcnow()
        active_tasks = [t for t in tasks_in(workflow, ACTIVE_STATES) if is_element(t)]
        jobs = self.active_jobs(step)
        started_ids = set()
        for task in active_tasks:
            if task.state != TaskState.STARTED or not isinstance(task.task_spec, ServiceTask):
                continue
            started_ids.add(str(task.id))
            if JOB_KEY in task.internal_data:
                continue
            topic = topic_of(task.task_spec)
            if topic is None:
                task.internal_data[JOB_KEY] = None
                self.open_incident(
                    step,
                    "unbound_service_task",
                    f"service task {task.task_spec.bpmn_id} has no topic or connector binding",
                    task=task,
                )
                continue
            job = self._service_job(step, task, topic, now)
            task.internal_data[JOB_KEY] = job.id if job is not None else None
            if job is not None:
                step.record("job_created", task, {"jobId": job.id, "topic": topic})

        # Jobs whose task was left (a boundary event fired, the instance was cancelled) are cancelled.
        timer_job = None
        for job in jobs:
            if job.status == JOB_REVIEW:  # waiting for a person; left when its task was left
                if job.task_id not in started_ids:
                    job.status, job.updated_at = JOB_CANCELLED, now
                    tasks.cancel_reviews(step, job.id)
                continue
            if job.status not in ACTIVE_JOB_STATUSES:  # settled by this step's command
                continue
            if job.kind == TIMER:
                timer_job = job
            elif job.task_id not in started_ids:
                job.status, job.updated_at = JOB_CANCELLED, now

        due = _next_timer(workflow)
        if due is not None and timer_job is None:
            timer_job = JobRecord.new(id=new_id(), instance_id=instance.id, kind=TIMER, due_at=due, max_attempts=1)
            step.records.append(timer_job)
            step.new_jobs.append(timer_job)
        elif due is not None and timer_job.due_at != due:
            timer_job.due_at, timer_job.updated_at = due, now
            step.new_jobs.append(timer_job)
        elif due is None and timer_job is not None:
            timer_job.status, timer_job.updated_at = JOB_CANCELLED, now

        if workflow.is_completed():
            if instance.ended_at is None:
                instance.status, instance.ended_at = COMPLETED, now
                step.record("instance_completed")
            variables = dict(workflow.last_task.data) if workflow.last_task is not None else {}
        else:
            if step.incident is not None or instance.status == INCIDENT:
                instance.status = INCIDENT
            elif any(j.status in ACTIVE_JOB_STATUSES and j.kind == SERVICE for j in jobs) or any(
                j.kind == SERVICE for j in step.new_jobs
            ):
                instance.status = RUNNING
            else:
                instance.status = WAITING
            variables = {}
            for task in active_tasks:
                variables.update(task.data)
        instance.variables = variables
        waits = messages.waiting_messages(step, active_tasks)
        before = [
            {"message_name": m["message"], "correlation_key": m.get("correlationKey"), "task_id": e["taskId"],
             "element_id": e["elementId"]}
            for e in (instance.active_elements or [])
            for m in (e.get("messages") or ([e] if e.get("message") else []))
        ]  # fmt: skip
        step.subscriptions = (waits, before)  # written in _save, after the instance row exists
        human_tasks = tasks.project(step, active_tasks, instance.active_elements or [])
        waiting_for: dict[str, list[dict[str, Any]]] = {}
        for wait in waits:
            waiting_for.setdefault(wait["task_id"], []).append(wait)
        elements = []
        for t in active_tasks:
            element = {
                "elementId": t.task_spec.bpmn_id,
                "name": t.task_spec.bpmn_name,
                "type": t.task_spec.__class__.__name__,
                "state": TaskState.get_name(t.state).lower(),
                "taskId": str(t.id),
                "since": iso(entered_at(t)),
            }
            if str(t.id) in human_tasks:
                element["humanTaskId"] = human_tasks[str(t.id)]
            expected = waiting_for.get(str(t.id), [])
            if len(expected) == 1:
                element["message"] = expected[0]["message_name"]
                element["correlationKey"] = expected[0]["correlation_key"]
            elif expected:  # an event-based gateway: whichever of these messages comes first
                element["messages"] = [{"message": w["message_name"], "correlationKey": w["correlation_key"]}
                                       for w in expected]  # fmt: skip
            elements.append(element)
        instance.active_elements = elements

    def _service_job(
        self,
        step: Step,
        task,
        topic: str,
        now: datetime,
        *,
        extensions: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        element_id: str | None = None,
    ) -> JobRecord | None:
        """A job for a service task, or for another element's work on its behalf (a compensation handler's:
        its own `extensions`, the variables it works on and its element id)."""
        extensions = (task.task_spec.extensions or {}) if extensions is None else extensions
        data = task.data if data is None else data
        element_id = element_id or task.task_spec.bpmn_id
        what = f"input mapping of {element_id}"
        try:
            mapped_inputs = mappings.inputs(extensions, data)
            retry_cycle = extensions.get("retryCycle")
            if retry_cycle and expressions.dialect_of(retry_cycle) != expressions.PYTHON:
                # Camunda 7 takes an expression here too (`${paymentRetryCycle}`): evaluated when the job is made.
                what = f"retry cycle of {element_id}"
                retry_cycle = str(expressions.evaluate(retry_cycle, data))
        except expressions.ExpressionError as exc:
            self.open_incident(step, "mapping_error", f"{what}: {exc}", task=task)
            return None
        max_attempts = self.settings.policy_for(topic)[0]
        if retry_cycle:
            from processes.jobs.service import retry_delays  # local: jobs imports this module

            max_attempts = len(retry_delays(retry_cycle)) + 1
        elif extensions.get("retries", "").isdigit():
            max_attempts = max(1, int(extensions["retries"]))
        job = JobRecord.new(
            id=new_id(),
            instance_id=step.instance.id,
            kind=SERVICE,
            topic=topic,
            element_id=element_id,
            task_id=str(task.id),
            due_at=now,
            max_attempts=max_attempts,
            retry_cycle=retry_cycle,
            variables={**data, **mapped_inputs},
        )
        holder = self.dispatcher.lease_holder(topic)
        if holder is not None:
            job.status, job.locked_by, job.lease_token = JOB_LOCKED, holder, new_id()
            job.lock_expires_at = now + timedelta(seconds=self.settings.lease_seconds)
            step.leased_jobs.append(
                ClaimedJob(
                    id=job.id,
                    instance_id=job.instance_id,
                    kind=SERVICE,
                    topic=topic,
                    element_id=job.element_id,
                    attempt=1,
                    max_attempts=max_attempts,
                    lease_token=job.lease_token,
                    variables=job.variables,
                    business_key=step.instance.business_key,
                )
            )
        else:
            step.new_jobs.append(job)
            if self.dispatcher.sends_after_commit:
                job.dispatched_at = now
        step.records.append(job)
        return job

    def _save(self, step: Step) -> None:
        instance = step.instance
        instance.state = self.serializer.dump_state(step.workflow)
        instance.revision = (instance.revision or 0) + 1
        instance.updated_at = utcnow()
        connection = step.connection
        write(connection, step.records)
        if step.subscriptions is not None:
            messages.save_subscriptions(step, *step.subscriptions)
        if step.events:
            connection.execute(INSERT_EVENTS, step.events)


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    due = None
    waiting = tasks_in(workflow, TaskState.WAITING) if event_gateways.has_event_gateways(workflow) else []
    for task in waiting:
        if event_gateways.is_event_gateway(task.task_spec):  # SpiffWorkflow reports no moment for these
            at = event_gateways.next_timer(task)
            due = at if due is None or (at is not None and at < due) else due
    for event in workflow.waiting_events():
        if "Timer" not in event.event_type or not isinstance(event.value, str):
            continue
        try:
            at = datetime.fromisoformat(event.value)
        except ValueError:
            continue
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        due = at if due is None or at < due else due
    return due


def _plain_message(exc: Exception) -> str:
    """SpiffWorkflow's message plus its notes, without a stack trace."""
    message = str(exc.args[0]) if exc.args else exc.__class__.__name__
    notes = [n for n in getattr(exc, "__notes__", []) if n]
    task = getattr(exc, "task", None)
    where = f" at {task.task_spec.bpmn_id}" if task is not None and is_element(task) else ""
    return f"{message}{where}" + (f" ({'; '.join(notes)})" if notes else "")
