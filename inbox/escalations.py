"""Escalation of user tasks by timer boundary events, as drawn.

An interrupting timer on a user task takes the task away (the flow goes where the diagram says, e.g. to a manager's
task). A non-interrupting one leaves the task open and may change it: the boundary event's properties
(`camunda:properties` / `zeebe:properties`) name what the task gets when the timer fires:
- `candidateGroups`: the task is offered to these groups instead (and given back by whoever had claimed it),
- `assignee`: the task goes to this person,
- `priority`: a new priority, or `+N` to raise it by N (a cycle timer raises it at every tick).
Values may be expressions, evaluated with the order's data. Every firing is in the audit trail: `task_escalated`
(interrupting, or a non-interrupting one that changed the task) or `task_reminder` (changed nothing)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from sqlalchemy import select, update

from inbox.projection import HUMAN_TASK_KEY, is_user_task
from inbox.values import names_of, priority_of, text_of
from processes.core.models import TASK_OPEN, HumanTask
from processes.core.spiff import event_value, find_task

if TYPE_CHECKING:
    from processes.core.step import Step

CHANGES = ("candidateGroups", "assignee", "priority")


def is_timer_boundary(task) -> bool:
    """A one-off timer boundary event: it completes when it fires. (A cycle fires without completing: see below.)"""
    spec = task.task_spec
    definition = getattr(spec, "event_definition", None)
    return (
        isinstance(spec, BoundaryEvent)
        and isinstance(definition, TimerEventDefinition)
        and not isinstance(definition, CycleTimerEventDefinition)
    )


def cycles_left(workflow) -> dict[str, int]:
    """Ticks left of each waiting cycle-timer boundary event (`R3/PT1H`): a tick starts its path but the event
    keeps waiting, so a tick is seen as this count going down across a timer check."""
    from SpiffWorkflow.util.task import TaskState

    left = {}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        spec = task.task_spec
        if isinstance(spec, BoundaryEvent) and isinstance(spec.event_definition, CycleTimerEventDefinition):
            value = event_value(task)
            left[str(task.id)] = value["cycles"] if value else -1  # not started counting yet
    return left


def after_timer_check(step: Step, before: dict[str, int]) -> None:
    """Escalate for every cycle timer that ticked during this timer check."""
    for task_id, cycles in cycles_left(step.workflow).items():
        previous = before.get(task_id, -1)
        if previous != -1 and cycles < previous:
            on_timer_boundary(step, find_task(step.workflow, task_id))


def _attached_user_task(task):
    for sibling in task.parent.children if task.parent is not None else []:
        if sibling is not task and is_user_task(sibling) and sibling.internal_data.get(HUMAN_TASK_KEY):
            return sibling
    return None


def on_timer_boundary(step: Step, task) -> None:
    """Called by the engine step when a timer boundary event completed (it fired)."""
    attached = _attached_user_task(task)
    if attached is None:
        return
    human_id = attached.internal_data[HUMAN_TASK_KEY]
    spec = task.task_spec
    data = {"taskId": human_id, "boundary": spec.bpmn_id, "interrupting": bool(spec.cancel_activity)}
    if spec.cancel_activity:
        step.record("task_escalated", attached, data)
        return
    wanted = {name: (spec.extensions or {}).get(name) for name in CHANGES}
    wanted = {name: value for name, value in wanted.items() if value not in (None, "")}
    row = step.connection.execute(
        select(HumanTask.priority, HumanTask.assignee, HumanTask.candidate_groups).where(
            HumanTask.id == human_id, HumanTask.status == TASK_OPEN
        )
    ).first()
    if not wanted or row is None:
        step.record("task_reminder", attached, data)
        return
    changes: dict[str, Any] = {}
    scope = attached.data
    if "candidateGroups" in wanted:
        changes["candidate_groups"] = names_of(wanted["candidateGroups"], scope)
        changes["assignee"] = None  # offered to the new groups: whoever had it gives it back
    if "assignee" in wanted:
        changes["assignee"] = text_of(wanted["assignee"], scope)
    if "priority" in wanted:
        text = str(wanted["priority"]).strip()
        raise_by = text.startswith("+")
        changes["priority"] = (row.priority if raise_by else 0) + priority_of(text.removeprefix("+"), scope)
    step.connection.execute(update(HumanTask).where(HumanTask.id == human_id).values(**changes))
    shown = {("candidateGroups" if k == "candidate_groups" else k): v for k, v in changes.items()}
    step.record("task_escalated", attached, {**data, "changes": json.loads(json.dumps(shown))})
