"""Signals: one name, heard by every instance waiting for it.

A signal reaches every intermediate signal catch event and signal boundary event waiting for its name, every event
subprocess of an active scope that starts on it, and starts every process whose latest version has a top-level signal
start event of that name. A signal thrown by an instance (intermediate throw or end event) reaches the instance at
once, in its own step, and the others after that step committed (a `publish` job: processes/features/throw_events.py);
`POST /api/v1/signals` broadcasts one from outside.

Every step records what the instance waits for, beside its message subscriptions: the task id column says
`sig:<task id>` (or `sig:<scope>` for an event subprocess), so messages never meet them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.task import TaskState
from sqlalchemy import select

from processes.core import spiff
from processes.core.models import MessageSubscription, ProcessDefinition, ProcessInstance
from processes.features import event_gateways, event_subprocesses

if TYPE_CHECKING:
    from processes.core.engine import Engine
    from processes.core.step import Step

PREFIX = "sig:"  # a message subscription row that stands for a signal wait


def waits(step: Step, tasks: list) -> list[dict[str, Any]]:
    """What the instance's waiting elements and active scopes expect, in the shape of message subscriptions."""
    found = []
    for task in tasks:
        if task.state != TaskState.WAITING:
            continue
        for name in _signals_of(task):
            found.append(
                {
                    "message_name": name,
                    "correlation_key": None,
                    "task_id": PREFIX + task.id.hex,
                    "element_id": task.task_spec.bpmn_id,
                }
            )
    for scope_id, scope in event_subprocesses.scopes_with_starts(step.workflow):
        for _name, start in event_subprocesses.triggers(scope, "signal"):
            found.append(
                {
                    "message_name": start.event_definition.name,
                    "correlation_key": None,
                    "task_id": PREFIX + scope_id,
                    "element_id": start.bpmn_id,
                }
            )
    return found


def _signals_of(task) -> list[str]:
    """The signals a waiting element catches: its own, or those after an event-based gateway."""
    definition = getattr(task.task_spec, "event_definition", None)
    if type(definition) is SignalEventDefinition:
        return [definition.name]
    if event_gateways.is_event_gateway(task.task_spec):
        return [d.name for d in definition.event_definitions if type(d) is SignalEventDefinition]
    return []


def rearm(boundary) -> None:
    """BPMN: a non-interrupting boundary event catches every occurrence while its activity runs; SpiffWorkflow arms
    it once. So before one fires, a fresh one is set to wait beside it (the activity's end cancels it as usual)."""
    if getattr(boundary.task_spec, "cancel_activity", True) is not False:
        return
    fresh = spiff.add_child(boundary.parent, boundary.task_spec, TaskState.WAITING)
    spiff.predict(fresh, TaskState.NOT_FINISHED_MASK)
    spiff.update(fresh)


def catch(step: Step, name: str, variables: dict[str, Any], *, source: str | None = None) -> list[str]:
    """Within a step: the signal reaches everything in the instance that waits for it; the elements it reached."""
    reached = []
    definition = SignalEventDefinition(name)
    for task in spiff.tasks_in(step.workflow, TaskState.WAITING):
        spec = task.task_spec
        if name not in _signals_of(task):
            continue
        if event_gateways.is_event_gateway(spec):  # whichever comes first: this signal takes its path
            inner = next(d for d in spec.event_definition.event_definitions if getattr(d, "name", None) == name)
            spec.event_definition.catch(task, BpmnEvent(inner, payload=dict(variables)))
            spiff.update(task)
            reached.append(spec.bpmn_id)
            step.record("signal_received", task, {"signal": name, "variables": variables, "from": source})
            continue
        rearm(task)
        spec.catch(task, BpmnEvent(definition, payload=dict(variables)))
        spiff.update(task)
        reached.append(spec.bpmn_id)
        step.record("signal_received", task, {"signal": name, "variables": variables, "from": source})
    for _scope_id, scope in event_subprocesses.scopes_with_starts(step.workflow):
        for esp_name, start in event_subprocesses.triggers(scope, "signal"):
            if start.event_definition.name != name:
                continue
            if event_subprocesses.start_triggered(step, scope, esp_name, start, {"signal": name}, variables):
                reached.append(start.bpmn_id)
            if scope.task_tree.internal_data.get(event_subprocesses.INTERRUPTED):
                break
    return reached


def broadcast(
    engine: Engine,
    name: str,
    variables: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """Deliver a signal to every instance waiting for it (but `sender`, which got it in its own step) and start the
    processes with a signal start event of that name. Each instance is its own step."""
    from processes.errors import NotFound
    from processes.instances import check_variables, start_instance

    variables = check_variables(variables)
    query = (
        select(MessageSubscription.instance_id)
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(
            MessageSubscription.message_name == name,
            MessageSubscription.task_id.like(PREFIX + "%"),
            ProcessInstance.ended_at.is_(None),
        )
        .distinct()
    )
    with engine.read_session() as session:
        waiting = sorted(set(session.scalars(query)) - {sender})
    reached = []

    def deliver(step: Step) -> None:
        if catch(step, name, variables, source=sender):
            reached.append(step.instance.id)

    for instance_id in waiting:
        try:
            engine.step(instance_id, deliver, actor=actor)
        except NotFound:
            continue
    started = []
    for key in starting_processes(engine, name):
        instance = start_instance(engine, key, variables=variables, actor=actor).instance
        engine.step(instance["id"], lambda step: catch(step, name, variables, source=sender), actor=actor)
        started.append(instance["id"])
    return {"signal": name, "reached": reached, "started": started}


def starting_processes(engine: Engine, name: str) -> list[str]:
    """Keys of the processes whose latest version has a top-level start event for this signal."""
    with engine.read_session() as session:
        rows = session.execute(
            select(ProcessDefinition.key, ProcessDefinition.id).order_by(ProcessDefinition.version.desc())
        ).all()
        latest: dict[str, str] = {}
        for key, definition_id in rows:
            latest.setdefault(key, definition_id)
        keys = []
        for key, definition_id in latest.items():
            spec, _subprocess_specs = engine.spec_for(session, definition_id)
            for task_spec in spec.task_specs.values():
                definition = getattr(task_spec, "event_definition", None)
                if isinstance(task_spec, StartEvent) and type(definition) is SignalEventDefinition:
                    if definition.name == name:
                        keys.append(key)
                        break
    return keys
