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
tests/unit/test_spiff_adapter.py fails when an override of a SpiffWorkflow private method is missing from this list.

Two pieces of SpiffWorkflow are redone here for speed, with the same results (check both on an upgrade; the tests
compare them with the library's own):
- `do_engine_steps` is BpmnWorkflow's loop, finding READY tasks without walking the task tree (`ready_tasks`);
- `Task._set_state` is replaced, at import, by the same method that builds its log record only when the
  `spiff.task` logger would emit it (`_set_state_quietly`);
- `Workflow.update_waiting_tasks` (run after every completed task) is replaced, at import, by one that walks the
  tree only when a task of the workflow waits (`_update_waiting_tasks`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from SpiffWorkflow import task as spiff_task
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import NoneTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task, TaskState
from SpiffWorkflow.workflow import Workflow

from processes.core import clock

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


def is_completed(workflow: BpmnWorkflow, active: list) -> bool:
    """`workflow.is_completed()`, told tasks known to be in it: one of the workflow's own that is not finished
    answers it without walking the tree (the library looks for the first unfinished task depth first, past every
    finished one, each step)."""
    if not workflow.completed:
        for task in active:
            if task.workflow is workflow and task.state & TaskState.NOT_FINISHED_MASK:
                return False
    return workflow.is_completed()


# -- running the engine --------------------------------------------------------------------------------------------

# SpiffWorkflow's task iterator stops going deeper at depth 1000; a tree with fewer tasks than that can never be
# that deep, so below it the whole tree is what the iterator would see.
_ITERATOR_DEPTH = 1000


def do_engine_steps(workflow: BpmnWorkflow, did_complete_task: Callable[[Any], None]) -> None:
    """`workflow.do_engine_steps(did_complete_task=...)`: run every READY task that is not manual, again until none
    is left, then look at the timers. SpiffWorkflow finds the READY tasks by walking the whole task tree with its
    iterator, once for every pass over every workflow of the instance (about 20 walks an order, a tenth of the
    engine's CPU per step); `ready_tasks` finds the same tasks, in the same order, from the task dictionaries."""
    while _engine_pass(workflow, did_complete_task):
        pass
    workflow.refresh_timers()


def _engine_pass(workflow: BpmnWorkflow, did_complete_task: Callable[[Any], None]) -> bool:
    """SpiffWorkflow 3.2.0's BpmnWorkflow._do_engine_steps, line for line but for how READY tasks are found."""

    def update_workflow(wf) -> int:
        count = 0
        for task in ready_tasks(wf):
            if not task.task_spec.manual:
                task.run()
                count += 1
                did_complete_task(task)
        return count

    active_subprocesses = workflow.get_active_subprocesses()
    for subprocess in sorted(active_subprocesses, key=lambda v: v.depth, reverse=True):
        count = None
        while count is None or count > 0:
            count = update_workflow(subprocess)
        if subprocess.parent_task_id is not None:
            task = workflow.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    count = update_workflow(workflow)
    return count > 0 or len(workflow.get_active_subprocesses()) > len(active_subprocesses)


def ready_tasks(workflow) -> list:
    """What `workflow.get_tasks(state=TaskState.READY)` gives (the READY tasks its iterator meets walking from the
    workflow's root, depth first, into the subprocesses its tasks run), in that order, found in the task
    dictionaries: each READY task is placed by its path from the root, and left out where the iterator would not
    reach it."""
    top = workflow.top_workflow
    by_workflow = [top.tasks, *(sp.tasks for sp in top.subprocesses.values())]
    if sum(len(tasks) for tasks in by_workflow) >= _ITERATOR_DEPTH:
        return workflow.get_tasks(state=TaskState.READY)
    found = [t for tasks in by_workflow for t in tasks.values() if t._state & TaskState.READY]
    if not found:
        return found
    placed = []
    for task in found:
        path = _path_from(workflow.task_tree, task, top)
        if path is not None:
            placed.append((path, task))
    if len(placed) > 1:
        placed.sort(key=itemgetter(0))
    return [task for _, task in placed]


def _path_from(root, task, top) -> list[int] | None:
    """Where SpiffWorkflow's depth-first iterator meets `task` walking from `root`, as a key that sorts in the
    order it meets tasks: each step down is the child's position, or -1 into the subprocess a task runs (the
    iterator visits it before the task's children). None when the iterator never gets there: it does not go below
    a predicted task (MAYBE, LIKELY) that runs no subprocess."""
    subprocesses = top.subprocesses
    path: list[int] = []
    current = task
    while current is not root:
        parent_id = current._parent
        if parent_id is None:  # the root of a subprocess: go on from the task that runs it
            runs = current.workflow
            parent_id = getattr(runs, "parent_task_id", None)
            if parent_id is None or subprocesses.get(parent_id) is not runs or runs.task_tree is not current:
                return None
            parent = _task_by_id(top, parent_id)
            if parent is None:
                return None
            path.append(-1)
        else:
            parent = current.workflow.tasks.get(parent_id)
            if parent is None or not (parent._state >= TaskState.FUTURE or parent.id in subprocesses):
                return None
            try:
                path.append(parent._children.index(current.id))
            except ValueError:
                return None
        current = parent
    path.reverse()
    return path


def _task_by_id(top: BpmnWorkflow, task_id: UUID):
    for tasks in (top.tasks, *(sp.tasks for sp in top.subprocesses.values())):
        if task_id in tasks:
            return tasks[task_id]
    return None


_LIBRARY_SET_STATE = Task._set_state  # SpiffWorkflow's own, kept for the test that compares the two
_task_log = spiff_task.logger


def _set_state_quietly(self, value: int) -> None:
    """SpiffWorkflow 3.2.0's Task._set_state, but the log record (its message, the state's name, the task's extras)
    is built only when the logger would emit it: built for nothing, it cost about a fifth of running the engine."""
    if value != self.state:
        elapsed = time.time() - self.last_state_change
        self.last_state_change = time.time()
        self._state = value
        if _task_log.isEnabledFor(logging.INFO):
            _task_log.info(
                f"State changed to {TaskState.get_name(value)}",
                extra=self.collect_log_extras({"elapsed": elapsed}),
            )
    elif _task_log.isEnabledFor(logging.DEBUG):
        _task_log.debug(f"State set to {TaskState.get_name(value)}", extra=self.collect_log_extras())


Task._set_state = _set_state_quietly

_LIBRARY_UPDATE_WAITING_TASKS = Workflow.update_waiting_tasks


def _update_waiting_tasks(self) -> None:
    """SpiffWorkflow's Workflow.update_waiting_tasks, run after every task that completes: it walks the whole task
    tree to update the WAITING tasks it meets, so with no task waiting (most of the time) it changes nothing and
    the walk is skipped. (The walk changes the tree only through the waiting tasks it updates.)"""
    if any(task._state & TaskState.WAITING for task in self.tasks.values()):
        _LIBRARY_UPDATE_WAITING_TASKS(self)


Workflow.update_waiting_tasks = _update_waiting_tasks


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
    return clock.naive(datetime.fromtimestamp(parent.last_state_change, UTC))


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
    "do_engine_steps",
    "element_id",
    "encoder_class",
    "encoder_mode",
    "entered_at",
    "event_fired",
    "event_value",
    "find_task",
    "fire_due_timers",
    "instances",
    "is_completed",
    "is_element",
    "keep_saved_form",
    "plain_message",
    "predict",
    "ready_tasks",
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
