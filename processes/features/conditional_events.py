"""Conditional events: intermediate catch, boundary (interrupting or not) and event-subprocess start events that fire
when a condition over the process variables becomes true (`<bpmn:conditionalEventDefinition>`).

As in Camunda, a condition is evaluated when its event is reached (the activity a boundary event sits on starts),
then again whenever the variables it can see change: after every engine step, and also right after a step's command
set variables (a job's result, a message), before the flow moves on. `camunda:variableName` limits that to one
variable and `camunda:variableEvents` ("create", "update", "delete") to those kinds of change. A condition that
reads a variable which does not exist yet is false, not an error (as Camunda 7 treats it); any other failure is an
incident on the event. Conditions go through the sandboxed expression layer (JUEL, FEEL or Python) with the
registered beans.

The variables an event sees are the process's current ones: those of every active element of its process and of the
embedded subprocesses inside it (a called process has its own)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import (
    ConditionalEventDefinition as SpiffConditionalEventDefinition,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.task import TaskState

from processes.core import spiff
from processes.core.feature import Feature
from processes.features.call_activities import MappedCallActivity

if TYPE_CHECKING:
    from processes.core.step import Step

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SEEN = "orderflow.conditionSeen"  # in the event's task: a fingerprint per variable at the last evaluation
FAILED = "orderflow.conditionFailed"  # in the event's task: why evaluating it on arrival failed
MET = "orderflow.conditionMet"  # in the event's task: the variables that met the condition, until it runs
VARIABLE_EVENTS = ("create", "update", "delete")
ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
_UNDEFINED = re.compile(r"(variable|name) '[^']+' is not defined")


class ScopedConditionalEventDefinition(SpiffConditionalEventDefinition):
    """SpiffWorkflow's conditional event, evaluated over the process's current variables; an undefined variable
    makes it false instead of failing. (Its own class name: SpiffWorkflow's serializer knows classes by name.)"""

    def __init__(self, expression: str, variable_name: str | None = None, variable_events=None, **kwargs):
        super().__init__(expression, **kwargs)
        self.variable_name = variable_name
        self.variable_events = list(variable_events) if variable_events else None

    def has_fired(self, my_task) -> bool:
        """Evaluates the condition when the event is reached. SpiffWorkflow asks again whenever a task of the same
        process completes, also inside a command (a job's result): then only `fire`'s verdict counts, since `fire`
        knows which variables changed, records it, and turns a failure into an incident instead of failing the
        command."""
        if spiff.event_fired(my_task):
            return True
        if SEEN in my_task.internal_data:
            return False
        variables = scope_variables(my_task)
        try:
            met = condition_met(my_task, self, variables)
        except WorkflowTaskException as exc:
            my_task.internal_data[FAILED] = str(exc)  # `fire` opens the incident
            return False
        my_task.internal_data[SEEN] = self.snapshot(variables)
        if met:
            my_task.internal_data[MET] = variables
            spiff.set_event_fired(my_task)
        return met

    def update_task_data(self, my_task) -> None:
        """When the event runs: its path goes on with the variables that met the condition."""
        my_task.data.update(my_task.internal_data.pop(MET, None) or {})

    def snapshot(self, variables: dict[str, Any]) -> dict[str, str]:
        names = [self.variable_name] if self.variable_name else list(variables)
        return {name: _fingerprint(variables[name]) for name in names if name in variables}

    def changed(self, before: dict[str, str] | None, now: dict[str, str]) -> bool:
        """Whether a change between two snapshots is one this event listens to."""
        if before is None:
            return True
        kinds = set(self.variable_events or VARIABLE_EVENTS)
        created, deleted = now.keys() - before.keys(), before.keys() - now.keys()
        updated = {name for name in now.keys() & before.keys() if now[name] != before[name]}
        return any(
            kind in kinds and names for kind, names in (("create", created), ("delete", deleted), ("update", updated))
        )


class ConditionalEventDefinitionConverter(TimerConditionalEventDefinitionConverter):
    def to_dict(self, event_definition) -> dict:
        dct = super().to_dict(event_definition)
        dct["variable_name"] = event_definition.variable_name
        dct["variable_events"] = event_definition.variable_events
        return dct


CONVERTERS = {ScopedConditionalEventDefinition: ConditionalEventDefinitionConverter}


class ConditionalEventParsing:
    """Mixed into the start, intermediate catch and boundary event parsers: conditional events become orderflow's,
    with Camunda 7's `camunda:variableName` and `camunda:variableEvents`."""

    def parse_conditional_event(self, event):
        parsed = super().parse_conditional_event(event)
        events = [e.strip() for e in (event.get(f"{{{CAMUNDA_NS}}}variableEvents") or "").split(",") if e.strip()]
        unknown = [e for e in events if e not in VARIABLE_EVENTS]
        if unknown:
            self.raise_validation_exception(
                f"camunda:variableEvents '{', '.join(unknown)}' is not one of create, update, delete"
            )
        return ScopedConditionalEventDefinition(
            (parsed.expression or "").strip(),
            variable_name=(event.get(f"{{{CAMUNDA_NS}}}variableName") or "").strip() or None,
            variable_events=events or None,
            description=parsed.description,
        )


def with_conditional_events(overrides: dict) -> dict:
    """Parser classes by tag, with the event parsers reading conditional events as orderflow runs them."""
    classes = dict(overrides)
    for local_name in ("startEvent", "intermediateCatchEvent", "boundaryEvent"):
        tag = f"{{{BPMN_NS}}}{local_name}"
        parser_class, spec_class = overrides.get(tag) or CamundaParser.OVERRIDE_PARSER_CLASSES[tag]
        if issubclass(parser_class, ConditionalEventParsing):
            continue
        reading = type(f"Conditional{parser_class.__name__}", (ConditionalEventParsing, parser_class), {})
        classes[tag] = (reading, spec_class)
    return classes


# -- evaluation -----------------------------------------------------------------------------------------------


def condition_met(task, definition: ScopedConditionalEventDefinition, variables: dict[str, Any]) -> bool:
    """The condition's value over `variables`; an undefined variable is false. Raises WorkflowTaskException."""
    try:
        value = task.workflow.script_engine.evaluate(task, definition.expression, external_context=variables)
    except WorkflowTaskException as exc:
        if _UNDEFINED.search(str(exc)):
            return False
        raise
    return value is True


def scope_variables(task) -> dict[str, Any]:
    """The current variables of the process `task` runs in: the data of its active elements and of those in its
    embedded subprocesses, the most recently changed last (so it wins)."""
    workflow = task.workflow
    top = workflow.top_workflow
    workflows = [workflow]
    for subprocess in top.subprocesses.values():
        if subprocess is workflow:
            continue
        inner = subprocess
        while inner is not None and inner is not workflow:
            caller = _caller(top, inner)
            if caller is None or isinstance(caller.task_spec, MappedCallActivity):  # a called process: its own scope
                inner = None
                break
            inner = caller.workflow
        if inner is workflow:
            workflows.append(subprocess)
    active = [t for w in workflows for t in w.tasks.values() if t.state & ACTIVE]
    active.sort(key=lambda t: t.last_state_change)
    variables: dict[str, Any] = {}
    for each in active:
        variables.update(each.data)
    return variables


def has_conditional_events(workflow) -> bool:
    """Whether the instance's specs have a conditional event at all (cached on the spec: most have none)."""
    spec = workflow.spec
    return spiff.spec_fact(
        spec,
        "conditional_events",
        lambda: any(
            isinstance(getattr(task_spec, "event_definition", None), ScopedConditionalEventDefinition)
            for s in (spec, *workflow.subprocess_specs.values())
            for task_spec in s.task_specs.values()
        ),
    )


def fire(step: Step) -> bool:
    """Within a step: evaluate the waiting conditional events whose variables changed; those whose condition is met
    fire (the engine then takes their path). Returns whether any fired."""
    workflow = step.workflow
    if step.incident is not None or not has_conditional_events(workflow):
        return False
    fired = False
    waiting = [t for w in (workflow, *workflow.subprocesses.values()) for t in w.tasks.values()]
    for task in waiting:
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state != TaskState.WAITING or not isinstance(definition, ScopedConditionalEventDefinition):
            continue
        failure = task.internal_data.pop(FAILED, None)
        if failure is not None:  # on arrival; evaluated again when an operator retries the incident
            step.open_incident("engine_error", f"condition of {task.task_spec.bpmn_id}: {failure}", task=task)
            return fired
        variables = scope_variables(task)
        now = definition.snapshot(variables)
        if not definition.changed(task.internal_data.get(SEEN), now):
            task.internal_data[SEEN] = now
            continue
        try:
            met = condition_met(task, definition, variables)
        except WorkflowTaskException as exc:
            step.open_incident("engine_error", f"condition of {task.task_spec.bpmn_id}: {exc}", task=task)
            return fired
        task.internal_data[SEEN] = now
        if met:
            _rearm(task, now)
            task.internal_data[MET] = variables
            spiff.set_event_fired(task)
            spiff.update(task)
            step.record("condition_met", task, {"condition": definition.expression})
            fired = True
    return fired


def interrupted(step: Step, task) -> bool:
    """Before a task completes with new variables: whether they meet an interrupting conditional boundary event on
    it, which then takes over (Camunda evaluates conditions when variables are set, before the task is left)."""
    if not has_conditional_events(step.workflow) or task.parent is None:
        return False
    fire(step)
    return any(
        isinstance(sibling.task_spec, BoundaryEvent)
        and sibling.task_spec.cancel_activity
        and sibling.state == TaskState.READY
        for sibling in task.parent.children
    )


def _rearm(task, seen: dict[str, str]) -> None:
    """A non-interrupting boundary event fires again at the next change that meets its condition, as in Camunda:
    a new waiting copy beside the one that fires, which evaluates only later changes."""
    spec = task.task_spec
    if not isinstance(spec, BoundaryEvent) or spec.cancel_activity:
        return
    again = spiff.add_child(task.parent, spec, TaskState.FUTURE)
    again.internal_data[SEEN] = seen
    spiff.predict(again, TaskState.FUTURE | TaskState.PREDICTED_MASK)  # its outgoing path, to take later
    spiff.update(again)


def _caller(top, subprocess):
    for tasks in (top.tasks, *(sp.tasks for sp in top.subprocesses.values())):
        if subprocess.parent_task_id in tasks:
            return tasks[subprocess.parent_task_id]
    return None


def _fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


class ConditionalEvents(Feature):
    """Conditional catch and boundary events (see the module's docstring)."""

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        return with_conditional_events(classes)

    def converters(self) -> dict:
        return CONVERTERS

    def before_run(self, step: Step) -> bool:
        return fire(step)

    def settle(self, step: Step) -> bool:
        return fire(step)

    def completing(self, step: Step, task) -> bool:
        return interrupted(step, task)  # the result met a conditional boundary event: it takes over
