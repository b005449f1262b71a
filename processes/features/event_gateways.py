"""Event-based gateways: wait for whichever comes first, a message or a timer.

SpiffWorkflow moves the events after an event-based gateway onto the gateway itself (one MultipleEventDefinition
holding them). orderflow routes messages and schedules timers per waiting element, so it must look inside: the
gateway subscribes to each of its messages (with the catch event's correlation key) and its earliest timer is the
instance's timer job. Whichever arrives first is caught by the gateway, and SpiffWorkflow takes that path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.task import TaskState

from processes.core import spiff
from processes.core.feature import Feature
from processes.core.spiff import tasks_in

if TYPE_CHECKING:
    from processes.core.step import Step


def is_event_gateway(task_spec) -> bool:
    return isinstance(task_spec, EventBasedGateway) and isinstance(
        getattr(task_spec, "event_definition", None), MultipleEventDefinition
    )


def has_event_gateways(workflow) -> bool:
    """Whether the instance's specs have an event-based gateway (cached on the spec: most have none), so a step
    looks for their timers only when there can be any."""
    spec = workflow.spec
    return spiff.spec_fact(
        spec,
        "event_gateways",
        lambda: any(
            is_event_gateway(task_spec)
            for s in (spec, *workflow.subprocess_specs.values())
            for task_spec in s.task_specs.values()
        ),
    )


def prepare(task_spec, keys: Mapping[str, str], merging: Callable[[Any], Any]) -> None:
    """At deploy: the gateway's message definitions merge their variables into the process like any message catch
    (`merging` makes one from a definition), and the gateway knows each message's correlation key."""
    definition = task_spec.event_definition
    correlation = {}
    for n, inner in enumerate(definition.event_definitions):
        replaced = merging(inner)
        if replaced is not None:
            definition.event_definitions[n] = replaced
            if replaced.name in keys:
                correlation[replaced.name] = keys[replaced.name]
    if correlation:
        task_spec.extensions = {**(getattr(task_spec, "extensions", None) or {}), "correlationKeys": correlation}


def messages_of(task) -> Iterator[tuple[str, str | None]]:
    """(message name, correlation key expression) for each message a waiting gateway expects."""
    keys = (getattr(task.task_spec, "extensions", None) or {}).get("correlationKeys") or {}
    for inner in task.task_spec.event_definition.event_definitions:
        name = getattr(inner, "name", None)
        if name and not isinstance(inner, TimerEventDefinition) and hasattr(inner, "correlation_properties"):
            yield name, keys.get(name)


def catch_message(task, name: str, variables: dict[str, Any]) -> bool:
    """Deliver message `name` to a waiting gateway; False when the gateway does not expect it."""
    definition = task.task_spec.event_definition
    inner = next((d for d in definition.event_definitions if getattr(d, "name", None) == name), None)
    if inner is None or isinstance(inner, TimerEventDefinition):
        return False
    definition.catch(task, BpmnEvent(inner, payload=dict(variables)))
    spiff.update(task)
    return True


def next_timer(task) -> datetime | None:
    """When the earliest timer of a waiting gateway is due (each timer's moment is fixed when the gateway is
    reached); None when it has none."""
    due = None
    for inner in task.task_spec.event_definition.event_definitions:
        if not isinstance(inner, TimerEventDefinition) or isinstance(inner, CycleTimerEventDefinition):
            continue
        inner.has_fired(task)  # fixes the moment on first sight, as SpiffWorkflow's own check does
        value = spiff.event_value(task)
        try:
            at = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None
        except ValueError:
            at = None
        if at is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
            due = at if due is None or at < due else due
    return due


class EventGateways(Feature):
    """Event-based gateways: their earliest timer wakes the instance (messages subscribe through `messages`)."""

    def next_timer(self, step: Step) -> datetime | None:
        workflow = step.workflow
        if not has_event_gateways(workflow):
            return None
        due = None
        for task in tasks_in(workflow, TaskState.WAITING):
            if is_event_gateway(task.task_spec):  # SpiffWorkflow reports no moment for these
                at = next_timer(task)
                due = at if due is None or (at is not None and at < due) else due
        return due
