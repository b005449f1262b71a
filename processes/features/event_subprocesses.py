"""Event subprocesses that start on a message or a condition, as Camunda runs them.

SpiffWorkflow 3.2 starts a message event subprocess only when the message is thrown inside the top-level process. It
never starts one drawn in an embedded subprocess, never interrupts the rest of the scope (`isInterrupting` is ignored),
and hands it the variables its scope started with. Camunda starts one whenever its scope is active and the message
arrives. An interrupting one (the default) first cancels everything else in its scope, jobs and inbox tasks included.
A non-interrupting one runs beside the rest, once per message. Either one sees the scope's variables as they are at
that moment.

So orderflow does it: every step subscribes each active scope to the messages its event subprocesses start on
(`subscriptions`, written with the other message subscriptions), and `deliver` starts the event subprocess in the
engine step that routes such a message. A conditional start is looked at when its scope is active and the variables
it listens to changed (`fire_conditions`, with the conditional events of conditional_events.py); when its
condition is true the event subprocess starts in that step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.serializer.helpers.spec import EventDefinitionConverter
from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.parser.event_parsers import CamundaStartEventParser
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.task import TaskState

from processes import expressions
from processes.core import clock, spiff
from processes.core.feature import Feature
from processes.deployment.parser import _problem
from processes.features.conditional_events import (
    MET,
    ScopedConditionalEventDefinition,
    condition_met,
    has_conditional_events,
)

if TYPE_CHECKING:
    from processes.core.step import Step

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

# A message subscription of an event subprocess names its scope, "esp:<parent task id, 32 hex digits>" or "esp:top"
# (the column holds 36 characters); the message name tells which of the scope's event subprocesses it starts.
PREFIX = "esp:"
TOP = "top"  # the scope id of the process itself
INTERRUPTING = "interrupting"  # in an event subprocess start event's extensions
CONDITIONS_SEEN = "orderflow.esp.conditionsSeen"  # in a scope's root task: each conditional start's last snapshot
INTERRUPTED = "orderflow.interrupted"  # in a scope's root task internal data, once an interrupting one started
OPEN = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE | TaskState.READY | TaskState.STARTED | TaskState.WAITING
SEEN = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING


class ScopeTrigger(EventDefinition):
    """The start of an event subprocess that starts on an error, an escalation, a signal or a timer. SpiffWorkflow
    would start such an event subprocess itself (timers with its scope, errors and signals without interrupting, only
    at the top level) or not at all (error and escalation starts are parsed as none starts); orderflow starts it
    instead, so this definition never matches an event SpiffWorkflow throws. `kind` is error, escalation, signal or
    timer; `code` the error or escalation code (None: every one), `name` the signal's name, `timer` the timer's text."""

    def __init__(self, name=None, kind: str = "", code=None, timer=None, variables=None, description=None):
        super().__init__(name, description)
        self.kind, self.code, self.timer, self.variables = kind, code, timer, dict(variables or {})

    def catches(self, my_task, event) -> bool:
        return False

    def __eq__(self, other) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class ScopeTriggerConverter(EventDefinitionConverter):
    def to_dict(self, event_definition) -> dict:
        dct = super().to_dict(event_definition)
        dct.update(
            kind=event_definition.kind,
            code=event_definition.code,
            timer=event_definition.timer,
            variables=event_definition.variables,
        )
        return dct


def _trigger_of(definition, node) -> ScopeTrigger | None:
    """The ScopeTrigger for a parsed start event definition of an event subprocess, or None for one SpiffWorkflow
    (message) or orderflow's conditional events run."""
    error = node.find(f"{{{BPMN_NS}}}errorEventDefinition")
    escalation = node.find(f"{{{BPMN_NS}}}escalationEventDefinition")
    variables = {}
    for found in (error, escalation):
        if found is None:
            continue
        for attribute in ("errorCodeVariable", "errorMessageVariable", "escalationCodeVariable"):
            value = found.get(f"{{{CAMUNDA_NS}}}{attribute}")
            if value:
                variables[attribute] = value
    if isinstance(definition, ErrorEventDefinition) or error is not None:
        code = definition.code if isinstance(definition, ErrorEventDefinition) else _code(node, error, "error")
        return ScopeTrigger(getattr(definition, "name", None), "error", code, variables=variables)
    if isinstance(definition, EscalationEventDefinition) or escalation is not None:
        code = _code(node, escalation, "escalation")
        return ScopeTrigger(None, "escalation", code, variables=variables)
    if isinstance(definition, SignalEventDefinition):
        return ScopeTrigger(definition.name, "signal")
    if isinstance(definition, TimerEventDefinition):
        kind = definition.__class__.__name__.removesuffix("EventDefinition")
        return ScopeTrigger(definition.name, "timer", kind, timer=definition.expression)
    return None


def _code(node, definition, kind: str) -> str | None:
    """The code an error or escalation start catches (SpiffWorkflow parses neither on start events)."""
    ref = definition.get(f"{kind}Ref")
    if not ref:
        return None
    for candidate in node.getroottree().getroot().iter(f"{{{BPMN_NS}}}{kind}"):
        if candidate.get("id") == ref:
            return candidate.get(f"{kind}Code") or None
    return None


def with_event_subprocesses(classes: dict, start_event_tag: str) -> dict:
    """Parser classes whose start events remember whether they interrupt (SpiffWorkflow drops `isInterrupting`),
    and whose error, escalation, signal and timer starts of event subprocesses orderflow runs (`ScopeTrigger`)."""
    parser_class, spec_class = classes.get(start_event_tag, (CamundaStartEventParser, StartEvent))

    class InterruptingStartEventParser(parser_class):
        def create_task(self):
            parent = self.node.getparent()
            if parent is None or parent.get("triggeredByEvent") != "true":
                return super().create_task()
            definition = self.get_event_definition(
                [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH]
            )
            trigger = _trigger_of(definition, self.node)
            task = spiff.create_event_task(self, trigger or definition)
            self.spec.start.connect(task)
            return task

        def parse_extensions(self, node=None) -> dict:
            extensions = super().parse_extensions(node)
            node = self.node if node is None else node
            parent = node.getparent()
            if parent is not None and parent.get("triggeredByEvent") == "true":
                extensions[INTERRUPTING] = node.get("isInterrupting", "true") != "false"
                if node.find(f"{{{BPMN_NS}}}errorEventDefinition") is not None:
                    extensions[INTERRUPTING] = True  # BPMN: an error start event always interrupts
            return extensions

    return {**classes, start_event_tag: (InterruptingStartEventParser, spec_class)}


def connect_ends(specs: list) -> None:
    """At deploy: connect each message event subprocess to its scope, as SpiffWorkflow does when it starts one itself,
    so that the scope ends when the event subprocess does. Done once here, never on a shared cached spec."""
    for spec in specs:
        for name in getattr(spec.start, "trigger_specs", None) or []:
            task_spec = spec.task_specs.get(name)
            if task_spec is None:
                continue
            if spec.end not in task_spec.outputs:
                task_spec.connect(spec.end)
            # An input, but not an output of the scope's start: it starts when its message comes, not with the scope.
            spiff.add_input(task_spec, spec.start.name)


def _starts(scope, kind: type) -> list[tuple[str, Any]]:
    """(event subprocess name, its start event spec) for the event subprocesses of a scope starting on `kind`."""
    found = []
    specs = scope.top_workflow.subprocess_specs
    for name in getattr(scope.spec.start, "trigger_specs", None) or []:
        sub_spec = specs.get(name)
        for start in getattr(sub_spec, "bpmn_start_events", None) or []:
            if isinstance(getattr(start, "event_definition", None), kind):
                found.append((name, start))
    return found


def _message_starts(scope) -> list[tuple[str, Any]]:
    return _starts(scope, CamundaMessageEventDefinition)


def has_event_subprocesses(workflow) -> bool:
    """Whether any scope of the instance can start an event subprocess (cached on the spec: most cannot). Without,
    every scope's starts are empty, so the scopes need not be looked for (each look walks the task tree)."""
    spec = workflow.spec
    return spiff.spec_fact(
        spec,
        "event_subprocesses",
        lambda: any(getattr(s.start, "trigger_specs", None) for s in (spec, *workflow.subprocess_specs.values())),
    )


def scopes_with_starts(workflow) -> list[tuple[str, Any]]:
    """Like `scopes`, but none when no scope has an event subprocess to start: for callers that look only at
    the scopes' event subprocess starts."""
    return _scopes(workflow) if has_event_subprocesses(workflow) else []


def _scopes(workflow) -> list[tuple[str, Any]]:
    """The active scopes of an instance, with their ids: the process, and every subprocess that is running."""
    scopes = [] if workflow.is_completed() else [(TOP, workflow)]
    for task_id, sub in workflow.subprocesses.items():
        parent = _task(workflow, task_id)
        if parent is not None and parent.state == TaskState.STARTED and not sub.is_completed():
            scopes.append((task_id.hex, sub))
    return scopes


def _task(workflow, task_id: UUID):
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
        if task_id in tasks:
            return tasks[task_id]
    return None


def subscriptions(workflow) -> list[dict[str, Any]]:
    """What the event subprocesses of the active scopes wait for, in the shape of messages.waiting_messages."""
    waits = []
    for scope_id, scope in scopes_with_starts(workflow):
        starts = _message_starts(scope)
        if not starts or scope.task_tree.internal_data.get(INTERRUPTED):
            continue
        for _name, start in starts:
            waits.append(
                {
                    "message_name": start.event_definition.name,
                    "correlation_key": _correlation_key(start, scope),
                    "task_id": f"{PREFIX}{scope_id}",
                    "element_id": start.bpmn_id,
                }
            )
    return waits


def _correlation_key(start, scope) -> str | None:
    expression = (getattr(start, "extensions", None) or {}).get("correlationKey")
    if not expression:
        return None
    variables: dict[str, Any] = {}
    for task in scope.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
        variables.update(task.data)
    try:
        key = expressions.evaluate(expression, variables)
    except expressions.ExpressionError:
        return None  # not computable yet: only the business key reaches it
    return None if key is None else str(key)


def deliver(step: Step, subscription: str, name: str, variables: dict[str, Any]) -> bool:
    """Start the event subprocess a message subscription stands for; False when its scope no longer waits for it."""
    scope = _scope(step.workflow, subscription[len(PREFIX) :])
    if scope is None or scope.task_tree.internal_data.get(INTERRUPTED):
        return False
    found = next(((n, s) for n, s in _message_starts(scope) if s.event_definition.name == name), None)
    if found is None:
        return False
    esp_name, start = found
    start_task = _start(step, scope, esp_name, start, {"message": name})
    if start_task is None:
        return False
    definition = start.event_definition
    definition.catch(start_task, BpmnEvent(definition, payload=dict(variables)))
    spiff.update(start_task)
    step.record("message_received", start_task, {"message": name, "variables": variables})
    return True


def _start(step: Step, scope, esp_name: str, start, why: dict[str, Any]):
    """Start event subprocess `esp_name` of `scope` (interrupting the rest of the scope if it does); its start
    event's task, still waiting for the caller to fire it, or None."""
    current = current_variables(scope)
    interrupting = (start.extensions or {}).get(INTERRUPTING, True)
    cancelled = []
    if interrupting:
        scope.task_tree.internal_data[INTERRUPTED] = True
        cancelled = _cancel_open_work(scope)
    esp_task = spiff.add_child(scope.task_tree, scope.spec.task_specs[esp_name], TaskState.FUTURE)
    esp_task.triggered = True
    # Its way to the scope's end, predicted as a new workflow predicts its tree, so the scope ends when it does.
    spiff.predict(esp_task, TaskState.NOT_FINISHED_MASK)
    spiff.update(esp_task)
    sub = step.workflow.subprocesses.get(esp_task.id)
    start_task = next((t for t in (sub.tasks.values() if sub else []) if t.task_spec.name == start.name), None)
    if start_task is None:
        return None
    step.record("event_subprocess_started", esp_task, {**why, "interrupting": interrupting, "cancelled": cancelled})
    # Camunda: the event subprocess works on its scope's variables as they are now, not as the scope started (the
    # start event inherits from the event subprocess's root, so that gets them too).
    for task in (esp_task, sub.task_tree, start_task):
        task.data.update(current)
    return start_task


def fire_conditions(step: Step) -> bool:
    """Within a step: start the event subprocesses of active scopes whose conditional start's condition is true,
    looked at when the scope is first seen and whenever the variables it listens to changed. Returns whether any
    started. A condition that fails is an incident."""
    if step.incident is not None or not has_conditional_events(step.workflow):
        return False
    started = False
    for _scope_id, scope in _scopes(step.workflow):
        starts = _starts(scope, ScopedConditionalEventDefinition)
        if not starts or scope.task_tree.internal_data.get(INTERRUPTED):
            continue
        variables = current_variables(scope)
        seen = scope.task_tree.internal_data.setdefault(CONDITIONS_SEEN, {})
        for esp_name, start in starts:
            definition = start.event_definition
            now = definition.snapshot(variables)
            if esp_name in seen and not definition.changed(seen[esp_name], now):
                continue
            seen[esp_name] = now
            try:
                met = condition_met(scope.task_tree, definition, variables)
            except WorkflowTaskException as exc:
                step.open_incident("engine_error", f"condition of {start.bpmn_id}: {exc}")
                return started
            if not met:
                continue
            start_task = _start(step, scope, esp_name, start, {"condition": definition.expression})
            if start_task is None:
                continue
            start_task.internal_data[MET] = variables
            spiff.set_event_fired(start_task)
            spiff.update(start_task)
            step.record("condition_met", start_task, {"condition": definition.expression})
            started = True
            if scope.task_tree.internal_data.get(INTERRUPTED):
                break  # the rest of the scope is cancelled: nothing else of it starts
    return started


def _scope(workflow, scope_id: str):
    if scope_id == TOP:
        return None if workflow.is_completed() else workflow
    try:
        sub = workflow.subprocesses.get(UUID(scope_id))
    except ValueError:
        return None
    return None if sub is None or sub.is_completed() else sub


def current_variables(scope) -> dict[str, Any]:
    """The scope's variables now: what its start got, then each change its tasks (and those of its running
    subprocesses) made, in the order they made them. Parallel branches each add their own changes."""
    tasks = []
    for workflow in _within(scope):
        tasks.extend(t for t in workflow.tasks.values() if t.state & SEEN and t.parent is not None)
    variables = dict(scope.task_tree.data)
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        parent = task.parent.data
        variables.update({k: v for k, v in task.data.items() if k not in parent or parent[k] != v})
    return variables


def _within(scope) -> list:
    """The scope's workflow and the subprocesses running inside it, at any depth."""
    found = [scope]
    top = scope.top_workflow
    for sub in top.subprocesses.values():
        owner = sub
        while owner is not None and owner is not scope and owner is not top:
            owner = owner.parent_workflow
        if owner is scope and sub is not scope:
            found.append(sub)
    return found


def _cancel_open_work(scope) -> list[str]:
    """Cancel everything still open in the scope (subprocesses with what runs in them); the drawn elements that
    were cancelled."""
    cancelled = []
    for task in list(scope.tasks.values()):
        if task.state & OPEN and task.parent is not None and not task.parent.state & OPEN:
            cancelled.extend(
                t.task_spec.bpmn_id
                for t in _subtree(task)
                if t.state & (TaskState.READY | TaskState.STARTED | TaskState.WAITING)
                and getattr(t.task_spec, "bpmn_id", None)
            )
            task.cancel()
    return sorted(set(cancelled))


def _subtree(task) -> list:
    found, stack = [], [task]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.children)
    return found


class EventSubprocesses(Feature):
    """Event subprocesses that start on a message or a condition (see the module's docstring); `messages` routes
    their messages."""

    def parser_classes(self, classes: dict, defaults: dict) -> dict:
        return with_event_subprocesses(classes, full_tag("startEvent"))

    def converters(self) -> dict:
        return {ScopeTrigger: ScopeTriggerConverter}

    def lint(self, loaded) -> list:
        return lint_timers(loaded)

    def prepare_specs(self, specs: list, roots) -> None:
        connect_ends(specs)

    def before_run(self, step: Step) -> bool:
        return fire_conditions(step)

    def derive(self, step: Step, active_tasks: list) -> None:
        arm_timers(step)

    def next_timer(self, step: Step) -> datetime | None:
        return next_timer(step)

    def after_timers(self, step: Step, before: Any) -> None:
        fire_timers(step)

    def settle(self, step: Step) -> bool:
        return fire_conditions(step)


# -- error, escalation, signal and timer starts (ScopeTrigger) ------------------------------------------------------

TIMERS = "orderflow.esp.timers"  # in a scope's root task: each timer start's next due moment and the cycles left


def triggers(scope, kind: str) -> list[tuple[str, Any]]:
    """(event subprocess name, start event spec) of the scope's event subprocesses that start on `kind`, none when an
    interrupting one already started there."""
    if scope.task_tree.internal_data.get(INTERRUPTED):
        return []
    return [(n, s) for n, s in _starts(scope, ScopeTrigger) if s.event_definition.kind == kind]


def catching(scope, kind: str, code: str | None) -> tuple[str, Any] | None:
    """The event subprocess of the scope that catches an error or escalation with `code`: one for exactly that code
    first, else one that catches every code (BPMN)."""
    found = triggers(scope, kind)
    exact = [f for f in found if f[1].event_definition.code is not None and f[1].event_definition.code == code]
    every = [f for f in found if f[1].event_definition.code is None]
    return (exact or every or [None])[0]


def start_triggered(step: Step, scope, esp_name: str, start, why: dict[str, Any], variables: dict | None = None):
    """Start event subprocess `esp_name` of `scope` for its ScopeTrigger start event, with `variables` on its start;
    the start event's task, fired, or None."""
    start_task = _start(step, scope, esp_name, start, why)
    if start_task is None:
        return None
    start_task.data.update(variables or {})
    spiff.set_event_fired(start_task)
    spiff.update(start_task)
    return start_task


def scopes(workflow) -> list[tuple[str, Any]]:
    """The active scopes of an instance, with their ids: the process, and every subprocess that is running."""
    return _scopes(workflow)


def arm_timers(step: Step) -> None:
    """Within a step: give each active scope's timer starts their due moment when the scope is first seen (a
    duration counts from then); a scope that ended takes its timers with it."""
    for _scope_id, scope in scopes_with_starts(step.workflow):
        starts = triggers(scope, "timer")
        if not starts:
            continue
        armed = scope.task_tree.internal_data.setdefault(TIMERS, {})
        for esp_name, start in starts:
            if esp_name in armed:
                continue
            try:
                armed[esp_name] = _first_tick(start.event_definition, current_variables(scope))
            except Exception as exc:  # noqa: BLE001 - any bad timer text is the diagram's problem: an incident
                armed[esp_name] = {"due": None}
                step.open_incident("timer_error", f"timer of {start.bpmn_id}: {exc}")
                return


def _first_tick(definition: ScopeTrigger, variables: dict[str, Any]) -> dict[str, Any]:
    return _tick(definition.code, expressions.evaluate(definition.timer or "", variables))


def _tick(kind: str | None, value: Any) -> dict[str, Any]:
    """The first due moment of a timer (`kind` TimeDate, DurationTimer or CycleTimer) with this value."""
    now = clock.now().replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return {"due": _naive(value)}
    text = str(value).strip()
    if kind == "CycleTimer" or text.upper().startswith("R"):
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(text)
        return {"due": _naive(start), "left": cycles, "every": duration.total_seconds()}
    if text.upper().startswith("P"):
        delta = TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(text), now)
        return {"due": _naive(now + delta)}
    return {"due": _naive(TimerEventDefinition.get_datetime(text))}


def _naive(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


TIMER_KINDS = {"timeDate": "TimeDate", "timeDuration": "DurationTimer", "timeCycle": "CycleTimer"}


def lint_timers(loaded) -> list:
    """A timer start of an event subprocess whose date, duration or cycle is written out (not an expression) and is
    not one orderflow can schedule: refused, naming the start event."""
    problems = []
    for subprocess in loaded.root.iter(f"{{{BPMN_NS}}}subProcess"):
        if subprocess.get("triggeredByEvent") != "true":
            continue
        for start in subprocess.iterfind(f"{{{BPMN_NS}}}startEvent"):
            timer = start.find(f"{{{BPMN_NS}}}timerEventDefinition")
            if timer is None:
                continue
            children = [c for c in timer if isinstance(c.tag, str)]
            found = [
                (TIMER_KINDS[etree.QName(c).localname], c) for c in children if etree.QName(c).localname in TIMER_KINDS
            ]
            if not found:
                problems.append(_problem(loaded, start, "the timer has no date, duration or cycle"))
                continue
            kind, element = found[0]
            text = (element.text or "").strip()
            if expressions.dialect_of(text) != expressions.PYTHON:
                continue  # an expression: evaluated when the scope starts
            try:
                _tick(kind, text)
            except Exception:  # noqa: BLE001 - SpiffWorkflow's parsers raise plain exceptions
                message = f"timer '{text}' is not an ISO 8601 date, duration (PT5M) or cycle (R3/PT10M)"
                problems.append(_problem(loaded, start, message, element))
    return problems


def next_timer(step: Step) -> datetime | None:
    """The earliest due timer start of the active scopes."""
    workflow = step.workflow
    if not has_event_subprocesses(workflow) and not any(
        TIMERS in w.task_tree.internal_data for w in (workflow, *workflow.subprocesses.values())
    ):
        return None  # no scope has a timer armed (one armed before a migration still counts): nothing to walk
    due = None
    for _scope_id, scope in _scopes(step.workflow):
        if scope.task_tree.internal_data.get(INTERRUPTED):
            continue
        for tick in (scope.task_tree.internal_data.get(TIMERS) or {}).values():
            if tick.get("due"):
                at = datetime.fromisoformat(tick["due"])
                due = at if due is None or at < due else due
    return due


def fire_timers(step: Step) -> None:
    """Within a step: start the event subprocesses whose timer is due (a cycle arms its next tick)."""
    now = clock.now()
    for _scope_id, scope in _scopes(step.workflow):
        armed = scope.task_tree.internal_data.get(TIMERS) or {}
        for esp_name, start in triggers(scope, "timer"):
            tick = armed.get(esp_name)
            if not tick or not tick.get("due") or datetime.fromisoformat(tick["due"]) > now:
                continue
            left = tick.get("left")
            if left is not None and left != 1 and tick.get("every"):
                tick["left"] = left - 1 if left > 0 else left
                tick["due"] = (datetime.fromisoformat(tick["due"]) + timedelta(seconds=tick["every"])).isoformat()
            else:
                tick["due"] = None
            start_triggered(step, scope, esp_name, start, {"timer": start.event_definition.timer})
            if scope.task_tree.internal_data.get(INTERRUPTED):
                break
