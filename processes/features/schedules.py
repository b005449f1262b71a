"""Timer start events: a process that starts itself on a schedule (`<bpmn:startEvent><bpmn:timerEventDefinition>`).

What a timer start event may say (evaluated once, at deploy; `${…}`/`=…` expressions see no variables):
- `timeDate`: once, at that moment (right away when it has passed);
- `timeDuration`: once, that long after the deploy;
- `timeCycle`, ISO 8601 repeating intervals: `R/PT10M` (every 10 minutes, forever), `R3/PT1H` (three times),
  `R/2026-01-05T09:00:00Z/P1D` (from that moment on, daily);
- `timeCycle`, cron: Camunda 7's Quartz form with seconds first and `?` (`0 0 9 * * ?`, `0 0/5 * ? * MON-FRI`,
  day-of-week 1 = Sunday, an optional year), Camunda 8's Spring form (six fields, seconds first, 0 or 7 = Sunday)
  and the plain five-field form. Which one a six-field expression is follows the diagram: Camunda 8 when it
  declares the zeebe namespace. Cron expressions are read by croniter; times are UTC.

A schedule is a job (kind `schedule`, no instance) in the same table, claimed, leased, swept and dispatched like
every other job. Running it is one engine step that starts the instance at that start event and moves the schedule
to its next tick, in one transaction, after checking the lease still holds: however many workers or schedulers
run, one tick starts one instance. A tick missed while nothing ran starts one instance late, not one per missed
tick. A newly deployed version of a process replaces the previous version's schedules (also when it has none)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from dateutil.relativedelta import relativedelta
from lxml import etree
from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from processes import expressions
from processes.core.engine import Engine
from processes.core.feature import Feature
from processes.core.models import (
    ACTIVE_JOB_STATUSES,
    JOB_CANCELLED,
    JOB_DONE,
    JOB_LOCKED,
    JOB_READY,
    SCHEDULE,
    Job,
    ProcessDefinition,
    iso,
    new_id,
    utcnow,
)
from processes.core.records import InstanceRecord, JobRecord, write
from processes.core.step import Step
from processes.core.transport import ClaimedJob
from processes.errors import Conflict, OrderflowError, Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
CAMUNDA7, CAMUNDA8 = "camunda7", "camunda8"
KINDS = ("timeCycle", "timeDate", "timeDuration")
_REPEAT = re.compile(r"^R(\d*)/(.+)$", re.IGNORECASE)
_QUARTZ_DAY = re.compile(r"\d+")


class ScheduleError(OrderflowError):
    """A timer start event orderflow cannot schedule; str() is a one-line message for an analyst."""

    status = 422
    title = "Timer cannot be scheduled"


@dataclass(frozen=True)
class TimerStart:
    process_key: str
    element_id: str
    kind: str  # timeCycle, timeDate or timeDuration
    text: str  # as drawn
    line: int | None
    flavour: str  # camunda7 or camunda8: how a six-field cron expression reads


def timer_starts(root: etree._Element) -> list[TimerStart]:
    """The timer start events of a diagram's executable processes (not those of subprocesses)."""
    flavour = CAMUNDA8 if ZEEBE_NS in root.nsmap.values() else CAMUNDA7
    found = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable", "true") == "false":
            continue
        for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
            definition = start.find(f"{{{BPMN_NS}}}timerEventDefinition")
            for kind in KINDS if definition is not None else ():
                element = definition.find(f"{{{BPMN_NS}}}{kind}")
                if element is not None:
                    text = (element.text or "").strip()
                    found.append(
                        TimerStart(process.get("id"), start.get("id"), kind, text, element.sourceline, flavour)
                    )
    return found


def strip_timer_starts(root: etree._Element) -> None:
    """For the copy SpiffWorkflow parses: a process's timer start events become plain start events (orderflow, not
    SpiffWorkflow, fires them), placed after its other start events so that a start by hand (REST, a message) takes
    those. The stored XML stays as drawn."""
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
            definition = start.find(f"{{{BPMN_NS}}}timerEventDefinition")
            if definition is not None:
                start.remove(definition)
                process.remove(start)
                process.append(start)


def lint(name: str, root: etree._Element) -> list[Problem]:
    """An error per timer start event that cannot be scheduled, at the line of its timer."""
    problems = []
    now = utcnow()
    for timer in timer_starts(root):
        try:
            first_tick(timer, now)
        except ScheduleError as exc:
            problems.append(Problem(message=str(exc), element_id=timer.element_id, file=name, line=timer.line))
    return problems


# -- when -------------------------------------------------------------------------------------------------------


def first_tick(timer: TimerStart, now: datetime) -> tuple[datetime, dict[str, Any]]:
    """The first moment an instance starts, and the schedule's state (kept in the job) to compute the next ones."""
    value = timer.text
    if not value:
        raise ScheduleError(f"{timer.kind} of the timer start event is empty")
    if expressions.dialect_of(value) != expressions.PYTHON:
        try:
            value = str(expressions.evaluate(value, {}))
        except expressions.ExpressionError as exc:
            raise ScheduleError(f"{timer.kind} '{timer.text}' cannot be evaluated at deploy: {exc}") from exc
    state: dict[str, Any] = {"kind": timer.kind, "text": timer.text, "value": value, "flavour": timer.flavour}
    if timer.kind == "timeDate":
        return max(_moment(value, timer.kind), now), state
    if timer.kind == "timeDuration":
        return _shift(now, _period(value, timer.kind), 1), state
    repeat = _REPEAT.match(value)
    if repeat is None:
        state["cron"] = _cron(value, timer.flavour)
        return _next_cron(state["cron"], now), state
    count, rest = repeat.groups()
    parts = rest.split("/")
    if len(parts) == 1:
        anchor, period, index = now, parts[0], 1
    elif len(parts) == 2 and not parts[0].upper().startswith("P"):
        anchor, period, index = _moment(parts[0], timer.kind), parts[1], 0
    else:
        raise ScheduleError(
            f"timeCycle '{value}': write R[n]/duration or R[n]/start/duration (e.g. R/PT1H, R3/2026-01-05T09:00Z/P1D)"
        )
    _period(period, timer.kind)
    # Each tick is anchor + n periods, so monthly ticks from the 31st land on the last day of shorter months and
    # never drift. A start in the past means the schedule has been running: it is joined at its next tick.
    state.update(anchor=anchor.isoformat(), period=period, index=_catch_up(anchor, period, index, now))
    state["remaining"] = int(count) if count else None
    return _shift(anchor, _period(period, timer.kind), state["index"]), state


def next_tick(state: dict[str, Any], tick: datetime, now: datetime) -> datetime | None:
    """The tick after `tick` (skipping those missed before `now`), or None when the schedule is over. Counts down a
    repeat count in `state`."""
    if state["kind"] != "timeCycle":
        return None
    if "cron" in state:
        return _next_cron(state["cron"], max(tick, now))
    if state.get("remaining") is not None:
        state["remaining"] -= 1
        if state["remaining"] <= 0:
            return None
    anchor = datetime.fromisoformat(state["anchor"])
    state["index"] = _catch_up(anchor, state["period"], state["index"] + 1, now)
    return _shift(anchor, _period(state["period"], "timeCycle"), state["index"])


def _catch_up(anchor: datetime, period: str, index: int, now: datetime) -> int:
    """The first tick number from `index` on that is not before `now`."""
    months, rest = _period(period, "timeCycle")
    if _shift(anchor, (months, rest), index) >= now:
        return index
    if not months:  # fixed length: jump there at once
        return max(index, math.ceil((now - anchor) / rest))
    while _shift(anchor, (months, rest), index) < now:
        index += 1
    return index


def _shift(moment: datetime, period: tuple[int, timedelta], times: int) -> datetime:
    months, rest = period
    return moment + relativedelta(months=months * times) + rest * times


def _moment(value: str, kind: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(f"{kind} '{value}' is not an ISO 8601 date and time (e.g. 2026-12-01T09:00:00Z)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _period(value: str, kind: str) -> tuple[int, timedelta]:
    """An ISO 8601 duration as (whole months, the fixed rest): years and months vary in length, the rest does not."""
    try:
        parsed = TimerEventDefinition.parse_iso_duration(value.strip())
    except Exception:
        raise ScheduleError(f"{kind} '{value}' is not an ISO 8601 duration (e.g. PT10M, P1D)") from None
    if not parsed:
        raise ScheduleError(f"{kind} '{value}' is not an ISO 8601 duration (e.g. PT10M, P1D)")
    months = parsed.pop("years", 0) * 12 + parsed.pop("months", 0)
    if months != int(months):
        raise ScheduleError(f"{kind} '{value}': years and months must be whole numbers")
    rest = timedelta(**parsed)
    if months < 0 or rest < timedelta(0) or (not months and rest == timedelta(0)):
        raise ScheduleError(f"{kind} '{value}' must be longer than zero")
    return int(months), rest


def _cron(value: str, flavour: str) -> dict[str, Any]:
    """A cron expression as croniter reads it: Quartz day-of-week numbers (1 = Sunday) shifted to cron's (0 =
    Sunday), seconds first for six and seven fields."""
    fields = value.split()
    seconds = len(fields) in (6, 7)
    if not (value.startswith("@") or len(fields) == 5 or seconds):
        raise ScheduleError(
            f"timeCycle '{value}' is neither an ISO repeating interval (R/PT10M) nor a cron expression "
            "(Camunda 7: '0 0 9 * * ?', Camunda 8: '0 0 9 * * MON-FRI', or five fields)"
        )
    if seconds and flavour == CAMUNDA7:
        fields[5] = _QUARTZ_DAY.sub(lambda m: str(int(m.group()) - 1), _quartz_last_day(fields[5]))
    expression = " ".join(fields)
    try:
        croniter(expression, utcnow(), second_at_beginning=seconds).get_next(datetime)
    except Exception as exc:
        raise ScheduleError(f"timeCycle '{value}' is not a cron expression orderflow can run: {exc}") from None
    return {"expression": expression, "seconds": seconds}


def _quartz_last_day(days: str) -> str:
    """Quartz writes the last Friday of the month `6L`; croniter `L5` (after the shift, so `L6` here)."""
    return re.sub(r"^(\d)L$", r"L\1", days)


def _next_cron(cron: dict[str, Any], after: datetime) -> datetime:
    return croniter(cron["expression"], after, second_at_beginning=cron["seconds"]).get_next(datetime)


# -- deploying ----------------------------------------------------------------------------------------------------


def replace(session: Session, definition_id: str, key: str, root: etree._Element) -> list[JobRecord]:
    """Within a deploy: the new version `definition_id` of process `key` takes over its schedules. The previous
    versions' schedules are cancelled; one job per timer start event of the new version is written. Returns them, to
    hand to the job transport after commit."""
    now = utcnow()
    previous = session.scalars(
        select(Job).where(Job.kind == SCHEDULE, Job.status.in_(ACTIVE_JOB_STATUSES)).with_for_update()
    )
    for job in previous:
        if (job.variables or {}).get("processKey") == key:
            job.status, job.updated_at = JOB_CANCELLED, now
    jobs = []
    for timer in timer_starts(root):
        if timer.process_key != key:
            continue
        tick, state = first_tick(timer, now)
        jobs.append(
            JobRecord.new(
                id=new_id(),
                instance_id=None,
                kind=SCHEDULE,
                element_id=timer.element_id,
                due_at=tick,
                max_attempts=1,
                variables={**state, "processKey": key, "definitionId": definition_id},
            )
        )
    session.flush()
    write(session.connection(), jobs)
    return jobs


# -- firing -------------------------------------------------------------------------------------------------------


def fire(engine: Engine, claimed: ClaimedJob) -> str:
    """Start the instance of a due schedule and move the schedule on, in one engine step. Raises Conflict when the
    worker no longer holds the schedule (another one fired it, or a new version replaced it). Returns the instance."""
    state = dict(claimed.variables)
    held: dict[str, Any] = {}

    def create(connection):
        now = utcnow()
        found = JobRecord.load(connection, Job.id == claimed.id, for_update=True)
        row = found[0] if found else None
        if row is None or row.status != JOB_LOCKED or row.lease_token != claimed.lease_token:
            raise Conflict(f"schedule {claimed.id} is no longer held by this worker (fired or replaced meanwhile)")
        if row.lock_expires_at is not None and row.lock_expires_at < now:
            raise Conflict(f"schedule {claimed.id}: the lease expired before it fired")
        definition = connection.execute(
            select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version).where(
                ProcessDefinition.id == state["definitionId"]
            )
        ).one()
        instance = InstanceRecord.new(
            id=engine.dispatcher.order_id(),
            definition_id=definition.id,
            process_key=definition.key,
            definition_version=definition.version,
            business_key=None,
            # The tick's own key: even a second firing of the same tick could not start a second instance.
            idempotency_key=f"schedule:{row.id}:{iso(row.due_at)}",
            status="running",
            revision=0,
            state="",
        )
        held.update(row=row, now=now)
        return instance, engine.new_workflow(connection, definition.id)

    def started(step: Step) -> None:
        row, now = held["row"], held["now"]
        _start_at(step, claimed.element_id)
        step.record(
            "instance_started",
            data={"startEvent": claimed.element_id, "timer": state.get("text"), "scheduledFor": iso(row.due_at)},
            element_id=claimed.element_id,
        )
        following = next_tick(state, row.due_at, now)
        row.locked_by, row.lease_token, row.lock_expires_at, row.updated_at = None, None, None, now
        if following is None:
            row.status = JOB_DONE
        else:
            row.status, row.due_at, row.variables, row.dispatched_at = JOB_READY, following, state, None
            step.new_jobs.append(row)
        step.records.append(row)

    step = engine.step(None, started, actor="timer", create=create)
    return step.instance.id


def _start_at(step: Step, element_id: str | None) -> None:
    """Only the timer's start event starts this instance: the process's other start events are left out."""
    workflow = step.workflow
    for task in list(workflow.tasks.values()):
        spec = task.task_spec
        if isinstance(spec, StartEvent) and spec.bpmn_id != element_id and not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()


class TimerStarts(Feature):
    """Timer start events: orderflow fires them itself, one instance per tick (see the module's docstring)."""

    def prepare_xml(self, root: etree._Element) -> None:
        strip_timer_starts(root)

    def lint(self, loaded) -> list[Problem]:
        return lint(loaded.name, loaded.root)

    def run_job(self, engine: Engine, job: ClaimedJob) -> bool:
        if job.kind != SCHEDULE:
            return False
        fire(engine, job)  # start the instance, move the schedule on
        return True
