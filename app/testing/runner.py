"""Running scenarios: the real engine (orderflow's feature list, deployment, job layer and inbox) on an in-memory
SQLite database, with a virtual clock and a job executor that answers from the scenario instead of calling systems.

Only the edges differ from production: where the server hands a job to a connector, the runner answers with what
the scenario says the system answers; where the server's poller waits for the next timer or retry, the runner moves
the virtual clock to it. Everything between (steps, jobs, retries, incidents, reviews, messages, inbox rules) is the
code that runs live."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select
from sqlalchemy.pool import StaticPool

from app.features import build_engine
from app.migrations import upgrade
from app.testing.recorder import Arrival, CoverageRecorder
from app.testing.scenarios import Answer, Scenario, Step
from connectors.registry import RETRY_POLICIES, retry_policy
from inbox.tasks import complete_task
from processes.core import clock
from processes.core.clock import VirtualClock
from processes.core.db import make_engine, make_session_factory
from processes.core.engine import Engine, EngineSettings
from processes.core.models import ENDED_STATUSES, KIND_REVIEW, TASK_OPEN, HumanTask
from processes.core.transport import ClaimedJob
from processes.deployment.deployments import deploy
from processes.errors import Conflict, OrderflowError, ScenarioInvalid
from processes.features.messages import correlate
from processes.features.signals import broadcast
from processes.identity import Caller
from processes.instances import cancel_instance, get_instance, instance_events, start_instance
from processes.jobs.service import BpmnErrorThrown, JobFailed, JobNeedsReview, JobService

MAX_ROUNDS = 1000  # jobs and timer skips one scenario may take before the runner calls it a loop
MAX_TIMER_SKIPS = 200  # after the last step: timers the order may still wait for before it must have ended


class Stuck(Exception):
    """The order cannot get to where the scenario needs it (it ended, waits for something else, or loops)."""


@dataclass
class Outcome:
    """What one scenario's order did: the raw material of the checks and of coverage."""

    instance_id: str | None
    instance: dict[str, Any]
    arrivals: list[Arrival]
    events: list[dict[str, Any]]
    calls: list[str] = field(default_factory=list)  # "topic at element: answer kind", in order
    problem: str | None = None  # why the run itself stopped short (the order stuck, a step refused)


def _seconds(duration: str) -> float:
    parsed = TimerEventDefinition.parse_iso_duration(duration.strip())
    return TimerEventDefinition.get_timedelta_from_start(parsed).total_seconds()


class Runner:
    """One engine with the diagrams deployed; scenarios run one after another on it."""

    def __init__(self, files: Sequence[tuple[str, bytes]], like: EngineSettings | None = None):
        """`like`: the settings of the server this runs in (the modeler's run), whose expression limits and beans
        the scenarios get too; an engine sets the process's limits, so a run must not put the defaults back."""
        self.clock = VirtualClock()
        sql = make_engine("sqlite://", poolclass=StaticPool)
        upgrade(sql)
        self.recorder = CoverageRecorder()
        like = like or EngineSettings()
        settings = EngineSettings(
            # The connectors' own retry policies, as the server uses them (the diagram's cycle wins).
            retry_policy=lambda topic: tuple(retry_policy(topic)) if topic.split(".")[0] in RETRY_POLICIES else None,
            beans=like.beans,
            expression_seconds=like.expression_seconds,
            expression_steps=like.expression_steps,
            max_variables_bytes=like.max_variables_bytes,
            clock=self.clock,
        )
        self.engine: Engine = build_engine(make_session_factory(sql), settings=settings, observers=[self.recorder])
        self.jobs = JobService(self.engine, self._answer)
        self._scenario: Scenario | None = None
        self._calls: dict[str, int] = defaultdict(int)
        self._log: list[str] = []
        with clock.using(self.clock):
            deploy(self.engine, list(files))

    # -- the connectors' answers ---------------------------------------------------------------------------

    def _answer(self, job: ClaimedJob) -> dict[str, Any]:
        scenario = self._scenario
        answers = None
        for key in (job.element_id, job.topic):
            if scenario is not None and key in scenario.answers:
                answers = scenario.answers[key]
                break
        where = f"{job.topic} at {job.element_id}"
        if answers is None:
            self._log.append(f"{where}: no answer")
            raise JobFailed(f"the scenario gives no answer for topic '{job.topic}' (element {job.element_id})", False)
        key = job.element_id if scenario is not None and job.element_id in scenario.answers else job.topic
        answer: Answer = answers[min(self._calls[key], len(answers) - 1)]
        self._calls[key] += 1
        self._log.append(f"{where}: {answer.kind} {answer.code or answer.message}".rstrip())
        if answer.kind == "error":
            raise BpmnErrorThrown(answer.code, answer.message or answer.code, dict(answer.variables))
        if answer.kind == "fail":
            raise JobFailed(answer.message, retryable=True)
        if answer.kind == "discrepancy":
            raise JobNeedsReview(answer.code, answer.message, answer.asked, answer.got, dict(answer.variables))
        return dict(answer.variables)

    # -- moving the order on ---------------------------------------------------------------------------------

    def _run_due_jobs(self) -> bool:
        """Run every job due now, as the server's workers would. True when one ran."""
        claimed = self.jobs.claim("scenario-runner", limit=50)
        for job in claimed:
            try:
                self.jobs.run(job)
            except Conflict:  # a job of a task left meanwhile (a boundary event fired): refused, as in production
                continue
        return bool(claimed)

    def _drain(self) -> None:
        """Run what is due now, and what that makes due now, without moving the clock."""
        for _ in range(MAX_ROUNDS):
            if not self._run_due_jobs():
                return
        raise Stuck(f"jobs keep coming after {MAX_ROUNDS} (a loop?): {self._where()}")

    def _until(self, ready: Callable[[], bool], what: str, *, skip_timers: bool = True) -> None:
        """Run due jobs, and move the clock to the next timer or retry when nothing is due, until `ready()`."""
        for _ in range(MAX_ROUNDS):
            if ready():
                return
            if self._run_due_jobs():
                continue
            due = self.jobs.next_due()
            if due is None or not skip_timers:
                raise Stuck(f"{what}, but {self._where()}")
            self.clock.advance_to(due)
        raise Stuck(f"{what}, but it is still not there after {MAX_ROUNDS} jobs and timers (a loop?): {self._where()}")

    def _where(self) -> str:
        if self._instance_id is None:
            return "no order was started"
        instance = get_instance(self.engine, self._instance_id)
        if instance["status"] in ENDED_STATUSES:
            return f"the order is {instance['status']}"
        if instance.get("incidents"):
            first = instance["incidents"][0]
            return f"the order stopped with an incident at {first['elementId']}: {first['message']}"
        active = ", ".join(e["elementId"] for e in instance.get("activeElements") or []) or "nothing"
        return f"the order is {instance['status']} at {active}"

    def _open_task(self, element: str, kind: str) -> HumanTask | None:
        with self.engine.read_session() as session:
            query = select(HumanTask).where(
                HumanTask.element_id == element,
                HumanTask.status == TASK_OPEN,
                HumanTask.business_key == self._business_key,
            )
            query = (
                query.where(HumanTask.kind == KIND_REVIEW)
                if kind == "review"
                else query.where(HumanTask.kind != KIND_REVIEW)
            )
            return session.scalars(query.order_by(HumanTask.created_at)).first()

    def _active(self, element: str) -> bool:
        instance = get_instance(self.engine, self._instance_id)
        return any(e["elementId"] == element for e in instance.get("activeElements") or [])

    def _ended(self) -> bool:
        instance = get_instance(self.engine, self._instance_id)
        return instance["status"] in ENDED_STATUSES or bool(instance.get("incidents"))

    def _perform(self, step: Step) -> None:
        if step.kind in ("complete", "review"):
            self._complete(step)
            return
        if step.when:
            self._until(lambda: self._active(step.when), f"the scenario waits for {step.when}")
        else:
            self._drain()
        if step.kind == "wait":
            self._wait(timedelta(seconds=_seconds(step.target)))
        elif step.kind == "message":
            # By the scenario's business key, unless the step names a key of its own.
            business_key = step.business_key
            if business_key is None and step.correlation_key is None:
                business_key = self._business_key
            correlate(
                self.engine,
                step.target,
                business_key=business_key,
                correlation_key=step.correlation_key,
                variables=dict(step.variables),
                actor=step.by,
            )
        elif step.kind == "signal":
            broadcast(self.engine, step.target, dict(step.variables), actor=step.by)

    def _complete(self, step: Step) -> None:
        """A person completes a task through the inbox, with its checks: candidates, form, claimed by another."""
        what = f"the scenario completes {'the review of ' if step.kind == 'review' else ''}{step.target}"
        self._until(lambda: self._open_task(step.target, step.kind) is not None, what)
        row = self._open_task(step.target, step.kind)
        groups = frozenset(step.groups)
        # Without groups the tester acts as an admin; with them, only as one of the task's candidates may.
        caller = Caller(step.by, frozenset({"approver"} if groups else {"admin"}), groups)
        variables = {"accept": step.accept, **step.variables} if step.kind == "review" else step.variables
        complete_task(self.engine, row.id, dict(variables), step.by, caller=caller)

    def _wait(self, duration: timedelta) -> None:
        """Let `duration` pass: what falls due meanwhile runs at its due moment, in order."""
        target = self.clock.now() + duration
        while True:
            self._drain()
            due = self.jobs.next_due()
            if due is None or due > target:
                break
            self.clock.advance_to(due)
        self.clock.advance_to(target)
        self._drain()

    def _start(self, scenario: Scenario) -> str:
        if scenario.message:
            started = correlate(
                self.engine, scenario.message, business_key=scenario.business_key, variables=scenario.variables
            )
            return started["instanceId"]
        result = start_instance(
            self.engine, scenario.process, variables=scenario.variables, business_key=scenario.business_key
        )
        return result.instance["id"]

    def run(self, scenario: Scenario) -> Outcome:
        self._scenario, self._calls, self._log = scenario, defaultdict(int), []
        self._instance_id, self._business_key = None, scenario.business_key
        self.recorder.clear()
        problem = None
        with clock.using(self.clock):
            try:
                self._instance_id = self._start(scenario)
                for step in scenario.steps:
                    self._perform(step)
                # After the last step the order runs to its end (or an incident), timers skipped forward, unless
                # the scenario expects it to wait (then only what is due now runs: a boundary timer must not fire).
                if scenario.expect.status in ("waiting", "running", "suspended"):
                    self._drain()
                else:
                    self._until(self._ended, "the order should end")
            except Stuck as exc:
                problem = str(exc)
            except OrderflowError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            outcome = self._outcome(problem)
            self._cleanup()
        return outcome

    def _outcome(self, problem: str | None) -> Outcome:
        if self._instance_id is None:
            return Outcome(None, {}, list(self.recorder.arrivals), [], list(self._log), problem)
        return Outcome(
            instance_id=self._instance_id,
            instance=get_instance(self.engine, self._instance_id),
            arrivals=list(self.recorder.arrivals),
            events=instance_events(self.engine, self._instance_id),
            calls=list(self._log),
            problem=problem,
        )

    def _cleanup(self) -> None:
        """The next scenario starts on a clean slate: orders still open are cancelled (their jobs with them)."""
        if self._instance_id is None:
            return
        instance = get_instance(self.engine, self._instance_id)
        if instance["status"] not in ENDED_STATUSES:
            try:
                cancel_instance(self.engine, self._instance_id, actor="scenario-runner")
            except OrderflowError:
                pass


def read_files(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    files = []
    for path in paths:
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            raise ScenarioInvalid(f"{path}: cannot be read: {exc}") from exc
    return files
