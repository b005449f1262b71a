"""The one adapter for SpiffWorkflow internals.

orderflow runs on SpiffWorkflow 3.2.0 (pinned). Where it must reach past the library's public API (private
attributes, methods with a leading underscore, attributes orderflow keeps on a workflow between calls), it does so
here and nowhere else, so an upgrade has this one file (and tests/unit/test_spiff_adapter.py) to check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import NoneTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState

ACTIVE_STATES = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR

# What orderflow keeps on a workflow object for the length of one step (never serialized).
INSTANCE_FACTS = "orderflow_instance"  # {"processInstanceId", "businessKey"}: what JUEL's `execution` sees
DECIDE = "orderflow_decide"  # how a business rule task asks for a decision: (task, key) -> outcome


class NoOpTask(NoneTask):
    """A plain `bpmn:task`: Camunda passes straight through it; SpiffWorkflow's NoneTask is manual and blocks."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


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


def element_id(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None) if task is not None else None


def data_changed(task) -> dict[str, Any]:
    """The variables a task set or changed, compared with its parent's."""
    parent = task.parent.data if task.parent is not None else {}
    return {k: v for k, v in task.data.items() if k not in parent or parent[k] != v}


def timer_due(workflow: BpmnWorkflow) -> datetime | None:
    """The earliest moment one of SpiffWorkflow's own timers is due (naive UTC), or None."""
    due = None
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


def plain_message(exc: Exception) -> str:
    """SpiffWorkflow's message plus its notes, without a stack trace."""
    message = str(exc.args[0]) if exc.args else exc.__class__.__name__
    notes = [n for n in getattr(exc, "__notes__", []) if n]
    task = getattr(exc, "task", None)
    where = f" at {task.task_spec.bpmn_id}" if task is not None and is_element(task) else ""
    return f"{message}{where}" + (f" ({'; '.join(notes)})" if notes else "")


def set_step_facts(workflow: BpmnWorkflow, facts: dict[str, Any]) -> None:
    """What JUEL's `execution` and the script engine read about the instance during this step."""
    setattr(workflow, INSTANCE_FACTS, facts)


def step_facts(task) -> dict[str, Any]:
    return getattr(task.workflow.top_workflow, INSTANCE_FACTS, None) or {}


def set_decide(workflow: BpmnWorkflow, decide) -> None:
    setattr(workflow, DECIDE, decide)


def decide_of(task):
    return getattr(task.workflow.top_workflow, DECIDE, None)


__all__ = [
    "ACTIVE_STATES",
    "NoOpTask",
    "SpiffWorkflowException",
    "TaskState",
    "data_changed",
    "decide_of",
    "element_id",
    "entered_at",
    "find_task",
    "is_element",
    "plain_message",
    "set_decide",
    "set_step_facts",
    "step_facts",
    "tasks_in",
    "timer_due",
]
