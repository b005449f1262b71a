"""The one engine path. Every change to an instance is one call of `Engine.step`, in one transaction:
lock the instance, load its state, apply one command, settle, derive side effects, save, commit, and only then
hand new jobs to the job transport. On SQLite a step whose command can run twice (a start, a job's result) takes the
database's one writer lock only when it first writes, after checking that what it read is unchanged; otherwise it
runs again the usual way (processes/core/db.py, Speculation).

The core knows no BPMN feature: compensation, conditional events, messages, the inbox and the rest plug in through
`processes.core.feature.Feature` hooks, called here at fixed points of the step."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from processes import limits
from processes.core import clock, spiff
from processes.core.clock import Clock
from processes.core.db import StaleReads, begin_with_retries, speculative, speculative_transaction, writer_lock
from processes.core.feature import Feature, Hooks
from processes.core.models import (
    ACTIVE_JOB_STATUSES,
    COMPLETED,
    ENDED_STATUSES,
    INCIDENT,
    JOB_CANCELLED,
    JOB_HELD,
    JOB_LOCKED,
    JOB_READY,
    JOB_REVIEW,
    RUNNING,
    SERVICE,
    TIMER,
    WAITING,
    AuditEvent,
    Incident,
    ProcessDefinition,
    iso,
    new_id,
    utcnow,
)
from processes.core.records import INSTANCE_STATE, LOCK_INSTANCE, IncidentRecord, InstanceRecord, JobRecord, write
from processes.core.state import SpecCache, StateSerializer, WorkflowCache
from processes.core.statements import Statement
from processes.core.step import Step
from processes.core.transport import JobDispatcher
from processes.core.variables import UnsavableVariable, problem_with, unsavable
from processes.errors import NotFound

log = logging.getLogger(__name__)

JOB_KEY = "orderflow.job"  # marks, in a task's internal data, the job made for it
# How often one step lets features move the instance on (conditions, bean calls, compensation) before it decides
# they loop.
MAX_ROUNDS = 50

F = TypeVar("F", bound=Feature)


@dataclass
class EngineSettings:
    lease_seconds: float = 30.0
    default_max_attempts: int = 3
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    # A topic's own retry policy (max attempts, backoff base, cap), used when the diagram sets none.
    retry_policy: Callable[[str], tuple[int, float, float] | None] | None = None
    # Functions JUEL may call as Camunda 7 beans: bean name -> method name -> function (expressions/beans.py).
    beans: Any = None
    # What one evaluation of an expression may cost, and what an instance may keep (processes/limits.py).
    expression_seconds: float = 1.0
    expression_steps: int = 1_000_000
    max_variables_bytes: int = 4 * 1024 * 1024
    # What "now" is inside every step (processes/core/clock.py); None: the caller's clock, the wall clock by default.
    clock: Clock | None = None

    def policy_for(self, topic: str | None) -> tuple[int, float, float]:
        policy = self.retry_policy(topic) if self.retry_policy is not None and topic else None
        return (
            tuple(policy)
            if policy
            else (self.default_max_attempts, self.backoff_base_seconds, self.backoff_cap_seconds)
        )


INSERT_EVENTS = Statement(insert(AuditEvent.__table__))


def _begin_write(session: Session) -> None:
    try:
        session.connection(execution_options={"orderflow_write": True})
    except OperationalError:
        session.rollback()  # so that the session can begin again
        raise


def _connection_of(session: Connection | Session) -> Connection:
    return session if isinstance(session, Connection) else session.connection()


def _setter(step: Step, variable: str | None) -> str | None:
    """The element that last set `variable` in this step, as its audit events tell."""
    for event in reversed(step.events):
        data = event.get("data")
        if event.get("element_id") and isinstance(data, dict):
            if variable in data or variable in (data.get("variables") or {}):
                return event["element_id"]
    return None


_STATE_NAMES: dict[int, str] = {}


def _state_name(state: int) -> str:
    """A task state as the active elements name it ("ready", "started", ...); SpiffWorkflow's get_name builds its
    table of names at every call."""
    name = _STATE_NAMES.get(state)
    if name is None:
        name = _STATE_NAMES[state] = TaskState.get_name(state).lower()
    return name


class Engine:
    """Owns the caches and the one step function. One per process; thread-safe.

    `features` plug in through their hooks; `script_engine` evaluates every expression SpiffWorkflow meets (it must
    be a sandboxed one: the library's default runs Python with all builtins)."""

    def __init__(
        self,
        session_factory: sessionmaker,
        dispatcher: JobDispatcher | None = None,
        settings: EngineSettings | None = None,
        *,
        features: Sequence[Feature],
        script_engine: PythonScriptEngine,
    ):
        self.session_factory = session_factory
        self.dispatcher = dispatcher or JobDispatcher()
        self.settings = settings or EngineSettings()
        limits.configure(
            seconds=self.settings.expression_seconds,
            steps=self.settings.expression_steps,
            max_variables_bytes=self.settings.max_variables_bytes,
        )
        self.features = tuple(features)
        self.hooks = Hooks(self.features)
        self.serializer = StateSerializer(self.features)
        self.specs = SpecCache(self.serializer)
        self.workflows = WorkflowCache()
        self.script_engine = script_engine
        self.sql = session_factory.kw["bind"]
        # The same engine and pool, its connections made with the write option already set: setting it on each
        # connection of a step cost as much as one of the step's statements.
        self._write_sql = self.sql.execution_options(orderflow_write=True)
        self._writer_lock = writer_lock(self.sql)
        # Steps that may read before they take the writer lock (processes/core/db.py, Speculation): SQLite only,
        # where the one writer lock is what every step queues for; PostgreSQL locks the instance's row instead.
        self._speculative_sql = speculative(self.sql)

    def feature(self, kind: type[F]) -> F:
        """This engine's feature of a kind (for services that read a feature's state, such as its caches)."""
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        raise LookupError(f"this engine has no {kind.__name__} feature")

    # -- sessions ---------------------------------------------------------------------------------------

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for a read on a hot path (a check every start makes): no ORM session to build."""
        with self.sql.connect() as connection:
            yield connection

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock up front (BEGIN IMMEDIATE on SQLite), so a
        read-then-write never fails half way because another writer got in between."""
        with self._writer_lock:
            session = self.session_factory()
            try:
                begin_with_retries(lambda: _begin_write(session))
                yield session
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def write_connection(self, committed: Callable[[], None] | None = None) -> Iterator[Connection]:
        """A Core connection in a write transaction (the engine step's): no ORM session bookkeeping. `committed`
        runs after the commit, while the writer lock is still held (and before a group commit's sync)."""
        with self._writer_lock, self._write_sql.connect() as connection:
            with begin_with_retries(connection.begin):
                yield connection
            if committed is not None:
                committed()

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
        kind: str | None = None,
        rerunnable: bool = False,
    ) -> Step:
        """Apply one command to one instance. `create` instead of `instance_id` starts a new instance. `kind` names
        the command for features that may refuse it (`Feature.admit`); a start is always "start".

        `rerunnable`: the command and `create` change nothing outside the step, so the step may run them before it
        takes the writer lock, and run them again should another writer have changed what they read meanwhile
        (SQLite with group commit; processes/core/db.py, Speculation). The hot paths say so: a start, a job's result.

        When the new state cannot be saved (a variable that is not data, or over the size cap, that no element's
        own check caught), the command's changes are rolled back and a fresh step stops the instance with an
        incident naming the variable: a start still creates the instance (in incident); any other command raises
        UnsavableVariable after the incident is committed, so its caller hears that the change was not applied."""
        with clock.using(self.settings.clock):
            if self.hooks.around_step:
                with ExitStack() as around:
                    for feature in self.hooks.around_step:
                        around.enter_context(feature.around_step("start" if create is not None else kind))
                    return self._step_or_strand(instance_id, command, actor, create, kind, rerunnable)
            return self._step_or_strand(instance_id, command, actor, create, kind, rerunnable)

    def _step_or_strand(
        self,
        instance_id: str | None,
        command: Callable[[Step], None],
        actor: str | None,
        create: Callable[[Connection], tuple[InstanceRecord, BpmnWorkflow]] | None,
        kind: str | None,
        rerunnable: bool = False,
    ) -> Step:
        try:
            if rerunnable and self._speculative_sql is not None:
                try:
                    return self._step(instance_id, command, actor, create, kind, reads_first=True)
                except StaleReads:
                    pass  # another writer changed what it read: run it again, holding the lock from the start
            return self._step(instance_id, command, actor, create, kind)
        except UnsavableVariable as problem:
            return self._stranded(instance_id, command, problem, actor, create)

    def _stranded(
        self,
        instance_id: str | None,
        command: Callable[[Step], None],
        problem: UnsavableVariable,
        actor: str | None,
        create: Callable[[Connection], tuple[InstanceRecord, BpmnWorkflow]] | None,
    ) -> Step:
        message = str(problem)

        def stop(step: Step) -> None:
            if create is not None:
                command(step)  # a start's command only hands the new instance its variables; the engine runs no more
            elif IncidentRecord.load(
                step.connection,
                Incident.instance_id == step.instance.id,
                Incident.resolved_at.is_(None),
                Incident.message == message,
            ):
                return  # the same change tried again (a worker's report): one incident is enough
            step.open_incident("engine_error", message, element_id=problem.element_id)

        step = self._step(instance_id, stop, actor, create, None)  # the command itself was admitted
        if create is None:
            raise problem
        return step

    def _step(
        self,
        instance_id: str | None,
        command: Callable[[Step], None],
        actor: str | None,
        create: Callable[[Connection], tuple[InstanceRecord, BpmnWorkflow]] | None,
        kind: str | None,
        reads_first: bool = False,
    ) -> Step:
        cache: list = []

        # The workflow goes back to the cache before the writer lock is released: the next step of this
        # instance (a parallel job's result) may be waiting for the lock, and would deserialize it otherwise.
        def committed() -> None:
            if cache:
                self.workflows.put(*cache)

        if reads_first:  # the writer lock at the first write, once the reads are checked (db.Speculation)
            transaction = speculative_transaction(self._speculative_sql, committed)
        else:
            transaction = self.write_connection(committed)
        with transaction as connection:
            if create is not None:
                instance, workflow = create(connection)
            else:
                found = InstanceRecord.load_with(connection, LOCK_INSTANCE, id=instance_id)
                if not found:
                    raise NotFound(f"process instance {instance_id} does not exist")
                instance = found[0]
                workflow = self._load(connection, instance)
            spiff.set_step_facts(workflow, {"processInstanceId": instance.id, "businessKey": instance.business_key})
            step = Step(
                engine=self,
                connection=connection,
                instance=instance,
                workflow=workflow,
                actor=actor,
                records=[instance],
            )
            try:
                for feature in self.hooks.admit:
                    feature.admit(step, "start" if create is not None else kind)
                for feature in self.hooks.begin:
                    feature.begin(step)
                command(step)
                self._settle(step)
                self._derive(step)
                self._save(step)
            except BaseException:
                self.workflows.discard(instance.id)
                raise
            # An ended instance takes no more steps (almost never: an operator's repair): its workflow would only sit
            # in the cache, a few thousand objects that every full garbage collection walks (app/collector.py).
            if instance.status not in ENDED_STATUSES:
                cache[:] = [instance.id, instance.revision, step.workflow]  # a command may rebuild it (a migration)
        if step.new_jobs:
            self.dispatcher.dispatch(step.new_jobs, new_order=create is not None)
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
            state = INSTANCE_STATE.scalar(_connection_of(session), {"id": instance.id})
            workflow = self.serializer.load_state(state, spec, subprocess_specs)
        # Never trust the engine a workflow came with: the library restores an unsandboxed one.
        workflow.script_engine = self.script_engine
        return workflow

    def _settle(self, step: Step) -> None:
        """Run the engine, then let features do what it cannot do alone (conditional events whose variables
        changed, bean calls, compensation). Each may let the engine go on, so repeat until nothing more happens.
        Features look before the first run too: the command's variables may meet a condition before the flow moves
        on (Camunda triggers conditional events when variables are set)."""
        for feature in self.hooks.before_run:
            feature.before_run(step)
        self.run_engine(step)
        for _ in range(MAX_ROUNDS):
            progressed = False
            for feature in self.hooks.settle:
                progressed = feature.settle(step) or progressed
                if step.incident is not None:
                    return
            if not progressed:
                return
            self.run_engine(step)
        step.open_incident(
            "engine_error",
            f"the process did not settle after {MAX_ROUNDS} rounds of conditional events and bean calls; check the "
            "conditions for a loop",
        )

    def run_engine(self, step: Step) -> None:
        """SpiffWorkflow's `do_engine_steps` (through the adapter); an error it raises is an incident at its task."""
        if step.incident is not None:
            return
        listeners = self.hooks.element_completed

        def completed(task) -> None:
            # Called after every run, also for service tasks that only reached STARTED (their job runs now).
            if spiff.is_element(task) and task.state == TaskState.COMPLETED:
                changed = spiff.data_changed(task)
                # A value that cannot be saved fails the element that made it, as a failing script does: the
                # element is back before it ran (in ERROR), so retrying the incident runs it again.
                problem = unsavable(changed, spiff.element_id(task), task) if changed else None
                if problem is not None:
                    spiff.fail_completed(step.workflow, task)
                    raise problem
                step.record("element_completed", task, changed or None)
                for feature in listeners:
                    feature.element_completed(step, task)

        # Timers reached in this run are due by the engine's clock, which a scenario test runs ahead of the wall's.
        # The lead is taken before the run: a timer is then due no earlier than its duration after it was reached.
        lead = clock.current().lead()
        try:
            spiff.do_engine_steps(step.workflow, completed)
            spiff.align_timers(step.workflow, lead)
        except SpiffWorkflowException as exc:
            step.open_incident("engine_error", spiff.plain_message(exc), task=getattr(exc, "task", None))
        except UnsavableVariable as exc:
            step.open_incident("engine_error", str(exc), task=exc.task)

    def _unsavable_state(self, step: Step) -> UnsavableVariable:
        """Which variable of which task made the state unsavable (only looked for when saving failed)."""
        for task in spiff.tasks_in(step.workflow, TaskState.ANY_MASK):
            problem = problem_with(task.data)
            if problem is not None:
                name, why = problem
                where = _setter(step, name) or spiff.element_id(task)
                at = f" set at {where}" if where else ""
                return UnsavableVariable(f"variable {name!r}{at} cannot be saved: {why}", name, where)
        return UnsavableVariable("the state of the instance cannot be saved: it holds a value that is not data")

    def _derive(self, step: Step) -> None:
        """Side effects of the new state: features' (jobs, inbox rows, subscriptions), jobs whose task was left,
        the timer job, status, variables and the active elements."""
        workflow, instance, now = step.workflow, step.instance, utcnow()
        active_tasks = [t for t in spiff.tasks_in(workflow, spiff.ACTIVE_STATES) if spiff.is_element(t)]
        for feature in self.hooks.derive:
            feature.derive(step, active_tasks)

        # Jobs whose task was left (a boundary event fired, the instance was cancelled) are cancelled.
        started_ids = {str(t.id) for t in active_tasks if t.state == TaskState.STARTED}
        jobs = step.active_jobs()
        timer_job = None
        for job in jobs:
            if job.status == JOB_REVIEW:  # waiting for a person; left when its task was left
                if job.task_id not in started_ids:
                    job.status, job.updated_at = JOB_CANCELLED, now
                    for feature in self.hooks.job_left:
                        feature.job_left(step, job, JOB_REVIEW)
                continue
            if job.status == JOB_HELD:  # waits for a feature to release it; left like any other when its task is
                if job.kind == TIMER:
                    timer_job = job
                elif job.task_id not in started_ids:
                    job.status, job.updated_at = JOB_CANCELLED, now
                    for feature in self.hooks.job_left:
                        feature.job_left(step, job, JOB_HELD)
                continue
            if job.status not in ACTIVE_JOB_STATUSES:  # settled by this step's command
                continue
            if job.kind == TIMER:
                timer_job = job
            elif job.kind == SERVICE and job.task_id not in started_ids:  # (an outbox job outlives its task)
                status, job.status, job.updated_at = job.status, JOB_CANCELLED, now
                for feature in self.hooks.job_left:
                    feature.job_left(step, job, status)

        due = spiff.timer_due(workflow)
        for feature in self.hooks.next_timer:
            at = feature.next_timer(step)
            due = at if due is None or (at is not None and at < due) else due
        if due is not None and timer_job is None:
            timer_job = JobRecord.new(id=new_id(), instance_id=instance.id, kind=TIMER, due_at=due, max_attempts=1)
            step.records.append(timer_job)
            step.new_jobs.append(timer_job)
        elif due is not None and timer_job.due_at != due:
            timer_job.due_at, timer_job.updated_at = due, now
            step.new_jobs.append(timer_job)
        elif due is None and timer_job is not None:
            timer_job.status, timer_job.updated_at = JOB_CANCELLED, now
        if self.hooks.holds_jobs:
            self._hold_jobs(step, any(f.holds_jobs(step) for f in self.hooks.holds_jobs), now)

        if spiff.is_completed(workflow, active_tasks):
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
            for feature in self.hooks.instance_status:
                instance.status = feature.instance_status(step, instance.status)
            variables = {}
            for task in active_tasks:
                variables.update(task.data)
        instance.variables = variables
        describers = self.hooks.describe
        elements = []
        for t in active_tasks:
            element = {
                "elementId": t.task_spec.bpmn_id,
                "name": t.task_spec.bpmn_name,
                "type": t.task_spec.__class__.__name__,
                "state": _state_name(t.state),
                "taskId": str(t.id),
                "since": iso(spiff.entered_at(t)),
            }
            for feature in describers:
                feature.describe(step, t, element)
            elements.append(element)
        instance.active_elements = elements

    def _hold_jobs(self, step: Step, hold: bool, now) -> None:
        """Held: the instance's ready and locked jobs (also those made in this step) wait, unclaimable, and a
        worker still holding a lease finds it gone. Released: held jobs are ready again with their due time (a
        timer that fell due meanwhile fires at once) and go to the transport like new jobs."""
        jobs = [r for r in step.records if isinstance(r, JobRecord)]
        if hold:
            for job in jobs:
                if job.status in (JOB_READY, JOB_LOCKED):
                    job.status, job.updated_at = JOB_HELD, now
                    job.locked_by, job.lease_token, job.lock_expires_at = None, None, None
            step.new_jobs[:] = [j for j in step.new_jobs if j.status != JOB_HELD]
            step.leased_jobs.clear()
            return
        for job in jobs:
            if job.status == JOB_HELD:
                job.status, job.updated_at = JOB_READY, now
                job.dispatched_at = now if self.dispatcher.sends_after_commit else None
                step.new_jobs.append(job)

    def _save(self, step: Step) -> None:
        instance = step.instance
        try:
            instance.state = self.serializer.dump_state(step.workflow)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            raise self._unsavable_state(step) from exc
        problem = unsavable(instance.variables or {}, None)
        if problem is not None:  # name the element that set it, when this step's events tell
            raise unsavable(instance.variables, _setter(step, problem.variable)) or problem
        instance.revision = (instance.revision or 0) + 1
        instance.updated_at = utcnow()
        connection = step.connection
        write(connection, step.records)
        for feature in self.hooks.saved:
            feature.saved(step)
        if step.events:
            INSERT_EVENTS.execute_many(connection, step.events)
