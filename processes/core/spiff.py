"""The one adapter for SpiffWorkflow internals.

orderflow runs on SpiffWorkflow 3.2.0 (pinned). Where it must reach past the library's public API (private
attributes, methods with a leading underscore, attributes orderflow keeps on a workflow between calls, facts it caches
per spec), it does so here and nowhere else, so an upgrade has this one file (and
tests/unit/test_spiff_adapter.py) to check.

Overrides of SpiffWorkflow's private hooks cannot move here (SpiffWorkflow calls them by name on orderflow's
subclasses); they call this module for anything private they touch. Check each one on an upgrade:
- `processes.features.multi_instance.MultiInstanceActivity._run_hook`: MultiInstanceTask's hook, run when the activity's
  task runs; ends with SpiffWorkflow's own (`run_hook_of`).
- `processes.features.multi_instance.MultiInstanceParsing._add_multiinstance_task`: TaskParser's, builds orderflow's
  multi-instance spec; copies the original spec's attributes with `copy_task_attrs`.
- `processes.features.decisions.DecisionTask._execute`: ScriptEngineTask's, evaluates the decision instead of a script.
- `processes.features.throw_events.HeldEndEvent._run_hook` and
  `processes.features.throw_events.HeldThrowEvent._run_hook`: ThrowingEvent's; an error, escalation, signal or
  message throw waits in STARTED (BpmnTaskSpec's hook runs, SpiffWorkflow's throw does not).
tests/unit/test_spiff_adapter.py fails when an override of a SpiffWorkflow private method is missing from this list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import NoneTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState

ACTIVE_STATES = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR

# What orderflow keeps on a workflow object for the length of one step (never serialized).
INSTANCE_FACTS = "orderflow_instance"  # {"processInstanceId", "businessKey"}: what JUEL's `execution` sees
DECIDE = "orderflow_decide"  # how a business rule task asks for a decision: (task, key) -> outcome
# What orderflow keeps on a workflow object for as long as it lives (never serialized).
SAVED = "orderflow_saved"  # processes/core/state_encoder.py's SavedForm: task ids as text, how the state is written


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


def fail_completed(workflow: BpmnWorkflow, task) -> None:
    """Undo a task that just completed (its children go, its data is its parent's again) and mark it failed
    (ERROR), as if its own work had raised: retrying an incident resets it and runs it again."""
    workflow.reset_from_task_id(task.id)
    task.error()


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


ALIGNED = "orderflow.timer_aligned"  # internal data: this timer's due moment was moved to the engine's clock


def _waiting_timers(workflow: BpmnWorkflow) -> list:
    """Tasks waiting on a timer event (SpiffWorkflow's event manager keeps every waiting catch event)."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    return [
        task
        for task in list(workflow.event_manager.tasks.values())
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)
    ]


def align_timers(workflow: BpmnWorkflow, lead: timedelta) -> None:
    """Move the due moment of timers reached in this step by `lead`, the engine clock's lead over the wall clock
    (SpiffWorkflow computes "wall now + duration" when a timer is reached). Each timer moves once; with the wall
    clock (no lead) nothing changes."""
    if not lead:
        return
    for task in _waiting_timers(workflow):
        value = task._get_internal_data("event_value")
        if not isinstance(value, str) or task._get_internal_data(ALIGNED, False):
            continue
        try:
            due = datetime.fromisoformat(value)
        except ValueError:
            continue
        task._set_internal_data(event_value=(due + lead).isoformat(), **{ALIGNED: True})


def fire_due_timers(workflow: BpmnWorkflow, now: datetime) -> None:
    """Fire the timers due by `now` (naive UTC, the engine's clock), then let SpiffWorkflow look at every timer
    again. With the wall clock this is what SpiffWorkflow's own `refresh_timers` does."""
    for task in _waiting_timers(workflow):
        value = task._get_internal_data("event_value")
        if not isinstance(value, str):
            continue
        try:
            due = datetime.fromisoformat(value)
        except ValueError:
            continue
        if due.tzinfo is not None:
            due = due.astimezone(UTC).replace(tzinfo=None)
        if due <= now:
            task._set_internal_data(event_fired=True)
    workflow.refresh_timers()


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


# -- facts cached per spec ---------------------------------------------------------------------------------------

_SPEC_FACTS: WeakKeyDictionary = WeakKeyDictionary()  # spec -> {fact name: value}; goes when the spec does


def spec_fact(spec, name: str, compute: Callable[[], Any]) -> Any:
    """A fact about a (never changing) spec, computed by `compute` on first use and then kept for the spec's
    lifetime, beside the spec rather than on it."""
    facts = _SPEC_FACTS.get(spec)
    if facts is None:
        facts = _SPEC_FACTS.setdefault(spec, {})
    if name not in facts:
        facts[name] = compute()
    return facts[name]


# -- tasks: internal data, events, the task tree -----------------------------------------------------------------


def event_fired(task) -> bool:
    """Whether SpiffWorkflow counts the task's catch event as fired (its `event_fired` internal data)."""
    return bool(task._get_internal_data("event_fired", False))


def set_event_fired(task) -> None:
    """Mark the task's catch event as fired, as SpiffWorkflow's event definitions do when they catch."""
    task._set_internal_data(event_fired=True)


def event_value(task) -> Any:
    """What SpiffWorkflow keeps of the task's event (a timer's due moment, a cycle's {"cycles", ...}), or None."""
    return task._get_internal_data("event_value")


def update(task) -> None:
    """Let SpiffWorkflow look at a task again after it changed from outside (an event caught, a child added): a
    fired event becomes READY, a predicted subtree grows."""
    task.task_spec._update(task)


def add_child(parent, task_spec, state: int):
    """A new child task of `parent` for `task_spec`, in `state`."""
    return parent._add_child(task_spec, state)


def predict(task, mask: int) -> None:
    """Predict the task's outgoing path (children in the states of `mask`), as a new workflow predicts its tree."""
    task.task_spec._predict(task, mask=mask)


def set_state(task, state: int) -> None:
    """Force a task into `state` (no hooks run)."""
    task._set_state(state)


def add_input(task_spec, name: str) -> None:
    """Make `name` one of the spec's inputs without making the spec one of its outputs."""
    if name not in task_spec._inputs:
        task_spec._inputs.append(name)


# -- subclasses of SpiffWorkflow's specs and parsers (see the module's docstring) --------------------------------


def instances(spec, my_task) -> Iterator:
    """The instance tasks of a multi-instance activity's task."""
    return spec._instances(my_task)


def run_hook_of(owner: type, spec, my_task) -> bool | None:
    """SpiffWorkflow's `_run_hook` as `super()` in `owner` (a TaskSpec subclass overriding it) would call it."""
    return super(owner, spec)._run_hook(my_task)


def create_event_task(parser, event_definition):
    """EventDefinitionParser: the parser's task spec for an event with `event_definition`."""
    return parser._create_task(event_definition)


def copy_task_attrs(parser, original, loop_characteristics) -> None:
    """TaskParser: give the parser's new task spec the inputs, outputs and other attributes of `original`."""
    parser._copy_task_attrs(original, loop_characteristics)


# -- serialization -----------------------------------------------------------------------------------------------


@contextmanager
def encoder_mode(registry) -> Iterator[None]:
    """The registry converts for a JSON encoder while inside (as BpmnWorkflowSerializer.serialize_json does), and
    no longer afterwards, also when converting failed."""
    registry._encoder_mode = True
    try:
        yield
    finally:
        registry._encoder_mode = False


def encoder_class(serializer) -> type:
    """The JSON encoder class a BpmnWorkflowSerializer made for its registry."""
    return serializer._encoder_cls


def child_ids(task) -> list[UUID]:
    """The ids of the task's children, as SpiffWorkflow keeps them (the list itself: read it, never change it)."""
    return task._children


def saved_form(workflow: BpmnWorkflow) -> Any:
    """What the state encoder kept on this workflow object since it was made or loaded, or None."""
    return getattr(workflow, SAVED, None)


def keep_saved_form(workflow: BpmnWorkflow, form: Any) -> None:
    setattr(workflow, SAVED, form)


__all__ = [
    "ACTIVE_STATES",
    "NoOpTask",
    "SpiffWorkflowException",
    "TaskState",
    "add_child",
    "align_timers",
    "add_input",
    "child_ids",
    "copy_task_attrs",
    "create_event_task",
    "data_changed",
    "fail_completed",
    "decide_of",
    "element_id",
    "encoder_class",
    "encoder_mode",
    "entered_at",
    "event_fired",
    "event_value",
    "find_task",
    "fire_due_timers",
    "instances",
    "is_element",
    "keep_saved_form",
    "plain_message",
    "predict",
    "run_hook_of",
    "saved_form",
    "set_decide",
    "set_event_fired",
    "set_state",
    "set_step_facts",
    "spec_fact",
    "step_facts",
    "tasks_in",
    "timer_due",
    "update",
]
